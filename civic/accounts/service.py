"""Accounts: register, authenticate, resolve the session's user, create users from the CLI."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from civic import audit
from civic.accounts.models import ROLES, RoleGrant, User
from civic.db import reading, utcnow
from civic.errors import Conflict, Invalid
from civic.i18n import N_
from civic.moderation.models import UserBlock
from civic.permissions import ANONYMOUS, Actor
from civic.security import dummy_verify, hash_password, new_nonce, verify_password
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


async def register(session: AsyncSession, data: Registration, region_code: str, now: datetime) -> SessionUser:
    """Create a citizen account; returns the new session. Raises Invalid per field (email taken included)."""
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
    async with session.begin():
        commune = await session.get(Territory, data.commune_code) if data.commune_code else None
        if commune is None or commune.kind != "commune" or commune.region_code != region_code:
            errors["commune_code"] = [N_("Please choose your commune of residence.")]
        if errors:
            raise Invalid(errors)
        nonce = new_nonce()
        try:
            password_hash = await anyio.to_thread.run_sync(hash_password, data.password)  # ~0.1–0.3 s of CPU
            result = await session.execute(insert(User).values(
                display_name=name, email=email, password_hash=password_hash, role="citizen",
                commune_code=data.commune_code, session_nonce=nonce, created_at=now,
            ).returning(User.id))
            user_id = int(result.scalar_one())
        except IntegrityError:
            taken = N_("An account already uses this email address. Please sign in instead.")
            raise Invalid({"email": [taken]}) from None
        await audit.record(session, actor_id=user_id, action="accounts:register", subject_type="user",
                           subject_id=user_id, now=now)
    return SessionUser(user_id, nonce)


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
    the current time (views call this once per request).
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
            select(User.role, User.display_name, User.session_nonce, blocked_until.label("blocked_until"))
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
                     blocked_until=until)


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
    """Create an account with any role (CLI and demo). Raises Invalid on a bad role or field, Conflict when taken."""
    if role not in ROLES:
        raise Invalid({"role": [f"role must be one of {', '.join(ROLES)}"]})
    try:
        created = await register(session, Registration(display_name, email, password, commune_code), region_code, now)
    except Invalid as exc:
        if "email" in exc.field_errors and "already" in exc.field_errors["email"][0]:
            raise Conflict(N_("An account already uses this email address.")) from None
        raise
    async with session.begin():
        await session.execute(update(User).where(User.id == created.user_id).values(role=role))
        await audit.record(session, actor_id=None, action="accounts:set_role", subject_type="user",
                           subject_id=created.user_id, now=now, detail={"role": role})
    return created.user_id
