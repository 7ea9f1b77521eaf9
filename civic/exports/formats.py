"""Renderers for the dossier and the receipt: PDF (WeasyPrint), XLSX (openpyxl) and CSV (design.md, Exports).

Every renderer works in the current request language (``civic.i18n``). The PDF and XLSX renderers block for
a while on large dossiers: views call them through ``starlette.concurrency.run_in_threadpool`` (the language
context variable follows into the thread).
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from jinja2 import Environment
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from civic import i18n
from civic.exports.dossier import ADDRESSEE_LABELS, CENSUS_CREDIT, KIND_LABELS, LEGAL_SOURCE, Dossier, Receipt
from civic.exports.service import SIGNATURE_HEADER, csv_stream, neutralise
from civic.i18n import N_
from civic.petitions.lifecycle import STATUS_LABELS
from civic.settings import ROOT

PDF_MEDIA_TYPE = "application/pdf"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
PROVINCE_HEADER = (N_("Province code"), N_("Province"), N_("Signatures"), N_("Minimum"), N_("Minimum reached"))
FACT_HEADER = (N_("Item"), N_("Value"))
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"


# --- PDF ---------------------------------------------------------------------------------------------------


def text_direction(text: str) -> str:
    """``rtl`` or ``ltr`` from the first strong character of ``text`` (HTML's ``dir="auto"``, which WeasyPrint
    does not apply); the current language's direction when there is none."""
    for char in text:
        kind = unicodedata.bidirectional(char)
        if kind in ("R", "AL"):
            return "rtl"
        if kind == "L":
            return "ltr"
    return i18n.current_language().direction


def html_to_pdf(html: str) -> bytes:
    """PDF bytes of a self-contained HTML page. Fonts come from fontconfig (named in the page's CSS); only
    ``file:`` and ``data:`` URLs under the project root resolve, so rendering never touches the network."""
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    fetcher = URLFetcher(allowed_protocols=("file", "data"), timeout=5)
    pdf = HTML(string=html, base_url=str(ROOT), url_fetcher=fetcher).write_pdf()
    return bytes(pdf)


def dossier_pdf(env: Environment, dossier: Dossier) -> bytes:
    """The dossier as PDF, from ``templates/exports/dossier_pdf.html``."""
    html = env.get_template("exports/dossier_pdf.html").render(
        dossier=dossier, legal_source=LEGAL_SOURCE, census_credit=CENSUS_CREDIT, kind_labels=KIND_LABELS,
        text_dir=text_direction)
    return html_to_pdf(html)


def receipt_pdf(env: Environment, receipt: Receipt) -> bytes:
    """The receipt as PDF, from ``templates/exports/receipt_pdf.html``."""
    html = env.get_template("exports/receipt_pdf.html").render(receipt=receipt, kind_labels=KIND_LABELS,
                                                               text_dir=text_direction)
    return html_to_pdf(html)


# --- XLSX --------------------------------------------------------------------------------------------------


def _arabic() -> bool:
    return i18n.current_language().code == "ar"


def _local(value: datetime | None) -> datetime | None:
    """A UTC datetime as naive Africa/Casablanca local time (spreadsheets have no time zones)."""
    return value.astimezone(i18n.TIMEZONE).replace(tzinfo=None) if value is not None else None


def _cell(value: object) -> Any:
    """A value as a cell: text neutralised against formulas (``= + - @``), numbers and dates as they are."""
    if value is None:
        return None
    if isinstance(value, bool):
        return i18n.gettext("yes") if value else i18n.gettext("no")
    if isinstance(value, int | float):
        return value
    if isinstance(value, datetime):
        return _local(value)
    return neutralise(value)


def _sheet(ws: Worksheet, header: Sequence[str], rows: Sequence[Sequence[object]], widths: Sequence[int]) -> None:
    ws.sheet_view.rightToLeft = _arabic()
    ws.append([_cell(i18n.gettext(h)) for h in header])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append([_cell(v) for v in row])
    for column in ws.iter_cols(min_row=2):
        for cell in column:
            if isinstance(cell.value, datetime):
                cell.number_format = DATETIME_FORMAT
    for index, width in enumerate(widths):
        ws.column_dimensions[get_column_letter(index + 1)].width = width
    ws.freeze_panes = "A2"


def _organisation(dossier: Dossier | Receipt) -> str:
    return dossier.organisation_name_ar if _arabic() else dossier.organisation_name_fr


