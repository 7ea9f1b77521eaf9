"""Paper and assisted signatures, entered by CSO members linked to the petition (shared/domain.md §2).

Rules: only a cso_member linked to the petition (organisations.PetitionCollector) may enter them; the same
fields as online plus the paper sheet reference and a recorded consent; who entered each one, when, and from
which sheet is kept (``entered_by_id``, ``created_at``, ``paper_sheet_ref``) and audited (never the CNIE);
paper and online signatures are deduplicated together by the unique index on (petition_id, cnie_hmac).

A collector is told when a person has already signed: the issue asks the import report to say "duplicate".
This is narrower than "answers that reveal nothing" (design.md): only linked collectors learn it, and every
entry and import is audited.

Imports: a CSV (UTF-8, BOM or not, comma or semicolon) or XLSX sheet of at most MAX_ROWS rows is checked
row by row, then inserted in one transaction with multi-row INSERT … ON CONFLICT DO NOTHING RETURNING, and
recorded as one audit event for the batch.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio
from sqlalchemy import Row, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from civic import audit
from civic.db import dialect_name, reading
from civic.errors import Conflict, Forbidden, Invalid, NotFound, NotSignedIn
from civic.exports.service import BOM, csv_line
from civic.i18n import N_
from civic.organisations import service as organisations
from civic.permissions import Action, Actor, can_somewhere
from civic.petitions import service as petitions_service
from civic.petitions.models import Petition, Signature
from civic.petitions.service import NAME_MAX
from civic.petitions.sheets import BadSheet, read_sheet
from civic.security import Keys, normalise_cnie
from civic.territories import service as territories
from civic.territories.models import Territory
from civic.text import clean_text

PAPER_CHANNELS = ("paper", "assisted")
SHEET_REF_MAX = 100
INSERT_CHUNK = 500  # rows per INSERT: 14 columns × 500 stays under both dialects' parameter limits
RECENT_LIMIT = 20
AUDIT_SHEET_REFS_MAX = 200
YES = frozenset({"yes", "oui", "نعم", "1", "true"})
NO = frozenset({"no", "non", "لا", "0", "false"})
REQUIRED_COLUMNS = ("full_name", "cnie", "commune_code", "sheet_ref", "consent")
ELECTORAL_COLUMN = "electoral_declaration"
TEMPLATE_EXAMPLE = {
    "full_name": "أمينة مثال", "cnie": "AB123456", "commune_code": "05.091.01.01", "sheet_ref": "F-001",
    "consent": "yes", ELECTORAL_COLUMN: "yes",
}


class Reason(enum.StrEnum):
    """Why a row or an entry is refused. ``label`` is the msgid shown in the import report."""

    MISSING_NAME = "missing_name"
    NAME_TOO_LONG = "name_too_long"
    MALFORMED_CNIE = "malformed_cnie"
    COMMUNE_OUTSIDE_REGION = "commune_outside_region"
    MISSING_SHEET_REF = "missing_sheet_ref"
    SHEET_REF_TOO_LONG = "sheet_ref_too_long"
    MISSING_CONSENT = "missing_consent"
    MISSING_ELECTORAL_DECLARATION = "missing_electoral_declaration"
    DUPLICATE = "duplicate"

    @property
    def label(self) -> str:
        """The msgid of the reason in the import report."""
        return _REASON_LABELS[self]


_REASON_LABELS = {
    Reason.MISSING_NAME: N_("Missing name"),
    Reason.NAME_TOO_LONG: N_("Name longer than 150 characters"),
    Reason.MALFORMED_CNIE: N_("Malformed CNIE number"),
    Reason.COMMUNE_OUTSIDE_REGION: N_("Commune outside the region, or unknown"),
    Reason.MISSING_SHEET_REF: N_("Missing sheet reference"),
    Reason.SHEET_REF_TOO_LONG: N_("Sheet reference longer than 100 characters"),
    Reason.MISSING_CONSENT: N_("Missing consent"),
    Reason.MISSING_ELECTORAL_DECLARATION: N_("Missing electoral-list declaration"),
    Reason.DUPLICATE: N_("Duplicate: this person has already signed"),
}
# The entry form's field and message for each reason (DUPLICATE is an outcome there, not an error).
_FIELD_ERRORS = {
    Reason.MISSING_NAME: ("full_name", N_("Please write the signatory's full name.")),
    Reason.NAME_TOO_LONG: ("full_name", N_("The name must be at most 150 characters long.")),
    Reason.MALFORMED_CNIE: ("cnie", N_(
        "A CNIE number is one or two Latin letters followed by up to six digits, e.g. AB123456.")),
    Reason.COMMUNE_OUTSIDE_REGION: ("commune_code", N_("Please choose a commune of this region.")),
    Reason.MISSING_SHEET_REF: ("sheet_ref", N_("Please write the reference of the paper sheet.")),
    Reason.SHEET_REF_TOO_LONG: ("sheet_ref", N_("The sheet reference must be at most 100 characters long.")),
    Reason.MISSING_CONSENT: ("consent", N_("A signature can only be recorded with the signatory's consent.")),
    Reason.MISSING_ELECTORAL_DECLARATION: ("electoral_declaration", N_(
        "This petition requires signatories to be on the electoral lists.")),
}


class PaperOutcome(enum.Enum):
    """What entering one signature answers: recorded, or the person had already signed (any channel)."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class PaperSignatureInput:
    """One signature from a paper sheet or given with help (shared/domain.md §2).

    cnie: as written (any case, spaces allowed). commune_code: commune of residence, in the region.
    sheet_ref: reference of the paper sheet or consent form. consent: the collector confirms the signatory's
    consent is on the sheet or was given in person. channel: ``paper`` | ``assisted``.
    """

    full_name: str
    cnie: str
    commune_code: str
    sheet_ref: str
    consent: bool
    electoral_declaration: bool
    channel: str = "paper"


