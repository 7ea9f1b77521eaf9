"""The audit log for admins: browse it with filters, check its chain, export it (issue #6, item 5).

Reading the log shows who did what and from which address, so every view and every export is itself audited
(``audit:view``, ``audit:export``). Pages are keyset-paged on the event id (newest first, 50 per page), so a
page stays the same while new events arrive. Exports (CSV, XLSX, JSON) stream over a server-side cursor, oldest
first (the order of the chain), with their hashes so the chain can be checked outside Civic.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from civic import i18n
from civic.accounts.models import User
from civic.audit import AuditEvent, ChainStatus, check_chain, record
from civic.db import reading
from civic.errors import Forbidden, Invalid, NotFound, NotSignedIn
from civic.exports import streaming
from civic.exports.streaming import Column
from civic.i18n import N_
from civic.permissions import Action, Actor, can
from civic.text import clean_text

PAGE_SIZE = 50
EXPORT_FORMATS = streaming.FORMATS  # csv, xlsx, json
MAX_ID = 2**31 - 1  # PostgreSQL integer
VIEW_ACTION = Action.AUDIT_VIEW
# Filter field → the most characters kept (the columns' lengths).
FILTER_LENGTHS = {"action": 60, "subject_type": 40, "subject_id": 40, "actor_id": 12, "date_from": 10,
                  "date_to": 10}
# The exported columns, in the order of ``_select``; JSON has the UTC time only, people get the local time too.
JSON_COLUMNS = (
    Column("id", N_("Event"), width=10), Column("at", N_("Time (UTC)"), width=34),
    Column("actor_id", N_("Actor number"), width=12), Column("actor_name", N_("Actor"), width=24),
    Column("action", N_("Action"), width=30), Column("subject_type", N_("Subject type")),
    Column("subject_id", N_("Subject")), Column("origin", N_("Origin"), width=22),
    Column("detail", N_("Detail"), width=60), Column("prev_hash", N_("Previous hash"), width=66),
    Column("hash", N_("Hash"), width=66),
)
PEOPLE_COLUMNS = (JSON_COLUMNS[0], Column("local_time", N_("Time (Africa/Casablanca)"), width=20), *JSON_COLUMNS[1:])


@dataclass(frozen=True)
class AuditQuery:
    """The filters as typed (query-string text): action prefix, subject type and id, actor id, local dates.

    date_from/date_to: ``YYYY-MM-DD`` days in Africa/Casablanca, both included (shared/domain.md §4, time zone).
    """

    action: str = ""
    subject_type: str = ""
    subject_id: str = ""
    actor_id: str = ""
    date_from: str = ""
    date_to: str = ""

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> AuditQuery:
        """The filters of a query string: cleaned (civic.text.clean_text), trimmed, cut to FILTER_LENGTHS."""
        values = {name: clean_text(params.get(name, "")).strip()[:limit] for name, limit in FILTER_LENGTHS.items()}
        return cls(**values)

    def params(self) -> dict[str, str]:
        """The filters that are set, for links that keep them."""
        return {name: value for name, value in asdict(self).items() if value}


@dataclass(frozen=True)
class AuditRow:
    """One event as the admin page shows it. at: UTC; actor_name: '' for system events; detail: JSON text."""

    id: int
    at: datetime
    actor_id: int | None
    actor_name: str
    action: str
    subject_type: str
    subject_id: str
    origin: str | None
    detail: str


@dataclass(frozen=True)
class AuditPage:
    """A page of events, newest first, and the cursors of the pages around it.

    newer: pass as ``after`` for the newer page (None on the newest page); older: pass as ``before`` for the
    older page (None on the oldest). chain: the chain check when it was asked for, else None.
    """

    rows: list[AuditRow]
    newer: int | None
    older: int | None
    chain: ChainStatus | None


def _local_day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=i18n.TIMEZONE).astimezone(UTC)


def _parse_day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        return None


def conditions(query: AuditQuery) -> list[ColumnElement[bool]]:
    """The WHERE conditions of the filters. Raises Invalid (field → msgids) for a bad actor number or date."""
    errors: dict[str, list[str]] = {}
    where: list[ColumnElement[bool]] = []
    if query.action:
        where.append(AuditEvent.action.startswith(query.action, autoescape=True))
    if query.subject_type:
        where.append(AuditEvent.subject_type == query.subject_type)
    if query.subject_id:
        where.append(AuditEvent.subject_id == query.subject_id)
    if query.actor_id:
        raw = query.actor_id
        if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_ID:
            where.append(AuditEvent.actor_id == int(raw))
        else:
            errors["actor_id"] = [N_("Enter the person's number (digits only).")]
    start = end = None
    for name in ("date_from", "date_to"):
        text = getattr(query, name)
        if not text:
            continue
        day = _parse_day(text)
        if day is None:
            errors[name] = [N_("Enter a date as year-month-day, for example 2026-11-30.")]
        elif name == "date_from":
            start = day
        else:
            end = day
    if start and end and end < start:
        errors["date_to"] = [N_("The end date is before the start date.")]
    if errors:
        raise Invalid(errors)
    if start:
        where.append(AuditEvent.at >= _local_day_start(start))
    if end:
        where.append(AuditEvent.at < _local_day_start(end + timedelta(days=1)))
    return where


def _require(actor: Actor, now: datetime, *actions: Action) -> None:
    if not actor.signed_in:
        raise NotSignedIn()
    if not all(can(actor, action, None, now) for action in actions):
        raise Forbidden()


def _select(where: Sequence[ColumnElement[bool]]) -> Select[*tuple[Any, ...]]:
    return (select(AuditEvent.id, AuditEvent.at, AuditEvent.actor_id, User.display_name, AuditEvent.action,
                   AuditEvent.subject_type, AuditEvent.subject_id, AuditEvent.origin, AuditEvent.detail,
                   AuditEvent.prev_hash, AuditEvent.hash)
            .outerjoin(User, User.id == AuditEvent.actor_id).where(*where))


def _row(r: Any) -> AuditRow:
    return AuditRow(r.id, r.at, r.actor_id, r.display_name or "", r.action, r.subject_type, r.subject_id,
                    r.origin, r.detail)


def _cursor(text: str | None) -> int | None:
    return int(text) if text and text.isascii() and text.isdigit() and len(text) < 12 else None


async def _exists(session: AsyncSession, where: Sequence[ColumnElement[bool]]) -> bool:
    return bool(await session.scalar(select(exists().where(and_(*where)))))


async def browse(session: AsyncSession, actor: Actor, query: AuditQuery, now: datetime, *,
                 before: str | None = None, after: str | None = None, verify: bool = False) -> AuditPage:
    """A page of the audit log for an admin (``audit:view``), newest first, PAGE_SIZE events.

    before/after: the cursors of AuditPage (event ids, as query-string text; anything else is ignored).
    verify: also check the whole chain (reads the whole log, so only on demand). The viewing is audited.
    Raises NotSignedIn, Forbidden, Invalid (bad filters; nothing is read or recorded).
    """
    _require(actor, now, VIEW_ACTION)
    where = conditions(query)
    before_id, after_id = _cursor(before), _cursor(after)
    async with reading(session):
        if after_id is not None:
            rows = [_row(r) for r in await session.execute(
                _select([*where, AuditEvent.id > after_id]).order_by(AuditEvent.id).limit(PAGE_SIZE + 1))]
            newer = rows[PAGE_SIZE - 1].id if len(rows) > PAGE_SIZE else None
            rows = rows[:PAGE_SIZE][::-1]
            older = rows[-1].id if rows and await _exists(session, [*where, AuditEvent.id < rows[-1].id]) else None
        else:
            page_where = [*where, AuditEvent.id < before_id] if before_id is not None else where
            rows = [_row(r) for r in await session.execute(
                _select(page_where).order_by(AuditEvent.id.desc()).limit(PAGE_SIZE + 1))]
            older = rows[PAGE_SIZE - 1].id if len(rows) > PAGE_SIZE else None
            rows = rows[:PAGE_SIZE]
            newer = (rows[0].id if rows and before_id is not None
                     and await _exists(session, [*where, AuditEvent.id > rows[0].id]) else None)
    chain = await check_chain(session) if verify else None
    async with session.begin():
        detail: dict[str, Any] = {"filters": query.params(), "verify": verify}
        if chain is not None:
            detail["chain_broken_at"] = chain.broken.id if chain.broken else None
        await record(session, actor_id=actor.user_id, action="audit:view", subject_type="audit_log",
                     subject_id="", now=now, detail=detail)
    return AuditPage(rows, newer, older, chain)


async def export(session: AsyncSession, actor: Actor, query: AuditQuery, fmt: str,
                 now: datetime) -> AsyncIterator[bytes]:
    """The filtered log as CSV (UTF-8 BOM, formula cells neutralised), XLSX or JSON bytes, oldest first (the
    chain's order), streamed over a server-side cursor (civic.exports.streaming).

    Needs ``audit:view`` and ``exports:personal`` (origins are client addresses; issue #6, item 7). Access is
    checked and the export audited (``audit:export``) before the first byte; raises NotSignedIn, Forbidden,
    NotFound (a format not in EXPORT_FORMATS), Invalid (bad filters). CSV and XLSX show local times (to the
    second) for people and the UTC time the hash covers; JSON has UTC times.
    """
    _require(actor, now, VIEW_ACTION, Action.EXPORTS_PERSONAL)
    if fmt not in EXPORT_FORMATS:
        raise NotFound()
    where = conditions(query)
    async with session.begin():
        await record(session, actor_id=actor.user_id, action="audit:export", subject_type="audit_log",
                     subject_id="", now=now, detail={"filters": query.params(), "format": fmt})
    rows = streaming.stream_rows(session, _select(where).order_by(AuditEvent.id))
    if fmt == "json":
        return streaming.encode(fmt, JSON_COLUMNS, rows)
    return streaming.encode(fmt, PEOPLE_COLUMNS, _for_people(rows), sheet_title="audit")


async def _for_people(rows: AsyncIterator[streaming.Row]) -> AsyncIterator[streaming.Row]:
    """Rows of ``_select`` for CSV/XLSX: the local time with seconds, then the UTC time as ISO 8601 text."""
    async for (event_id, at, *rest) in rows:
        assert isinstance(at, datetime)
        yield (event_id, at.astimezone(i18n.TIMEZONE).strftime("%Y-%m-%d %H:%M:%S"), at.isoformat(), *rest)
