"""Named actions and the one place that decides who may do them (design.md, permissions).

``can(actor, action, subject, now)`` answers for a role; services call it first and raise Forbidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from civic.accounts.models import ROLES


class Action(StrEnum):
    """Actions, named ``<domain>:<verb>``."""

    PETITION_CREATE = "petitions:create"
    PETITION_PUBLISH = "petitions:publish"
    PETITION_SIGN = "petitions:sign"
    PETITION_EXAMINE = "petitions:examine"
    PETITION_COLLECT = "petitions:collect"
    SIGNATURES_VIEW_PERSONAL = "signatures:view_personal"
    EXPORTS_PERSONAL = "exports:personal"
    ORGANISATION_REGISTER = "organisations:register"
    ORGANISATION_VERIFY = "organisations:verify"
    OUTBOX_VIEW = "notifications:view_outbox"


@dataclass(frozen=True)
class Actor:
    """Who is acting: ``user_id`` None for an anonymous visitor. role: one of accounts.models.ROLES."""

    user_id: int | None
    role: str | None = None
    display_name: str = ""

    @property
    def signed_in(self) -> bool:
        """True for a signed-in user."""
        return self.user_id is not None


ANONYMOUS = Actor(user_id=None)
SYSTEM = Actor(user_id=None, role="system", display_name="Civic")  # scheduled jobs (expiry, retention)
STAFF_ROLES = frozenset({"council_staff", "admin"})
ALL_ROLES = frozenset(ROLES)

# Role × action matrix. Subject-dependent rules (ownership) are in ``can`` below.
MATRIX: dict[Action, frozenset[str]] = {
    Action.PETITION_CREATE: ALL_ROLES,
    Action.PETITION_PUBLISH: ALL_ROLES,  # only the author, see below
    Action.PETITION_SIGN: ALL_ROLES,
    Action.PETITION_EXAMINE: STAFF_ROLES,
    Action.PETITION_COLLECT: frozenset({"cso_member"}),  # only for petitions they are linked to (service)
    Action.SIGNATURES_VIEW_PERSONAL: STAFF_ROLES,
    Action.EXPORTS_PERSONAL: STAFF_ROLES,
    Action.ORGANISATION_REGISTER: ALL_ROLES,
    Action.ORGANISATION_VERIFY: STAFF_ROLES,
    Action.OUTBOX_VIEW: frozenset({"admin"}),
}


def can(actor: Actor, action: Action, subject: Any = None, now: datetime | None = None) -> bool:
    """True when ``actor`` may do ``action`` on ``subject`` at ``now``.

    Rules: anonymous visitors may do none of these actions; a petition is published only by its author
    (shared/domain.md §2: the initiators open the collection); the CNIE is shown only to council staff
    (shared/domain.md §3).
    """
    if actor.user_id is None or actor.role not in MATRIX[action]:
        return False
    if action is Action.PETITION_PUBLISH:
        return subject is not None and getattr(subject, "author_id", None) == actor.user_id
    return True
