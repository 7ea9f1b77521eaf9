"""Exports of a ballot's results: CSV (UTF-8 with a BOM), XLSX (right-to-left sheets in Arabic) and a PDF report
in the display language with the charts (issue #5, item 10; design.md, Exports).

Only visible results are exported (the views refuse otherwise: civic.votes.results). The files hold the same
figures as the page: per question the totals and the outcome in words, each option's online, paper and total
votes with its share, and the participation breakdown with every count from 1 to 4 given as "<5" (shared/domain.md
§3) next to the census share (credit "HCP, RGPH 2024"). Text cells are neutralised against formulas
(civic.exports.service.neutralise). Shares are percentages rounded to 0.1, as numbers in CSV and XLSX.

CSV layout: blocks separated by an empty line, each with its own header row — the ballot (title, consultation,
date, sources), the questions (totals, outcome), the options, the breakdown by group, and the choices by group.
The XLSX has the same blocks as sheets: ``ballot``, ``questions``, ``options``, ``breakdown``, ``choices``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from jinja2 import Environment
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from civic import i18n
from civic.exports.formats import CSV_MEDIA_TYPE, PDF_MEDIA_TYPE, XLSX_MEDIA_TYPE, html_to_pdf, text_direction
from civic.exports.service import BOM, csv_line, neutralise
from civic.i18n import N_
from civic.votes import results
from civic.votes.results import BallotResults

__all__ = ["CSV_MEDIA_TYPE", "PDF_MEDIA_TYPE", "XLSX_MEDIA_TYPE", "results_csv", "results_pdf", "results_xlsx"]

PDF_FONTS = "Noto Sans Arabic, Noto Sans, Noto Naskh Arabic, Amiri, sans-serif"
PDF_FONTS_LTR = "Noto Sans, Noto Sans Arabic, sans-serif"

Cell = str | int | float | None
Block = tuple[str, Sequence[str], list[list[Cell]]]  # (sheet name, header msgids, rows)

BALLOT_HEADER = (N_("Item"), N_("Value"))
QUESTION_HEADER = (N_("Question number"), N_("Question"), N_("Method"), N_("Ballots"), N_("Online ballots"),
                   N_("Paper ballots"), N_("Blank"), N_("Invalid"), N_("Eligible people"), N_("Turnout (%)"),
                   N_("Outcome"))
OPTION_HEADER = (N_("Question number"), N_("Option"), N_("Cost (MAD)"), N_("Online votes"), N_("Paper votes"),
                 N_("Votes"), N_("Share (%)"), N_("Result"))
BREAKDOWN_HEADER = (N_("Question number"), N_("Dimension"), N_("Group"), N_("Online ballots"),
                    N_("Share of online ballots (%)"), N_("Share of those who answered (%)"),
                    N_("Census share (%) — HCP, RGPH 2024"), N_("Under-represented"))
CHOICE_HEADER = (N_("Question number"), N_("Dimension"), N_("Group"), N_("Option"), N_("Online votes"))
METHOD_NAMES = {"yes_no_abstain": N_("Yes, no or abstain"), "single_choice": N_("Single choice"),
                "approval": N_("Approval (choose up to k options)"), "budget": N_("Budget (choose projects)")}


def _value(value: Decimal | str | int | None) -> Cell:
    """A figure as a cell: Decimal percentages as numbers, "<5" as text, counts as they are."""
    if isinstance(value, Decimal):
        return float(value)
    return value


def _local(moment: datetime) -> str:
    return moment.astimezone(i18n.TIMEZONE).strftime("%Y-%m-%d %H:%M")


def blocks(data: BallotResults) -> list[Block]:
    """The export's tables in the display language (module docstring), rows of plain values."""
    t = i18n.gettext
    yes, no = t(N_("yes")), t(N_("no"))
    ballot_rows: list[list[Cell]] = [
        [t(N_("Ballot")), data.ballot.title],
        [t(N_("Consultation")), data.consultation.title],
        [t(N_("Results at (Africa/Casablanca)")), _local(data.now)],
        [t(N_("Sources")), t(N_("Census shares: HCP, RGPH 2024 (CC BY 4.0)."))],
        ["<5", t(results.SUPPRESSION_NOTE)],
        [t(N_("Breakdown")), t(results.PAPER_NOTE)],
    ]
    questions: list[list[Cell]] = []
    options: list[list[Cell]] = []
    groups: list[list[Cell]] = []
    choices: list[list[Cell]] = []
    for number, r in enumerate(data.results, 1):
        q, tl = r.question, r.tally
        questions.append([number, q.text, t(METHOD_NAMES.get(q.method, q.method)), tl.ballots, tl.online_ballots,
                          tl.paper_ballots, tl.blank, tl.invalid, tl.eligible, _value(tl.turnout_percent),
                          results.outcome_text(r)])
        word = results.winner_word(r)
        for o in tl.options:
            options.append([number, results.option_name(q.method, o.label), o.cost, o.online, o.paper, o.votes,
                            _value(o.percent), word if results.is_winner(r, o.option_id) else ""])
        for table in r.breakdown:
            dimension = results.dimension_name(table.dimension)
            for g in table.groups:
                group = results.group_name(table.dimension, g.group, data.provinces)
                groups.append([number, dimension, group, _value(g.ballots), _value(g.percent),
                               _value(g.answered_percent), _value(g.census_percent),
                               yes if g.under_represented else no])
                for option in r.options:
                    choices.append([number, dimension, group, results.option_name(q.method, option.label),
                                    _value(g.choices.get(option.id, 0))])
    return [("ballot", BALLOT_HEADER, ballot_rows), ("questions", QUESTION_HEADER, questions),
            ("options", OPTION_HEADER, options), ("breakdown", BREAKDOWN_HEADER, groups),
            ("choices", CHOICE_HEADER, choices)]


