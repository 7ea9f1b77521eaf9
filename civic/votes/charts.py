"""Server-rendered SVG horizontal bar charts for the results pages and the PDF report (issue #5, item 8).

No chart library and nothing fetched: each chart is one inline ``<svg>`` built here as text, every piece of
user text escaped (``markupsafe.escape``). Rules:

- Layout: one row per option — its label at the start of a line and its figures (votes · share) at the end of
  the same line, then its bar, as long as the row allows, proportional to the votes.
- Direction: right to left in Arabic (bars grow from the right edge, labels at the right, figures at the left),
  left to right in French and Tamazight (Tifinagh is written left to right, shared/domain.md §5). The
  ``direction`` presentation attribute on the ``<svg>`` makes ``text-anchor="start"`` anchor a label on the right
  in Arabic and ``end`` anchor the figures on the left, in browsers and in WeasyPrint alike, so one layout serves
  both directions. Numbers in the figures are isolated (LRI … PDI, ``isolate``) so that they read as in the
  tables.
- Accessibility: ``role="img"``, named by the chart's ``<title>`` (``aria-labelledby``) and described by its
  ``<desc>`` (``aria-describedby``), a one-sentence summary. The chart is always followed by a data table with
  a caption and ``th scope`` (templates/votes/_results_question.html): the table is the accessible source of the
  figures, the chart a labelled picture of them (WCAG 1.1.1).
- Colour is never the only carrier: every bar has its label and its figures written next to it, and the
  winning or funded options are solid while the others are hatched, with the word given by the caller
  (``Bar.note``, e.g. "winner") in their figures. Bars are #0b5d3b (7.4:1 on white; non-text contrast ≥ 3:1,
  WCAG 1.4.11), text #1b1b1b (16:1).
- Numbers arrive already formatted by the caller in the display language and digits (Western or Arabic-Indic:
  civic.i18n.format_number applies civic.preferences.digits). Text uses the page fonts: no ``font-family`` on
  the page (the SVG inherits the CSS of the page); the PDF passes its own (WeasyPrint's SVG does not inherit).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 480  # viewBox units; the SVG scales to its container (CSS .results-chart: at most 36rem wide)
PAD = 8
ROW = 50  # height of one option: its label and figures line, then its bar
TEXT_Y = 17  # baseline of the label and the figures in a row
BAR_Y, BAR_H = 24, 18  # the bar's top and height in a row
LABEL_FONT, FIGURES_FONT = 16, 15
CHAR_WIDTH = 0.6  # a generous average advance of a character, in font sizes (to shorten labels that would overlap)
BAR_COLOUR = "#0b5d3b"
TEXT_COLOUR = "#1b1b1b"
AXIS_COLOUR = "#4a4a4a"
LRI, PDI = "\u2066", "\u2069"  # isolate a number, so that "54,5%" reads the same in Arabic as in the tables


@dataclass(frozen=True)
class Bar:
    """One bar: label (user text or a translated word), value (a whole number ≥ 0, the bar's length is
    proportional to it), figures (the value and share as the reader should see them, already formatted),
    highlight (a winner or funded project: drawn solid, the others hatched), note (a word saying so, or '')."""

    label: str
    value: int
    figures: str
    highlight: bool = False
    note: str = ""


def isolate(number: str) -> str:
    """A formatted number between Unicode isolates (LRI … PDI), for the figures of a bar."""
    return f"{LRI}{number}{PDI}"


def _short(text: str, figures: str) -> str:
    """The label, shortened with "…" when it would run into the figures written at the other end of its line."""
    text = " ".join(text.split())
    room = WIDTH - 2 * PAD - 12 - len(figures) * CHAR_WIDTH * FIGURES_FONT
    most = max(8, int(room / (CHAR_WIDTH * LABEL_FONT)))
    return text if len(text) <= most else text[: most - 1].rstrip() + "…"


def bar_geometry(value: int, largest: int, direction: str) -> tuple[float, float]:
    """(x, width) of a bar in viewBox units: proportional to ``value`` over ``largest`` on the whole width,
    at least 2 units for any value above 0, starting from the right edge when ``direction`` is ``rtl``."""
    usable = WIDTH - 2 * PAD
    width = 0.0 if largest <= 0 or value <= 0 else max(2.0, usable * value / largest)
    x = WIDTH - PAD - width if direction == "rtl" else float(PAD)
    return round(x, 2), round(width, 2)


def bar_chart(chart_id: str, title: str, summary: str, bars: Sequence[Bar], direction: str,
              font_family: str | None = None) -> Markup:
    """An inline SVG horizontal bar chart (rules in the module docstring).

    chart_id: unique on the page (ids of the title, desc and hatch pattern derive from it; ASCII letters,
    digits and dashes). title: the chart's name (the question); summary: one sentence for ``<desc>``.
    direction: ``rtl`` (Arabic) or ``ltr``. font_family: only for renderers that do not inherit the page's CSS
    (WeasyPrint). Returns Markup safe to insert in a template; every text in it is escaped.
    """
    rtl = direction == "rtl"
    start_x = WIDTH - PAD if rtl else PAD
    largest = max((b.value for b in bars), default=0)
    height = PAD * 2 + ROW * max(len(bars), 1)
    title_id, desc_id, hatch_id = f"{chart_id}-title", f"{chart_id}-desc", f"{chart_id}-hatch"
    font = f' font-family="{escape(font_family)}"' if font_family else ""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="results-chart" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" role="img" aria-labelledby="{title_id}" aria-describedby="{desc_id}" '
        f'direction="{"rtl" if rtl else "ltr"}"{font}>',
        f'<title id="{title_id}">{escape(title)}</title>',
        f'<desc id="{desc_id}">{escape(summary)}</desc>',
        f'<defs><pattern id="{hatch_id}" width="8" height="8" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="8" height="8" fill="#ffffff"/>'
        f'<rect width="3" height="8" fill="{BAR_COLOUR}"/></pattern></defs>',
        # the axis the bars grow from
        f'<line x1="{start_x}" y1="{PAD}" x2="{start_x}" y2="{height - PAD}" stroke="{AXIS_COLOUR}" '
        f'stroke-width="1"/>',
    ]
    end_x = PAD if rtl else WIDTH - PAD
    for index, bar in enumerate(bars):
        top = PAD + index * ROW
        x, width = bar_geometry(bar.value, largest, direction)
        label_x = start_x - 6 if rtl else start_x + 6
        figures = bar.figures + (f" · {bar.note}" if bar.note else "")
        parts.append(f'<text class="chart-label" x="{label_x}" y="{top + TEXT_Y}" text-anchor="start" '
                     f'font-size="{LABEL_FONT}" fill="{TEXT_COLOUR}">{escape(_short(bar.label, figures))}</text>')
        parts.append(f'<text class="chart-figures" x="{end_x}" y="{top + TEXT_Y}" text-anchor="end" '
                     f'font-size="{FIGURES_FONT}" fill="{TEXT_COLOUR}">{escape(figures)}</text>')
        if width > 0:
            fill = BAR_COLOUR if bar.highlight else f"url(#{hatch_id})"
            kind = "chart-bar chart-bar-highlight" if bar.highlight else "chart-bar"
            parts.append(f'<rect class="{kind}" x="{x}" y="{top + BAR_Y}" width="{width}" height="{BAR_H}" '
                         f'fill="{fill}" stroke="{BAR_COLOUR}" stroke-width="1.5"/>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above went through escape()
