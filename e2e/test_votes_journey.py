"""End-to-end journey of a vote with live results (issue #5), in headless Chromium, as the people involved would
drive it: a consultation's voting phase shows live results; six men have already voted no. An anonymous visitor
keeps the results page open in a second browser. A citizen registers, votes yes (giving her gender), sees her
receipt code once, changes her vote to no and gets a new code; council staff enter the paper tally sheet of the
forum meeting on its page. The visitor's results page follows every step by itself — no reload — through the
Server-Sent Events stream, and the breakdown table shows "<5" for the women (one voter). axe-core (WCAG 2.x A/AA)
runs on the voting, receipt, sheet and results pages in Arabic and French; the SVG chart is captured in both
languages into e2e/artifacts/ to be looked at.

Run: ``.venv/bin/pytest -q -p no:asyncio -W ignore::pytest.PytestConfigWarning e2e/test_votes_journey.py``
"""

from __future__ import annotations

import re
import secrets
import time
from datetime import timedelta

from playwright.sync_api import Browser, Page, expect
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from civic.accounts.models import User
from civic.consultations.models import Consultation, Meeting, Phase
from civic.db import utcnow
from civic.demo import DEMO_PASSWORD
from civic.permissions import Actor
from civic.votes import live, service
from e2e.conftest import (
    ARTIFACTS,
    LiveCivic,
    check_axe_wcag,
    expect_language,
    log_in,
    new_person,
    register,
    run_db,
    switch_language,
    tr,
)

PASSWORD = "e2e-votes-password-2026!"
COMMUNE = "05.091.01.01"  # Béni Mellal
QUESTION = "هل توافقون على إحداث خط نقل قروي منتظم بين الدواوير ومركز الجماعة؟"
RECEIPT = re.compile(r"^[23456789ABCDEFGHJKMNPQRSTVWXYZ]{5}-[23456789ABCDEFGHJKMNPQRSTVWXYZ]{5}$")
EARLY_VOTERS = 6  # men who voted no before the journey starts


def _seed(live_civic: LiveCivic) -> tuple[int, int, list[int]]:
    """A consultation whose current voting phase shows live results, its forum meeting, a ballot with one
    yes/no/abstain question, and six men's votes for no. Returns (ballot id, question id, option ids)."""

    async def work(session: AsyncSession) -> tuple[int, int, list[int]]:
        now = utcnow()
        staff_row = (await session.execute(select(User.id, User.role).where(
            User.email == "staff@demo.civic.ma"))).one()
        staff = Actor(staff_row.id, staff_row.role, "staff")
        cid = int((await session.execute(insert(Consultation).values(
            title="استشارة حول النقل القروي في إقليم بني ملال", summary="", body="نص الاستشارة. " * 10,
            scope="province", territory_code="05.091", addressed_to="council", support_limit=3,
            created_by=staff.user_id, created_at=now - timedelta(days=20), updated_at=now - timedelta(days=20),
        ).returning(Consultation.id))).scalar_one())
        await session.execute(insert(Phase).values(
            consultation_id=cid, kind="voting", starts_at=now - timedelta(days=1), ends_at=now + timedelta(days=6),
            votes_enabled=True, results_visible=True))
        await session.execute(insert(Meeting).values(
            consultation_id=cid, title="لقاء المنتدى بجماعة أولاد امبارك", mode="in_person", commune_code=COMMUNE,
            address="دار الجماعة", starts_at=now - timedelta(hours=6), ends_at=now - timedelta(hours=3),
            capacity=80, created_at=now - timedelta(days=10)))
        await session.commit()
        bid = await service.create_ballot(session, staff, cid, service.BallotInput(
            "التصويت على خط النقل القروي", "صوتوا بنعم أو لا أو امتنعوا."), now)
        qid = await service.add_question(session, staff, bid, service.QuestionInput(QUESTION, "yes_no_abstain"), now)
        page = await service.ballot_page(session, staff, bid, now)
        options = [o.id for o in page.questions[0].options]
        for i in range(EARLY_VOTERS):
            uid = int((await session.execute(insert(User).values(
                display_name=f"ناخب {i}", email=f"e2e-early-{i}-{secrets.token_hex(4)}@example.ma",
                password_hash="x", role="citizen", commune_code=COMMUNE, session_nonce=secrets.token_hex(8),
                created_at=now - timedelta(days=30)).returning(User.id))).scalar_one())
            await session.commit()
            await service.cast(session, Actor(uid, "citizen", f"ناخب {i}"), bid,
                               service.VoteInput({qid: [options[1]]}, gender="man", age_band="35-59"), now)
        return bid, qid, options

    return run_db(live_civic.settings, work)


def _row(page: Page, option: str) -> list[str]:
    """The cells (online, paper, votes, share, result) of an option's row in the first results table."""
    row = page.locator("table.results-table").first.locator("tbody tr").filter(
        has=page.locator("th", has_text=option))
    return [c.strip() for c in row.locator("td").all_inner_texts()]


