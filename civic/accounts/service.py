"""Accounts: register (revealing nothing, issue #8 item 4), authenticate, resolve the session's user, create users
from the CLI (verified)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from civic import audit
from civic.accounts import verification
from civic.accounts.models import ROLES, RoleGrant, User
from civic.db import reading, utcnow
from civic.errors import Conflict, Invalid
from civic.i18n import N_
from civic.moderation.models import UserBlock
from civic.permissions import ANONYMOUS, Actor
from civic.petitions.models import PendingSignature
from civic.security import Keys, dummy_verify, hash_password, new_nonce, verify_password
from civic.territories.models import Territory
from civic.text import clean_text

EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
PASSWORD_MIN = 10
PASSWORD_MAX = 200
NAME_MAX = 100


@dataclass(frozen=True)
class Registration:
    """Registration form data: display name, email, password (10–200 chars), commune of residence."""

    display_name: str
    email: str
    password: str
    commune_code: str


@dataclass(frozen=True)
class SessionUser:
    """What the session cookie holds: the user id and the nonce current when it was issued."""

    user_id: int
    nonce: str
    preferences: str = ""


@dataclass(frozen=True)
class Profile:
    """A signed-in user's own account, as the pages show it."""

    user_id: int
    display_name: str
    role: str
    commune_code: str


def normalise_email(email: str) -> str:
    """Clean, trim and lower-case an email address."""
    return clean_text(email).strip().lower()


@dataclass(frozen=True)
class PendingRegistration:
    """What a valid registration answers, whether the address was new or taken (issue #8, item 4): the opaque
    handle to keep in the session until the code is typed (civic.accounts.verification)."""

    handle: str


def _validate(data: Registration) -> tuple[str, str, dict[str, list[str]]]:
    """(clean name, normalised email, field errors) of a registration; the commune is checked with the DB."""
    errors: dict[str, list[str]] = {}
    name = " ".join(clean_text(data.display_name).split())
    email = normalise_email(data.email)
    if not name:
        errors["display_name"] = [N_("Please write the name others will see.")]
    elif len(name) > NAME_MAX:
        errors["display_name"] = [N_("The name must be at most 100 characters long.")]
    if not email:
        errors["email"] = [N_("Please write your email address.")]
    elif len(email) > 254 or not EMAIL_PATTERN.fullmatch(email):
        errors["email"] = [N_("This does not look like an email address, e.g. name@example.ma.")]
    if len(data.password) < PASSWORD_MIN:
        errors["password"] = [N_("The password must be at least 10 characters long.")]
    elif len(data.password) > PASSWORD_MAX:
        errors["password"] = [N_("The password must be at most 200 characters long.")]
    return name, email, errors


async def _check_commune(session: AsyncSession, code: str, region_code: str, errors: dict[str, list[str]]) -> None:
    async with reading(session):
        commune = await session.get(Territory, code) if code else None
        if commune is None or commune.kind != "commune" or commune.region_code != region_code:
            errors["commune_code"] = [N_("Please choose your commune of residence.")]
    if errors:
        raise Invalid(errors)


async def register(session: AsyncSession, keys: Keys, data: Registration, region_code: str, base_url: str,
                   now: datetime, mail_allowed: Callable[[], Awaitable[bool]] | None = None) -> PendingRegistration:
    """Register a citizen account so that the answer never tells whether the address was taken (issue #8,
    item 4). Raises Invalid per field for bad input (that reveals nothing).

    An address whose account was never verified is taken over by the new registration (see below).
    New address: the account is created unverified (``email_verified_at`` NULL, not signed in) and a code is
    mailed (civic.accounts.verification.start). Taken address: the same argon2 work is spent, nothing is
    created, the owner is mailed that someone tried. Both return a fresh random handle; only the new account's
    verification row holds it (hashed). ``mail_allowed`` (the view's verify_mail_limiter, per email address) is
    asked once the input is valid; when it answers False no mail is queued, and the answer is the same.
    """
    name, email, errors = _validate(data)
    await _check_commune(session, data.commune_code, region_code, errors)
    send_mail = True if mail_allowed is None else await mail_allowed()
    password_hash = await anyio.to_thread.run_sync(hash_password, data.password)  # ~0.1–0.3 s of CPU, always
    handle = verification.new_handle()
    try:
        async with session.begin():
            existing = (await session.execute(select(User.id, User.email_verified_at).where(User.email == email)
                                              .with_for_update())).first()
            taken = existing.id if existing is not None else None
            if existing is not None and existing.email_verified_at is None:
                # Nobody has proved owning this address yet: whoever registers it again takes the account over
                # (new password, name and commune; earlier sessions signed out; signatures made meanwhile
                # dropped), so that registering someone else's address first cannot lock its owner out
                # (issue #8 review). The answer is the same as for any registration.
                await session.execute(update(User).where(User.id == existing.id).values(
                    display_name=name, password_hash=password_hash, commune_code=data.commune_code,
                    session_nonce=new_nonce()))
                await session.execute(delete(PendingSignature).where(PendingSignature.user_id == existing.id))
                await verification.start(session, keys, existing.id, handle, base_url, now, send=send_mail)
                await audit.record(session, actor_id=existing.id, action="accounts:register_again",
                                   subject_type="user", subject_id=existing.id, now=now)
                return PendingRegistration(handle)
            if taken is None:
                result = await session.execute(insert(User).values(
                    display_name=name, email=email, password_hash=password_hash, role="citizen",
                    commune_code=data.commune_code, session_nonce=new_nonce(), created_at=now,
                    email_verified_at=None,
                ).returning(User.id))
                user_id = int(result.scalar_one())
                # Without the mail the row still holds the handle, so "send me a new code" works later.
                await verification.start(session, keys, user_id, handle, base_url, now, send=send_mail)
                await audit.record(session, actor_id=user_id, action="accounts:register", subject_type="user",
                                   subject_id=user_id, now=now)
                return PendingRegistration(handle)
    except IntegrityError:  # registered meanwhile by a concurrent request: answer as for a taken address
        taken = None
    async with session.begin():
        if taken is None:
            taken = await session.scalar(select(User.id).where(User.email == email))
        if taken is not None and send_mail:
            await verification.tell_owner(session, taken, base_url, now)
    return PendingRegistration(verification.new_handle())


