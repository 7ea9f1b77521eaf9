"""Results of a ballot (issue #5, items 5, 7, 8 and 10): the visibility rule across phases, the figures and the
participation breakdown ("<5" for small groups, census shares), the SVG charts (right to left in Arabic, left to
right in French, Arabic-Indic digits on request), the pages with and without results, the API, and the exports
(CSV with a BOM and neutralised cells, right-to-left XLSX, a PDF whose text holds the Arabic question). Real
databases only; the pages run on the clock (``utcnow``), so their phases are set around it."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import unicodedata
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import openpyxl
import pytest
from markupsafe import escape
from sqlalchemy import update

from civic.consultations.models import Phase
from civic.db import utcnow
from civic.i18n import gettext as t
from civic.i18n import translations
from civic.permissions import Actor
from civic.votes import charts, results, results_views, service, verify
from civic.votes.service import QuestionInput, VoteInput
from civic.votes.tally import NOT_GIVEN, SUPPRESSED, GroupCount
from tests.conftest import NOW, make_user
from tests.test_votes import BUDGET, SINGLE, TITLE, YES_NO, setup

URBAN, RURAL = "05.091.01.01", "05.091.03.03"  # Béni Mellal (urban), a rural commune of the same province
AZILAL = "05.081.01.01"
FORMULA = "=HYPERLINK(\"http://evil.invalid\",\"x\")"
QUESTION_AR = "هل توافقون على خط النقل القروي؟"


def phase(start: int, end: int, results_visible: bool = False, votes: bool = False, pid: int = 0,
          base: datetime = NOW) -> Phase:
    """An unsaved phase from ``base + start`` to ``base + end`` days."""
    return Phase(id=pid, consultation_id=1, kind="voting", starts_at=base + timedelta(days=start),
                 ends_at=base + timedelta(days=end), results_visible=results_visible, votes_enabled=votes)


def tr(lang: str, msgid: str) -> str:
    return translations(lang).gettext(msgid)


def at(days: float) -> datetime:
    return NOW + timedelta(days=days)


# --- the visibility rule ------------------------------------------------------------------------------------------


def test_visibility_rule_across_phases() -> None:
    voting, shown = phase(-5, 5, votes=True, pid=1), phase(5, 10, results_visible=True, pid=2)
    phases = [voting, shown]
    assert not results.visible([], NOW) and results.shown_from([], NOW) is None
    assert not results.visible(phases, at(-6))  # before the first phase
    assert not results.visible(phases, NOW)  # voting hides them
    assert results.shown_from(phases, NOW) == at(5)  # the start of the next phase that shows them
    assert results.visible(phases, at(5))  # from its very first instant
    assert results.visible(phases, at(7)) and results.visible_until(phases, at(7)) is None
    assert results.visible(phases, at(10)) and results.visible(phases, at(400))  # closed on a showing phase
    # a last phase that hides them keeps them hidden after closing; nothing will show them
    hiding_last = [phase(-10, -5, results_visible=True, pid=1), phase(-5, -1, pid=2)]
    assert results.visible(hiding_last, at(-6)) and results.visible_until(hiding_last, at(-6)) == at(-5)
    assert not results.visible(hiding_last, NOW) and results.shown_from(hiding_last, NOW) is None
    # a gap between phases hides them, even after a phase that showed them
    gap = [phase(-10, -5, results_visible=True, pid=1), phase(-2, 5, results_visible=True, pid=2)]
    assert results.visible(gap, at(-6)) and results.visible_until(gap, at(-6)) == at(-5)
    assert not results.visible(gap, at(-3)) and results.shown_from(gap, at(-3)) == at(-2)
    # live results: a voting phase that shows them, then closing on it
    live = [phase(-5, 5, results_visible=True, votes=True, pid=1)]
    assert results.visible(live, NOW) and results.visible_until(live, NOW) is None
    # one rule everywhere: the publication files of civic.votes.verify agree at every moment
    for case in (phases, hiding_last, gap, live, []):
        for day in range(-12, 14):
            for moment in (at(day), at(day) - timedelta(microseconds=1)):
                assert results.visible(case, moment) == verify.results_shown(case, moment), (case, moment)


# --- figures and breakdown ------------------------------------------------------------------------------------------


async def cast(session, voter: Actor, bid: int, questions, pick: int, when: datetime, **demographics: str) -> None:  # type: ignore[no-untyped-def]
    """``voter`` picks option ``pick`` on every one-answer question and nothing else; budget: the first project."""
    choices: dict[int, list[int]] = {}
    for q in questions:
        ids = [o.id for o in q.options]
        choices[q.id] = [ids[0]] if q.method == "budget" else [ids[pick % len(ids)]]
    await service.cast(session, voter, bid, VoteInput(choices, **demographics), when)


async def voted_ballot(session, base: datetime, phases: list[dict[str, Any]] | None = None,  # type: ignore[no-untyped-def]
                       questions: tuple[QuestionInput, ...] = (YES_NO, SINGLE, BUDGET)):
    """A ballot whose voting phase shows live results, with 12 votes: 7 women aged 18-24 living in the urban
    commune voting yes (option 0), 3 men voting no from a rural commune, 2 who gave nothing voting yes from
    Azilal. Returns (staff, consultation id, ballot id, questions)."""
    live = [{"kind": "voting", "start": -5, "end": 5, "votes_enabled": True, "results_visible": True}]
    staff, cid, bid, qs = await setup(session, questions, phases=phases or live, base=base)
    n = 0
    for _ in range(7):
        n += 1
        await cast(session, await make_user(session, n, commune=URBAN), bid, qs, 0, base,
                   gender="woman", age_band="18-24", disability="no")
    for _ in range(3):
        n += 1
        await cast(session, await make_user(session, n, commune=RURAL), bid, qs, 1, base,
                   gender="man", age_band="60+", disability="yes")
    for _ in range(2):
        n += 1
        await cast(session, await make_user(session, n, commune=AZILAL), bid, qs, 0, base)
    return staff, cid, bid, qs


async def test_results_figures_and_breakdown(session) -> None:  # type: ignore[no-untyped-def]
    _staff, _cid, bid, qs = await voted_ballot(session, NOW)
    data = await results.ballot_results(session, bid, NOW)
    assert data.visible and data.shown_from is None and len(data.results) == 3
    yes_no = data.results[0]
    assert [o.votes for o in yes_no.tally.options] == [9, 3, 0]
    assert yes_no.tally.outcome == "adopted" and yes_no.tally.ballots == 12
    assert yes_no.tally.options[0].percent == Decimal("75.0")
    assert yes_no.tally.eligible is not None and yes_no.tally.eligible >= 12
    assert results.outcome_text(yes_no) == t("Adopted: more votes for yes than for no.")
    tables = {t.dimension: t for t in yes_no.breakdown}
    assert list(tables) == ["gender", "age_band", "disability", "area", "province"]
    gender = {g.group: g for g in tables["gender"].groups}
    assert gender["woman"].ballots == 7 and gender["woman"].percent == Decimal("58.3")
    assert gender["woman"].answered_percent == Decimal("70.0")  # 7 of the 10 who answered
    assert gender["man"].ballots == SUPPRESSED and gender["man"].suppressed
    assert gender["man"].percent == SUPPRESSED and gender["man"].answered_percent == SUPPRESSED
    assert set(gender["man"].choices.values()) == {SUPPRESSED}  # every cell of a suppressed group
    assert gender[NOT_GIVEN].ballots == SUPPRESSED and gender[NOT_GIVEN].census_percent is None
    assert gender["woman"].census_percent is not None and Decimal(45) < gender["woman"].census_percent < Decimal(56)
    assert gender["woman"].choices[qs[0].options[0].id] == 7 and gender["woman"].choices[qs[0].options[1].id] == 0
    # men: at most 4 of 10 who answered (40%) against ~49% of the population is not under four fifths of it
    assert not gender["man"].under_represented and not gender["woman"].under_represented
    area = {g.group: g for g in tables["area"].groups}
    # Azilal town is urban too; the 9 urban voters hide with the rural ones, or 10 - 9 would give them away
    assert area["urban"].ballots == SUPPRESSED and area["rural"].ballots == SUPPRESSED
    province = {g.group: g for g in tables["province"].groups}
    assert set(province) == {"05.091", "05.081"} and province["05.081"].ballots == SUPPRESSED
    assert province["05.091"].ballots == SUPPRESSED  # its 10 would give the other province's count away
    assert data.provinces["05.091"].name_fr == "Béni Mellal"
    ages = {g.group: g for g in tables["age_band"].groups}
    assert ages["18-24"].under_represented is False and ages["60+"].ballots == SUPPRESSED
    single = data.results[1]
    assert single.tally.outcome == "winner" and results.outcome_text(single) == t("Winner: %(option)s.") % {
        "option": "الطرق"}
    budget = data.results[2]
    assert budget.tally.outcome == "funded" and budget.tally.spent == 450_000
    assert results.outcome_text(budget) == (
        t("Funded projects: %(projects)s.") % {"projects": "حافلة مدرسية"} + " "
        + t("%(spent)s spent of a budget of %(budget)s; %(remaining)s left.") % {
            "spent": t("%(amount)s MAD") % {"amount": "450.000"},  # ar_MA groups with dots
            "budget": t("%(amount)s MAD") % {"amount": "1.000.000"},
            "remaining": t("%(amount)s MAD") % {"amount": "550.000"}})
    # the same ballot while a phase hides the results: nothing countable is computed at all
    await session.execute(update(Phase).values(results_visible=False))
    await session.commit()
    hidden = await results.ballot_results(session, bid, NOW)
    assert not hidden.visible and hidden.results == () and [q.id for q in hidden.questions] == [q.id for q in qs]
    assert hidden.shown_from is None
    assert results.api_document(hidden) == {"ballot_id": bid, "consultation_id": hidden.consultation.id,
                                            "title": hidden.ballot.title, "results_visible": False,
                                            "shown_from": None}
    await session.commit()


def test_under_representation_and_suppression_of_the_breakdown() -> None:
    census = {"gender": {"woman": Fraction(51, 100), "man": Fraction(49, 100)}}
    rows = [GroupCount("gender", "woman", 6, {1: 6}), GroupCount("gender", "man", 30, {1: 28, 2: 2}),
            GroupCount("gender", NOT_GIVEN, 4, {1: 4})]
    (table,) = results.breakdown_tables(rows, census, [1, 2])
    lines = {g.group: g for g in table.groups}
    assert lines["woman"].answered_percent == Decimal("16.7") and lines["woman"].under_represented
    assert not lines["man"].under_represented and lines["man"].choices == {1: 28, 2: SUPPRESSED}
    assert lines[NOT_GIVEN].ballots == SUPPRESSED and lines[NOT_GIVEN].answered_percent is None
    assert [g.group for g in table.compared] == ["woman", "man"]
    assert results.comparison(lines["woman"], "gender", {}) == t(
        "%(group)s: %(share)s of voters who answered, %(census)s of the population.") % {
        "group": t("Women"), "share": "16,7%", "census": "51,0%"} + " " + t("Under-represented.")  # ar_MA format
    # a suppressed group is judged on the most it could be (4): 4 of 100 against 51% is under-represented
    (small,) = results.breakdown_tables([GroupCount("gender", "woman", 3, {}), GroupCount("gender", "man", 97, {})],
                                        census, [1])
    woman = small.groups[0]
    assert woman.suppressed and woman.under_represented
    assert results.comparison(woman, "gender", {}) == t(
        "%(group)s: fewer than 5 voters, %(census)s of the population.") % {
        "group": t("Women"), "census": "51,0%"} + " " + t("Under-represented.")


# --- charts -----------------------------------------------------------------------------------------------------------


def _rects(svg: str) -> list[tuple[float, float]]:
    return [(float(x), float(w)) for x, w in re.findall(r'<rect class="chart-bar[^"]*" x="([\d.]+)" y="[\d.]+" '
                                                      r'width="([\d.]+)"', svg)]


def test_chart_direction_accessibility_and_escaping() -> None:
    bars = [charts.Bar("<script>alert(1)</script> نعم", 30, "30 · 75%", highlight=True, note="winner"),
            charts.Bar("No", 10, "10 · 25%"), charts.Bar("Abstain", 0, "0 · 0%")]
    rtl = str(charts.bar_chart("chart-q1", "سؤال & <b>", "ملخص", bars, "rtl"))
    ltr = str(charts.bar_chart("chart-q1", "Question", "Summary", bars, "ltr"))
    assert 'direction="rtl"' in rtl and 'direction="ltr"' in ltr
    assert 'role="img" aria-labelledby="chart-q1-title" aria-describedby="chart-q1-desc"' in rtl
    assert '<title id="chart-q1-title">سؤال &amp; &lt;b&gt;</title>' in rtl and '<desc id="chart-q1-desc">' in rtl
    assert "<script>" not in rtl and "&lt;script&gt;" in rtl
    right_edge = charts.WIDTH - charts.PAD
    (x1, w1), (x2, w2) = _rects(rtl)  # no bar for 0
    assert x1 + w1 == right_edge and x2 + w2 == right_edge  # bars grow from the right edge
    assert w1 == pytest.approx(3 * w2, abs=0.02)
    (l1, lw1), (l2, _lw2) = _rects(ltr)
    assert l1 == l2 == charts.PAD and lw1 == w1  # from the left in French
    # labels start at the right edge in Arabic, figures end at the left edge
    assert re.findall(r'<text class="chart-label" x="([\d.]+)"[^>]*text-anchor="start"', rtl) == [
        str(right_edge - 6)] * 3
    assert re.findall(r'<text class="chart-figures" x="([\d.]+)"[^>]*text-anchor="end"', rtl) == [str(charts.PAD)] * 3
    assert re.findall(r'<text class="chart-figures" x="([\d.]+)"', ltr) == [str(right_edge)] * 3
    assert 'fill="#0b5d3b"' in rtl and 'fill="url(#chart-q1-hatch)"' in rtl  # solid winner, hatched others
    assert "30 · 75% · winner" in rtl
    assert charts.bar_geometry(1, 1_000_000, "ltr")[1] == 2.0  # a vote is always visible


# --- pages, API, exports ---------------------------------------------------------------------------------------------


def _pdf_text(content: bytes) -> str:
    text = subprocess.run(["pdftotext", "-", "-"], input=content, capture_output=True, check=True).stdout.decode()
    text = re.sub("[\u200e\u200f\u202a-\u202e\u2066-\u2069]", "", text)  # pdftotext's direction marks
    return unicodedata.normalize("NFKC", text)


async def test_results_page_visible_in_arabic_and_french(client, session) -> None:  # type: ignore[no-untyped-def]
    _staff, _cid, bid, qs = await voted_ballot(session, utcnow())
    page = await client.get(f"/ballots/{bid}/results")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-cache"
    html = page.text
    assert '<html lang="ar" dir="rtl"' in html
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" class="results-chart"') == 3
    assert html.count('direction="rtl"') == 3 and 'direction="ltr"' not in html
    assert f'<caption id="q{qs[0].id}-options-caption">' in html and '<th scope="col">' in html
    assert '<th scope="row">' in html
    assert f'role="region" aria-labelledby="q{qs[0].id}-gender-caption" tabindex="0"' in html
    assert ">&lt;5<" in html  # the men and those who gave nothing: fewer than 5
    assert "HCP, RGPH 2024" in html
    assert 'hx-ext="sse"' in html and f'sse-connect="/ballots/{bid}/results/stream"' in html
    assert 'hx-trigger="sse:results"' in html and f'hx-get="/ballots/{bid}/results/fragment"' in html
    assert html.index("vendor/htmx.min.js") < html.index("vendor/sse.js")
    assert f'href="/ballots/{bid}/results"' in html  # the Refresh link without JavaScript
    assert 'role="status"' in html
    # the stream answers EventSource only (route walkers and crawlers would wait for minutes)
    refused = await client.get(f"/ballots/{bid}/results/stream")
    assert refused.status_code == 406 and refused.text == "text/event-stream only (Server-Sent Events)"
    # French: left to right
    await client.get("/lang/fr")
    fr = (await client.get(f"/ballots/{bid}/results")).text
    assert fr.count('direction="ltr"') == 3 and 'direction="rtl"' not in fr
    # Arabic-Indic digits when the display preference asks for them
    await client.get("/lang/ar")
    client.cookies.set("civic_prefs", "digits-arab")
    arab = (await client.get(f"/ballots/{bid}/results")).text
    figures = t("%(votes)s votes · %(share)s") % {"votes": "\u2066٩\u2069", "share": "\u2066٧٥,٠%\u2069"}
    assert f'fill="#1b1b1b">{escape(figures)} · ' in arab  # the chart's figures (numbers isolated), then "winner"
    assert "<dd>١٢</dd>" in arab and "<dd>12</dd>" not in arab
    client.cookies.delete("civic_prefs")
    # the fragment announces the update, out of band
    fragment = await client.get(f"/ballots/{bid}/results/fragment", headers={"HX-Request": "true"})
    assert 'hx-swap-oob="true"' in fragment.text and "<html" not in fragment.text
    assert fragment.text.count("<svg") == 3
    # the API
    api = (await client.get(f"/api/v1/ballots/{bid}/results")).json()
    assert api["results_visible"] is True and api["census_credit"] == "HCP, RGPH 2024"
    first = api["questions"][0]
    assert [o["votes"] for o in first["options"]] == [9, 3, 0] and first["options"][0]["percent"] == 75.0
    assert {"dimension": "gender", "group": "man", "ballots": "<5"}.items() <= next(
        b for b in first["breakdown"] if b["group"] == "man").items()
    assert first["question_id"] == qs[0].id
    await session.commit()


async def test_results_page_while_hidden_says_when_and_shows_no_count(client, session) -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    phases = [{"kind": "voting", "start": -5, "end": 5, "votes_enabled": True},
              {"kind": "results", "start": 5, "end": 30, "results_visible": True}]
    _staff, cid, bid, _qs = await voted_ballot(session, now, phases)
    html = (await client.get(f"/ballots/{bid}/results")).text
    assert str(escape(t(results.HIDDEN_MESSAGE))) in html
    await client.get("/lang/fr")
    html = (await client.get(f"/ballots/{bid}/results")).text
    assert str(escape(tr("fr", results.HIDDEN_MESSAGE))) in html
    assert "<svg" not in html and "sse-connect" not in html and "vendor/sse.js" not in html
    assert "<table" not in html and "&lt;5" not in html
    shown = (now + timedelta(days=5)).astimezone(results.i18n.TIMEZONE)
    assert str(shown.year) in html and str(shown.day) in html  # "They will be shown from …"
    assert (await client.get(f"/api/v1/ballots/{bid}/results")).json() == {
        "ballot_id": bid, "consultation_id": cid, "title": TITLE, "results_visible": False,
        "shown_from": (now + timedelta(days=5)).astimezone(UTC).isoformat()}
    for fmt in ("csv", "xlsx", "pdf"):
        r = await client.get(f"/ballots/{bid}/results.{fmt}")
        assert r.status_code == 409 and str(escape(tr("fr", results_views.HIDDEN_EXPORT))) in r.text, fmt
    assert (await client.get(f"/ballots/{bid}/results/stream")).status_code == 404
    assert (await client.get("/ballots/999999/results")).status_code == 404
    assert (await client.get("/api/v1/ballots/999999/results")).status_code == 404
    assert (await client.get(f"/ballots/{bid}/results.doc")).status_code == 404
    await session.commit()


async def test_exports_csv_xlsx_pdf(client, session) -> None:  # type: ignore[no-untyped-def]
    formula_question = QuestionInput("هل توافقون على هذا الاختيار؟", "single_choice", f"{FORMULA}\nخيار آخر")
    _staff, _cid, bid, _qs = await voted_ballot(session, utcnow(), questions=(YES_NO, formula_question))
    r = await client.get(f"/ballots/{bid}/results.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == f'attachment; filename="ballot-{bid}-results-ar.csv"'
    assert r.content.startswith(b"\xef\xbb\xbf")
    text = r.content.decode("utf-8-sig")
    assert "'" + FORMULA.replace('"', '""') in text and "\n" + FORMULA not in text and "," + FORMULA not in text
    rows = list(csv.reader(io.StringIO(text)))
    assert any(row[:3] == ["1", QUESTION_AR, "نعم، لا أو امتناع"] or row[:2] == ["1", QUESTION_AR] for row in rows)
    assert any("<5" in row for row in rows)
    assert any("HCP, RGPH 2024" in cell for row in rows for cell in row)
    # XLSX: right to left in Arabic, left to right in French; numbers stay numbers, "<5" text
    book = openpyxl.load_workbook(io.BytesIO((await client.get(f"/ballots/{bid}/results.xlsx")).content))
    assert book.sheetnames == ["ballot", "questions", "options", "breakdown", "choices"]
    assert all(ws.sheet_view.rightToLeft for ws in book.worksheets)
    options = [row for row in book["options"].iter_rows(min_row=2, values_only=True)]
    assert options[0][3:7] == (9, 0, 9, 75.0)
    assert any(row[1] == "'" + FORMULA for row in options)
    assert any(cell == "<5" for row in book["breakdown"].iter_rows(values_only=True) for cell in row)
    await client.get("/lang/fr")
    book_fr = openpyxl.load_workbook(io.BytesIO((await client.get(f"/ballots/{bid}/results.xlsx")).content))
    assert not any(ws.sheet_view.rightToLeft for ws in book_fr.worksheets)
    await client.get("/lang/ar")
    # PDF in Arabic, with the charts
    pdf = await client.get(f"/ballots/{bid}/results.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    text = _pdf_text(pdf.content)
    # pdftotext gives the lam + alef maksura ligature of "على" back in the wrong order: the other words
    for word in ("هل", "توافقون", "خط", "النقل", "القروي"):
        assert word in text, (word, text[:300])
    assert "HCP, RGPH 2024" in text and "<5" in text
    await session.commit()
