"""Email verification by a typed code (issue #8, item 4).

A code is 8 random digits (``secrets``), stored only as ``keys.keyed_hash("verify-code", code)``, valid 24 h,
with its wrong attempts counted; a new code replaces the old (one row per account). The guide forbids tokens
in URLs, so the mail carries the code and a plain link to ``/account/verify`` where the person types it.

Who is verifying: a signed-in account (it may sign in with its password before verifying), or the browser that
registered, through an opaque random *handle* kept in its session and stored only as
``keys.keyed_hash("verify-handle", handle)`` (never the user id: registration reveals nothing, see
civic.accounts.service.register).

Typing the right code sets ``users.email_verified_at`` with ``UPDATE … WHERE email_verified_at IS NULL``: the one
request that changes the row moves the account's pending signatures (civic.petitions.pending.promote), so
concurrent submissions of the same code count them once.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from civic import audit
from civic.accounts.models import EmailVerification, User
from civic.db import dialect_name, reading
from civic.errors import Invalid
from civic.i18n import N_
from civic.notifications import service as notifications
from civic.permissions import Actor
from civic.petitions import pending
from civic.security import Keys

CODE_LIFETIME = timedelta(hours=24)
MAX_WRONG_ATTEMPTS = 10  # per code; verify_code_limiter also caps attempts per account and hour
WRONG_CODE = N_("This code is not right or has expired. Check the last email we sent you, or ask for a new code.")
CODE_SUBJECT = N_("Your Civic confirmation code")
CODE_BODY = N_("Your code to confirm your email address on Civic is: %(code)s\n\n"
               "Type it on this page: %(link)s\n"
               "The code works for 24 hours. Until you confirm your email, your signatures are not counted.\n\n"
               "If you did not create an account on Civic, you can ignore this message.")
TAKEN_SUBJECT = N_("Someone tried to create a Civic account with your address")
TAKEN_BODY = N_("Someone tried to create an account on Civic with your email address, which already has an "
                "account. If it was you, sign in with your password: %(link)s\n\n"
                "If it was not you, you can ignore this message: nothing was changed.")


@dataclass(frozen=True)
class Verified:
    """A successful verification: the account to sign in (user id and current session nonce)."""

    user_id: int
    nonce: str


def new_code() -> str:
    """Eight random decimal digits, e.g. ``"04718263"`` (``secrets``, uniform)."""
    return f"{secrets.randbelow(10 ** 8):08d}"


def new_handle() -> str:
    """An opaque random handle for the registering browser's session (32 random bytes, URL-safe)."""
    return secrets.token_urlsafe(32)


def clean_code(typed: str) -> str:
    """The digits of a typed code: spaces and dashes dropped, Arabic-Indic digits read as 0–9."""
    digits = []
    for ch in typed[:40]:
        if ch.isdigit():
            try:
                digits.append(str(int(ch)))
            except ValueError:
                return ""
        elif ch not in " -\u00a0\t":
            return ""
    return "".join(digits)


def email_key(keys: Keys, email: str) -> str:
    """The keyed hash of a normalised email address that verify_mail_limiter counts by (never the address)."""
    return keys.keyed_hash("verify-mail", email)


async def start(session: AsyncSession, keys: Keys, user_id: int, handle: str, base_url: str, now: datetime,
                send: bool = True) -> None:
    """Make a new code for the account (replacing any earlier one) and queue the mail that carries it (not when
    ``send`` is False: a mail cap was reached; the code is then unknown to anyone until a new one is asked).

    Inside the caller's open transaction. ``handle``: the session handle to store hashed (may be a fresh one).
    """
    code = new_code()
    values = {"user_id": user_id, "code_hash": keys.keyed_hash("verify-code", code),
              "handle_hash": keys.keyed_hash("verify-handle", handle), "created_at": now,
              "expires_at": now + CODE_LIFETIME, "attempts": 0}
    dialect_insert = pg_insert if dialect_name(session) == "postgresql" else sqlite_insert
    statement = dialect_insert(EmailVerification).values(**values)
    await session.execute(statement.on_conflict_do_update(
        index_elements=[EmailVerification.user_id],
        set_={k: statement.excluded[k] for k in values if k != "user_id"}))
    if not send:
        return
    await notifications.enqueue(session, [user_id], CODE_SUBJECT, CODE_BODY,
                                {"code": code, "link": f"{base_url}/account/verify"},
                                purpose="accounts:verify_email", now=now)