@dataclass(frozen=True)
class RowResult:
    """One data row of an imported sheet: its row number in the sheet (header = 1), and why it was refused."""

    row: int
    reasons: tuple[Reason, ...]
    sheet_ref: str

    @property
    def accepted(self) -> bool:
        """True when the row became a signature."""
        return not self.reasons


@dataclass(frozen=True)
class ImportReport:
    """The row-by-row outcome of one import, in sheet order."""

    filename: str
    rows: list[RowResult]

    @property
    def accepted_count(self) -> int:
        """Rows recorded as signatures."""
        return sum(1 for r in self.rows if r.accepted)

    @property
    def rejected(self) -> list[RowResult]:
        """Rows refused, with their reasons."""
        return [r for r in self.rows if not r.accepted]

    @property
    def rejected_count(self) -> int:
        """Rows refused (duplicates included)."""
        return len(self.rows) - self.accepted_count


@dataclass(frozen=True)
class CollectorPetition:
    """The petition as a collector's pages show it. ``open``: collecting and within its period."""

    id: int
    title: str
    status: str
    require_electoral_registration: bool
    collection_ends_at: datetime | None
    open: bool


@dataclass(frozen=True)
class PaperEntry:
    """A signature the collector entered (no CNIE)."""

    created_at: datetime
    full_name: str
    commune_ar: str
    commune_fr: str
    channel: str
    sheet_ref: str


@dataclass(frozen=True)
class CollectorPage:
    """What the entry page shows: the petition, the communes, and the collector's own recent entries."""

    petition: CollectorPetition
    groups: list[tuple[territories.Place, list[territories.Place]]]
    recent: list[PaperEntry]
    entered_count: int


@dataclass(frozen=True)
class _Clean:
    full_name: str
    cnie: str
    commune_code: str
    province_code: str
    sheet_ref: str
    electoral_declaration: bool


# --- checks ------------------------------------------------------------------------------------------------


def _check(data: PaperSignatureInput, require_electoral: bool,
           communes: Mapping[str, str]) -> tuple[_Clean | None, tuple[Reason, ...]]:
    """Check one signature's fields; returns the cleaned values, or None and the reasons (in field order)."""
    reasons: list[Reason] = []
    name = " ".join(clean_text(data.full_name).split())
    if not name:
        reasons.append(Reason.MISSING_NAME)
    elif len(name) > NAME_MAX:
        reasons.append(Reason.NAME_TOO_LONG)
    cnie = normalise_cnie(clean_text(data.cnie))
    if cnie is None:
        reasons.append(Reason.MALFORMED_CNIE)
    commune_code = clean_text(data.commune_code).strip()
    province_code = communes.get(commune_code)
    if province_code is None:
        reasons.append(Reason.COMMUNE_OUTSIDE_REGION)
    sheet_ref = " ".join(clean_text(data.sheet_ref).split())
    if not sheet_ref:
        reasons.append(Reason.MISSING_SHEET_REF)
    elif len(sheet_ref) > SHEET_REF_MAX:
        reasons.append(Reason.SHEET_REF_TOO_LONG)
    if not data.consent:
        reasons.append(Reason.MISSING_CONSENT)
    if require_electoral and not data.electoral_declaration:
        reasons.append(Reason.MISSING_ELECTORAL_DECLARATION)
    if reasons or cnie is None or province_code is None:
        return None, tuple(reasons)
    return _Clean(name, cnie, commune_code, province_code, sheet_ref, data.electoral_declaration), ()


