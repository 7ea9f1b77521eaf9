"""The petition lifecycle as one state machine (Organic Law 111-14, as summarised in shared/domain.md §2).

    draft → collecting → submitted → under_examination → admissible → answered → closed
                                                       ↘ inadmissible → closed
    draft | collecting → withdrawn (by the agent, before submission)
    collecting → expired (the collection period ended without submission)

Each transition names who may make it (the petition's agent or deputy, council staff, or anyone once a
date has passed), what it requires, and what it records. Every transition writes a public timeline event,
an audit event, and notifications to the agent, the deputy and the author, in one transaction.
"""

from __future__ import annotations

import calendar
import enum
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from civic import audit, i18n
from civic.db import reading
from civic.errors import Conflict, Forbidden, Invalid, NotFound, NotSignedIn
from civic.i18n import N_
from civic.notifications import service as notifications
from civic.permissions import SYSTEM, Action, Actor, addressees_for, can, can_somewhere
from civic.petitions.models import Petition, PetitionEvent, Signature
from civic.petitions.rules import rule_set
from civic.settings import PetitionRules
from civic.territories import service as territories
from civic.text import clean_text

REASONS_MIN = 20
TEXT_MAX = 10_000


class Who(enum.Enum):
    """Who may make a transition."""

    AGENT = "agent"    # the petition's agent or deputy (for an association: its legal representative)
    STAFF = "staff"    # council staff with petitions:examine
    ANYONE = "anyone"  # anyone signed in, once the date allows it (expiry)


TRANSITIONS: dict[tuple[str, str], Who] = {
    ("draft", "collecting"): Who.AGENT,
    ("draft", "withdrawn"): Who.AGENT,
    ("collecting", "withdrawn"): Who.AGENT,
    ("collecting", "submitted"): Who.AGENT,
    ("collecting", "expired"): Who.ANYONE,
    ("submitted", "under_examination"): Who.STAFF,
    ("under_examination", "admissible"): Who.STAFF,
    ("under_examination", "inadmissible"): Who.STAFF,
    ("admissible", "answered"): Who.STAFF,
    ("answered", "closed"): Who.STAFF,
    ("inadmissible", "closed"): Who.STAFF,
}
TERMINAL_STATUSES = ("withdrawn", "expired", "closed")
STATUS_LABELS = {
    "draft": N_("Draft"), "collecting": N_("Collecting signatures"), "submitted": N_("Submitted to the council"),
    "under_examination": N_("Under examination"), "admissible": N_("Admissible"),
    "inadmissible": N_("Inadmissible"), "answered": N_("Answered"), "closed": N_("Closed"),
    "withdrawn": N_("Withdrawn"), "expired": N_("Expired"),
}


@dataclass(frozen=True)
class TransitionInput:
    """What a transition may carry: a public note; reasons (inadmissible, required, 20+ characters); the
    session and standing committee (admissible, both required); the council's answer (answered, required)."""

    note: str = ""
    reasons: str = ""
    session_label: str = ""
    committee: str = ""
    answer: str = ""


@dataclass(frozen=True)
class TimelineEntry:
    """A public timeline step."""

    at: datetime
    from_status: str
    to_status: str
    note: str


def add_months(moment: datetime, months: int) -> datetime:
    """The end (23:59:59 Africa/Casablanca) of the same calendar day ``months`` later, clamped to the month's
    end; returned in UTC. Used for the bureau's deadline: 2 months from the receipt (domain.md §2)."""
    local = moment.astimezone(i18n.TIMEZONE)
    month_index = local.month - 1 + months
    year, month = local.year + month_index // 12, month_index % 12 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    noon = datetime.combine(local.date().replace(year=year, month=month, day=day), time(12), tzinfo=i18n.TIMEZONE)
    return i18n.end_of_local_day(noon).astimezone(moment.tzinfo)


