"""The exports centre: every list council staff can see, as CSV, XLSX or JSON, streamed (issue #6, item 7).

Datasets (``DATASETS``): petitions (with signature counts), organisations, consultations (with counts),
proposals (with support counts), comments, and two lists with personal data: the signatures of a petition and
the registrations of a forum meeting (display names and accessibility needs). The audit log is exported by
``civic.audit_log``.

Rules:
- Lists need ``exports:lists`` (issue #6, item 7). A consultative body's secretary (a ``body:<addressee>``
  grant) gets the lists split by addressee (petitions; consultations with their proposals and comments) with
  only their body's rows, and not the associations (issue #6, item 1). Lists with personal data need
  ``exports:personal`` with ``signatures:view_personal`` for signatures (shared/domain.md §3: only council
  staff who examine a petition see the CNIE) or ``meetings:manage`` for registrations (the organisers' list).
- Hidden (moderated) content is in no export (issue #6, item 3): proposals through
  ``proposals.service.visible_proposals``, comments through ``visible_comments``, petitions hidden or never
  published are left out. Author names are not exported with the lists: they are personal data and no staff
  task needs them in bulk.
- Every export is written to the audit log before its first row is read: ``exports:download`` for lists, and
  for personal data the domain's own action, ``signatures:export_personal`` (the action every signature export
  has recorded since issue #2: dossiers, the old CSV route) or ``registrations:export_personal``, with the
  number of rows. The detail always names the dataset, the format and the filters (issue #6, item 7).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from civic import audit, i18n
from civic.accounts.models import User
from civic.consultations.models import Consultation, Meeting, MeetingRegistration, Phase
from civic.db import reading
from civic.errors import Forbidden, NotFound, NotSignedIn
from civic.exports.dossier import ADDRESSEE_LABELS, KIND_LABELS
from civic.exports.streaming import FORMATS, Column, Row, stream_rows
from civic.i18n import N_
from civic.organisations.models import Organisation
from civic.permissions import Action, Actor, addressees_for, can, can_somewhere
from civic.petitions.lifecycle import STATUS_LABELS as PETITION_STATUS_LABELS
from civic.petitions.models import CHANNELS, Petition, Signature
from civic.petitions.service import public_petitions
from civic.proposals.models import Comment, Proposal, Support
from civic.proposals.service import (
    CATEGORY_LABELS,
    STANCE_LABELS,
    visible_comments,
    visible_proposals,
)
from civic.proposals.service import STATUS_LABELS as PROPOSAL_STATUS_LABELS
from civic.security import Keys
from civic.territories.models import Territory

MAX_ID = 2**31 - 1
SCOPE_LABELS = {"region": N_("The whole region"), "province": N_("One province"), "commune": N_("One commune")}
PHASE_LABELS = {
    "information": N_("Information"), "proposals": N_("Proposals"), "deliberation": N_("Deliberation"),
    "voting": N_("Voting"), "results": N_("Results"), "follow_up": N_("Follow-up"),
}
ORGANISATION_STATUS_LABELS = {"pending": N_("awaiting verification"), "verified": N_("verified"),
                              "rejected": N_("not verified")}
REGISTRATION_STATUS_LABELS = {"registered": N_("People holding a seat"), "waiting": N_("Waiting list")}
CHANNEL_LABELS = {c: c for c in CHANNELS}


@dataclass(frozen=True)
class Dataset:
    """One exportable list.

    name: the URL name (``/staff/exports/<name>.<fmt>``); title, description: msgids shown on the centre page;
    personal: holds personal data (``exports:personal``, audited with the row count); scope: the query
    parameter narrowing it to one petition, consultation or meeting (None: the list has none);
    scope_required: the list only exists for one of them (signatures, registrations); by_body: its rows are
    addressed to the council or a consultative body, so a body's secretary may export theirs.
    """

    name: str
    title: str
    description: str
    columns: tuple[Column, ...]
    personal: bool = False
    scope: str | None = None
    scope_required: bool = False
    by_body: bool = False


PETITION_COLUMNS = (
    Column("id", N_("Petition number"), width=10),
    Column("title", N_("Title"), width=48),
    Column("kind", N_("Kind of petition"), KIND_LABELS, width=20),
    Column("addressed_to", N_("Addressed to"), ADDRESSEE_LABELS, width=36),
    Column("status", N_("Status"), PETITION_STATUS_LABELS, width=22),
    Column("created_at", N_("Created on"), width=18),
    Column("published_at", N_("Open for signatures since"), width=18),
    Column("collection_ends_at", N_("Collection ends"), width=18),
    Column("receipt_number", N_("Receipt number"), width=16),
    Column("submitted_at", N_("Filed on (Africa/Casablanca)"), width=18),
    Column("examination_due_at", N_("The bureau decides on admissibility by"), width=18),
    Column("signatures", N_("Signatures"), width=12),
    Column("threshold", N_("Signature threshold"), width=12),
    Column("province_minimum", N_("Minimum per province"), width=12),
)
SIGNATURE_COLUMNS = (  # the columns of civic.exports.service.SIGNATURE_HEADER, in its order
    Column("number", N_("Number"), width=10),
    Column("signed_at", N_("Signed at (Africa/Casablanca)"), width=20),
    Column("full_name", N_("Full name"), width=32),
    Column("cnie", N_("CNIE"), width=14),
    Column("commune", N_("Commune"), width=28),
    Column("province", N_("Province"), width=22),
    Column("channel", N_("Channel"), CHANNEL_LABELS, width=12),
    Column("electoral_declaration", N_("Declared on the electoral lists"), width=14),
)
ORGANISATION_COLUMNS = (
    Column("id", N_("Number"), width=10),
    Column("name_ar", N_("Name in Arabic"), width=36),
    Column("name_fr", N_("Name in French"), width=36),
    Column("registration_ref", N_("Registration reference"), width=20),
    Column("founded_on", N_("Founding date"), width=14),
    Column("seat_commune_code", N_("Commune code"), width=16),
    Column("seat_commune", N_("Commune"), width=28),
    Column("activity", N_("Activity"), width=60),
    Column("status", N_("Verification"), ORGANISATION_STATUS_LABELS, width=22),
    Column("created_at", N_("Registered on"), width=18),
)
CONSULTATION_COLUMNS = (
    Column("id", N_("Number"), width=10),
    Column("title", N_("Title"), width=48),
    Column("summary", N_("Summary"), width=60),
    Column("scope", N_("Scope"), SCOPE_LABELS, width=18),
    Column("territory_code", N_("Territory code"), width=16),
    Column("territory", N_("Territory"), width=28),
    Column("addressed_to", N_("Addressed to"), ADDRESSEE_LABELS, width=36),
    Column("support_limit", N_("Supports per person"), width=12),
    Column("current_phase", N_("Current phase"), PHASE_LABELS, width=18),
    Column("proposals", N_("Proposals"), width=12),
    Column("comments", N_("Comments"), width=12),
    Column("created_at", N_("Created on"), width=18),
)
PROPOSAL_COLUMNS = (
    Column("id", N_("Number"), width=10),
    Column("consultation_id", N_("Consultation number"), width=12),
    Column("title", N_("Title"), width=48),
    Column("body", N_("Text"), width=80),
    Column("category", N_("Category"), CATEGORY_LABELS, width=20),
    Column("territory_code", N_("Territory code"), width=16),
    Column("territory", N_("Territory"), width=28),
    Column("organisation_ar", N_("Organisation (Arabic)"), width=32),
    Column("organisation_fr", N_("Organisation (French)"), width=32),
    Column("status", N_("Status"), PROPOSAL_STATUS_LABELS, width=18),
    Column("supports", N_("Supports"), width=12),
    Column("created_at", N_("Created on"), width=18),
    Column("updated_at", N_("Last changed on"), width=18),
)
COMMENT_COLUMNS = (
    Column("id", N_("Number"), width=10),
    Column("consultation_id", N_("Consultation number"), width=12),
    Column("proposal_id", N_("Proposal number"), width=12),
    Column("parent_id", N_("In reply to comment"), width=12),
    Column("stance", N_("Stance"), STANCE_LABELS, width=12),
    Column("body", N_("Text"), width=80),
    Column("created_at", N_("Created on"), width=18),
)
REGISTRATION_COLUMNS = (
    Column("number", N_("Number"), width=10),
    Column("name", N_("Name"), width=32),
    Column("status", N_("Status"), REGISTRATION_STATUS_LABELS, width=22),
    Column("seat", N_("Seat"), width=8),
    Column("sign_language", N_("Sign-language interpretation"), width=14),
    Column("wheelchair", N_("Wheelchair access"), width=14),
    Column("easy_read", N_("Easy-read documents"), width=14),
    Column("companion", N_("A seat for a companion"), width=14),
    Column("attended", N_("Attended"), width=10),
    Column("registered_at", N_("Registered on"), width=18),
)

DATASETS: dict[str, Dataset] = {d.name: d for d in (
    Dataset("petitions", N_("Petitions"), N_("Published petitions with their signature counts and deadlines."),
            PETITION_COLUMNS, by_body=True),
    Dataset("organisations", N_("Associations"), N_("Registered associations and their verification."),
            ORGANISATION_COLUMNS),
    Dataset("consultations", N_("Consultations"),
            N_("Consultations with their current phase and their numbers of proposals and comments."),
            CONSULTATION_COLUMNS, by_body=True),
    Dataset("proposals", N_("Proposals"), N_("Proposals with their support counts (hidden proposals excluded)."),
            PROPOSAL_COLUMNS, scope="consultation_id", by_body=True),
    Dataset("comments", N_("Comments"), N_("Comments on consultations and proposals (hidden comments excluded)."),
            COMMENT_COLUMNS, scope="consultation_id", by_body=True),
    Dataset("signatures", N_("Signatures of a petition"),
            N_("Names, CNIE numbers and communes of the signatories: personal data."),
            SIGNATURE_COLUMNS, personal=True, scope="petition_id", scope_required=True),
    Dataset("registrations", N_("Registrations for a meeting"),
            N_("Names and accessibility needs of the people registered: personal data."),
            REGISTRATION_COLUMNS, personal=True, scope="meeting_id", scope_required=True),
)}
SCOPE_SUBJECTS = {"petition_id": "petition", "consultation_id": "consultation", "meeting_id": "meeting"}


@dataclass(frozen=True)
class Export:
    """An export allowed and audited, ready to stream.

    rows: the rows in the dataset's column order, read lazily from the database (in a read-only transaction
    of their own) as the response is sent; filename: ``civic-<dataset>-<local date>.<fmt>``.
    """

    dataset: Dataset
    fmt: str
    filename: str
    rows: AsyncGenerator[Row, None]

    @property
    def columns(self) -> tuple[Column, ...]:
        """The dataset's columns."""
        return self.dataset.columns


