"""Granting and revoking roles (issue #6, item 1): the admin page's services.

An admin finds a person (by display name, or by exact email address, which is never put in a URL or an audit
event), sees their base role (``users.role``) and their active grants (accounts.models.RoleGrant), grants a role
everywhere or for one scope, revokes a grant, and changes the base role. Every change is audited
(``roles:grant``, ``roles:revoke``, ``roles:set_base``). An admin cannot revoke their own admin grant nor change
their own base role, so no admin can lock themselves out; civic.permissions decides what each role may do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from civic import audit
from civic.accounts.models import ROLES, SCOPED_ROLES, RoleGrant, User
from civic.accounts.service import normalise_email
from civic.db import reading
from civic.errors import Conflict, Forbidden, Invalid, NotFound, NotSignedIn
from civic.i18n import N_
from civic.organisations.models import Organisation
from civic.permissions import BODY_SCOPE, ORGANISATION_SCOPE, Action, Actor, can
from civic.petitions.models import ADDRESSEES
from civic.text import clean_text

# Roles an admin may grant: every role but the default one, and the body secretary (always with a body).
GRANTABLE_ROLES = tuple(dict.fromkeys(r for r in (*ROLES, *SCOPED_ROLES) if r != "citizen"))
ROLE_LABELS = {
    "citizen": N_("Citizen"),
    "cso_member": N_("Association member"),
    "moderator": N_("Moderator"),
    "council_staff": N_("Council staff"),
    "admin": N_("Administrator"),
    "body_secretary": N_("Secretary of a consultative body"),
}
NO_ACCOUNT = N_("No account uses this email address.")
EMAIL_IN_NAME = N_("To find someone by email address, use the email form: it keeps the address out of links.")
NAME_SEARCH_MAX = 100
MATCHES_MAX = 20


@dataclass(frozen=True)
class UserMatch:
    """A person found by the search: id, display name, base role."""

    user_id: int
    display_name: str
    role: str


@dataclass(frozen=True)
class GrantRow:
    """An active grant as the page shows it. scope: '' | ``body:<addressee>`` | ``organisation:<id>``;
    scope_label: the organisation's names (Arabic, French) for an organisation scope, else empty."""

    id: int
    role: str
    scope: str
    granted_at: datetime
    granted_by_name: str
    organisation_ar: str = ""
    organisation_fr: str = ""


@dataclass(frozen=True)
class UserRoles:
    """One person's roles: base role and active grants (oldest first); ``is_self`` when it is the admin."""

    user_id: int
    display_name: str
    role: str
    grants: tuple[GrantRow, ...]
    is_self: bool


@dataclass(frozen=True)
class OrganisationChoice:
    """An association a ``cso_member`` grant may be scoped to."""

    id: int
    name_ar: str
    name_fr: str


@dataclass(frozen=True)
class RolesPage:
    """What /admin/roles shows: the name searched and its matches (None when no search), the selected person,
    and the scopes a grant may take (consultative bodies and associations). name_errors: msgids about the name
    searched (an email address typed there is not searched, nor shown again)."""

    name: str
    matches: list[UserMatch] | None
    user: UserRoles | None
    bodies: tuple[str, ...]
    organisations: list[OrganisationChoice]
    name_errors: tuple[str, ...] = ()


def require_admin(actor: Actor, now: datetime) -> None:
    """Raise NotSignedIn for a visitor, Forbidden unless ``roles:grant`` (admins; civic.permissions.MATRIX)."""
    if not actor.signed_in:
        raise NotSignedIn()
    if not can(actor, Action.ROLES_GRANT, None, now):
        raise Forbidden()


