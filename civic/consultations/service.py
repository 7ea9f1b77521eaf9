"""Consultation rules: creating and editing consultations and their dated phases, listing them, and reading
a consultation's page (shared/domain.md §4; issue #4, items 1 and 8).

Other domains (proposals, meetings, votes) ask ``current_phase`` what the consultation allows at ``now`` and pass
the phase to ``civic.permissions.can``. Documents (PDF uploads) live in ``civic.consultations.documents``.

Status of a consultation, derived from its phases at ``now`` (issue #4, item 4): ``upcoming`` while no phase
has started (a consultation without phases is upcoming), ``open`` from the start of its first phase until the
end of its last one (a gap between two phases stays open, with no current phase), ``closed`` once every phase
has ended. The three statuses split every consultation, so the status filter never loses one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, insert, not_, select
from sqlalchemy.ext.asyncio import AsyncSession

from civic import audit, listing
from civic.consultations.models import (
    PHASE_FLAGS,
    PHASE_KINDS,
    SCOPES,
    Consultation,
    ConsultationDocument,
    Meeting,
    Phase,
)
from civic.db import reading
from civic.errors import Forbidden, Invalid, NotFound, NotSignedIn
from civic.i18n import N_, TIMEZONE
from civic.permissions import Action, Actor, addressees_for, can, can_somewhere
from civic.petitions.models import ADDRESSEES
from civic.proposals import service as proposals
from civic.search import service as search
from civic.territories.models import Territory
from civic.text import clean_text

TITLE_MIN, TITLE_MAX = 10, 200
SUMMARY_MAX = 500
BODY_MIN, BODY_MAX = 50, 20_000
EASY_READ_MAX = 2_000
SUPPORT_LIMIT_MIN, SUPPORT_LIMIT_MAX, SUPPORT_LIMIT_DEFAULT = 1, 100, 3
STATUSES = ("upcoming", "open", "closed")
SORTS = ("newest", "random")
LOCAL_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M")
YEAR_MIN, YEAR_MAX = 2000, 2100
# The flags a phase of each kind usually has, offered pre-filled on the phase form (issue #4, item 1; the
# adhocracy4 habit of module defaults). Staff may change them for one phase.
DEFAULT_FLAGS: dict[str, tuple[str, ...]] = {
    "information": (),
    "proposals": ("proposals_enabled", "supports_enabled", "comments_enabled"),
    "deliberation": ("comments_enabled",),
    "voting": ("votes_enabled",),
    "results": ("results_visible",),
    "follow_up": ("results_visible",),
}


# --- reading ------------------------------------------------------------------------------------------------


async def get_consultation(session: AsyncSession, consultation_id: int) -> Consultation:
    """The consultation row. Raises NotFound when there is none."""
    async with reading(session):
        consultation = await session.get(Consultation, consultation_id)
    if consultation is None:
        raise NotFound()
    return consultation


async def phases_of(session: AsyncSession, consultation_id: int) -> list[Phase]:
    """The consultation's phases in date order."""
    async with reading(session):
        rows = await session.scalars(
            select(Phase).where(Phase.consultation_id == consultation_id).order_by(Phase.starts_at, Phase.id)
        )
        return list(rows)


async def current_phase(session: AsyncSession, consultation_id: int, now: datetime) -> Phase | None:
    """The phase whose ``[starts_at, ends_at)`` contains ``now``, or None (before, between or after phases)."""
    async with reading(session):
        return await session.scalar(
            select(Phase).where(Phase.consultation_id == consultation_id, Phase.starts_at <= now, Phase.ends_at > now)
            .order_by(Phase.starts_at.desc(), Phase.id.desc()).limit(1)
        )


def phase_at(phases: list[Phase], now: datetime) -> Phase | None:
    """The phase of ``phases`` (one consultation's) current at ``now``, or None."""
    current = [p for p in phases if p.starts_at <= now < p.ends_at]
    return current[-1] if current else None


def status_of(phases: list[Phase], now: datetime) -> str:
    """``upcoming`` | ``open`` | ``closed`` from a consultation's phases (rule in the module docstring)."""
    if not any(p.starts_at <= now for p in phases):
        return "upcoming"
    return "open" if any(p.ends_at > now for p in phases) else "closed"


