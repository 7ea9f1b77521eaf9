"""End-to-end journey through a regional forum consultation (issue #4), in headless Chromium.

Council staff create a consultation, give it dated phases, attach a PDF and plan a forum meeting; a citizen
registers for the meeting asking for sign-language interpretation and submits a proposal; other people support
and comment on it; staff end the proposals phase, after which a support is refused with a clear message even
from a page opened before; staff answer the proposal and the answer shows publicly. axe-core (WCAG 2.x A and
AA) runs on every page visited, in Arabic and in French.

Run: ``.venv/bin/pytest e2e -q -p no:asyncio``
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from playwright.sync_api import Browser, Page, expect

from civic.db import utcnow
from civic.demo import DEMO_PASSWORD
from e2e.conftest import LiveCivic, check_axe_wcag, log_in, new_person, screenshot, tr

CASABLANCA = ZoneInfo("Africa/Casablanca")
TAG = secrets.token_hex(3)
TITLE = f"منتدى جهوي حول الماء والفلاحة الصغيرة {TAG}"
SUMMARY = "استشارة حول تدبير الماء في الدواوير والضيعات الصغيرة قبل إعداد برنامج التنمية الجهوية."
BODY = ("يدعو مجلس الجهة المواطنات والمواطنين إلى تقديم مقترحاتهم حول تدبير الماء الصالح للشرب ومياه السقي "
        "في الدواوير والضيعات الصغيرة، وسيدرس المجلس كل مقترح ويجيب عنه علنا.")
MEETING = f"اللقاء التشاوري بأزيلال {TAG}"
PROPOSAL = f"Citernes collectives pour les douars de montagne {TAG}"
PROPOSAL_BODY = ("Installer des citernes collectives couvertes dans les douars de montagne d'Azilal, "
                 "gérées par les associations locales, pour l'eau potable en été.")
COMMENT = "مقترح مهم، ويجب إشراك النساء في لجان تدبير الخزانات."
ANSWER = "Le conseil retient cette proposition et l'inscrit au programme de développement régional 2027."
# A minimal, valid one-page PDF (the upload check reads its first bytes).
PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
       b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")


def local(moment: datetime) -> str:
    """The value a ``datetime-local`` input takes for ``moment``, in Morocco time."""
    return moment.astimezone(CASABLANCA).strftime("%Y-%m-%dT%H:%M")


def visit(page: Page, url: str, label: str) -> None:
    page.goto(url)
    check_axe_wcag(page, label)


def add_phase(page: Page, base: str, consultation: str, kind: str, starts: datetime, ends: datetime) -> None:
    """Staff add a phase with the usual settings of its kind (the ``?kind=`` link pre-ticks them)."""
    visit(page, f"{base}{consultation}/phases?kind={kind}", f"phases ({kind})")
    page.locator("#kind").select_option(kind)
    page.locator("#starts_at").fill(local(starts))
    page.locator("#ends_at").fill(local(ends))
    page.locator("#phase-form button[type=submit]").click()
    expect(page.locator(".notice.success, [role=status]").first).to_be_visible()
    check_axe_wcag(page, f"phase {kind} added")


def test_consultation_journey(browser: Browser, live_civic: LiveCivic, tmp_path) -> None:  # type: ignore[no-untyped-def]
    base = live_civic.base_url
    now = utcnow()

    # 1. Council staff (Arabic) create the consultation.
    staff = new_person(browser, base, "ar")
    log_in(staff, base, "staff@demo.civic.ma", DEMO_PASSWORD)
    visit(staff, f"{base}/consultations/new", "new consultation (ar)")
    staff.locator("#title").fill(TITLE)
    staff.locator("#summary").fill(SUMMARY)
    staff.locator("#body").fill(BODY)
    staff.locator("input[name=scope][value=region]").check()
    staff.locator("#addressed_to-council").check()
    staff.locator("#support_limit").fill("2")
    staff.locator("form button[type=submit]").last.click()
    expect(staff).to_have_url(re.compile(r"/consultations/\d+$"))
    consultation = re.sub(r"^https?://[^/]+", "", staff.url)
    expect(staff.locator("h1")).to_contain_text(TITLE)
    check_axe_wcag(staff, "consultation created (ar)")

    # 2. Dated phases: information (over), proposals (now).
    add_phase(staff, base, consultation, "information", now - timedelta(days=3), now - timedelta(hours=2))
    add_phase(staff, base, consultation, "proposals", now - timedelta(hours=2), now + timedelta(days=10))

    # 3. A PDF document.
    pdf = tmp_path / "note.pdf"
    pdf.write_bytes(PDF)
    visit(staff, f"{base}{consultation}/documents", "documents (ar)")
    staff.locator("#title").fill("مذكرة تقديمية")
    staff.locator("input[type=file]").set_input_files(str(pdf))
    staff.locator("form[enctype] button[type=submit]").click()
    expect(staff.get_by_text("مذكرة تقديمية").first).to_be_visible()
    check_axe_wcag(staff, "document uploaded (ar)")

    # 4. A forum meeting in person, in Azilal.
    visit(staff, f"{base}{consultation}/meetings/new", "new meeting (ar)")
    staff.locator("#title").fill(MEETING)
    staff.locator("input[name=mode][value=in_person]").check()
    staff.locator("#commune_code").select_option("05.081.01.01")
    staff.locator("#address").fill("دار الشباب، شارع الحسن الثاني، أزيلال")
    staff.locator("#starts_at").fill(local(now + timedelta(days=5)))
    staff.locator("#ends_at").fill(local(now + timedelta(days=5, hours=3)))
    staff.locator("#capacity").fill("40")
    staff.locator("form button[type=submit]").last.click()
    expect(staff).to_have_url(re.compile(r"/meetings/\d+$"))
    meeting = re.sub(r"^https?://[^/]+", "", staff.url)
    check_axe_wcag(staff, "meeting created (ar)")

    # 5. A citizen (French) finds the consultation, registers for the meeting with a sign-language need.
    citizen = new_person(browser, base, "fr")
    log_in(citizen, base, "citizen@demo.civic.ma", DEMO_PASSWORD)
    visit(citizen, f"{base}/consultations", "consultations list (fr)")
    citizen.get_by_role("link", name=TITLE).first.click()
    check_axe_wcag(citizen, "consultation page (fr)")
    citizen.locator(f"a[href$='{meeting}']").first.click()
    check_axe_wcag(citizen, "meeting page (fr)")
    citizen.locator("#sign_language").check()
    citizen.get_by_role("button", name=tr("fr", "Register for this meeting")).click()
    expect(citizen.get_by_text(tr("fr", "You are registered.")).first).to_be_visible()
    expect(citizen.get_by_text(tr("fr", "Sign-language interpretation")).first).to_be_visible()
    check_axe_wcag(citizen, "registered (fr)")

    # 6. She submits a proposal.
    visit(citizen, f"{base}{consultation}/proposals/new", "new proposal (fr)")
    citizen.locator("#title").fill(PROPOSAL)
    citizen.locator("#body").fill(PROPOSAL_BODY)
    citizen.locator("#category").select_option("water_environment")
    citizen.locator("form button[type=submit]").last.click()
    expect(citizen).to_have_url(re.compile(r"/proposals/\d+$"))
    proposal = re.sub(r"^https?://[^/]+", "", citizen.url)
    expect(citizen.locator("h1")).to_contain_text(PROPOSAL)
    check_axe_wcag(citizen, "proposal published (fr)")

    # 7. Youssef (Arabic) supports it (htmx: the count and the live region change) and comments.
    youssef = new_person(browser, base, "ar")
    log_in(youssef, base, "citizen2@demo.civic.ma", DEMO_PASSWORD)
    visit(youssef, f"{base}{proposal}", "proposal (ar)")
    expect(youssef.locator(".support-count")).to_have_attribute("data-count", "0")
    youssef.locator("#support-button").click()
    expect(youssef.locator(".support-count")).to_have_attribute("data-count", "1")
    expect(youssef.locator("#support-status")).not_to_be_empty()
    expect(youssef.locator("#support-button")).to_have_text(tr("ar", "Withdraw my support"))
    check_axe_wcag(youssef, "supported (ar)")
    youssef.locator("#comment-stance-for").check()
    youssef.locator("#comment-body").fill(COMMENT)
    youssef.get_by_role("button", name=tr("ar", "Publish the comment")).click()
    expect(youssef.get_by_text(COMMENT)).to_be_visible()
    check_axe_wcag(youssef, "commented (ar)")

    # 8. Jamila (French) opens the proposal page while supports are still open...
    jamila = new_person(browser, base, "fr")
    log_in(jamila, base, "cso@demo.civic.ma", DEMO_PASSWORD)
    visit(jamila, f"{base}{proposal}", "proposal (fr)")
    expect(jamila.locator("#support-button")).to_be_visible()

    # 9. ...staff look at the organisers' page (the sign-language need is counted), then end the phase.
    visit(staff, f"{base}{meeting}/registrations", "meeting registrations (ar)")
    expect(staff.locator("main")).to_contain_text(tr("ar", "Sign-language interpretation"))
    visit(staff, f"{base}{consultation}/phases", "phases (ar)")
    staff.get_by_role("link", name=tr("ar", "Edit this phase")).last.click()
    staff.locator("#ends_at").fill(local(utcnow() - timedelta(minutes=2)))
    staff.locator("#phase-form button[type=submit]").click()
    check_axe_wcag(staff, "phase edited (ar)")
    add_phase(staff, base, consultation, "deliberation", utcnow() - timedelta(minutes=2), now + timedelta(days=20))

    # 10. Jamila's click on the page she opened before is refused with a clear message; nothing is counted.
    jamila.locator("#support-button").click()
    expect(jamila.get_by_text(tr("fr", "Supports are not open in the current phase of this consultation.")).first
           ).to_be_visible()
    expect(jamila.locator(".support-count")).to_have_attribute("data-count", "1")
    check_axe_wcag(jamila, "support refused (fr)")
    jamila.reload()
    expect(jamila.locator("#support-button")).to_have_count(0)
    check_axe_wcag(jamila, "proposal after the phase change (fr)")

    # 11. Staff publish the official answer; the author and anyone else see it.
    visit(staff, f"{base}{proposal}", "proposal as staff (ar)")
    staff.locator("#answer-status").select_option("accepted")
    staff.locator("#answer-body").fill(ANSWER)
    staff.locator("#answer-body").locator("xpath=ancestor::form").locator("button[type=submit]").click()
    expect(staff.get_by_text(ANSWER).first).to_be_visible()
    check_axe_wcag(staff, "answered (ar)")
    for lang in ("ar", "fr"):
        visitor = new_person(browser, base, lang)
        visit(visitor, f"{base}{proposal}", f"answered proposal, anonymous ({lang})")
        expect(visitor.locator("#answers")).to_contain_text(ANSWER)
        screenshot(visitor, f"consultation-journey-proposal-{lang}")
        visit(visitor, f"{base}{consultation}", f"consultation, anonymous ({lang})")
        screenshot(visitor, f"consultation-journey-consultation-{lang}")
        visitor.context.close()
    for person in (staff, citizen, youssef, jamila):
        person.context.close()
