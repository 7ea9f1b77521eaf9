"""CSV writing that Excel reads correctly in Arabic and that cannot run formulas (design.md, Exports)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from civic import i18n
from civic.i18n import N_
from civic.permissions import Actor
from civic.petitions import service as petitions
from civic.security import Keys

BOM = "\ufeff"
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> str:
    """A cell as text; a cell starting with ``= + - @`` (or tab, CR) gets a leading apostrophe (OWASP CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def csv_line(cells: Sequence[object]) -> str:
    """One CSV record (RFC 4180 quoting, CRLF), every cell neutralised."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow([neutralise(c) for c in cells])
    return buffer.getvalue()


async def csv_stream(header: Sequence[str], rows: AsyncIterator[Sequence[object]] | Iterable[Sequence[object]],
                     batch: int = 500) -> AsyncIterator[bytes]:
    """UTF-8 bytes of a CSV with a BOM, yielded in batches of ``batch`` rows so large exports stream."""
    yield (BOM + csv_line(header)).encode()
    chunk: list[str] = []
    if hasattr(rows, "__aiter__"):
        async for row in rows:
            chunk.append(csv_line(row))
            if len(chunk) >= batch:
                yield "".join(chunk).encode()
                chunk = []
    else:
        for row in rows:
            chunk.append(csv_line(row))
    if chunk:
        yield "".join(chunk).encode()


SIGNATURE_HEADER = (
    N_("Number"), N_("Signed at (Africa/Casablanca)"), N_("Full name"), N_("CNIE"), N_("Commune"), N_("Province"),
    N_("Channel"), N_("Declared on the electoral lists"),
)


async def signatures_csv(session: AsyncSession, actor: Actor, keys: Keys, petition_id: int,
                         now: datetime) -> AsyncIterator[bytes]:
    """The signatures of a petition as CSV bytes, personal data included, for council staff.

    Access is checked and audited before the first byte (petitions.service.open_signatures); raises
    NotSignedIn, Forbidden or NotFound before streaming starts.
    """
    records = await petitions.open_signatures(session, actor, keys, petition_id, now, purpose="export")
    arabic = i18n.current_language().code == "ar"
    header = [i18n.gettext(h) for h in SIGNATURE_HEADER]

    async def rows() -> AsyncIterator[Sequence[object]]:
        async for r in records:
            yield (
                r.number, r.signed_at.astimezone(i18n.TIMEZONE).strftime("%Y-%m-%d %H:%M"), r.full_name, r.cnie,
                r.commune_ar if arabic else r.commune_fr, r.province_ar if arabic else r.province_fr,
                i18n.gettext(r.channel), i18n.gettext("yes") if r.electoral_declaration else i18n.gettext("no"),
            )

    return csv_stream(header, rows())