def require_manager(actor: Actor, now: datetime, subject: Any = None) -> None:
    """Staff only: Action.CONSULTATION_MANAGE (council_staff, admin; a body's secretary for their body) on
    ``subject`` — the consultation, or the input of a new one (both carry ``addressed_to``, which scoped roles are
    checked against; see civic.permissions.can: with no subject a scoped grant allows nothing).
    Raises NotSignedIn or Forbidden."""
    if not actor.signed_in:
        raise NotSignedIn()
    if not can(actor, Action.CONSULTATION_MANAGE, subject, now):
        raise Forbidden()


def require_manager_somewhere(actor: Actor, now: datetime) -> None:
    """For pages not yet about one consultation (the creation form, the list's "create" link): the actor may
    manage at least some consultations (``can_somewhere``; issue #6, item 1). Raises NotSignedIn or Forbidden."""
    if not actor.signed_in:
        raise NotSignedIn()
    if not can_somewhere(actor, Action.CONSULTATION_MANAGE, now):
        raise Forbidden()


def manageable_addressees(actor: Actor, now: datetime) -> tuple[str, ...]:
    """The addressees (ADDRESSEES, in their order) the actor may address a consultation to: all of them for
    council staff and admins, only their own bodies for a body's secretary (``addressees_for``; issue #6,
    item 1). For the form's "Addressed to" choice. Raises NotSignedIn or Forbidden (none at all)."""
    require_manager_somewhere(actor, now)
    allowed = addressees_for(actor, Action.CONSULTATION_MANAGE)
    choices = tuple(a for a in ADDRESSEES if allowed is None or a in allowed)
    if not choices:
        raise Forbidden()
    return choices


# --- local date-times (datetime-local inputs) --------------------------------------------------------------


def parse_local(value: str) -> datetime | None:
    """A ``datetime-local`` value (Africa/Casablanca wall time, e.g. ``2026-11-20T09:30``) as an aware UTC
    datetime, or None when it is not one (or its year is outside 2000–2100). Times that do not exist or
    happen twice when the clocks move around Ramadan take the first reading (fold 0)."""
    text = (value or "").strip()
    for fmt in LOCAL_FORMATS:
        try:
            naive = datetime.strptime(text, fmt)  # local wall time; the zone is attached below
        except ValueError:
            continue
        if not YEAR_MIN <= naive.year <= YEAR_MAX:
            return None
        return naive.replace(tzinfo=TIMEZONE).astimezone(UTC)
    return None


def local_input_value(moment: datetime | None) -> str:
    """A UTC datetime as a ``datetime-local`` value in Africa/Casablanca ('' for None)."""
    return moment.astimezone(TIMEZONE).strftime("%Y-%m-%dT%H:%M") if moment else ""


# --- consultations -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsultationInput:
    """What staff type. scope: one of SCOPES; territory_code: a province or commune code of the region (ignored
    for the region scope); addressed_to: one of ADDRESSEES; support_limit: text of a whole number 1–100."""

    title: str
    summary: str
    body: str
    easy_read: str
    scope: str
    territory_code: str
    addressed_to: str
    support_limit: str = str(SUPPORT_LIMIT_DEFAULT)


