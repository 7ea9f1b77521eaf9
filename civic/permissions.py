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
    CONSULTATION_MANAGE = "consultations:manage"
    MEETING_REGISTER = "meetings:register"
    MEETING_MANAGE = "meetings:manage"
    PROPOSAL_CREATE = "proposals:create"
    PROPOSAL_EDIT = "proposals:edit"
    PROPOSAL_WITHDRAW = "proposals:withdraw"
    PROPOSAL_SUPPORT = "proposals:support"
    SUPPORT_WITHDRAW = "proposals:unsupport"
    COMMENT_CREATE = "comments:create"
    PROPOSAL_ANSWER = "proposals:answer"


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
    Action.CONSULTATION_MANAGE: STAFF_ROLES,
    Action.MEETING_REGISTER: ALL_ROLES,
    Action.MEETING_MANAGE: STAFF_ROLES,
    Action.PROPOSAL_CREATE: ALL_ROLES,  # while the phase allows, see PHASE_FLAGS
    Action.PROPOSAL_EDIT: ALL_ROLES,  # only the author
    Action.PROPOSAL_WITHDRAW: ALL_ROLES,  # only the author
    Action.PROPOSAL_SUPPORT: ALL_ROLES,
    Action.SUPPORT_WITHDRAW: ALL_ROLES,
    Action.COMMENT_CREATE: ALL_ROLES,
    Action.PROPOSAL_ANSWER: STAFF_ROLES,
}

# Participant actions a consultation's current phase must allow: action → the phase flag that allows it
# (design.md, "Phases decide what is allowed"; issue #4, item 1). The subject given to ``can`` is the phase
# (anything with these boolean attributes and ``starts_at``/``ends_at``), or None when no phase is current.
PHASE_FLAGS: dict[Action, str] = {
    Action.PROPOSAL_CREATE: "proposals_enabled",
    Action.PROPOSAL_SUPPORT: "supports_enabled",
    Action.SUPPORT_WITHDRAW: "supports_enabled",
    Action.COMMENT_CREATE: "comments_enabled",
}
# Actions on one's own content: the subject must carry ``author_id`` equal to the actor's id.
AUTHOR_ONLY = frozenset({Action.PETITION_PUBLISH, Action.PROPOSAL_EDIT, Action.PROPOSAL_WITHDRAW})


def can(actor: Actor, action: Action, subject: Any = None, now: datetime | None = None) -> bool:
    """True when ``actor`` may do ``action`` on ``subject`` at ``now``.

    Rules: anonymous visitors may do none of these actions; a petition is published only by its author
    (shared/domain.md §2: the initiators open the collection); the CNIE is shown only to council staff
    (shared/domain.md §3); proposals are edited and withdrawn only by their author, and participant actions
    need a current phase whose flag allows them (PHASE_FLAGS; shared/domain.md §4). For a phase-gated action
    ``subject`` is the phase and ``now`` is required: a phase outside ``[starts_at, ends_at)`` allows nothing.
    """
    if actor.user_id is None or actor.role not in MATRIX[action]:
        return False
    if action in AUTHOR_ONLY:
        return subject is not None and getattr(subject, "author_id", None) == actor.user_id
    flag = PHASE_FLAGS.get(action)
    if flag is not None:
        return phase_allows(subject, flag, now)
    return True


def phase_allows(phase: Any, flag: str, now: datetime | None) -> bool:
    """True when ``phase`` is current at ``now`` and its ``flag`` (one of consultations.models.PHASE_FLAGS) is on."""
    if phase is None or now is None:
        return False
    return bool(phase.starts_at <= now < phase.ends_at and getattr(phase, flag))