def parse_yes_no(value: str) -> bool | None:
    """True for yes/oui/نعم/1/true, False for no/non/لا/0/false (any case), None for anything else."""
    text = value.strip().lower()
    if text in YES:
        return True
    if text in NO:
        return False
    return None


def _require_collector_role(actor: Actor, now: datetime) -> None:
    """The check made before the petition is read: raise NotSignedIn, or Forbidden unless the actor's roles let
    them collect signatures for some petitions (``can_somewhere``: the base role cso_member, or a cso_member
    grant for an organisation). Which petitions: organisations.is_collector, in ``_collector_petition``."""
    if not actor.signed_in:
        raise NotSignedIn()
    if not can_somewhere(actor, Action.PETITION_COLLECT, now):
        raise Forbidden()


async def _collector_petition(session: AsyncSession, actor: Actor, petition_id: int,
                              now: datetime) -> tuple[CollectorPetition, str]:
    """Inside the caller's transaction: the petition and its region, for a linked collector.

    Raises NotFound, Forbidden (not linked to this petition)."""
    p = (await session.execute(
        select(Petition.id, Petition.title, Petition.status, Petition.region_code, Petition.collection_ends_at,
               Petition.require_electoral_registration).where(Petition.id == petition_id)
    )).first()
    if p is None:
        raise NotFound()
    if not await organisations.is_collector(session, actor, petition_id, now):
        raise Forbidden()
    is_open = p.status == "collecting" and (p.collection_ends_at is None or now <= p.collection_ends_at)
    view = CollectorPetition(id=p.id, title=p.title, status=p.status,
                             require_electoral_registration=bool(p.require_electoral_registration),
                             collection_ends_at=p.collection_ends_at, open=is_open)
    return view, p.region_code


def _require_open(petition: CollectorPetition) -> None:
    if petition.status != "collecting":
        raise Conflict(N_("This petition is not collecting signatures."))
    if not petition.open:
        raise Conflict(N_("The collection period of this petition is over."))


async def _communes(session: AsyncSession, region_code: str, code: str | None = None) -> dict[str, str]:
    """Commune code → province code for the region (one query), or for the one commune ``code``."""
    stmt = select(Territory.code, Territory.province_code).where(
        Territory.region_code == region_code, Territory.kind == "commune")
    if code is not None:
        stmt = stmt.where(Territory.code == code)
    return {c: p for c, p in await session.execute(stmt) if p is not None}


def _values(petition_id: int, actor: Actor, keys: Keys, clean: _Clean, digest: str, channel: str,
            now: datetime) -> dict[str, Any]:
    return {
        "petition_id": petition_id, "user_id": None, "full_name": clean.full_name, "cnie_hmac": digest,
        "cnie_encrypted": keys.encrypt_cnie(clean.cnie), "commune_code": clean.commune_code,
        "province_code": clean.province_code, "electoral_declaration": clean.electoral_declaration,
        "consent_at": now, "channel": channel, "created_at": now, "entered_by_id": actor.user_id,
        "paper_sheet_ref": clean.sheet_ref, "public_name": False,
    }