def _validate(data: ConsultationInput, region_code: str, territory: Territory | None) -> dict[str, Any]:
    """Checked and cleaned column values; raises Invalid with a msgid per field (issue #4, item 1)."""
    errors: dict[str, list[str]] = {}
    title = " ".join(clean_text(data.title).split())
    if not title:
        errors["title"] = [N_("Please give the consultation a title.")]
    elif len(title) < TITLE_MIN:
        errors["title"] = [N_("The title must be at least 10 characters long.")]
    elif len(title) > TITLE_MAX:
        errors["title"] = [N_("The title must be at most 200 characters long.")]
    summary = " ".join(clean_text(data.summary).split())
    if not summary:
        errors["summary"] = [N_("Please write a short summary.")]
    elif len(summary) > SUMMARY_MAX:
        errors["summary"] = [N_("The summary must be at most 500 characters long.")]
    body = clean_text(data.body).strip()
    if not body:
        errors["body"] = [N_("Please describe the consultation.")]
    elif len(body) < BODY_MIN:
        errors["body"] = [N_("The text must be at least 50 characters long.")]
    elif len(body) > BODY_MAX:
        errors["body"] = [N_("The text must be at most 20,000 characters long.")]
    easy_read = clean_text(data.easy_read).strip()
    if len(easy_read) > EASY_READ_MAX:
        errors["easy_read"] = [N_("The summary in simple words must be at most 2,000 characters long.")]
    territory_code = region_code
    if data.scope not in SCOPES:
        errors["scope"] = [N_("Please choose the scope of the consultation.")]
    elif data.scope != "region":
        in_region = territory is not None and territory.region_code == region_code
        if not in_region or territory is None or territory.kind != data.scope:
            errors["territory_code"] = [N_("Please choose a province of this region.") if data.scope == "province"
                                        else N_("Please choose a commune of this region.")]
        else:
            territory_code = territory.code
    if data.addressed_to not in ADDRESSEES:
        errors["addressed_to"] = [N_("Please choose who the consultation is addressed to.")]
    raw_limit = data.support_limit.strip()
    limit = int(raw_limit) if raw_limit.isascii() and raw_limit.isdigit() and len(raw_limit) <= 3 else 0
    if not SUPPORT_LIMIT_MIN <= limit <= SUPPORT_LIMIT_MAX:
        errors["support_limit"] = [N_("Give a whole number from 1 to 100.")]
    if errors:
        raise Invalid(errors)
    return {"title": title, "summary": summary, "body": body, "easy_read": easy_read, "scope": data.scope,
            "territory_code": territory_code, "addressed_to": data.addressed_to, "support_limit": limit}


async def _territory(session: AsyncSession, code: str) -> Territory | None:
    code = code.strip()
    return await session.get(Territory, code) if code and len(code) <= 20 else None


async def create_consultation(session: AsyncSession, actor: Actor, data: ConsultationInput, region_code: str,
                              now: datetime) -> int:
    """Create a consultation (no phases yet, so ``upcoming``); returns its id. Staff only (issue #4, item 1);
    a body's secretary only addressed to their own body (issue #6, item 1).

    Indexed for search; audited ``consultations:create``. Raises NotSignedIn, Forbidden (not staff, or addressed
    to a body outside the actor's scope), Invalid.
    """
    require_manager_somewhere(actor, now)
    async with session.begin():
        values = _validate(data, region_code, await _territory(session, data.territory_code))
        require_manager(actor, now, data)
        consultation_id = int((await session.execute(insert(Consultation).values(
            **values, created_by=actor.user_id, created_at=now, updated_at=now,
        ).returning(Consultation.id))).scalar_one())
        await search.index_item(session, "consultation", consultation_id, values["title"], values["summary"],
                                values["body"], values["easy_read"])
        await audit.record(session, actor_id=actor.user_id, action="consultations:create",
                           subject_type="consultation", subject_id=consultation_id, now=now)
    return consultation_id


async def update_consultation(session: AsyncSession, actor: Actor, consultation_id: int, data: ConsultationInput,
                              region_code: str, now: datetime) -> None:
    """Change a consultation's text, scope, territory, addressed body and support limit (staff only).

    Re-indexed for search; audited ``consultations:update`` with the names of the changed fields. A body's
    secretary may change only their body's consultations, and keep them addressed to one of their bodies.
    Raises NotSignedIn, Forbidden, NotFound, Invalid.
    """
    require_manager_somewhere(actor, now)
    async with session.begin():
        consultation = await session.get(Consultation, consultation_id, with_for_update=True)
        if consultation is None:
            raise NotFound()
        require_manager(actor, now, consultation)
        values = _validate(data, region_code, await _territory(session, data.territory_code))
        require_manager(actor, now, data)
        changed = sorted(name for name, value in values.items() if getattr(consultation, name) != value)
        for name, value in values.items():
            setattr(consultation, name, value)
        consultation.updated_at = now
        await session.flush()
        await search.index_item(session, "consultation", consultation_id, values["title"], values["summary"],
                                values["body"], values["easy_read"])
        await audit.record(session, actor_id=actor.user_id, action="consultations:update",
                           subject_type="consultation", subject_id=consultation_id, now=now,
                           detail={"changed": changed})