def _may(actor: Actor, who: Who, petition: Petition, now: datetime) -> bool:
    if who is Who.STAFF:
        return can(actor, Action.PETITION_EXAMINE, petition, now)
    if who is Who.AGENT:
        return actor.user_id in {petition.agent_id, petition.deputy_id} or (
            petition.status == "draft" and actor.user_id == petition.author_id)
    return actor.signed_in or actor is SYSTEM


def _required_text(value: str, field: str, message: str, minimum: int = 1) -> str:
    text = clean_text(value).strip()
    if len(text) < minimum:
        raise Invalid({field: [message]})
    if len(text) > TEXT_MAX:
        raise Invalid({field: [N_("The text must be at most 10,000 characters long.")]})
    return text


async def _province_counts(session: AsyncSession, petition_id: int) -> dict[str, int]:
    rows = await session.execute(select(Signature.province_code, func.count())
                                 .where(Signature.petition_id == petition_id).group_by(Signature.province_code))
    return {code: int(n) for code, n in rows}


def receipt_digest(petition: Petition, counts: dict[str, int]) -> str:
    """SHA-256 (hex) of what was filed: text, addressee, kind, rule set, counts by province, receipt time."""
    payload = {
        "title": petition.title, "body": petition.body, "addressed_to": petition.addressed_to,
        "kind": petition.kind, "organisation_id": petition.organisation_id, "threshold": petition.threshold,
        "province_minimum": petition.province_minimum, "counts": dict(sorted(counts.items())),
        "submitted_at": petition.submitted_at.isoformat() if petition.submitted_at else None,
    }
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


async def _apply(session: AsyncSession, petition: Petition, to: str, data: TransitionInput,
                 rules: PetitionRules, now: datetime) -> str:
    """Check the transition's requirements and record its effects; returns the public note."""
    note = clean_text(data.note).strip()[:TEXT_MAX]
    if to == "collecting":
        region = await territories.region(session, petition.region_code)
        rs = rule_set(region.population_2024, rules)
        petition.published_at = now
        # The period ends at 23:59:59 local time on its last day (domain.md §4: deadlines are local).
        petition.collection_ends_at = i18n.end_of_local_day(now + timedelta(days=rs.collection_days))
        petition.threshold, petition.province_minimum = rs.threshold, rs.province_minimum
        petition.require_electoral_registration = rs.require_electoral_registration
    elif to == "submitted":
        if petition.kind == "citizen" and petition.deputy_id is None:
            raise Conflict(N_("Name a deputy agent before submitting the petition."))
        if petition.collection_ends_at is not None and now > petition.collection_ends_at:
            raise Conflict(N_("The collection period of this petition is over."))
        counts = await _province_counts(session, petition.id)
        provinces = await territories.provinces(session, petition.region_code)
        minimum = petition.province_minimum or 0
        if sum(counts.values()) < (petition.threshold or 0):
            raise Conflict(N_("The petition cannot be submitted before it reaches the threshold."))
        if any(counts.get(p.code, 0) < minimum for p in provinces):
            raise Conflict(N_("The petition cannot be submitted before every province reaches its minimum."))
        petition.submitted_at = now
        petition.submitted_count = sum(counts.values())
        local_year = now.astimezone(i18n.TIMEZONE).year
        petition.receipt_number = f"{petition.region_code}-{local_year}-{petition.id:06d}"
        petition.receipt_digest = receipt_digest(petition, counts)
        petition.examination_due_at = add_months(now, rules.examination_months)
    elif to == "expired":
        if petition.collection_ends_at is None or now <= petition.collection_ends_at:
            raise Conflict(N_("The collection period of this petition is not over yet."))
    elif to == "admissible":
        petition.session_label = _required_text(data.session_label, "session_label",
                                                N_("Name the council session that will consider the petition."))[:200]
        petition.committee = _required_text(data.committee, "committee",
                                            N_("Name the standing committee the petition is sent to."))[:200]
        petition.decided_at = now
    elif to == "inadmissible":
        petition.decision_reasons = _required_text(
            data.reasons, "reasons", N_("An inadmissible petition needs the reasons, in at least 20 characters."),
            REASONS_MIN)
        petition.decided_at = now
        note = note or petition.decision_reasons
    elif to == "answered":
        petition.answer = _required_text(data.answer, "answer", N_("Write the council's answer."))
        petition.answered_at = now
    if to in TERMINAL_STATUSES:
        petition.ended_at = now
    return note