# --- permissions -------------------------------------------------------------------------------------------


def list_addressees(actor: Actor) -> frozenset[str] | None:
    """The addressees whose lists the actor may export: None for all of them (council staff, admins), or those
    of their ``body:<addressee>`` grants (a consultative body's secretary; civic.permissions.addressees_for)."""
    return addressees_for(actor, Action.EXPORTS_LISTS)


def may_export_personal(actor: Actor, dataset: Dataset, now: datetime) -> bool:
    """True when the actor may export ``dataset`` (a list with personal data): ``exports:personal`` and the
    right to see that data at all (``signatures:view_personal`` or ``meetings:manage``)."""
    see = Action.SIGNATURES_VIEW_PERSONAL if dataset.name == "signatures" else Action.MEETING_MANAGE
    return can(actor, Action.EXPORTS_PERSONAL, None, now) and can(actor, see, None, now)


def may_export(actor: Actor, dataset: Dataset, now: datetime) -> bool:
    """True when the actor may export ``dataset``: personal lists as ``may_export_personal``; other lists with
    ``exports:lists``, held everywhere, or for one body when the list is split by addressee (``by_body``: a
    body's secretary gets only the rows addressed to their body; issue #6, item 1)."""
    if dataset.personal:
        return may_export_personal(actor, dataset, now)
    if not can_somewhere(actor, Action.EXPORTS_LISTS, now):
        return False
    return dataset.by_body or list_addressees(actor) is None