# --- phases -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PhaseInput:
    """A phase as staff type it: kind (one of PHASE_KINDS), local start and end (``datetime-local`` text in
    Africa/Casablanca), and the five flags (models.PHASE_FLAGS)."""

    kind: str
    starts_at: str
    ends_at: str
    proposals_enabled: bool = False
    supports_enabled: bool = False
    comments_enabled: bool = False
    votes_enabled: bool = False
    results_visible: bool = False

    @classmethod
    def defaults(cls, kind: str, starts_at: str = "", ends_at: str = "") -> PhaseInput:
        """A phase of ``kind`` with its usual flags (DEFAULT_FLAGS) ticked."""
        flags = DEFAULT_FLAGS.get(kind, ())
        return cls(kind, starts_at, ends_at, **{flag: flag in flags for flag in PHASE_FLAGS})


def _validate_phase(data: PhaseInput) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    if data.kind not in PHASE_KINDS:
        errors["kind"] = [N_("Please choose the kind of phase.")]
    starts_at, ends_at = parse_local(data.starts_at), parse_local(data.ends_at)
    wrong_date = N_("Give a date and a time, e.g. 2026-03-21 09:30.")
    if starts_at is None:
        errors["starts_at"] = [wrong_date]
    if ends_at is None:
        errors["ends_at"] = [wrong_date]
    elif starts_at is not None and ends_at <= starts_at:
        errors["ends_at"] = [N_("The phase must end after it starts.")]
    if errors:
        raise Invalid(errors)
    return {"kind": data.kind, "starts_at": starts_at, "ends_at": ends_at,
            **{flag: bool(getattr(data, flag)) for flag in PHASE_FLAGS}}


async def _refuse_overlap(session: AsyncSession, consultation_id: int, values: dict[str, Any],
                          phase_id: int | None) -> None:
    """Phases of one consultation never overlap: ``[s, e)`` meets another ``[s2, e2)`` when s < e2 and s2 < e."""
    condition = and_(Phase.consultation_id == consultation_id, Phase.starts_at < values["ends_at"],
                     Phase.ends_at > values["starts_at"])
    if phase_id is not None:
        condition = and_(condition, Phase.id != phase_id)
    if await session.scalar(select(exists().where(condition))):
        raise Invalid({"starts_at": [N_("These dates overlap another phase of this consultation.")]})


async def _locked(session: AsyncSession, actor: Actor, consultation_id: int, now: datetime) -> Consultation:
    """The consultation, locked so parallel phase changes of one consultation run one after the other; the
    actor must manage it. Raises NotFound, Forbidden."""
    consultation = await session.get(Consultation, consultation_id, with_for_update=True)
    if consultation is None:
        raise NotFound()
    require_manager(actor, now, consultation)
    return consultation


async def add_phase(session: AsyncSession, actor: Actor, consultation_id: int, data: PhaseInput,
                    now: datetime) -> int:
    """Add a dated phase to a consultation; returns its id (staff only; issue #4, item 1).

    Refused with field errors: unknown kind, a date that is not one, an end not after the start, dates
    overlapping another phase. Audited ``consultations:add_phase``. Raises NotSignedIn, Forbidden, NotFound,
    Invalid.
    """
    if not actor.signed_in:
        raise NotSignedIn()
    values = _validate_phase(data)
    async with session.begin():
        await _locked(session, actor, consultation_id, now)
        await _refuse_overlap(session, consultation_id, values, None)
        phase_id = int((await session.execute(insert(Phase).values(consultation_id=consultation_id, **values)
                                              .returning(Phase.id))).scalar_one())
        await audit.record(session, actor_id=actor.user_id, action="consultations:add_phase",
                           subject_type="consultation", subject_id=consultation_id, now=now,
                           detail={"phase_id": phase_id, "kind": values["kind"]})
    return phase_id


async def _phase(session: AsyncSession, consultation_id: int, phase_id: int) -> Phase:
    phase = await session.get(Phase, phase_id)
    if phase is None or phase.consultation_id != consultation_id:
        raise NotFound()
    return phase


async def get_phase(session: AsyncSession, actor: Actor, consultation_id: int, phase_id: int,
                    now: datetime) -> Phase:
    """One phase of the consultation, for its edit form (staff only). Raises NotSignedIn, Forbidden, NotFound."""
    if not actor.signed_in:
        raise NotSignedIn()
    async with reading(session):
        consultation = await session.get(Consultation, consultation_id)
        if consultation is None:
            raise NotFound()
        require_manager(actor, now, consultation)
        return await _phase(session, consultation_id, phase_id)


