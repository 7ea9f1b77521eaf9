"""Supports: a per-consultation limit per person, enforced by the database (shared/domain.md §4; issue #4 item 4).

The limit lives in the unique index ``(consultation_id, user_id, slot)`` of civic.proposals.models.Support: a
support takes the lowest free slot in ``1..Consultation.support_limit``. Two parallel clicks that pick the same
slot cannot both commit; the loser gets an IntegrityError, rolls back, reads again and retries (at most
MAX_ATTEMPTS times). ``(proposal_id, user_id)`` unique means supporting twice never counts twice. The count is
always COUNT(*) of the rows (design.md, "Counting without a hot row"); there is no counter to drift.

Decisions: authors may support their own proposal (as Decidim allows, and as a petition's author may sign it).
Supports are not audited one by one, like petition signatures (the table itself is the record, and the audit
chain's lock would serialise every click); they carry their own ``created_at``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import CursorResult, delete, exists, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from civic.consultations import service as consultations
from civic.consultations.models import Consultation
from civic.db import reading
from civic.errors import Conflict, NotFound, NotSignedIn
from civic.i18n import N_
from civic.permissions import Action, Actor
from civic.proposals.models import Proposal, Support
from civic.proposals.service import WITHDRAWN_MESSAGE, phase_refusal, require

MAX_ATTEMPTS = 10
LIMIT_REACHED = N_("You have used all your supports in this consultation. Withdraw one of them to support this "
                   "proposal.")
BUSY = N_("Many supports are being recorded at this moment. Please try again.")


class Outcome(StrEnum):
    """What a support or withdrawal request did."""

    SUPPORTED = "supported"
    ALREADY_SUPPORTED = "already_supported"
    WITHDRAWN = "withdrawn"
    NOT_SUPPORTED = "not_supported"


@dataclass(frozen=True)
class SupportState:
    """The support area of a proposal for one actor.

    count: COUNT(*) of the proposal's supports; supported: the actor supports it; used: the actor's supports in
    the consultation; limit: Consultation.support_limit; refusal: msgid saying why the actor cannot change their
    support now (withdrawn proposal, closed phase, limit reached), None when the button can be shown.
    """

    proposal_id: int
    count: int
    supported: bool
    used: int
    limit: int
    signed_in: bool
    refusal: str | None

    @property
    def remaining(self) -> int:
        """Supports the actor may still give in this consultation."""
        return max(self.limit - self.used, 0)


@dataclass(frozen=True)
class SupportResult:
    """The outcome of a request and the state after it."""

    outcome: Outcome
    state: SupportState


async def _state(session: AsyncSession, actor: Actor, proposal: Proposal, now: datetime) -> SupportState:
    """Read the support state inside the caller's transaction (no visibility check)."""
    limit = int(await session.scalar(select(Consultation.support_limit)
                                     .where(Consultation.id == proposal.consultation_id)) or 0)
    count = int(await session.scalar(select(func.count()).select_from(Support)
                                     .where(Support.proposal_id == proposal.id)) or 0)
    supported, used = False, 0
    if actor.signed_in:
        supported = bool(await session.scalar(select(exists().where(
            Support.proposal_id == proposal.id, Support.user_id == actor.user_id))))
        used = int(await session.scalar(select(func.count()).select_from(Support).where(
            Support.consultation_id == proposal.consultation_id, Support.user_id == actor.user_id)) or 0)
    phase = await consultations.current_phase(session, proposal.consultation_id, now)
    refusal: str | None
    if proposal.status == "withdrawn":
        refusal = WITHDRAWN_MESSAGE
    elif supported:
        refusal = phase_refusal(Action.SUPPORT_WITHDRAW, phase, now)
    else:
        refusal = phase_refusal(Action.PROPOSAL_SUPPORT, phase, now)
        if refusal is None and actor.signed_in and used >= limit:
            refusal = LIMIT_REACHED
    return SupportState(proposal.id, count, supported, used, limit, actor.signed_in, refusal)