def results_csv(data: BallotResults) -> bytes:
    """The results as CSV: UTF-8 with a BOM (Excel reads Arabic), CRLF, every cell neutralised, blocks separated
    by an empty line (module docstring). Small: built at once."""
    lines = [BOM]
    for index, (_name, header, rows) in enumerate(blocks(data)):
        if index:
            lines.append("\r\n")
        lines.append(csv_line([i18n.gettext(h) for h in header]))
        lines += [csv_line(row) for row in rows]
    return "".join(lines).encode("utf-8")


def _cell(value: Cell) -> Cell:
    return neutralise(value) if isinstance(value, str) else value


def results_xlsx(data: BallotResults) -> bytes:
    """The results as an XLSX workbook, one sheet per block; sheets right to left in Arabic, header rows bold and
    frozen, text cells neutralised."""
    wb = Workbook()
    first = wb.active
    assert isinstance(first, Worksheet)
    wb.remove(first)
    rtl = i18n.current_language().direction == "rtl"
    for name, header, rows in blocks(data):
        ws = wb.create_sheet(name)
        ws.sheet_view.rightToLeft = rtl
        ws.append([_cell(i18n.gettext(h)) for h in header])
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for row in rows:
            ws.append([_cell(v) for v in row])
        for index in range(len(header)):
            ws.column_dimensions[get_column_letter(index + 1)].width = 40 if index in (1, 10) else 18
        ws.freeze_panes = "A2"
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def results_pdf(env: Environment, data: BallotResults) -> bytes:
    """The results report as PDF (WeasyPrint, templates/exports/results_pdf.html): every question's figures,
    chart (fonts named, since WeasyPrint's SVG does not inherit the page's CSS), outcome and breakdown."""
    fonts = PDF_FONTS if i18n.current_language().code == "ar" else PDF_FONTS_LTR
    html = env.get_template("exports/results_pdf.html").render(
        data=data, text_dir=text_direction, chart_fonts=fonts, pct=results.format_percent,
        count=results.format_count, money=results.format_money, group_name=results.group_name,
        dimension_name=results.dimension_name, comparison=results.comparison, outcome_text=results.outcome_text,
        chart=results.chart, option_name=results.option_name, is_winner=results.is_winner,
        winner_word=results.winner_word, census_credit=results.CENSUS_CREDIT,
        suppression_note=results.SUPPRESSION_NOTE, paper_note=results.PAPER_NOTE)
    return html_to_pdf(html)