async def transition(session: AsyncSession, actor: Actor, petition_id: int, to: str, data: TransitionInput,
                     rules: PetitionRules, now: datetime, base_url: str = "") -> None:
    """Move a petition to ``to``.

    Raises NotSignedIn; NotFound (no such petition, or a draft the actor may not see); Conflict (no such
    transition from the current state, or a requirement unmet: threshold and province spread before
    submission, deputy named, dates); Forbidden (not the agent/deputy, or not staff); Invalid (missing
    reasons, session, committee or answer). Records a PetitionEvent, an audit event and notifications.
    """
    if not actor.signed_in and actor is not SYSTEM:
        raise NotSignedIn()
    async with session.begin():
        petition = await session.get(Petition, petition_id, with_for_update=True)
        if petition is None or (petition.published_at is None and actor.user_id != petition.author_id
                                and not can(actor, Action.PETITION_EXAMINE, petition, now)):
            raise NotFound()
        who = TRANSITIONS.get((petition.status, to))
        if who is None:
            raise Conflict(N_("This action is not possible in the current state."))
        if not _may(actor, who, petition, now):
            raise Forbidden()
        from_status = petition.status
        note = await _apply(session, petition, to, data, rules, now)
        petition.status = to
        await session.execute(insert(PetitionEvent).values(
            petition_id=petition.id, at=now, from_status=from_status, to_status=to, actor_id=actor.user_id,
            note=note,
        ))
        await audit.record(session, actor_id=actor.user_id, action=f"petitions:{to}", subject_type="petition",
                           subject_id=petition.id, now=now, detail={"from": from_status, "to": to})
        await notifications.enqueue(
            session, [petition.agent_id, petition.deputy_id, petition.author_id],
            N_("Petition %(receipt)s: %(status)s"),
            N_("The petition “%(title)s” is now: %(status)s.\n\n%(note)s\n\nFollow it at %(link)s"),
            {"title": petition.title, "status": STATUS_LABELS[to], "note": note,
             "receipt": petition.receipt_number or f"#{petition.id}",
             "link": f"{base_url}/petitions/{petition.id}"},
            purpose=f"petition:{to}", now=now, translate=("status",),
        )


async def timeline(session: AsyncSession, petition_id: int) -> list[TimelineEntry]:
    """The public timeline of a petition, oldest first."""
    async with reading(session):
        rows = await session.scalars(select(PetitionEvent).where(PetitionEvent.petition_id == petition_id)
                                     .order_by(PetitionEvent.id))
        return [TimelineEntry(e.at, e.from_status, e.to_status, e.note) for e in rows]


@dataclass(frozen=True)
class AwaitingExamination:
    """A petition on the staff dashboard: its receipt, the bureau's deadline, and whether it is overdue."""

    id: int
    title: str
    status: str
    receipt_number: str
    submitted_at: datetime
    due_at: datetime
    overdue: bool


async def awaiting_examination(session: AsyncSession, actor: Actor, now: datetime) -> list[AwaitingExamination]:
    """Petitions submitted or under examination, soonest deadline first (staff, and a consultative body's
    secretary for the petitions addressed to their body only: issue #6, item 1). Overdue when ``now`` is past
    the deadline (receipt + examination_months; domain.md §2). Raises NotSignedIn, Forbidden."""
    if not actor.signed_in:
        raise NotSignedIn()
    if not can_somewhere(actor, Action.PETITION_EXAMINE, now):
        raise Forbidden()
    addressees = addressees_for(actor, Action.PETITION_EXAMINE)
    async with reading(session):
        query = select(Petition).where(Petition.status.in_(("submitted", "under_examination")))
        if addressees is not None:
            query = query.where(Petition.addressed_to.in_(sorted(addressees)))
        rows = await session.scalars(query.order_by(Petition.examination_due_at, Petition.id))
        return [AwaitingExamination(p.id, p.title, p.status, p.receipt_number or "", p.submitted_at or now,
                                    p.examination_due_at or now, now > (p.examination_due_at or now))
                for p in rows]