def _require(actor: Actor, dataset: Dataset, now: datetime) -> None:
    if not actor.signed_in:
        raise NotSignedIn()
    if not may_export(actor, dataset, now):
        raise Forbidden()


# --- the centre page ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """A petition, consultation or meeting a scoped list can be narrowed to."""

    id: int
    title: str


@dataclass(frozen=True)
class Catalogue:
    """What the centre page lists: the datasets the actor may export, and the subjects of the scoped ones.

    personal: the actor may export personal data (signatures, registrations)."""

    lists: list[Dataset]
    personal_lists: list[Dataset]
    petitions: list[Choice]
    consultations: list[Choice]
    meetings: list[Choice]
    personal: bool


CHOICES_LIMIT = 200  # newest petitions, consultations and meetings offered on the page


async def catalogue(session: AsyncSession, actor: Actor, region_code: str, now: datetime) -> Catalogue:
    """The centre page's content: the lists the actor may export and, for a body's secretary, only the
    consultations of their body. Raises NotSignedIn, Forbidden (no list to export)."""
    if not actor.signed_in:
        raise NotSignedIn()
    lists = [d for d in DATASETS.values() if not d.personal and may_export(actor, d, now)]
    personal_lists = [d for d in DATASETS.values() if d.personal and may_export(actor, d, now)]
    if not lists and not personal_lists:
        raise Forbidden()
    addressees = list_addressees(actor)
    async with reading(session):
        consultations: list[Choice] = []
        if any(d.scope == "consultation_id" for d in lists):
            stmt = select(Consultation.id, Consultation.title)
            if addressees is not None:
                stmt = stmt.where(Consultation.addressed_to.in_(addressees))
            consultations = [Choice(i, t) for i, t in await session.execute(
                stmt.order_by(Consultation.created_at.desc(), Consultation.id.desc()).limit(CHOICES_LIMIT))]
        petitions: list[Choice] = []
        meetings: list[Choice] = []
        if any(d.name == "signatures" for d in personal_lists):
            petitions = [Choice(i, t) for i, t in await session.execute(
                select(Petition.id, Petition.title).where(Petition.region_code == region_code,
                                                          Petition.published_at.is_not(None))
                .order_by(Petition.published_at.desc(), Petition.id.desc()).limit(CHOICES_LIMIT))]
        if any(d.name == "registrations" for d in personal_lists):
            meetings = [Choice(i, t) for i, t in await session.execute(
                select(Meeting.id, Meeting.title).order_by(Meeting.starts_at.desc(), Meeting.id.desc())
                .limit(CHOICES_LIMIT))]
    return Catalogue(lists, personal_lists, petitions, consultations, meetings, personal=bool(personal_lists))