async def _user_roles(session: AsyncSession, actor: Actor, user_id: int) -> UserRoles:
    user = (await session.execute(select(User.id, User.display_name, User.role).where(User.id == user_id))).first()
    if user is None:
        raise NotFound()
    granter = aliased(User)
    rows = (await session.execute(
        select(RoleGrant.id, RoleGrant.role, RoleGrant.scope, RoleGrant.granted_at, granter.display_name)
        .join(granter, granter.id == RoleGrant.granted_by)
        .where(RoleGrant.user_id == user_id, RoleGrant.revoked_at.is_(None))
        .order_by(RoleGrant.granted_at, RoleGrant.id))).all()
    org_ids = {int(scope[len(ORGANISATION_SCOPE):]) for _i, _r, scope, _a, _n in rows
               if scope.startswith(ORGANISATION_SCOPE)}
    names = {f"{ORGANISATION_SCOPE}{i}": (ar, fr) for i, ar, fr in await session.execute(
        select(Organisation.id, Organisation.name_ar, Organisation.name_fr).where(Organisation.id.in_(org_ids)))
    } if org_ids else {}
    grants = tuple(GrantRow(i, role, scope, at, name, *names.get(scope, ("", "")))
                   for i, role, scope, at, name in rows)
    return UserRoles(user.id, user.display_name, user.role, grants, user.id == actor.user_id)


async def roles_page(session: AsyncSession, actor: Actor, now: datetime, *, name: str = "",
                     user_id: int | None = None) -> RolesPage:
    """The admin page's content: people whose display name contains ``name`` (case-insensitive, at most
    MATCHES_MAX, by name; a ``name`` holding "@" is not searched), the roles of ``user_id``, and the scope
    choices. Admins only.

    Raises NotSignedIn, Forbidden, NotFound (no such user).
    """
    require_admin(actor, now)
    query = " ".join(clean_text(name).split())[:NAME_SEARCH_MAX]
    name_errors: tuple[str, ...] = ()
    if "@" in query:  # an email address belongs in the POSTed email form, never in a URL
        query, name_errors = "", (EMAIL_IN_NAME,)
    async with reading(session):
        matches = None
        if query:
            rows = await session.execute(
                select(User.id, User.display_name, User.role)
                .where(func.lower(User.display_name).contains(query.lower(), autoescape=True))
                .order_by(User.display_name, User.id).limit(MATCHES_MAX))
            matches = [UserMatch(i, n, r) for i, n, r in rows]
        user = await _user_roles(session, actor, user_id) if user_id is not None else None
        organisations = [OrganisationChoice(i, ar, fr) for i, ar, fr in await session.execute(
            select(Organisation.id, Organisation.name_ar, Organisation.name_fr)
            .where(Organisation.status != "rejected").order_by(Organisation.name_fr, Organisation.id))]
    return RolesPage(query, matches, user, ADDRESSEES, organisations, name_errors)


async def find_by_email(session: AsyncSession, actor: Actor, email: str, now: datetime) -> int | None:
    """The id of the account using exactly ``email`` (normalised), or None. Admins only. A match is recorded
    in the audit log (``accounts:find_by_email``, the person's id, never the address: design.md, Law 09-08).

    Raises NotSignedIn, Forbidden, Invalid (field ``email``: empty).
    """
    require_admin(actor, now)
    address = normalise_email(email)
    if not address:
        raise Invalid({"email": [N_("Please write the email address to look for.")]})
    async with session.begin():
        user_id = await session.scalar(select(User.id).where(User.email == address))
        if user_id is not None:
            await audit.record(session, actor_id=actor.user_id, action="accounts:find_by_email", subject_type="user",
                               subject_id=user_id, now=now)
    return user_id


def _check_grant(role: str, scope: str) -> dict[str, list[str]]:
    """Field errors of a grant's role and scope (shape only; an organisation's existence is checked in the
    database)."""
    if role not in GRANTABLE_ROLES:
        return {"role": [N_("Please choose the role to grant.")]}
    if role == "body_secretary":
        if not (scope.startswith(BODY_SCOPE) and scope[len(BODY_SCOPE):] in ADDRESSEES):
            return {"scope": [N_("A body's secretary acts for one body: please choose it.")]}
    elif role == "cso_member":
        if scope and not (scope.startswith(ORGANISATION_SCOPE) and scope[len(ORGANISATION_SCOPE):].isdigit()):
            return {"scope": [N_("An association member's role is granted everywhere or for one association.")]}
    elif scope:
        return {"scope": [N_("This role is granted everywhere: choose “everywhere”.")]}
    return {}