async def state(session: AsyncSession, actor: Actor, proposal_id: int, now: datetime) -> SupportState:
    """The support state of a visible proposal for ``actor`` at ``now``. Raises NotFound (none, or hidden)."""
    async with reading(session):
        proposal = await session.get(Proposal, proposal_id, populate_existing=True)
        if proposal is None or proposal.hidden_at is not None:
            raise NotFound()
        return await _state(session, actor, proposal, now)


async def support(session: AsyncSession, actor: Actor, proposal_id: int, now: datetime) -> SupportResult:
    """Support a proposal while the consultation's current phase has ``supports_enabled`` (issue #4 item 4).

    Takes the lowest free slot of the actor in the consultation; the unique indexes of Support refuse a slot
    or a proposal taken by a parallel request, and the request is retried after reading again. Supporting a
    proposal twice answers ALREADY_SUPPORTED with the current state (never a double count).
    Raises NotSignedIn, Forbidden (BLOCKED_MESSAGE while blocked; issue #6, item 3), NotFound (none, or hidden),
    Conflict (phase closed, withdrawn proposal, all supports used — LIMIT_REACHED —, or BUSY after MAX_ATTEMPTS
    lost races).
    """
    if not actor.signed_in:
        raise NotSignedIn()
    for _attempt in range(MAX_ATTEMPTS):
        try:
            async with session.begin():
                proposal = await session.get(Proposal, proposal_id, populate_existing=True)
                if proposal is None or proposal.hidden_at is not None:
                    raise NotFound()
                phase = await consultations.current_phase(session, proposal.consultation_id, now)
                require(actor, Action.PROPOSAL_SUPPORT, phase, now)
                if proposal.status == "withdrawn":
                    raise Conflict(WITHDRAWN_MESSAGE)
                if await session.scalar(select(exists().where(
                        Support.proposal_id == proposal_id, Support.user_id == actor.user_id))):
                    return SupportResult(Outcome.ALREADY_SUPPORTED, await _state(session, actor, proposal, now))
                limit = int(await session.scalar(select(Consultation.support_limit)
                                                 .where(Consultation.id == proposal.consultation_id)) or 0)
                taken = set(await session.scalars(select(Support.slot).where(
                    Support.consultation_id == proposal.consultation_id, Support.user_id == actor.user_id)))
                slot = next((s for s in range(1, limit + 1) if s not in taken), None)
                if slot is None:
                    raise Conflict(LIMIT_REACHED)
                await session.execute(insert(Support).values(
                    proposal_id=proposal_id, consultation_id=proposal.consultation_id, user_id=actor.user_id,
                    slot=slot, created_at=now))
                return SupportResult(Outcome.SUPPORTED, await _state(session, actor, proposal, now))
        except IntegrityError:
            continue  # a parallel request took the slot or supported the proposal: read again
    raise Conflict(BUSY)


async def withdraw(session: AsyncSession, actor: Actor, proposal_id: int, now: datetime) -> SupportResult:
    """Withdraw one's support while the phase has ``supports_enabled`` (shared/domain.md §4); frees its slot.
    Idempotent: NOT_SUPPORTED when there was none. A support on a proposal moderation has since hidden can
    still be withdrawn (it would otherwise hold one of the person's slots).
    Raises NotSignedIn, Forbidden (BLOCKED_MESSAGE while blocked), NotFound, Conflict (the phase does not allow
    it)."""
    if not actor.signed_in:
        raise NotSignedIn()
    async with session.begin():
        proposal = await session.get(Proposal, proposal_id, populate_existing=True)
        if proposal is None:
            raise NotFound()
        phase = await consultations.current_phase(session, proposal.consultation_id, now)
        require(actor, Action.SUPPORT_WITHDRAW, phase, now)
        deleted = cast(CursorResult[Any], await session.execute(delete(Support).where(
            Support.proposal_id == proposal_id, Support.user_id == actor.user_id))).rowcount
        outcome = Outcome.WITHDRAWN if deleted else Outcome.NOT_SUPPORTED
        return SupportResult(outcome, await _state(session, actor, proposal, now))

