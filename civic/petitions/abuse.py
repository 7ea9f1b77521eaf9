"""Staff burst tools: signatures grouped by client address and by email domain, quiet flags, and the
invalidation of a batch with a recorded reason (issue #8, item 4).

Suspicious signatures are flagged for staff quietly: nothing changes for the signer, no bot learns what gave it
away (issue #8: "flagged for staff quietly rather than refused with a message that teaches a bot"). Staff who may
see personal signatures (``signatures:view_personal``: council staff and admins) see groups, never raw data:

- by client address: a short pseudonymous label made from ``signatures.client_hash`` (a keyed HMAC of the
  address, written when signing), never the address itself;
- by email domain of the signing account (``gmail.com``), never the address.

Flag rule (constants below, documented here): a group is *flagged* when ``BURST_SIGNATURES`` of its signatures
(20 for an address, ``DOMAIN_BURST_SIGNATURES`` = 100 for an email domain, where big webmail domains are common)
fall within less than ``BURST_MINUTES`` (10) minutes. The peak rate is the largest number of its signatures in
one calendar minute (UTC).

Invalidating moves the selected signatures from ``signatures`` into ``invalidated_signatures`` in one
transaction, with a ``signature_invalidation_batches`` row and an audit event (``signatures:invalidate``), so
counts drop at once. Only while the petition is collecting: a submitted petition's count is frozen by its
receipt (shared/domain.md §2).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    case,
    cast,
    delete,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from civic import audit
from civic.accounts.models import User
from civic.db import dialect_name, reading
from civic.errors import Conflict, Forbidden, Invalid, NotFound, NotSignedIn
from civic.i18n import N_
from civic.permissions import Action, Actor, can
from civic.petitions.abuse_models import InvalidatedSignature, SignatureInvalidationBatch
from civic.petitions.models import Petition, Signature, SignatureFlag
from civic.text import clean_text

# Windows staff can look at: name → how far back from now (None: the whole collection).
WINDOWS: dict[str, timedelta | None] = {"hour": timedelta(hours=1), "day": timedelta(days=1), "all": None}
WINDOW_LABELS = {"hour": N_("Last hour"), "day": N_("Last 24 hours"), "all": N_("Whole collection")}
BURST_SIGNATURES = 20  # from one client address…
DOMAIN_BURST_SIGNATURES = 100  # …or from one email domain…
BURST_MINUTES = 10  # …within less than this many minutes: flagged
GROUPS_SHOWN = 50  # the largest groups shown per table (flagged ones first)
REASON_MIN, REASON_MAX = 10, 500
LABEL_PREFIX = "c-"
KINDS = ("client", "domain")


@dataclass(frozen=True)
class BurstGroup:
    """Signatures of one petition sharing a client address or an email domain, inside the window.

    kind: ``client`` | ``domain``. value: the full client hash or the domain (what the invalidation form posts).
    label: what staff see (``c-`` + 8 hex characters of the client hash, or the domain). first_at, last_at: UTC,
    to the second. peak_per_minute: most signatures in one minute. flagged: the burst rule holds (module doc).
    """

    kind: str
    value: str
    label: str
    count: int
    first_at: datetime
    last_at: datetime
    peak_per_minute: int
    flagged: bool


@dataclass(frozen=True)
class BatchView:
    """A past invalidation: when, by whom (display name), why, what was selected, how many signatures."""

    id: int
    at: datetime
    actor_name: str
    reason: str
    criterion: str
    count: int


# Reasons of SignatureFlag rows, as staff read them (msgids).
FLAG_REASONS = {
    "cnie_used_by_other_account": N_("The CNIE had already signed from another account"),
    "cnie_rate_limited": N_("The CNIE was over its signing limit"),
    "previously_invalidated": N_("The CNIE or the account had a signature invalidated by staff"),
}


@dataclass(frozen=True)
class QuietFlag:
    """Attempts answered like a signature but not counted (petitions.models.SignatureFlag), by reason: reason
    (a FLAG_REASONS key), label (its msgid), count, accounts (distinct accounts), last (UTC)."""

    reason: str
    label: str
    count: int
    accounts: int
    last: datetime


@dataclass(frozen=True)
class BurstReport:
    """The burst page of one petition: window name and bounds (since None for the whole collection; until is
    the moment of the report, so an invalidation posted from it selects exactly what was shown), the address and
    domain groups (largest GROUPS_SHOWN each, flagged first), whether the petition is collecting, past batches."""

    petition_id: int
    title: str
    status: str
    collecting: bool
    window: str
    since: datetime | None
    until: datetime
    clients: list[BurstGroup]
    domains: list[BurstGroup]
    batches: list[BatchView]
    quiet_flags: list[QuietFlag]

    @property
    def flagged_count(self) -> int:
        """Flagged groups among those shown."""
        return sum(g.flagged for g in (*self.clients, *self.domains))


@dataclass(frozen=True)
class Selection:
    """What to invalidate: kind (``client`` | ``domain``), value (client hash or domain), and the window's
    bounds (since None: from the start; until: inclusive upper bound), both UTC."""

    kind: str
    value: str
    since: datetime | None
    until: datetime

    def criterion(self) -> str:
        """The selection as recorded on the batch (no raw address: the client label only)."""
        label = client_label(self.value) if self.kind == "client" else self.value
        since = self.since.strftime("%Y-%m-%dT%H:%M:%SZ") if self.since else "start"
        return f"{self.kind}={label} since={since} until={self.until.strftime('%Y-%m-%dT%H:%M:%SZ')}"


@dataclass(frozen=True)
class FlaggedPetition:
    """For the staff dashboard: a collecting petition with flagged groups over the last 24 hours."""

    petition_id: int
    title: str
    flagged_groups: int


def client_label(client_hash: str) -> str:
    """The short pseudonymous label of a client hash shown to staff, e.g. ``c-1a2b3c4d``."""
    return LABEL_PREFIX + client_hash[:8]


def _require_staff(actor: Actor, now: datetime) -> None:
    if not actor.signed_in:
        raise NotSignedIn()
    if not can(actor, Action.SIGNATURES_VIEW_PERSONAL, None, now):
        raise Forbidden()


def _epoch(session: AsyncSession, column: Any) -> ColumnElement[int]:
    """Whole seconds since the epoch of a UtcDateTime column, in SQL (SQLite stores naive UTC text)."""
    if dialect_name(session) == "postgresql":
        return cast(func.floor(func.extract("epoch", column)), BigInteger)
    return cast(func.strftime("%s", column), Integer)


def _domain(session: AsyncSession) -> ColumnElement[str]:
    """The lower-cased part after ``@`` of users.email, in SQL."""
    if dialect_name(session) == "postgresql":
        return func.lower(func.split_part(User.email, "@", 2))
    return func.lower(func.substr(User.email, func.instr(User.email, "@") + 1))


def _window_filter(petition_filter: ColumnElement[bool], since: datetime | None,
                   until: datetime) -> list[ColumnElement[bool]]:
    clauses = [petition_filter, Signature.created_at <= until]
    if since is not None:
        clauses.append(Signature.created_at >= since)
    return clauses


def _grouped(session: AsyncSession, kind: str, clauses: list[ColumnElement[bool]]) -> Any:
    """Per (petition, group): count, first and last epoch second, and whether the burst rule holds."""
    t = _epoch(session, Signature.created_at)
    if kind == "client":
        source = select(Signature.petition_id, Signature.client_hash.label("g"), t.label("t")).where(
            *clauses, Signature.client_hash.is_not(None))
        needed = BURST_SIGNATURES
    else:
        source = select(Signature.petition_id, _domain(session).label("g"), t.label("t")).join(
            User, User.id == Signature.user_id).where(*clauses)
        needed = DOMAIN_BURST_SIGNATURES
    rows = source.subquery()
    lagged = select(
        rows.c.petition_id, rows.c.g, rows.c.t,
        func.lag(rows.c.t, literal_column(str(needed - 1))).over(partition_by=(rows.c.petition_id, rows.c.g),
                                           order_by=rows.c.t).label("t_before"),
    ).subquery()
    burst = func.max(case((lagged.c.t - lagged.c.t_before < BURST_MINUTES * 60, 1), else_=0))
    return (select(lagged.c.petition_id, lagged.c.g, func.count().label("n"), func.min(lagged.c.t).label("first"),
                   func.max(lagged.c.t).label("last"), burst.label("flagged"))
            .group_by(lagged.c.petition_id, lagged.c.g)), rows


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(int(seconds), UTC)


async def _groups(session: AsyncSession, kind: str, petition_id: int, since: datetime | None,
                  until: datetime) -> list[BurstGroup]:
    grouped, rows = _grouped(session, kind, _window_filter(Signature.petition_id == petition_id, since, until))
    top = grouped.subquery()
    found = (await session.execute(
        select(top.c.g, top.c.n, top.c.first, top.c.last, top.c.flagged)
        .order_by(top.c.flagged.desc(), top.c.n.desc(), top.c.g).limit(GROUPS_SHOWN)
    )).all()
    if not found:
        return []
    minute = rows.c.t // 60
    per_minute = select(rows.c.g, func.count().label("n")).where(rows.c.g.in_([r.g for r in found])).group_by(
        rows.c.g, minute).subquery()
    peaks = {g: n for g, n in await session.execute(
        select(per_minute.c.g, func.max(per_minute.c.n)).group_by(per_minute.c.g))}
    return [BurstGroup(kind=kind, value=str(r.g), label=client_label(str(r.g)) if kind == "client" else str(r.g),
                       count=int(r.n), first_at=_at(r.first), last_at=_at(r.last),
                       peak_per_minute=int(peaks.get(r.g, 0)), flagged=bool(r.flagged))
            for r in found]


async def _batches(session: AsyncSession, petition_id: int) -> list[BatchView]:
    b = SignatureInvalidationBatch
    rows = await session.execute(
        select(b.id, b.at, User.display_name, b.reason, b.criterion, b.count)
        .outerjoin(User, User.id == b.actor_id).where(b.petition_id == petition_id).order_by(b.at.desc(), b.id.desc())
    )
    return [BatchView(id=r[0], at=r[1], actor_name=r[2] or "", reason=r[3], criterion=r[4], count=r[5])
            for r in rows]


def window_bounds(window: str, now: datetime) -> tuple[datetime | None, datetime]:
    """(since, until) of a window name of WINDOWS at ``now``; an unknown name counts as ``day``."""
    span = WINDOWS.get(window, WINDOWS["day"])
    return (None if span is None else now - span), now


async def burst_report(session: AsyncSession, actor: Actor, petition_id: int, window: str,
                       now: datetime) -> BurstReport:
    """The burst page of a petition over ``window`` (a name of WINDOWS; unknown names mean ``day``).

    Raises NotSignedIn, Forbidden (needs signatures:view_personal), NotFound. Reads only; nothing is audited
    because no personal data is shown (labels and domains only).
    """
    _require_staff(actor, now)
    window = window if window in WINDOWS else "day"
    since, until = window_bounds(window, now)
    async with reading(session):
        p = (await session.execute(
            select(Petition.title, Petition.status).where(Petition.id == petition_id))).first()
        if p is None:
            raise NotFound()
        return BurstReport(
            petition_id=petition_id, title=p.title, status=p.status, collecting=p.status == "collecting",
            window=window, since=since, until=until,
            clients=await _groups(session, "client", petition_id, since, until),
            domains=await _groups(session, "domain", petition_id, since, until),
            batches=await _batches(session, petition_id),
            quiet_flags=await _quiet_flags(session, petition_id),
        )


async def _quiet_flags(session: AsyncSession, petition_id: int) -> list[QuietFlag]:
    rows = await session.execute(
        select(SignatureFlag.reason, func.count(), func.count(SignatureFlag.user_id.distinct()),
               func.max(SignatureFlag.created_at))
        .where(SignatureFlag.petition_id == petition_id).group_by(SignatureFlag.reason)
        .order_by(func.count().desc()))
    result = []
    for reason, n, accounts, last in rows:
        at = last if isinstance(last, datetime) else datetime.fromisoformat(str(last))
        result.append(QuietFlag(reason=reason, label=FLAG_REASONS.get(reason, reason), count=int(n),
                                accounts=int(accounts), last=at if at.tzinfo else at.replace(tzinfo=UTC)))
    return result


@dataclass(frozen=True)
class InvalidationForm:
    """What the burst page posts, as typed: group (``client:<64 hex>`` or ``domain:<domain>``), since and until
    (whole epoch seconds of the window shown; since empty for the whole collection), reason (10–500 characters)."""

    group: str
    since: str
    until: str
    reason: str


def parse_selection(group: str, since: str, until: str) -> Selection | None:
    """The Selection posted by the burst page, or None when anything is malformed."""
    kind, _, value = group.partition(":")
    value = value.strip().lower()
    try:
        until_at = _at(int(until))
        since_at = _at(int(since)) if since.strip() else None
    except (ValueError, OverflowError, OSError):
        return None
    valid = (kind == "client" and len(value) == 64 and all(c in "0123456789abcdef" for c in value)) or (
        kind == "domain" and 0 < len(value) <= 254 and "@" not in value)
    return Selection(kind=kind, value=value, since=since_at, until=until_at) if valid else None


def validate(form: InvalidationForm) -> tuple[Selection, str]:
    """Check a posted invalidation: (selection, cleaned reason). Raises Invalid with msgids for ``group`` and
    ``reason`` (required, 10–500 characters once white space is collapsed; issue #8, item 4)."""
    errors: dict[str, list[str]] = {}
    selection = parse_selection(form.group, form.since, form.until)
    if selection is None:
        errors["group"] = [N_("Choose a group from the list.")]
    reason = " ".join(clean_text(form.reason).split())
    if not reason:
        errors["reason"] = [N_("Please write the reason for invalidating these signatures.")]
    elif not REASON_MIN <= len(reason) <= REASON_MAX:
        errors["reason"] = [N_("The reason must be between 10 and 500 characters long.")]
    if errors or selection is None:
        raise Invalid(errors)
    return selection, reason


_MOVED = ("id", "petition_id", "user_id", "full_name", "cnie_hmac", "cnie_encrypted", "commune_code",
          "province_code", "electoral_declaration", "consent_at", "channel", "created_at", "entered_by_id",
          "paper_sheet_ref", "public_name", "client_hash")


async def invalidate(session: AsyncSession, actor: Actor, petition_id: int, form: InvalidationForm,
                     now: datetime) -> BatchView:
    """Invalidate the signatures of the posted group and window on a collecting petition, with a reason.

    In one transaction: the petition row is locked (a submission cannot commit meanwhile), the selected signatures
    are deleted from ``signatures`` and their rows written to ``invalidated_signatures`` with a new batch row,
    and the audit event ``signatures:invalidate`` is recorded (detail: batch id, count, criterion). Returns the
    batch. Raises NotSignedIn, Forbidden (needs signatures:view_personal), NotFound, Invalid (``validate``; or
    ``group`` when nothing is left to invalidate), Conflict (the petition is not collecting).
    """
    _require_staff(actor, now)
    selection, reason = validate(form)
    async with session.begin():
        petition = await session.get(Petition, petition_id, with_for_update=True)
        if petition is None:
            raise NotFound()
        if petition.status != "collecting":
            raise Conflict(N_("Signatures can be invalidated only while the petition is collecting: the count of a "
                              "submitted petition is frozen by its receipt."))
        clauses = _window_filter(Signature.petition_id == petition_id, selection.since, selection.until)
        if selection.kind == "client":
            clauses.append(Signature.client_hash == selection.value)
        else:
            clauses.append(Signature.user_id.in_(select(User.id).where(_domain(session) == selection.value)))
        batch_id = (await session.execute(insert(SignatureInvalidationBatch).values(
            petition_id=petition_id, reason=reason, criterion=selection.criterion(), count=0,
            actor_id=actor.user_id, at=now).returning(SignatureInvalidationBatch.id))).scalar_one()
        moved = (await session.execute(
            delete(Signature).where(*clauses).returning(*(getattr(Signature, c) for c in _MOVED))
            .execution_options(synchronize_session=False))).all()
        if not moved:
            raise Invalid({"group": [N_("No signature of this group is left in this window.")]})
        await session.execute(insert(InvalidatedSignature), [
            {**{c: v for c, v in zip(_MOVED[1:], row[1:], strict=True)}, "signature_id": row[0], "batch_id": batch_id}
            for row in moved])
        await session.execute(update(SignatureInvalidationBatch).where(SignatureInvalidationBatch.id == batch_id)
                              .values(count=len(moved)).execution_options(synchronize_session=False))
        await audit.record(session, actor_id=actor.user_id, action="signatures:invalidate", subject_type="petition",
                           subject_id=petition_id, now=now,
                           detail={"batch": batch_id, "count": len(moved), "criterion": selection.criterion()})
    return BatchView(id=batch_id, at=now, actor_name=actor.display_name, reason=reason,
                     criterion=selection.criterion(), count=len(moved))


async def flagged_petitions(session: AsyncSession, actor: Actor, now: datetime) -> list[FlaggedPetition] | None:
    """For the staff dashboard: collecting petitions with flagged groups (address or domain) over the last 24
    hours, most flagged first (at most 20). None when the actor may not open the burst pages."""
    if not actor.signed_in or not can(actor, Action.SIGNATURES_VIEW_PERSONAL, None, now):
        return None
    since, until = window_bounds("day", now)
    collecting = Signature.petition_id.in_(select(Petition.id).where(Petition.status == "collecting"))
    counts: dict[int, int] = {}
    async with reading(session):
        for kind in KINDS:
            grouped, _rows = _grouped(session, kind, _window_filter(collecting, since, until))
            g = grouped.subquery()
            for pid, n in (await session.execute(
                    select(g.c.petition_id, func.count()).where(g.c.flagged == 1).group_by(g.c.petition_id))):
                counts[int(pid)] = counts.get(int(pid), 0) + int(n)
        if not counts:
            return []
        titles = {pid: title for pid, title in await session.execute(
            select(Petition.id, Petition.title).where(Petition.id.in_(list(counts))))}
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:20]
    return [FlaggedPetition(petition_id=pid, title=titles.get(pid, ""), flagged_groups=n) for pid, n in ranked]