# --- queries -----------------------------------------------------------------------------------------------


def _by_language(ar: Any, fr: Any) -> Any:
    """The Arabic column in Arabic, the French one otherwise (Tamazight: no Tifinagh names in the data)."""
    return ar if i18n.current_language().code == "ar" else fr


def visible_petitions(region_code: str) -> ColumnElement[bool]:
    """Petitions anyone may see: of the region, published (petitions.service.public_petitions), not hidden by
    moderation (issue #6, item 3)."""
    return and_(Petition.region_code == region_code, public_petitions(), Petition.hidden_at.is_(None))


def petitions_statement(region_code: str, addressees: frozenset[str] | None = None) -> Select[*tuple[Any, ...]]:
    """Visible petitions with their signature counts, newest first (PETITION_COLUMNS); with ``addressees``,
    only those addressed to one of them."""
    counts = (select(Signature.petition_id, func.count().label("n")).group_by(Signature.petition_id).subquery())
    stmt = (
        select(Petition.id, Petition.title, Petition.kind, Petition.addressed_to, Petition.status,
               Petition.created_at, Petition.published_at, Petition.collection_ends_at, Petition.receipt_number,
               Petition.submitted_at, Petition.examination_due_at, func.coalesce(counts.c.n, 0),
               Petition.threshold, Petition.province_minimum)
        .outerjoin(counts, counts.c.petition_id == Petition.id)
        .where(visible_petitions(region_code))
        .order_by(Petition.published_at.desc(), Petition.id.desc())
    )
    return stmt if addressees is None else stmt.where(Petition.addressed_to.in_(addressees))