async def expire_due(session: AsyncSession, actor: Actor, rules: PetitionRules, now: datetime) -> int:
    """Expire every collecting petition whose collection period is over; returns how many (CLI, cron)."""
    async with reading(session):
        ids = list(await session.scalars(select(Petition.id).where(
            Petition.status == "collecting", Petition.collection_ends_at < now)))
    for petition_id in ids:
        await transition(session, actor, petition_id, "expired", TransitionInput(
            note=N_("The collection period ended before the petition was submitted.")), rules, now)
    return len(ids)


@dataclass(frozen=True)
class Procedure:
    """The procedure side of a petition, as its page shows it: kind, agent and deputy, organisation,
    receipt, the bureau's deadline and decision, and the council's answer."""

    kind: str
    agent_id: int | None
    agent_name: str
    deputy_id: int | None
    deputy_name: str
    organisation_id: int | None
    organisation_name_ar: str
    organisation_name_fr: str
    receipt_number: str | None
    receipt_digest: str | None
    submitted_at: datetime | None
    submitted_count: int | None
    examination_due_at: datetime | None
    decided_at: datetime | None
    decision_reasons: str | None
    session_label: str | None
    committee: str | None
    answer: str | None
    answered_at: datetime | None
    addressed_to: str = ""  # one of ADDRESSEES: whose secretary may examine it (permissions, body scope)

    def overdue(self, status: str, now: datetime) -> bool:
        """True when the bureau's deadline has passed without a decision (domain.md §2)."""
        return (status in ("submitted", "under_examination") and self.examination_due_at is not None
                and now > self.examination_due_at)


async def procedure(session: AsyncSession, petition_id: int) -> Procedure:
    """The procedure record of a petition (public data only). Raises NotFound."""
    from civic.accounts.models import User
    from civic.organisations.models import Organisation

    async with reading(session):
        p = await session.get(Petition, petition_id)
        if p is None:
            raise NotFound()
        names = {uid: name for uid, name in await session.execute(
            select(User.id, User.display_name).where(User.id.in_([p.agent_id or 0, p.deputy_id or 0])))}
        org = await session.get(Organisation, p.organisation_id) if p.organisation_id else None
        return Procedure(
            kind=p.kind, agent_id=p.agent_id, agent_name=names.get(p.agent_id or 0, ""), deputy_id=p.deputy_id,
            deputy_name=names.get(p.deputy_id or 0, ""), organisation_id=p.organisation_id,
            organisation_name_ar=org.name_ar if org else "", organisation_name_fr=org.name_fr if org else "",
            receipt_number=p.receipt_number, receipt_digest=p.receipt_digest, submitted_at=p.submitted_at,
            submitted_count=p.submitted_count, examination_due_at=p.examination_due_at, decided_at=p.decided_at,
            decision_reasons=p.decision_reasons, session_label=p.session_label, committee=p.committee,
            answer=p.answer, answered_at=p.answered_at, addressed_to=p.addressed_to,
        )


def actions_for(actor: Actor, status: str, proc: Procedure, author_id: int, now: datetime) -> list[str]:
    """The transitions the actor could attempt from ``status`` (for showing buttons; the transition
    itself re-checks everything). Staff transitions are offered to those who may examine a petition addressed
    to ``proc.addressed_to`` (a body's secretary only for their body's)."""
    result = []
    for (frm, to), who in TRANSITIONS.items():
        if frm != status:
            continue
        if who is Who.STAFF and can(actor, Action.PETITION_EXAMINE, proc, now):
            result.append(to)
        elif who is Who.AGENT and actor.signed_in and (
                actor.user_id in {proc.agent_id, proc.deputy_id} or (status == "draft" and actor.user_id == author_id)):
            result.append(to)
    return result  # expiry (Who.ANYONE) is run by `civic petitions expire`, not offered as a button