def _wait_for_votes(page: Page, option: str, votes: str, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while _row(page, option)[2] != votes:
        assert time.monotonic() < deadline, \
            f"the results page did not update by itself: {option}: {_row(page, option)} never showed {votes} votes"
        page.wait_for_timeout(200)


def _vote(page: Page, base: str, bid: int, qid: int, option_id: int, gender: str | None = None) -> str:
    """Vote on the ballot page (no JavaScript needed) and return the receipt code shown once."""
    page.goto(f"{base}/ballots/{bid}")
    page.locator(f"#q{qid}-o{option_id}").check()
    if gender:
        page.locator(f"#gender-{gender}").check()
    page.locator("form.ballot-form button[type=submit]").click()
    code = page.locator(".receipt-code code").inner_text().strip()
    assert RECEIPT.match(code), code
    return code


def _chart(page: Page, lang: str) -> None:
    chart = page.locator("svg.results-chart").first
    expect(chart).to_have_attribute("direction", "rtl" if lang == "ar" else "ltr")
    expect(chart).to_have_attribute("role", "img")
    ARTIFACTS.mkdir(exist_ok=True)
    chart.screenshot(path=str(ARTIFACTS / f"results-chart-{lang}.png"))


def test_vote_receipt_change_paper_sheet_and_live_results(browser: Browser, live_civic: LiveCivic) -> None:
    base = live_civic.base_url
    bid, qid, (yes, no, abstain) = _seed(live_civic)
    yes_ar, no_ar = tr("ar", "Yes"), tr("ar", "No")

    # the visitor opens the results: six votes for no, the men's group counted, the stream connected
    watcher = new_person(browser, base, "ar")
    watcher.goto(f"{base}/ballots/{bid}/results")
    expect_language(watcher, "ar")
    assert _row(watcher, no_ar)[2] == "6" and _row(watcher, yes_ar)[2] == "0"
    watcher.evaluate("() => { window.__sameDocument = true; }")  # gone if the page reloads
    deadline = time.monotonic() + 10
    while live.LOCAL.count() < 1:  # the page's EventSource is subscribed (the server runs in this process)
        assert time.monotonic() < deadline, "the results page did not open its live stream"
        time.sleep(0.1)
    check_axe_wcag(watcher, "results page (ar)")
    _chart(watcher, "ar")

    # a citizen votes yes, giving her gender, and sees her receipt once
    citizen = new_person(browser, base, "ar")
    register(citizen, base, "سعاد أيت حمو", f"e2e-voter-{secrets.token_hex(6)}@example.ma", PASSWORD, COMMUNE)
    citizen.goto(f"{base}/ballots/{bid}")
    check_axe_wcag(citizen, "ballot page with the voting form (ar)")
    first_code = _vote(citizen, base, bid, qid, yes, gender="woman")
    check_axe_wcag(citizen, "receipt page (ar)")
    _wait_for_votes(watcher, yes_ar, "1")
    expect(watcher.locator("#results-status")).not_to_be_empty()  # "Results updated at …", read out politely
    # the breakdown: one woman is "<5"; the six men too (complementary suppression: the total minus 6 would
    # give her away)
    gender_table = watcher.locator("table.breakdown-table").first
    women = gender_table.locator("tbody tr").filter(has=watcher.locator("th", has_text=tr("ar", "Women")))
    men = gender_table.locator("tbody tr").filter(has=watcher.locator("th", has_text=tr("ar", "Men")))
    expect(women.locator("td").first).to_have_text("<5")
    expect(men.locator("td").first).to_have_text("<5")

    # she changes her vote: a new code, and the results follow
    second_code = _vote(citizen, base, bid, qid, no)
    assert second_code != first_code
    _wait_for_votes(watcher, yes_ar, "0")
    _wait_for_votes(watcher, no_ar, "7")
    citizen.goto(f"{base}/ballots/{bid}")
    assert first_code not in citizen.content() and second_code not in citizen.content()  # shown once only

    # staff enter the paper sheet of the forum meeting
    staff = new_person(browser, base, "ar")
    log_in(staff, base, "staff@demo.civic.ma", DEMO_PASSWORD)
    staff.goto(f"{base}/ballots/{bid}/sheets?question={qid}")
    check_axe_wcag(staff, "paper tally sheets (ar)")
    staff.locator("#reference").fill("BM-2026-031")
    staff.locator(f"#count_{yes}").fill("12")
    staff.locator(f"#count_{no}").fill("3")
    staff.locator(f"#count_{abstain}").fill("1")
    staff.locator("#blank").fill("0")
    staff.locator("#invalid").fill("0")
    staff.locator("#sheet-form button[type=submit]").click()
    expect(staff.locator(".notice.success")).to_be_visible()
    _wait_for_votes(watcher, yes_ar, "12")
    _wait_for_votes(watcher, no_ar, "10")
    assert _row(watcher, yes_ar)[:2] == ["0", "12"]  # online, paper
    assert watcher.evaluate("() => window.__sameDocument === true"), "the results page reloaded"
    check_axe_wcag(watcher, "results page after live updates (ar)")
    watcher.set_viewport_size({"width": 360, "height": 800})  # a phone: the tables scroll, the page does not
    assert watcher.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"), "sideways scroll"
    watcher.set_viewport_size({"width": 1280, "height": 800})

    # French: left to right, axe clean, the chart captured
    switch_language(watcher, "fr")
    _chart(watcher, "fr")
    check_axe_wcag(watcher, "results page (fr)")
    assert _row(watcher, tr("fr", "Yes"))[2] == "12"
    switch_language(citizen, "fr")
    citizen.goto(f"{base}/ballots/{bid}")
    check_axe_wcag(citizen, "ballot page with the vote (fr)")
    for page in (watcher, citizen, staff):
        page.context.close()