def _of_bodies(consultation_id: QueryableAttribute[int], addressees: frozenset[str]) -> ColumnElement[bool]:
    """Rows whose consultation is addressed to one of ``addressees``."""
    return consultation_id.in_(select(Consultation.id).where(Consultation.addressed_to.in_(addressees)))


def _signatures_statement(petition_id: int) -> Select[*tuple[Any, ...]]:
    commune = Territory.__table__.alias("commune")
    province = Territory.__table__.alias("province")
    return (
        select(Signature.created_at, Signature.full_name, Signature.cnie_encrypted,
               _by_language(commune.c.name_ar, commune.c.name_fr),
               _by_language(province.c.name_ar, province.c.name_fr), Signature.channel,
               Signature.electoral_declaration)
        .join(commune, commune.c.code == Signature.commune_code)
        .join(province, province.c.code == Signature.province_code)
        .where(Signature.petition_id == petition_id).order_by(Signature.id)
    )


async def _signature_rows(session: AsyncSession, keys: Keys,
                         petition_id: int) -> AsyncGenerator[Row, None]:
    """Signatures numbered from 1, the CNIE decrypted ('' once erased after the retention period)."""
    number = 0
    async for signed_at, name, token, commune, province, channel, declared in stream_rows(
            session, _signatures_statement(petition_id)):
        number += 1
        cnie = keys.decrypt_cnie(token) if isinstance(token, bytes) and token else ""
        yield (number, signed_at, name, cnie, commune, province, channel, declared)


def _organisations_statement() -> Select[*tuple[Any, ...]]:
    return (
        select(Organisation.id, Organisation.name_ar, Organisation.name_fr, Organisation.registration_ref,
               Organisation.founded_on, Organisation.seat_commune_code,
               _by_language(Territory.name_ar, Territory.name_fr), Organisation.activity, Organisation.status,
               Organisation.created_at)
        .join(Territory, Territory.code == Organisation.seat_commune_code)
        .order_by(Organisation.id)
    )


def current_phase_kind(now: datetime) -> Any:
    """The kind of a consultation's phase current at ``now`` (NULL between or outside phases), correlated."""
    return (select(Phase.kind).where(Phase.consultation_id == Consultation.id, Phase.starts_at <= now,
                                     Phase.ends_at > now)
            .order_by(Phase.starts_at.desc(), Phase.id.desc()).limit(1).correlate(Consultation).scalar_subquery())


def consultations_statement(now: datetime, names: bool = True,
                            addressees: frozenset[str] | None = None) -> Select[*tuple[Any, ...]]:
    """Consultations with their current phase and visible proposals and comments, oldest first
    (CONSULTATION_COLUMNS; without ``names``, no territory name column; with ``addressees``, only theirs)."""
    proposals = (select(func.count()).select_from(Proposal)
                 .where(Proposal.consultation_id == Consultation.id, visible_proposals())
                 .correlate(Consultation).scalar_subquery())
    comments = (select(func.count()).select_from(Comment)
                .where(Comment.consultation_id == Consultation.id, visible_comments())
                .correlate(Consultation).scalar_subquery())
    territory = [_by_language(Territory.name_ar, Territory.name_fr)] if names else []
    stmt = (
        select(Consultation.id, Consultation.title, Consultation.summary, Consultation.scope,
               Consultation.territory_code, *territory, Consultation.addressed_to, Consultation.support_limit,
               current_phase_kind(now), proposals, comments, Consultation.created_at)
        .join(Territory, Territory.code == Consultation.territory_code)
        .order_by(Consultation.id)
    )
    return stmt if addressees is None else stmt.where(Consultation.addressed_to.in_(addressees))


