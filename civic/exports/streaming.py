"""Streaming writers: rows from the database to CSV, XLSX or JSON bytes with flat memory (issue #6, item 7).

Every writer takes the columns of a list and an async iterator of rows (tuples, in the columns' order), usually
``stream_rows`` over ``session.stream(...)`` with ``yield_per``, and yields bytes as it goes, so exporting
1,000,000 signatures keeps the server's memory flat: no writer ever holds the whole file or the whole list.

- CSV: UTF-8 with a BOM (Excel shows Arabic), RFC 4180 quoting, every cell neutralised against formula
  injection (``civic.exports.service.neutralise``: ``= + - @``, tab, CR; design.md, Exports).
- XLSX: openpyxl's write-only workbook (rows go to a temporary file on disk as they come, strings inline, so
  memory stays flat), saved into a ``SpooledTemporaryFile`` and streamed in chunks. The sheet is right to left
  in Arabic; text cells are neutralised. The CPU-bound work runs in worker threads, batch by batch. A sheet
  holds at most 1,048,576 rows (Excel's limit): longer lists continue on a new sheet, header repeated.
- JSON: one array, one object per row keyed by the columns' keys; dates in ISO 8601 UTC. No neutralisation:
  JSON is data for programs, not a spreadsheet.

Two ways to write a value: *for people* (staff exports: translated headers, yes/no and labels in the request
language, Africa/Casablanca local times) and *for machines* (open data: column keys as headers, ``true``/
``false``, codes, ISO 8601 UTC), chosen with ``people``.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import IO, Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.concurrency import run_in_threadpool

from civic import i18n
from civic.db import reading
from civic.exports.service import BOM, neutralise

FORMATS = ("csv", "xlsx", "json")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
}
BATCH_ROWS = 1_000  # rows fetched from the database and written per step
CHUNK_BYTES = 64 * 1024  # size of the chunks an XLSX file is sent in
SPOOL_BYTES = 1024 * 1024  # an XLSX file bigger than this goes from memory to a temporary file on disk
XLSX_MAX_ROWS = 1_048_576  # rows per sheet in Excel, the header included


@dataclass(frozen=True)
class Column:
    """One column of an exported list.

    key: machine name (JSON key, open-data CSV header); label: English msgid of the header shown to people;
    labels: code → msgid, for a column of codes (statuses, channels) shown translated to people;
    width: XLSX column width in characters.
    """

    key: str
    label: str
    labels: Mapping[str, str] = field(default_factory=dict)
    width: int = 16


Row = Sequence[object]


async def stream_rows(session: AsyncSession, stmt: Select[*tuple[Any, ...]],
                      batch: int = BATCH_ROWS) -> AsyncGenerator[Row, None]:
    """The rows of ``stmt`` one by one, fetched ``batch`` at a time through a server-side cursor, in a read-only
    transaction of their own (deferred on SQLite, so writers are not held up). Nothing is read before the
    first row is asked for; closing the iterator early ends the transaction."""
    async with reading(session):
        result = await session.stream(stmt.execution_options(yield_per=batch))
        async for partition in result.partitions(batch):
            for row in partition:
                yield tuple(row)


async def _batches(rows: AsyncIterator[Row], size: int) -> AsyncIterator[list[Row]]:
    """``rows`` in lists of at most ``size``."""
    chunk: list[Row] = []
    async for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --- values ------------------------------------------------------------------------------------------------


def _local(moment: datetime) -> datetime:
    """A UTC datetime as naive Africa/Casablanca wall time (spreadsheets have no time zones)."""
    return moment.astimezone(i18n.TIMEZONE).replace(tzinfo=None)


Text = Callable[[object], str]


def text_for_people(column: Column) -> Text:
    """The function writing ``column``'s values as people read them in the request language: local time
    (Africa/Casablanca, ``YYYY-MM-DD HH:MM``), yes/no, translated codes. Translations are looked up once, here,
    since it runs for every cell of large exports."""
    yes, no = i18n.gettext("yes"), i18n.gettext("no")
    labels = {code: i18n.gettext(msgid) for code, msgid in column.labels.items()}

    def text(value: object) -> str:
        if isinstance(value, str):
            return labels.get(value, value) if labels else value
        if value is None:
            return ""
        if isinstance(value, bool):
            return yes if value else no
        if isinstance(value, datetime):
            return _local(value).isoformat(" ", "minutes")
        if isinstance(value, date):
            return value.isoformat()
        return str(value)

    return text


def text_for_machines(value: object) -> str:
    """A value as programs read it: ``true``/``false``, ISO 8601 UTC, codes as they are."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def json_value(value: object) -> object:
    """A value for JSON: numbers, booleans, strings and null as they are; dates as ISO 8601 (UTC)."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def xlsx_cell(column: Column) -> Callable[[object], object]:
    """The function writing ``column``'s values as XLSX cells: numbers and (local, naive) dates as they are,
    everything else as neutralised text for people."""
    text = text_for_people(column)

    def cell(value: object) -> object:
        if value is None:
            return None
        if isinstance(value, bool):
            return neutralise(text(value))
        if isinstance(value, int | float):
            return value
        if isinstance(value, datetime):
            return _local(value)
        if isinstance(value, date):
            return value
        return neutralise(text(value))

    return cell


def headers(columns: Sequence[Column], people: bool) -> list[str]:
    """Header cells: translated labels for people, keys for machines."""
    return [i18n.gettext(c.label) if people else c.key for c in columns]


# --- CSV ---------------------------------------------------------------------------------------------------


async def csv_chunks(columns: Sequence[Column], rows: AsyncIterator[Row], people: bool = True,
                     batch: int = BATCH_ROWS) -> AsyncIterator[bytes]:
    """UTF-8 CSV bytes with a BOM: the header, then ``batch`` rows per chunk; every cell neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def take() -> bytes:
        data = buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
        return data

    buffer.write(BOM)
    writer.writerow([neutralise(h) for h in headers(columns, people)])
    yield take()
    texts = [text_for_people(c) if people else text_for_machines for c in columns]
    async for chunk in _batches(rows, batch):
        writer.writerows([neutralise(text(v)) for text, v in zip(texts, row, strict=True)] for row in chunk)
        yield take()


