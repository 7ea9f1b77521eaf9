"""The staff dashboard's figures, in one read (issue #6, item 6).

Council staff and admins see everything: moderation work waiting, petitions awaiting the bureau with their
legal deadlines (shared/domain.md §2), associations awaiting verification, consultations by current phase
(shared/domain.md §4) and participation figures. Moderators see the moderation part only. A consultative body's
secretary sees the petitions part only, with the petitions addressed to their body (issue #6, item 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, SQLColumnExpression, and_, func, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from civic.consultations.models import PHASE_KINDS, Consultation, MeetingRegistration, Phase
from civic.db import reading
from civic.errors import Forbidden, NotSignedIn
from civic.moderation.models import Moderation
from civic.organisations import service as organisations
from civic.organisations.models import Organisation
from civic.permissions import Action, Actor, can, can_somewhere
from civic.petitions import lifecycle
from civic.petitions.lifecycle import AwaitingExamination
from civic.petitions.models import Signature
from civic.proposals.models import Comment, Proposal, Support
from civic.proposals.service import visible_comments, visible_proposals

RECENT_DAYS = 30
# The participation figures, in the order the dashboard shows them.
FIGURES = ("signatures", "proposals", "supports", "comments", "registrations", "participants")


@dataclass(frozen=True)
class ModerationWork:
    """Moderation work waiting: items reported and not yet decided (state ``open``), items hidden automatically
    at the report threshold that no moderator has reviewed, and authors' appeals not yet answered."""

    open_reports: int
    hidden_unreviewed: int
    pending_appeals: int


@dataclass(frozen=True)
class PhaseCount:
    """How many consultations are in a phase of this kind now; kind None: no current phase."""

    kind: str | None
    consultations: int


@dataclass(frozen=True)
class Figure:
    """A participation figure (one of FIGURES): over the last RECENT_DAYS days, and since the start."""

    name: str
    recent: int
    total: int


@dataclass(frozen=True)
class Dashboard:
    """What the dashboard shows. ``full`` False: only the parts the actor may see are filled, the others empty.

    moderation: the moderation work (None for an actor who may not moderate: a body's secretary);
    petitions: the petitions part is shown (``full``, or a body's secretary, with only their body's petitions);
    awaiting: petitions awaiting the bureau, soonest deadline first (overdue flagged); pending_organisations:
    associations awaiting verification; phases: one PhaseCount per PHASE_KINDS, then the "no current phase"
    bucket; participation: one Figure per FIGURES.
    """

    full: bool
    moderation: ModerationWork | None
    awaiting: list[AwaitingExamination]
    pending_organisations: list[Organisation]
    phases: list[PhaseCount]
    participation: list[Figure]
    recent_days: int = RECENT_DAYS
    petitions: bool = False


async def dashboard(session: AsyncSession, actor: Actor, now: datetime) -> Dashboard:
    """The staff dashboard at ``now`` (UTC).

    Access: ``moderation:hide`` for the moderation figures, ``petitions:examine`` everywhere for the rest, and
    ``petitions:examine`` somewhere (a body's secretary) for the petitions awaiting the bureau that are addressed
    to their body (lifecycle.awaiting_examination filters them; civic.permissions.MATRIX; issue #6, items 1 and
    6). Raises NotSignedIn, Forbidden when the actor may see none of these.
    """
    if not actor.signed_in:
        raise NotSignedIn()
    full = can(actor, Action.PETITION_EXAMINE, None, now)
    petitions = full or can_somewhere(actor, Action.PETITION_EXAMINE, now)
    moderates = can(actor, Action.MODERATION_HIDE, None, now)
    if not petitions and not moderates:
        raise Forbidden()
    async with reading(session):
        moderation = await _moderation_work(session) if moderates else None
        awaiting = await lifecycle.awaiting_examination(session, actor, now) if petitions else []
        if not full:
            return Dashboard(False, moderation, awaiting, [], [], [], petitions=petitions)
        pending = await organisations.list_all(session, status="pending")
        phases = await _phases(session, now)
        participation = await _participation(session, now)
    return Dashboard(True, moderation, awaiting, pending, phases, participation, petitions=True)


async def _count(session: AsyncSession, stmt: Select[int]) -> int:
    return int(await session.scalar(stmt) or 0)


async def _moderation_work(session: AsyncSession) -> ModerationWork:
    count = select(func.count()).select_from(Moderation)
    return ModerationWork(
        open_reports=await _count(session, count.where(Moderation.state == "open")),
        hidden_unreviewed=await _count(session, count.where(Moderation.state == "hidden",
                                                             Moderation.decided_at.is_(None))),
        pending_appeals=await _count(session, count.where(Moderation.appealed_at.is_not(None),
                                                          Moderation.appeal_decided_at.is_(None))),
    )


async def _phases(session: AsyncSession, now: datetime) -> list[PhaseCount]:
    """Consultations by the kind of their current phase (phases of one consultation never overlap)."""
    current = and_(Phase.consultation_id == Consultation.id, Phase.starts_at <= now, Phase.ends_at > now)
    rows = await session.execute(select(Phase.kind, func.count(func.distinct(Consultation.id)))
                                 .select_from(Consultation).outerjoin(Phase, current).group_by(Phase.kind))
    by_kind: dict[str | None, int] = {kind: int(n) for kind, n in rows}
    kinds: list[str | None] = [*PHASE_KINDS, *sorted(k for k in by_kind if k and k not in PHASE_KINDS), None]
    return [PhaseCount(kind, by_kind.get(kind, 0)) for kind in kinds]


async def _participation(session: AsyncSession, now: datetime) -> list[Figure]:
    """Signatures, visible proposals (not withdrawn), supports of visible proposals, visible comments, meeting
    registrations (not cancelled) and distinct participants with an account (any of these), recent and total."""
    since = now - timedelta(days=RECENT_DAYS)

    def sources(recent: bool) -> dict[str, Select[int] | Select[int | None]]:
        def when(column: SQLColumnExpression[datetime]) -> list[ColumnElement[bool]]:
            return [column >= since, column <= now] if recent else []

        return {
            "signatures": select(Signature.user_id).where(*when(Signature.created_at)),
            "proposals": select(Proposal.author_id).where(visible_proposals(), *when(Proposal.created_at)),
            "supports": select(Support.user_id).join(Proposal, Proposal.id == Support.proposal_id)
            .where(visible_proposals(), *when(Support.created_at)),
            "comments": select(Comment.author_id).where(visible_comments(), *when(Comment.created_at)),
            "registrations": select(MeetingRegistration.user_id).where(
                MeetingRegistration.status != "cancelled", *when(MeetingRegistration.registered_at)),
        }

    values: dict[str, list[int]] = {name: [] for name in FIGURES}
    for recent in (True, False):
        parts = sources(recent)
        for name, stmt in parts.items():
            values[name].append(await _count(session, select(func.count()).select_from(stmt.subquery())))
        people = union(*parts.values()).subquery()
        values["participants"].append(await _count(session, select(func.count()).select_from(people)
                                                   .where(people.c[0].is_not(None))))
    return [Figure(name, *values[name]) for name in FIGURES]