def proposals_statement(consultation_id: int | None, include_withdrawn: bool, names: bool = True,
                        addressees: frozenset[str] | None = None) -> Select[*tuple[Any, ...]]:
    """Visible proposals (not hidden; withdrawn ones only with ``include_withdrawn``) with their support
    counts, oldest first (PROPOSAL_COLUMNS; without ``names``, no territory name column; with ``addressees``,
    only those of consultations addressed to them)."""
    supports = (select(func.count()).select_from(Support).where(Support.proposal_id == Proposal.id)
                .correlate(Proposal).scalar_subquery())
    territory = [_by_language(Territory.name_ar, Territory.name_fr)] if names else []
    stmt = (
        select(Proposal.id, Proposal.consultation_id, Proposal.title, Proposal.body, Proposal.category,
               Proposal.territory_code, *territory, Organisation.name_ar, Organisation.name_fr, Proposal.status,
               supports, Proposal.created_at, Proposal.updated_at)
        .join(Territory, Territory.code == Proposal.territory_code)
        .outerjoin(Organisation, Organisation.id == Proposal.organisation_id)
        .where(visible_proposals(include_withdrawn=include_withdrawn))
        .order_by(Proposal.id)
    )
    if addressees is not None:
        stmt = stmt.where(_of_bodies(Proposal.consultation_id, addressees))
    return stmt if consultation_id is None else stmt.where(Proposal.consultation_id == consultation_id)


def _comments_statement(consultation_id: int | None,
                        addressees: frozenset[str] | None) -> Select[*tuple[Any, ...]]:
    stmt = (select(Comment.id, Comment.consultation_id, Comment.proposal_id, Comment.parent_id, Comment.stance,
                   Comment.body, Comment.created_at)
            .where(visible_comments()).order_by(Comment.id))
    if addressees is not None:
        stmt = stmt.where(_of_bodies(Comment.consultation_id, addressees))
    return stmt if consultation_id is None else stmt.where(Comment.consultation_id == consultation_id)


def _registrations_statement(meeting_id: int) -> Select[*tuple[Any, ...]]:
    return (
        select(literal(0), User.display_name, MeetingRegistration.status, MeetingRegistration.seat,
               MeetingRegistration.sign_language, MeetingRegistration.wheelchair, MeetingRegistration.easy_read,
               MeetingRegistration.companion, MeetingRegistration.attended, MeetingRegistration.registered_at)
        .join(User, User.id == MeetingRegistration.user_id)
        .where(MeetingRegistration.meeting_id == meeting_id,
               MeetingRegistration.status.in_(("registered", "waiting")))
        .order_by(MeetingRegistration.registered_at, MeetingRegistration.id)
    )


async def _numbered(rows: AsyncGenerator[Row, None]) -> AsyncGenerator[Row, None]:
    """Rows whose first cell (a placeholder) becomes their number, from 1."""
    number = 0
    async for row in rows:
        number += 1
        yield (number, *row[1:])


# --- opening an export -------------------------------------------------------------------------------------


def _scope_id(dataset: Dataset, params: Mapping[str, str]) -> int | None:
    """The dataset's scope id from the query string; NotFound when it is required and missing, or not an id
    any row can have (like odd ids in paths)."""
    if dataset.scope is None:
        return None
    raw = params.get(dataset.scope, "").strip()
    if not raw and not dataset.scope_required:
        return None
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_ID:
        raise NotFound()
    return int(raw)


async def _subject_exists(session: AsyncSession, scope: str, subject_id: int) -> bool:
    model = {"petition_id": Petition, "consultation_id": Consultation, "meeting_id": Meeting}[scope]
    return await session.get(model, subject_id) is not None