async def grant(session: AsyncSession, actor: Actor, user_id: int, role: str, scope: str, now: datetime) -> int:
    """Grant ``role`` to a person, everywhere (scope '') or for one scope; returns the grant's id.

    role: one of GRANTABLE_ROLES. ``body_secretary`` needs ``body:<addressee>`` (ADDRESSEES); ``cso_member`` takes
    '' or ``organisation:<id>`` of an existing association; the other roles are granted everywhere only.
    Audited ``roles:grant`` (detail: role, scope, grant id). The person's row is locked, so the same role is not
    granted twice at once. Raises NotSignedIn, Forbidden (not an admin), NotFound (no such person), Invalid
    (fields ``role``, ``scope``), Conflict (already held there).
    """
    require_admin(actor, now)
    errors = _check_grant(role, scope)
    async with session.begin():
        if await session.get(User, user_id, with_for_update=True, populate_existing=True) is None:
            raise NotFound()
        if not errors and scope.startswith(ORGANISATION_SCOPE):
            org_id = int(scope[len(ORGANISATION_SCOPE):])
            if org_id > 2**31 - 1 or await session.get(Organisation, org_id) is None:
                errors = {"scope": [N_("Please choose an association from the list.")]}
        if errors:
            raise Invalid(errors)
        held = await session.scalar(select(RoleGrant.id).where(
            RoleGrant.user_id == user_id, RoleGrant.role == role, RoleGrant.scope == scope,
            RoleGrant.revoked_at.is_(None)).limit(1))
        if held is not None:
            raise Conflict(N_("This person already holds this role there."))
        grant_id = int((await session.execute(insert(RoleGrant).values(
            user_id=user_id, role=role, scope=scope, granted_by=actor.user_id, granted_at=now,
        ).returning(RoleGrant.id))).scalar_one())
        await audit.record(session, actor_id=actor.user_id, action="roles:grant", subject_type="user",
                           subject_id=user_id, now=now, detail={"role": role, "scope": scope, "grant_id": grant_id})
    return grant_id


async def revoke(session: AsyncSession, actor: Actor, user_id: int, grant_id: int, now: datetime) -> None:
    """Revoke the person's active grant ``grant_id`` (and any duplicate of it: same person, role and scope).

    The row is kept with revoked_at/revoked_by. Audited ``roles:revoke``. An admin cannot revoke their own
    ``admin`` grant (no lock-out). Raises NotSignedIn, Forbidden, NotFound, Conflict (already revoked, or one's
    own admin grant).
    """
    require_admin(actor, now)
    async with session.begin():
        row = await session.get(RoleGrant, grant_id, with_for_update=True, populate_existing=True)
        if row is None or row.user_id != user_id:
            raise NotFound()
        if row.revoked_at is not None:
            raise Conflict(N_("This role was already revoked."))
        if row.user_id == actor.user_id and row.role == "admin":
            raise Conflict(N_("You cannot remove your own administrator role. Another administrator can."))
        role, scope = row.role, row.scope
        await session.execute(update(RoleGrant).where(
            RoleGrant.user_id == user_id, RoleGrant.role == role, RoleGrant.scope == scope,
            RoleGrant.revoked_at.is_(None)).values(revoked_at=now, revoked_by=actor.user_id))
        await audit.record(session, actor_id=actor.user_id, action="roles:revoke", subject_type="user",
                           subject_id=user_id, now=now, detail={"role": role, "scope": scope, "grant_id": grant_id})


async def set_base_role(session: AsyncSession, actor: Actor, user_id: int, role: str, now: datetime) -> bool:
    """Change a person's base role (``users.role``, one of ROLES); returns False when it already was ``role``
    (nothing changes, nothing is recorded). Audited ``roles:set_base`` (detail: from, role).

    Raises NotSignedIn, Forbidden, NotFound, Invalid (field ``base_role``), Conflict (one's own base role).
    """
    require_admin(actor, now)
    if role not in ROLES:
        raise Invalid({"base_role": [N_("Please choose the base role.")]})
    if user_id == actor.user_id:
        raise Conflict(N_("You cannot change your own base role. Another administrator can."))
    async with session.begin():
        user = await session.get(User, user_id, with_for_update=True, populate_existing=True)
        if user is None:
            raise NotFound()
        before = user.role
        if before == role:
            return False
        user.role = role
        await audit.record(session, actor_id=actor.user_id, action="roles:set_base", subject_type="user",
                           subject_id=user_id, now=now, detail={"from": before, "role": role})
    return True