# --- JSON --------------------------------------------------------------------------------------------------


async def json_chunks(columns: Sequence[Column], rows: AsyncIterator[Row],
                      batch: int = BATCH_ROWS) -> AsyncIterator[bytes]:
    """A JSON array of objects (one per row, keyed by the columns' keys), ``batch`` objects per chunk."""
    keys = [c.key for c in columns]
    first = True
    yield b"["
    async for chunk in _batches(rows, batch):
        parts = []
        for row in chunk:
            item = json.dumps({k: json_value(v) for k, v in zip(keys, row, strict=True)}, ensure_ascii=False)
            parts.append(("\n" if first else ",\n") + item)
            first = False
        yield "".join(parts).encode()
    yield b"\n]\n"


# --- XLSX --------------------------------------------------------------------------------------------------


class _XlsxBook:
    """A write-only openpyxl workbook filled batch by batch (in worker threads), then saved to a spooled file."""

    def __init__(self, columns: Sequence[Column], sheet_title: str, right_to_left: bool) -> None:
        from openpyxl import Workbook

        self.columns = list(columns)
        self.sheet_title = sheet_title[:28] or "data"
        self.right_to_left = right_to_left
        self.header = headers(columns, people=True)  # translated here, in the request's context
        self.cells = [xlsx_cell(c) for c in columns]
        self.workbook = Workbook(write_only=True)
        self.sheets = 0
        self.rows_in_sheet = XLSX_MAX_ROWS  # start a sheet at the first row

    def _new_sheet(self) -> Any:
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Font
        from openpyxl.utils import get_column_letter

        self.sheets += 1
        title = self.sheet_title if self.sheets == 1 else f"{self.sheet_title}-{self.sheets}"
        sheet = self.workbook.create_sheet(title)
        sheet.sheet_view.rightToLeft = self.right_to_left
        sheet.freeze_panes = "A2"
        for index, column in enumerate(self.columns, start=1):
            sheet.column_dimensions[get_column_letter(index)].width = column.width
        cells = []
        for text in self.header:
            cell = WriteOnlyCell(sheet, value=neutralise(text))
            cell.font = Font(bold=True)
            cells.append(cell)
        sheet.append(cells)
        self.sheet = sheet
        self.rows_in_sheet = 1
        return sheet

    def append(self, chunk: list[Row]) -> None:
        """Write a batch of rows (blocking: call it in a worker thread)."""
        cells = self.cells
        for row in chunk:
            if self.rows_in_sheet >= XLSX_MAX_ROWS:
                self._new_sheet()
            self.sheet.append([cell(v) for cell, v in zip(cells, row, strict=True)])
            self.rows_in_sheet += 1

    def save(self) -> IO[bytes]:
        """Save into a spooled temporary file, rewound (blocking: call it in a worker thread)."""
        if self.sheets == 0:
            self._new_sheet()
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # closed by xlsx_chunks
        self.workbook.save(spool)
        spool.seek(0)
        return spool


async def xlsx_chunks(columns: Sequence[Column], rows: AsyncIterator[Row], sheet_title: str = "data",
                      right_to_left: bool | None = None, batch: int = BATCH_ROWS) -> AsyncIterator[bytes]:
    """XLSX bytes for people: a bold, frozen header row, then the rows; right to left in Arabic (the request
    language, unless ``right_to_left`` says otherwise). The file is complete only once every row is written,
    so the first byte comes after the last row is read."""
    rtl = i18n.current_language().direction == "rtl" if right_to_left is None else right_to_left
    book = _XlsxBook(columns, sheet_title, rtl)
    # The language context variable follows run_in_threadpool into the worker threads (yes/no, labels).
    async for chunk in _batches(rows, batch):
        await run_in_threadpool(book.append, chunk)
    spool = await run_in_threadpool(book.save)
    try:
        while True:
            data = await run_in_threadpool(spool.read, CHUNK_BYTES)
            if not data:
                break
            yield data
    finally:
        spool.close()


async def encode(fmt: str, columns: Sequence[Column], rows: AsyncIterator[Row], sheet_title: str = "data",
                 people: bool = True) -> AsyncGenerator[bytes, None]:
    """The bytes of ``rows`` in ``fmt`` (one of FORMATS; raises KeyError otherwise)."""
    if fmt == "csv":
        stream = csv_chunks(columns, rows, people=people)
    elif fmt == "xlsx":
        stream = xlsx_chunks(columns, rows, sheet_title=sheet_title)
    elif fmt == "json":
        stream = json_chunks(columns, rows)
    else:
        raise KeyError(fmt)
    async for data in stream:
        yield data