async def authenticate(session: AsyncSession, email: str, password: str, now: datetime) -> SessionUser:
    """Check an email and password; returns the session. Raises Invalid with one message whatever was wrong."""
    async with session.begin():
        user = await session.scalar(select(User).where(User.email == normalise_email(email)))
        if user is None:
            await anyio.to_thread.run_sync(dummy_verify)
            raise Invalid({}, N_("The email or the password is not right."))
        if not await anyio.to_thread.run_sync(verify_password, user.password_hash, password):
            raise Invalid({}, N_("The email or the password is not right."))
        return SessionUser(user.id, user.session_nonce, user.preferences)


async def actor_for_session(session: AsyncSession, user_id: int | None, nonce: str | None,
                            now: datetime | None = None) -> Actor:
    """The actor for a session cookie's user id and nonce; ANONYMOUS when missing, unknown or revoked.

    Loads, in two small indexed queries, the base role, the active role grants (not revoked;
    accounts.models.RoleGrant, issue #6 item 1) and the end of the latest moderator's block in force at ``now``
    (starts_at <= now < ends_at, not lifted; moderation.models.UserBlock, issue #6 item 3). ``now`` defaults to
    the current time (views call this once per request). ``email_verified`` comes from users.email_verified_at
    (issue #8, item 4).
    """
    async with reading(session):
        if user_id is None or nonce is None:
            return ANONYMOUS
        at = now if now is not None else utcnow()
        blocked_until = (
            select(func.max(UserBlock.ends_at))
            .where(UserBlock.user_id == User.id, UserBlock.starts_at <= at, UserBlock.ends_at > at,
                   UserBlock.lifted_at.is_(None))
            .correlate(User).scalar_subquery()
        )
        row = (await session.execute(
            select(User.role, User.display_name, User.session_nonce, User.email_verified_at,
                   blocked_until.label("blocked_until"))
            .where(User.id == user_id)
        )).first()
        if row is None or row.session_nonce != nonce:
            return ANONYMOUS
        grants = frozenset((role, scope) for role, scope in await session.execute(
            select(RoleGrant.role, RoleGrant.scope).where(RoleGrant.user_id == user_id,
                                                          RoleGrant.revoked_at.is_(None))))
        until = row.blocked_until
        if until is not None and until.tzinfo is None:  # stored as naive UTC on SQLite
            until = until.replace(tzinfo=UTC)
        return Actor(user_id=user_id, role=row.role, display_name=row.display_name, grants=grants,
                     blocked_until=until, email_verified=row.email_verified_at is not None)


async def profile(session: AsyncSession, actor: Actor) -> Profile | None:
    """The signed-in actor's profile, or None for a visitor."""
    async with reading(session):
        if actor.user_id is None:
            return None
        user = await session.get(User, actor.user_id)
        if user is None:
            return None
        return Profile(user.id, user.display_name, user.role, user.commune_code)


async def logout(session: AsyncSession, actor: Actor, now: datetime) -> None:
    """Rotate the user's session nonce, so every cookie issued before stops working."""
    if actor.user_id is None:
        return
    async with session.begin():
        await session.execute(update(User).where(User.id == actor.user_id).values(session_nonce=new_nonce()))


async def save_preferences(session: AsyncSession, actor: Actor, encoded: str, now: datetime) -> None:
    """Remember display preferences (civic.preferences encoding) on the signed-in actor's account."""
    if actor.user_id is None:
        return
    async with session.begin():
        await session.execute(update(User).where(User.id == actor.user_id).values(preferences=encoded[:200]))


async def create_user(session: AsyncSession, *, display_name: str, email: str, password: str, role: str,
                      commune_code: str, now: datetime, region_code: str) -> int:
    """Create an account with any role (CLI and demo), its email already verified (common brief, issue #8).
    Raises Invalid on a bad role or field, Conflict when the address is taken."""
    if role not in ROLES:
        raise Invalid({"role": [f"role must be one of {', '.join(ROLES)}"]})
    name, normalised, errors = _validate(Registration(display_name, email, password, commune_code))
    await _check_commune(session, commune_code, region_code, errors)
    password_hash = await anyio.to_thread.run_sync(hash_password, password)
    try:
        async with session.begin():
            result = await session.execute(insert(User).values(
                display_name=name, email=normalised, password_hash=password_hash, role=role,
                commune_code=commune_code, session_nonce=new_nonce(), created_at=now, email_verified_at=now,
            ).returning(User.id))
            user_id = int(result.scalar_one())
            await audit.record(session, actor_id=user_id, action="accounts:register", subject_type="user",
                               subject_id=user_id, now=now)
            await audit.record(session, actor_id=None, action="accounts:set_role", subject_type="user",
                               subject_id=user_id, now=now, detail={"role": role})
    except IntegrityError:
        raise Conflict(N_("An account already uses this email address.")) from None
    return user_id