async def _count(session: AsyncSession, dataset: Dataset, subject_id: int) -> int:
    """Rows of a personal export, counted when it is opened (for the audit log)."""
    if dataset.name == "signatures":
        stmt = select(func.count()).select_from(Signature).where(Signature.petition_id == subject_id)
    else:
        stmt = (select(func.count()).select_from(MeetingRegistration)
                .where(MeetingRegistration.meeting_id == subject_id,
                       MeetingRegistration.status.in_(("registered", "waiting"))))
    return int(await session.scalar(stmt) or 0)


def filename(dataset: str, fmt: str, now: datetime) -> str:
    """``civic-<dataset>-<YYYY-MM-DD>.<fmt>``, the date in Africa/Casablanca (ASCII, safe in a header)."""
    return f"civic-{dataset}-{now.astimezone(i18n.TIMEZONE).date().isoformat()}.{fmt}"


def _rows(session: AsyncSession, keys: Keys, dataset: Dataset, subject_id: int | None, region_code: str,
          addressees: frozenset[str] | None, now: datetime) -> AsyncGenerator[Row, None]:
    name = dataset.name
    if name == "signatures":
        assert subject_id is not None
        return _signature_rows(session, keys, subject_id)
    if name == "registrations":
        assert subject_id is not None
        return _numbered(stream_rows(session, _registrations_statement(subject_id)))
    statements: dict[str, Callable[[], Select[*tuple[Any, ...]]]] = {
        "petitions": lambda: petitions_statement(region_code, addressees),
        "organisations": _organisations_statement,
        "consultations": lambda: consultations_statement(now, addressees=addressees),
        "proposals": lambda: proposals_statement(subject_id, include_withdrawn=True, addressees=addressees),
        "comments": lambda: _comments_statement(subject_id, addressees),
    }
    return stream_rows(session, statements[name]())


async def open_export(session: AsyncSession, actor: Actor, keys: Keys, dataset_name: str, fmt: str,
                      params: Mapping[str, str], region_code: str, now: datetime) -> Export:
    """Check, audit and open an export of ``dataset_name`` (one of DATASETS) in ``fmt`` (one of FORMATS).

    params: the query string; the dataset's scope (``petition_id``, ``consultation_id``, ``meeting_id``)
    narrows it. Raises NotSignedIn (first), NotFound (unknown dataset or format, bad or missing scope id, no such
    subject), Forbidden, all before anything is read. The audit event is committed before the first row.
    """
    if not actor.signed_in:
        raise NotSignedIn()  # before anything else: visitors learn nothing of the staff's lists
    dataset = DATASETS.get(dataset_name)
    if dataset is None or fmt not in FORMATS:
        raise NotFound()
    _require(actor, dataset, now)
    subject_id = _scope_id(dataset, params)
    addressees = None if dataset.personal else list_addressees(actor)
    filters: dict[str, Any] = {dataset.scope: subject_id} if subject_id is not None and dataset.scope else {}
    if addressees is not None:
        filters["addressed_to"] = sorted(addressees)
    detail: dict[str, Any] = {"dataset": dataset.name, "format": fmt, "filters": filters}
    async with session.begin():
        if subject_id is not None and dataset.scope is not None and not await _subject_exists(
                session, dataset.scope, subject_id):
            raise NotFound()
        if dataset.personal:
            assert subject_id is not None and dataset.scope is not None
            detail["rows"] = await _count(session, dataset, subject_id)
            await audit.record(session, actor_id=actor.user_id, action=f"{dataset.name}:export_personal",
                               subject_type=SCOPE_SUBJECTS[dataset.scope], subject_id=subject_id, now=now,
                               detail=detail)
        else:
            await audit.record(session, actor_id=actor.user_id, action="exports:download", subject_type="dataset",
                               subject_id=dataset.name, now=now, detail=detail)
    return Export(dataset, fmt, filename(dataset.name, fmt, now),
                  _rows(session, keys, dataset, subject_id, region_code, addressees, now))