async def update_phase(session: AsyncSession, actor: Actor, consultation_id: int, phase_id: int,
                       data: PhaseInput, now: datetime) -> None:
    """Change a phase's kind, dates or flags, with the same checks as ``add_phase``. Audited
    ``consultations:update_phase``. Raises NotSignedIn, Forbidden, NotFound, Invalid."""
    if not actor.signed_in:
        raise NotSignedIn()
    values = _validate_phase(data)
    async with session.begin():
        await _locked(session, actor, consultation_id, now)
        phase = await _phase(session, consultation_id, phase_id)
        await _refuse_overlap(session, consultation_id, values, phase_id)
        for name, value in values.items():
            setattr(phase, name, value)
        await session.flush()
        await audit.record(session, actor_id=actor.user_id, action="consultations:update_phase",
                           subject_type="consultation", subject_id=consultation_id, now=now,
                           detail={"phase_id": phase_id, "kind": values["kind"]})


async def delete_phase(session: AsyncSession, actor: Actor, consultation_id: int, phase_id: int,
                       now: datetime) -> None:
    """Remove a phase. Audited ``consultations:delete_phase``. Raises NotSignedIn, Forbidden, NotFound."""
    if not actor.signed_in:
        raise NotSignedIn()
    async with session.begin():
        await _locked(session, actor, consultation_id, now)
        phase = await _phase(session, consultation_id, phase_id)
        kind = phase.kind
        await session.delete(phase)
        await session.flush()
        await audit.record(session, actor_id=actor.user_id, action="consultations:delete_phase",
                           subject_type="consultation", subject_id=consultation_id, now=now,
                           detail={"phase_id": phase_id, "kind": kind})


# --- lists ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsultationFilters:
    """Filters of the public list (issue #4, item 8). status: one of STATUSES; territory: a province code
    (the province's own consultations and its communes'); body: one of ADDRESSEES; q: words searched;
    sort: one of SORTS. None (or '' for q) means no filter."""

    status: str | None = None
    territory: str | None = None
    body: str | None = None
    q: str = ""
    sort: str = "newest"

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> ConsultationFilters:
        """Filters from a query string; values that are not allowed are dropped (never an error)."""
        status = query.get("status") or None
        territory = (query.get("territory") or "").strip()
        body = query.get("body") or None
        sort = query.get("sort") or "newest"
        return cls(status=status if status in STATUSES else None,
                   territory=territory if territory and len(territory) <= 20 else None,
                   body=body if body in ADDRESSEES else None,
                   q=" ".join(clean_text(query.get("q") or "").split())[:200],
                   sort=sort if sort in SORTS else "newest")

    def query(self) -> dict[str, str]:
        """The filters as query-string parameters (only those set), for page links that keep them."""
        values = {"status": self.status or "", "territory": self.territory or "", "body": self.body or "",
                  "q": self.q, "sort": "" if self.sort == "newest" else self.sort}
        return {name: value for name, value in values.items() if value}


@dataclass(frozen=True)
class ConsultationItem:
    """A consultation as lists and the API show it. status: one of STATUSES; current: the current phase or
    None; phases: all of its phases in date order; counts: visible proposals and comments."""

    consultation: Consultation
    territory: Territory
    status: str
    current: Phase | None
    phases: list[Phase]
    counts: proposals.ConsultationCounts


def _status_condition(status: str, now: datetime) -> ColumnElement[bool]:
    started = exists().where(Phase.consultation_id == Consultation.id, Phase.starts_at <= now)
    unfinished = exists().where(Phase.consultation_id == Consultation.id, Phase.ends_at > now)
    if status == "upcoming":
        return not_(started)
    if status == "open":
        return and_(started, unfinished)
    return and_(started, not_(unfinished))


async def _items(session: AsyncSession, rows: list[tuple[Consultation, Territory]],
                 now: datetime) -> list[ConsultationItem]:
    ids = [c.id for c, _t in rows]
    by_consultation: dict[int, list[Phase]] = {cid: [] for cid in ids}
    if ids:
        for phase in await session.scalars(select(Phase).where(Phase.consultation_id.in_(ids))
                                           .order_by(Phase.consultation_id, Phase.starts_at, Phase.id)):
            by_consultation[phase.consultation_id].append(phase)
    items = []
    for consultation, territory in rows:
        phases = by_consultation[consultation.id]
        items.append(ConsultationItem(consultation, territory, status_of(phases, now), phase_at(phases, now), phases,
                                      await proposals.counts(session, consultation.id)))
    return items