async def _insert(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> set[str]:
    """INSERT … ON CONFLICT DO NOTHING in chunks; returns the cnie_hmac of the rows actually inserted."""
    dialect_insert = pg_insert if dialect_name(session) == "postgresql" else sqlite_insert
    inserted: set[str] = set()
    for start in range(0, len(rows), INSERT_CHUNK):
        chunk = list(rows[start:start + INSERT_CHUNK])
        result = await session.execute(
            dialect_insert(Signature).values(chunk).on_conflict_do_nothing().returning(Signature.cnie_hmac))
        inserted.update(result.scalars())
    return inserted


# --- one signature ------------------------------------------------------------------------------------------


async def enter_signature(session: AsyncSession, actor: Actor, keys: Keys, petition_id: int,
                          data: PaperSignatureInput, now: datetime) -> PaperOutcome:
    """Record one paper or assisted signature entered by a linked collector.

    user_id stays NULL; entered_by_id is the collector, consent_at is now. The unique index decides
    duplicates whatever the channel. Audited (channel, sheet reference, outcome; never the CNIE).
    Raises NotSignedIn, Forbidden (not a linked collector), NotFound, Conflict (not collecting, or the
    collection period is over), Invalid (per field).
    """
    _require_collector_role(actor, now)
    async with session.begin():
        petition, region_code = await _collector_petition(session, actor, petition_id, now)
        _require_open(petition)
        code = clean_text(data.commune_code).strip()
        communes = await _communes(session, region_code, code) if code else {}
        clean, reasons = _check(data, petition.require_electoral_registration, communes)
        errors: dict[str, list[str]] = {}
        if data.channel not in PAPER_CHANNELS:
            errors["channel"] = [N_("Please choose how the signature was collected.")]
        for reason in reasons:
            name, message = _FIELD_ERRORS[reason]
            errors.setdefault(name, []).append(message)
        if errors or clean is None:
            raise Invalid(errors)
        digest = keys.cnie_hmac(clean.cnie)
        inserted = await _insert(session, [_values(petition_id, actor, keys, clean, digest, data.channel, now)])
        await petitions_service.still_collecting(session, petition_id)
        outcome = PaperOutcome.ACCEPTED if digest in inserted else PaperOutcome.DUPLICATE
        await audit.record(session, actor_id=actor.user_id, action="signatures:enter_paper",
                           subject_type="petition", subject_id=petition_id, now=now,
                           detail={"channel": data.channel, "sheet_ref": clean.sheet_ref, "outcome": outcome.value})
    return outcome


# --- reading sheets ------------------------------------------------------------------------------------------


def _column_indexes(header: list[str], require_electoral: bool) -> dict[str, int]:
    """Column name → index (names compared without case; spaces and hyphens count as underscores)."""
    indexes: dict[str, int] = {}
    for i, cell in enumerate(header):
        name = clean_text(cell).strip().lower().replace(" ", "_").replace("-", "_")
        indexes.setdefault(name, i)
    required = (*REQUIRED_COLUMNS, ELECTORAL_COLUMN) if require_electoral else REQUIRED_COLUMNS
    missing = tuple(c for c in required if c not in indexes)
    if missing:
        raise BadSheet(N_("The first row must name the columns. These required columns are missing:"), missing)
    return indexes


def _row_input(cells: list[str], indexes: Mapping[str, int]) -> PaperSignatureInput:
    def cell(name: str) -> str:
        i = indexes.get(name)
        return cells[i] if i is not None and i < len(cells) else ""

    return PaperSignatureInput(
        full_name=cell("full_name"), cnie=cell("cnie"), commune_code=cell("commune_code"),
        sheet_ref=cell("sheet_ref"), consent=parse_yes_no(cell("consent")) is True,
        electoral_declaration=parse_yes_no(cell(ELECTORAL_COLUMN)) is True, channel="paper",
    )


def _safe_filename(filename: str) -> str:
    name = clean_text(filename).replace("\\", "/").rsplit("/", 1)[-1]
    return " ".join(name.split())[:200]


# --- importing a sheet ---------------------------------------------------------------------------------------


async def import_sheet(session: AsyncSession, actor: Actor, keys: Keys, petition_id: int, filename: str,
                       content: bytes, now: datetime) -> ImportReport:
    """Import a sheet of paper signatures: every valid, new row is recorded; the others are reported.

    Columns (first row, any case): full_name, cnie, commune_code, sheet_ref, consent, and
    electoral_declaration when the petition requires it. Duplicates (already signed online, in an earlier
    import, or earlier in this file) are reported as such. All rows go in one transaction, with one audit
    event for the batch (file name, counts, sheet references; never a CNIE).
    Raises NotSignedIn, Forbidden, NotFound, Conflict, BadSheet (an Invalid: nothing saved).
    """
    _require_collector_role(actor, now)
    name = _safe_filename(filename)
    # Parse in a worker thread, before any transaction: a large sheet never blocks the event loop or the DB.
    header, data = await anyio.to_thread.run_sync(read_sheet, name, content)
    async with session.begin():
        petition, region_code = await _collector_petition(session, actor, petition_id, now)
        _require_open(petition)
        indexes = _column_indexes(header, petition.require_electoral_registration)
        communes = await _communes(session, region_code)
        checked: list[tuple[int, str, tuple[Reason, ...], str | None]] = []  # row, sheet ref, reasons, digest
        pending: list[dict[str, Any]] = []
        seen: set[str] = set()
        for number, cells in data:
            row = _row_input(cells, indexes)
            clean, reasons = _check(row, petition.require_electoral_registration, communes)
            sheet_ref = " ".join(clean_text(row.sheet_ref).split())[:SHEET_REF_MAX]
            if clean is None:
                checked.append((number, sheet_ref, reasons, None))
                continue
            digest = keys.cnie_hmac(clean.cnie)
            if digest in seen:
                checked.append((number, sheet_ref, (Reason.DUPLICATE,), None))
                continue
            seen.add(digest)
            pending.append(_values(petition_id, actor, keys, clean, digest, "paper", now))
            checked.append((number, sheet_ref, (), digest))
        inserted = await _insert(session, pending)
        await petitions_service.still_collecting(session, petition_id)
        rows = [RowResult(number, reasons if digest is None or digest in inserted else (Reason.DUPLICATE,), ref)
                for number, ref, reasons, digest in checked]
        report = ImportReport(filename=name, rows=rows)
        refs = sorted({r.sheet_ref for r in rows if r.accepted})
        await audit.record(session, actor_id=actor.user_id, action="signatures:import_paper",
                           subject_type="petition", subject_id=petition_id, now=now, detail={
                               "filename": name, "rows": len(rows), "accepted": report.accepted_count,
                               "rejected": report.rejected_count,
                               "duplicates": sum(1 for r in rows if Reason.DUPLICATE in r.reasons),
                               "sheet_refs": refs[:AUDIT_SHEET_REFS_MAX],
                               "sheet_refs_truncated": len(refs) > AUDIT_SHEET_REFS_MAX,
                           })
    return report


def template_csv(require_electoral: bool) -> bytes:
    """The import template: UTF-8 with a BOM (Excel shows Arabic), the header and one made-up example row."""
    columns = (*REQUIRED_COLUMNS, ELECTORAL_COLUMN) if require_electoral else REQUIRED_COLUMNS
    return (BOM + csv_line(columns) + csv_line([TEMPLATE_EXAMPLE[c] for c in columns])).encode()


# --- pages ----------------------------------------------------------------------------------------------------


async def collector_petition(session: AsyncSession, actor: Actor, petition_id: int,
                             now: datetime) -> CollectorPetition:
    """The petition for a linked collector. Raises NotSignedIn, Forbidden, NotFound."""
    _require_collector_role(actor, now)
    async with reading(session):
        petition, _region = await _collector_petition(session, actor, petition_id, now)
    return petition


def _entry(row: Row[datetime, str, str, str | None, str, str]) -> PaperEntry:
    return PaperEntry(created_at=row.created_at, full_name=row.full_name, commune_ar=row.name_ar,
                      commune_fr=row.name_fr, channel=row.channel, sheet_ref=row.paper_sheet_ref or "")


async def collector_page(session: AsyncSession, actor: Actor, petition_id: int, now: datetime) -> CollectorPage:
    """The entry page: the petition, communes of its region, and this collector's recent entries (newest first).

    Raises NotSignedIn, Forbidden (not a linked collector), NotFound.
    """
    _require_collector_role(actor, now)
    async with reading(session):
        petition, region_code = await _collector_petition(session, actor, petition_id, now)
        groups = await territories.communes_by_province(session, region_code)
        mine = (Signature.petition_id == petition_id, Signature.entered_by_id == actor.user_id)
        rows = await session.execute(
            select(Signature.created_at, Signature.full_name, Signature.channel, Signature.paper_sheet_ref,
                   Territory.name_ar, Territory.name_fr)
            .join(Territory, Territory.code == Signature.commune_code)
            .where(*mine).order_by(Signature.id.desc()).limit(RECENT_LIMIT))
        recent = [_entry(r) for r in rows]
        count = int(await session.scalar(select(func.count()).select_from(Signature).where(*mine)) or 0)
    return CollectorPage(petition=petition, groups=groups, recent=recent, entered_count=count)