def fact_rows(dossier: Dossier) -> list[tuple[str, object]]:
    """The facts of a dossier as (translated label, value) pairs; the values are data, numbers, dates, or
    translated labels."""
    t = i18n.gettext
    rows: list[tuple[str, object]] = [
        (N_("Petition number"), dossier.petition_id),
        (N_("Title"), dossier.title),
        (N_("Addressed to"), t(ADDRESSEE_LABELS.get(dossier.addressed_to, dossier.addressed_to))),
        (N_("Kind of petition"), t(KIND_LABELS.get(dossier.kind, dossier.kind))),
        (N_("Status"), t(STATUS_LABELS.get(dossier.status, dossier.status))),
        (N_("Agent"), dossier.agent_name),
        (N_("Deputy agent"), dossier.deputy_name),
    ]
    if dossier.kind == "association":
        rows.append((N_("Association"), _organisation(dossier)))
    rows += [
        (N_("Created on"), dossier.created_at),
        (N_("Open for signatures since"), dossier.published_at),
        (N_("Collection ends"), dossier.collection_ends_at),
        (N_("Signature threshold"), dossier.rules.threshold),
        (N_("Minimum per province"), dossier.rules.province_minimum),
        (N_("Signatories declare they are on the electoral lists"), dossier.rules.require_electoral_registration),
        (N_("Legal basis"), t(LEGAL_SOURCE)),
        (N_("Signatures"), dossier.total),
        (N_("Threshold reached"), dossier.threshold_met),
        (N_("Every province reached its minimum"), dossier.spread_met),
    ]
    if dossier.receipt is not None:
        r = dossier.receipt
        rows += [
            (N_("Receipt number"), r.number),
            (N_("Filed on (Africa/Casablanca)"), r.submitted_at),
            (N_("Signatures at submission"), r.submitted_count),
            (N_("Digest of the filed petition (SHA-256)"), r.digest),
            (N_("The bureau decides on admissibility by"), r.examination_due_at),
        ]
    rows += [
        (N_("Text of the petition"), dossier.body),
        (N_("Generated on (Africa/Casablanca)"), dossier.generated_at),
        (N_("Sources"), t(CENSUS_CREDIT)),
    ]
    return [(t(label), value) for label, value in rows]


def province_rows(dossier: Dossier) -> list[tuple[object, ...]]:
    """Counts per province against the minimum, then a total row against the threshold."""
    arabic = _arabic()
    rows: list[tuple[object, ...]] = [
        (p.code, p.name_ar if arabic else p.name_fr, p.count, p.minimum, p.met) for p in dossier.provinces
    ]
    rows.append(("", i18n.gettext("Total"), dossier.total, dossier.rules.threshold, dossier.threshold_met))
    return rows


def signature_rows(dossier: Dossier) -> list[tuple[object, ...]]:
    """The signature list (personal dossier only), in the columns of ``SIGNATURE_HEADER``."""
    arabic = _arabic()
    return [
        (s.number, s.signed_at, s.full_name, s.cnie, s.commune_ar if arabic else s.commune_fr,
         s.province_ar if arabic else s.province_fr, i18n.gettext(s.channel), s.electoral_declaration)
        for s in dossier.signatures
    ]


def dossier_xlsx(dossier: Dossier) -> bytes:
    """The dossier as an XLSX workbook: sheets ``petition`` (facts), ``provinces`` (counts) and, for the
    personal dossier, ``signatures``. Right-to-left sheets in Arabic; every text cell neutralised."""
    wb = Workbook()
    facts = wb.active
    assert isinstance(facts, Worksheet)
    facts.title = "petition"
    _sheet(facts, FACT_HEADER, fact_rows(dossier), (42, 90))
    for row in facts.iter_rows(min_row=2, min_col=2, max_col=2):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    _sheet(wb.create_sheet("provinces"), PROVINCE_HEADER, province_rows(dossier), (14, 28, 12, 12, 16))
    if dossier.personal:
        _sheet(wb.create_sheet("signatures"), SIGNATURE_HEADER, signature_rows(dossier),
               (10, 20, 32, 14, 28, 22, 12, 14))
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


# --- CSV ---------------------------------------------------------------------------------------------------


def provinces_csv(dossier: Dossier) -> AsyncIterator[bytes]:
    """The public dossier as CSV (UTF-8 with a BOM): counts per province and the total. No personal data."""
    def text(v: object) -> object:
        if isinstance(v, bool):
            return i18n.gettext("yes") if v else i18n.gettext("no")
        return v

    rows = [tuple(text(v) for v in row) for row in province_rows(dossier)]
    return csv_stream([i18n.gettext(h) for h in PROVINCE_HEADER], rows)