async def list_consultations(session: AsyncSession, filters: ConsultationFilters, page: int, seed: int,
                             now: datetime, per_page: int = listing.DEFAULT_PER_PAGE) -> listing.Page[ConsultationItem]:
    """One page of consultations matching ``filters`` (issue #4, items 4 and 8). Public: consultations have
    no draft state. Orders: ``newest`` (created_at desc, id desc) or ``random`` (the visitor's ``seed``,
    civic.listing.random_key, then id); both end with the id, so pages never repeat or skip an item."""
    conditions: list[ColumnElement[bool]] = []
    if filters.status:
        conditions.append(_status_condition(filters.status, now))
    if filters.territory:
        conditions.append(Consultation.territory_code.in_(
            select(Territory.code).where(Territory.province_code == filters.territory)))
    if filters.body:
        conditions.append(Consultation.addressed_to == filters.body)
    matched = search.matching_ids(session, "consultation", filters.q) if filters.q else None
    if matched is not None:
        conditions.append(Consultation.id.in_(matched))
    if filters.sort == "random":
        order: list[Any] = [listing.random_key(Consultation.id.expression, seed), Consultation.id]
    else:
        order = [Consultation.created_at.desc(), Consultation.id.desc()]
    async with reading(session):
        total = int(await session.scalar(select(func.count()).select_from(Consultation).where(*conditions)) or 0)
        result = await session.execute(
            select(Consultation, Territory).join(Territory, Territory.code == Consultation.territory_code)
            .where(*conditions).order_by(*order).offset((page - 1) * per_page).limit(per_page))
        rows = [(c, t) for c, t in result.all()]
        items = await _items(session, rows, now)
    return listing.Page(items, page, per_page, total)


# --- a consultation's page -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MeetingSummary:
    """A forum meeting as the consultation's page lists it (details on the meeting's own page)."""

    id: int
    title: str
    mode: str
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class ConsultationPage:
    """Everything a consultation's page shows (issue #4, item 1). can_manage: the actor is staff."""

    item: ConsultationItem
    documents: list[ConsultationDocument]
    meetings: list[MeetingSummary]
    can_manage: bool

    @property
    def consultation(self) -> Consultation:
        """The consultation row."""
        return self.item.consultation


async def consultation_item(session: AsyncSession, consultation_id: int, now: datetime) -> ConsultationItem:
    """One consultation with its territory, status, phases and counts. Raises NotFound."""
    async with reading(session):
        row = (await session.execute(
            select(Consultation, Territory).join(Territory, Territory.code == Consultation.territory_code)
            .where(Consultation.id == consultation_id))).first()
        if row is None:
            raise NotFound()
        return (await _items(session, [row], now))[0]


async def consultation_page(session: AsyncSession, actor: Actor, consultation_id: int,
                            now: datetime) -> ConsultationPage:
    """A consultation's public page: the item, its documents (oldest first) and its forum meetings (by start).
    Raises NotFound."""
    async with reading(session):
        item = await consultation_item(session, consultation_id, now)
        documents = list(await session.scalars(
            select(ConsultationDocument).where(ConsultationDocument.consultation_id == consultation_id)
            .order_by(ConsultationDocument.uploaded_at, ConsultationDocument.id)))
        meetings = [MeetingSummary(m.id, m.title, m.mode, m.starts_at, m.ends_at) for m in await session.scalars(
            select(Meeting).where(Meeting.consultation_id == consultation_id).order_by(Meeting.starts_at, Meeting.id))]
    return ConsultationPage(item, documents, meetings,
                            can(actor, Action.CONSULTATION_MANAGE, item.consultation, now))


async def editable(session: AsyncSession, actor: Actor, consultation_id: int, now: datetime) -> ConsultationItem:
    """The consultation for staff's edit, phase and document forms. Raises NotSignedIn, Forbidden, NotFound."""
    if not actor.signed_in:
        raise NotSignedIn()
    item = await consultation_item(session, consultation_id, now)
    require_manager(actor, now, item.consultation)
    return item