async def tell_owner(session: AsyncSession, user_id: int, base_url: str, now: datetime) -> None:
    """Queue the mail telling an account's owner that someone tried to register with their address."""
    await notifications.enqueue(session, [user_id], TAKEN_SUBJECT, TAKEN_BODY, {"link": f"{base_url}/login"},
                                purpose="accounts:register_taken", now=now)


async def mail_key(session: AsyncSession, keys: Keys, actor: Actor) -> str | None:
    """For a signed-in account whose email is not verified: its address's verify_mail_limiter key
    (``email_key``); None otherwise (visitors, verified accounts)."""
    if actor.user_id is None or actor.email_verified:
        return None
    async with reading(session):
        row = (await session.execute(select(User.email, User.email_verified_at)
                                     .where(User.id == actor.user_id))).first()
    if row is None or row.email_verified_at is not None:
        return None
    return email_key(keys, row.email)


async def resend(session: AsyncSession, keys: Keys, actor: Actor, handle: str | None, base_url: str,
                 now: datetime) -> None:
    """Send a new code: to the signed-in unverified account, else to the account whose registration left
    ``handle`` in this session. Does nothing, silently, when neither matches (an address that was already
    registered leaves a handle matching nothing: the answer must not tell). Rate limits are the caller's
    (verify_mail_limiter, per email address and per client address)."""
    async with session.begin():
        if actor.user_id is not None and not actor.email_verified:
            user_id: int | None = actor.user_id
            new = handle or new_handle()
        elif handle:
            user_id = await session.scalar(select(EmailVerification.user_id).where(
                EmailVerification.handle_hash == keys.keyed_hash("verify-handle", handle)))
            new = handle
        else:
            return
        if user_id is None:
            return
        verified = await session.scalar(select(User.email_verified_at).where(User.id == user_id))
        if verified is None:
            await start(session, keys, user_id, new, base_url, now)


async def verify(session: AsyncSession, keys: Keys, actor: Actor, handle: str | None, typed: str,
                 now: datetime) -> Verified:
    """Check a typed code and verify the account's email; returns the account to sign in.

    The account: the signed-in actor when there is one, else the one whose verification row holds ``handle``.
    Raises Invalid(WRONG_CODE) — one message whatever was wrong (no such row, expired, too many wrong attempts,
    wrong code); a wrong code counts one attempt. On success the code row is deleted, ``email_verified_at``
    set once (``… WHERE email_verified_at IS NULL``), the pending signatures promoted by that one transaction,
    and the event audited. Idempotent: a concurrent request with the same code that read the row before it was
    deleted also succeeds, without moving anything.
    """
    code = clean_code(typed)
    if actor.user_id is not None:
        where = EmailVerification.user_id == actor.user_id
    elif handle:
        where = EmailVerification.handle_hash == keys.keyed_hash("verify-handle", handle)
    else:
        raise Invalid({"code": [WRONG_CODE]})
    async with session.begin():
        row = (await session.execute(select(EmailVerification.id, EmailVerification.user_id,
                                            EmailVerification.code_hash, EmailVerification.expires_at,
                                            EmailVerification.attempts).where(where))).first()
        good = (row is not None and len(code) == 8 and now <= row.expires_at and row.attempts < MAX_WRONG_ATTEMPTS
                and hmac.compare_digest(row.code_hash, keys.keyed_hash("verify-code", code)))
        if row is not None and not good:
            await session.execute(update(EmailVerification).where(EmailVerification.id == row.id)
                                  .values(attempts=EmailVerification.attempts + 1))
    if row is None or not good:
        raise Invalid({"code": [WRONG_CODE]})
    async with session.begin():
        changed = await session.execute(
            update(User).where(User.id == row.user_id, User.email_verified_at.is_(None))
            .values(email_verified_at=now))
        await session.execute(delete(EmailVerification).where(EmailVerification.user_id == row.user_id))
        if changed.rowcount == 1:  # type: ignore[attr-defined]
            counted = await pending.promote(session, row.user_id, now)
            await audit.record(session, actor_id=row.user_id, action="accounts:verify_email", subject_type="user",
                               subject_id=row.user_id, now=now, detail={"signatures_counted": counted})
        nonce = await session.scalar(select(User.session_nonce).where(User.id == row.user_id))
    return Verified(row.user_id, str(nonce))
