"""End-to-end journey through a petition's whole life in headless Chromium, as the people involved would
drive it: an association registers and is verified by council staff, files a petition and publishes it,
invites a member who collects paper signatures, is refused submission while one province is short of its
minimum, is accepted one signature later (receipt PDF), and council staff examine, admit and answer it;
an anonymous visitor then reads the public timeline and the answer. axe-core runs on every page visited,
in Arabic, and the key pages also in French.

Run: ``.venv/bin/pytest e2e -q -p no:asyncio``
"""

from __future__ import annotations

import re
import secrets
import subprocess
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from civic.accounts.models import User
from civic.db import utcnow
from civic.demo import DEMO_PASSWORD
from civic.permissions import Actor
from civic.petitions import lifecycle, paper
from civic.security import Keys
from civic.territories.models import Territory
from e2e.conftest import (
    TIMEOUT_MS,
    LiveCivic,
    check_axe,
    expect_language,
    register,
    run_db,
    screenshot,
    sign_in,
    sign_out,
    signature_count,
    switch_language,
    tr,
)

PASSWORD = "e2e-password-2026!"
KHENIFRA = "05.301"
OTHER_PROVINCES = ("05.091", "05.081", "05.255", "05.311")  # Béni Mellal, Azilal, Fquih Ben Salah, Khouribga
THRESHOLD, PROVINCE_MINIMUM = 400, 20  # Béni Mellal-Khénifra: 2.5 million inhabitants → 400, 5% → 20

# made-up identities and texts
REP_NAME = "ليلى أوعلي"
MEMBER_NAME = "حميد أمهروق"
ORG_NAME_AR = "جمعية واد سرو للتنمية والثقافة"
ORG_NAME_FR = "Association Oued Srou pour le développement et la culture"
ORG_REF = "RD-KH-2016-0042"
ORG_FOUNDED = "2016-09-14"
ORG_SEAT = "05.301.01.01"
ORG_ACTIVITY = "تنشيط الحياة الثقافية ومواكبة الشباب في جماعات إقليم خنيفرة، وتنظيم قوافل للتوعية بالحقوق."
PETITION_TITLE = "إحداث خط نقل جهوي يربط الجماعات الجبلية لإقليم خنيفرة بمدينة بني ملال"
PETITION_BODY = (
    "نطلب من مجلس الجهة إدراج نقطة إحداث خط نقل جهوي منتظم يربط الجماعات الجبلية لإقليم خنيفرة بمدينة بني ملال "
    "في جدول أعمال دورته المقبلة.\n\n"
    "يضطر سكان هذه الجماعات إلى قطع مسافات طويلة للوصول إلى المستشفى الجهوي والجامعة والإدارات."
)
DOCUMENT_REFS = "النظام الأساسي المصادق عليه 2016؛ الوصل النهائي رقم 0042؛ شهادة السلطة المحلية 2025"
SESSION_LABEL = "الدورة العادية لشهر مارس 2027"
COMMITTEE = "لجنة التجهيز والنقل"
ANSWER = ("قرر المجلس إدراج دراسة خط النقل الجهوي في برنامج عمل الجهة، وتكليف لجنة التجهيز والنقل بإعداد دفتر "
          "التحملات قبل نهاية السنة.\n\nسيتم إشراك الجمعيات المعنية في تتبع التنفيذ.")
PAPER_SIGNATORIES = (("إيطو أوحسين", "KH 200301"), ("موحى أزايو", "kh200302"), ("عائشة ألحيان", "KH200303"))
LAST_SIGNATORY = ("يامنة أوبركة", "KH200304")
FIRST_NAMES = ("أحمد", "فاطمة", "محمد", "خديجة", "يوسف", "مريم", "عمر", "زينب", "إدريس", "سعاد", "حسن", "نعيمة")
FAMILY_NAMES = ("العلوي", "أمزيان", "بنعلي", "الإدريسي", "أوعمر", "الحسني", "الفاسي", "أيت علي", "الشرقاوي")



def _reload_until_count(page: Page, url: str, expected: int) -> None:
    """Open ``url`` until the petition shows ``expected`` signatures. The public figure is cached for up to 2 s
    per process (issue #8, civic.petitions.counts), as a person refreshing the page would see it."""
    for _ in range(20):
        page.goto(url)
        if signature_count(page) == expected:
            return
        page.wait_for_timeout(250)
    assert signature_count(page) == expected

def _email(tag: str) -> str:
    return f"e2e-{tag}-{secrets.token_hex(6)}@example.ma"


@contextmanager
def _person(browser: Browser) -> Iterator[Page]:
    """A separate browser (own cookies) for one person of the journey."""
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def _nav(page: Page, path: str) -> None:
    """Follow the main menu's link to ``path`` (exact href: other links carry ``?next=<this path>``)."""
    page.locator(f"nav.main-nav a[href='{path}']").click()
    expect(page).to_have_url(re.compile(rf"{re.escape(path)}(#.*)?$"))


def _checked(page: Page, label: str, lang: str = "ar") -> None:
    """The page is in ``lang`` and has no serious or critical axe violation."""
    expect_language(page, lang)
    check_axe(page, f"{label} ({lang})")


def _in_french(page: Page, label: str, shot: str | None = None) -> None:
    """Switch the page to French with the language links, check it with axe (and screenshot), switch back."""
    switch_language(page, "fr")
    _checked(page, label, "fr")
    if shot:
        screenshot(page, shot)
    switch_language(page, "ar")


def _expect_status(page: Page, lang: str, status: str) -> None:
    """The petition's facts show ``status`` (a status code), in ``lang``."""
    shown = page.locator("article.petition dl.facts > div").first.locator("dd")
    expect(shown).to_have_text(tr(lang, lifecycle.STATUS_LABELS[status]))


def _api(page: Page, base: str, petition_id: int) -> dict[str, Any]:
    """The public API's view of a petition (server-side truth, independent of the page)."""
    response = page.request.get(f"{base}/api/v1/petitions/{petition_id}")
    assert response.ok, response.status
    data: dict[str, Any] = response.json()
    return data


def _enter_paper_signature(page: Page, sheet_ref: str, name: str, cnie: str, commune: str,
                           expected_rows: int) -> None:
    """Type one signature into the collector's form and wait for the success message and the new row.
    The sheet reference is typed only when the form does not already hold it (it is kept between entries)."""
    area = page.locator("#paper-area")
    if area.locator("#sheet_ref").input_value() != sheet_ref:
        area.locator("#sheet_ref").fill(sheet_ref)
    area.locator("#full_name").fill(name)
    area.locator("#cnie").fill("")
    area.locator("#cnie").press_sequentially(cnie)
    area.locator("#commune_code").select_option(value=commune)
    if area.locator("#electoral_declaration").count():
        area.locator("#electoral_declaration").check()
    area.locator("#consent").check()
    area.locator("form").get_by_role("button").click()
    rows = page.locator("#paper-area table tbody tr")
    expect(rows).to_have_count(min(expected_rows, paper.RECENT_LIMIT))
    expect(rows.first).to_contain_text(name)  # newest first
    result = page.locator("#sign-result")
    expect(result).to_have_text(tr("ar", "The signature is recorded. You can enter the next one."))
    expect(result).to_have_attribute("role", "status")
    expect(page.locator("#paper-area #full_name")).to_have_value("")  # ready for the next one
    expect(page.locator("#paper-area #sheet_ref")).to_have_value(sheet_ref)  # kept for the next entry


def _sheet(khenifra: int, per_province: dict[str, int], communes: dict[str, list[str]]) -> bytes:
    """A CSV sheet of made-up signatories: ``khenifra`` in Khénifra and ``per_province[p]`` in each other one."""
    lines = ["full_name,cnie,commune_code,sheet_ref,consent,electoral_declaration"]
    n = 0
    for province, count in ((KHENIFRA, khenifra), *per_province.items()):
        for i in range(count):
            n += 1
            name = f"{FIRST_NAMES[n % len(FIRST_NAMES)]} {FAMILY_NAMES[n // len(FIRST_NAMES) % len(FAMILY_NAMES)]}"
            commune = communes[province][i % len(communes[province])]
            lines.append(f"{name},QA{n:06d},{commune},F-{province}-{1 + i // 25:03d},yes,yes")
    return ("\n".join(lines) + "\n").encode()


def _seed_arrivals(live: LiveCivic, petition_id: int, member_email: str) -> paper.ImportReport:
    """397 paper signatures arrive: imported through the real service by the member (linked collector),
    16 in Khénifra and the rest over the other four provinces, each well above its minimum."""
    async def work(session: AsyncSession) -> paper.ImportReport:
        async with session.begin():
            member = (await session.execute(select(User.id, User.role, User.display_name)
                                            .where(User.email == member_email))).one()
            rows = await session.execute(select(Territory.code, Territory.province_code).where(
                Territory.region_code == live.settings.region, Territory.kind == "commune").order_by(Territory.code))
        communes: dict[str, list[str]] = defaultdict(list)
        for code, province in rows:
            if province is not None:
                communes[province].append(code)
        content = _sheet(16, {"05.091": 96, "05.081": 95, "05.255": 95, "05.311": 95}, communes)
        assert member.role == "cso_member", member  # accepting the invitation made the citizen a member
        actor = Actor(member.id, member.role, member.display_name)
        return await paper.import_sheet(session, actor, Keys(live.settings.secret_key), petition_id,
                                        "arrivals.csv", content, utcnow())

    return run_db(live.settings, work)


def test_association_petition_lifecycle(browser: Browser, live_civic: LiveCivic) -> None:
    base = live_civic.base_url
    rep_email, member_email = _email("rep"), _email("member")

    with _person(browser) as rep, _person(browser) as staff, _person(browser) as admin, \
            _person(browser) as member:

        # --- 1. a new person registers, then registers an association as its legal representative --------------
        rep.goto(f"{base}/")
        _checked(rep, "home")
        register(rep, base, REP_NAME, rep_email, PASSWORD, "05.301.01.01", axe_label="register (ar)")
        _checked(rep, "home, signed in")
        _nav(rep, "/organisations")
        expect(rep).to_have_url(f"{base}/organisations")
        _checked(rep, "associations")
        rep.locator("main a[href$='/organisations/new']").click()
        expect(rep).to_have_url(f"{base}/organisations/new")
        _checked(rep, "register an association")
        _in_french(rep, "register an association")
        rep.locator("#name_ar").fill(ORG_NAME_AR)
        rep.locator("#name_fr").fill(ORG_NAME_FR)
        rep.locator("#registration_ref").fill(ORG_REF)
        rep.locator("#founded_on").fill(ORG_FOUNDED)
        rep.locator("#seat_commune_code").select_option(value=ORG_SEAT)
        rep.locator("#activity").fill(ORG_ACTIVITY)
        rep.locator("main form").get_by_role("button").click()
        expect(rep).to_have_url(re.compile(rf"^{re.escape(base)}/organisations/\d+$"))
        org_id = int(rep.url.rsplit("/", 1)[1])
        org_url = f"{base}/organisations/{org_id}"
        expect(rep.locator("main h1")).to_have_text(ORG_NAME_AR)
        verification = rep.locator("main dl.facts > div").first.locator("dd")
        expect(verification).to_have_text(tr("ar", "awaiting verification"))
        members = rep.locator("section[aria-labelledby='members-heading'] li")
        expect(members).to_have_count(1)
        expect(members).to_contain_text(REP_NAME)
        expect(members).to_contain_text(tr("ar", "legal representative"))
        # not verified yet: no petition can be filed for it
        expect(rep.locator(f"main a[href$='/petitions/new?organisation_id={org_id}']")).to_have_count(0)
        _checked(rep, "association page, representative, pending")

        # --- 2. council staff verify the association ------------------------------------------------------------
        staff.goto(f"{base}/")
        _checked(staff, "home, anonymous")
        sign_in(staff, base, "staff@demo.civic.ma", DEMO_PASSWORD, axe_label="login (ar)")
        _checked(staff, "home, staff")
        _nav(staff, "/staff")
        expect(staff).to_have_url(f"{base}/staff")
        _checked(staff, "staff dashboard")
        staff.locator(f"section[aria-labelledby='orgs-heading'] a[href$='/organisations/{org_id}']").click()
        expect(staff).to_have_url(org_url)
        _checked(staff, "association page, staff, pending")
        for check in ("constituted_over_3_years", "democratic_statutes", "good_standing", "seat_in_region"):
            staff.locator(f"#{check}").check()
        staff.locator("#document_refs").fill(DOCUMENT_REFS)
        staff.locator(f"form[action$='/organisations/{org_id}/verify']").get_by_role("button").click()
        expect(staff).to_have_url(org_url)
        expect(staff.locator("main p.notice.success[role='status']")).to_have_text(
            tr("ar", "The verification has been recorded."))
        expect(staff.locator("main dl.facts > div").first.locator("dd")).to_have_text(tr("ar", "verified"))
        history = staff.locator("section[aria-labelledby='verify-heading'] table tbody tr")
        expect(history).to_have_count(1)
        expect(history).to_contain_text(tr("ar", "verified"))
        expect(history).to_contain_text(DOCUMENT_REFS)
        _checked(staff, "association page, staff, verified")
        screenshot(staff, "lifecycle-association-staff-ar")
        _in_french(staff, "association page, staff, verified", shot="lifecycle-association-staff-fr")
        _nav(staff, "/staff")
        expect(staff.locator(f"section[aria-labelledby='orgs-heading'] a[href$='/organisations/{org_id}']")
               ).to_have_count(0)
        _checked(staff, "staff dashboard, association verified")

        # --- 3. the representative files an association petition and publishes it ------------------------------
        rep.reload()
        expect(verification).to_have_text(tr("ar", "verified"))
        expect(rep.locator(f"main a[href$='/petitions/new?organisation_id={org_id}']")).to_be_visible()
        _checked(rep, "association page, representative, verified")
        _nav(rep, "/petitions/new")
        expect(rep).to_have_url(f"{base}/petitions/new")
        _checked(rep, "new petition")
        _in_french(rep, "new petition")
        rep.locator("#title").fill(PETITION_TITLE)
        rep.locator("#body").fill(PETITION_BODY)
        filed_by = rep.get_by_role("group", name=tr("ar", "Filed by"))
        expect(filed_by.get_by_role("radio")).to_have_count(2)
        expect(rep.locator("#organisation_id-none")).to_be_checked()  # a citizens' petition unless chosen
        filed_by.get_by_role("radio", name=re.compile(re.escape(ORG_NAME_AR))).check()
        expect(rep.locator(f"#organisation_id-{org_id}")).to_be_checked()
        rep.locator("main form").get_by_role("button").click()
        expect(rep).to_have_url(re.compile(rf"^{re.escape(base)}/petitions/\d+$"))
        petition_id = int(rep.url.rsplit("/", 1)[1])
        petition_url = f"{base}/petitions/{petition_id}"
        _expect_status(rep, "ar", "draft")
        procedure = rep.locator("section.procedure")
        expect(procedure.locator("dl.facts > div").first.locator("dd")).to_have_text(tr("ar", "Association petition"))
        expect(procedure.locator(f"a[href$='/organisations/{org_id}']")).to_have_text(ORG_NAME_AR)
        _checked(rep, "petition draft")
        rep.locator(f"form[action$='/petitions/{petition_id}/transition/collecting']").get_by_role("button").click()
        expect(rep).to_have_url(f"{petition_url}#timeline")
        _expect_status(rep, "ar", "collecting")
        api = _api(rep, base, petition_id)
        assert api["status"] == "collecting", api
        assert (api["threshold"], api["province_minimum"]) == (THRESHOLD, PROVINCE_MINIMUM), api
        _checked(rep, "petition collecting, representative")

        # --- 4. the representative invites a member; the member accepts; the member is linked as collector --------
        rep.goto(org_url)
        _checked(rep, "association page before inviting")
        rep.locator("#email").fill(member_email)
        rep.locator(f"form[action$='/organisations/{org_id}/invite']").get_by_role("button").click()
        expect(rep).to_have_url(org_url)
        expect(rep.locator("main p.notice.success[role='status']")).to_have_text(
            tr("ar", "The invitation has been sent."))
        _checked(rep, "association page, invitation sent")

        admin.goto(f"{base}/")
        sign_in(admin, base, "admin@demo.civic.ma", DEMO_PASSWORD)
        _checked(admin, "home, admin")
        _nav(admin, "/staff")
        _checked(admin, "staff dashboard, admin")
        admin.locator("main a[href$='/admin/outbox']").click()
        expect(admin).to_have_url(f"{base}/admin/outbox")
        _checked(admin, "outbox")
        message = admin.locator("table tbody tr").filter(has_text=member_email)
        expect(message).to_have_count(1)
        message.locator("summary").click()
        body = message.locator("pre")
        expect(body).to_be_visible()
        _checked(admin, "outbox, message open")
        # the mail says it in each language, with the same link
        links = set(re.findall(r"https?://\S+/invitations/[\w.\-]+", body.inner_text()))
        assert len(links) == 1, body.inner_text()
        invitation_link = links.pop()
        assert invitation_link.startswith(f"{base}/invitations/"), invitation_link

        member.goto(f"{base}/")
        register(member, base, MEMBER_NAME, member_email, PASSWORD, "05.301.01.01")
        _checked(member, "home, member signed in")
        member.goto(invitation_link)
        _checked(member, "invitation")
        member.locator("main form").get_by_role("button").click()
        expect(member).to_have_url(org_url)
        _checked(member, "association page, member")

        rep.goto(org_url)
        expect(members).to_have_count(2)
        expect(members.filter(has_text=MEMBER_NAME)).to_contain_text(tr("ar", "member"))
        _checked(rep, "association page with two members")
        collect = rep.locator(f"form[action$='/organisations/{org_id}/collectors']")
        collect.locator("#user_id").select_option(label=MEMBER_NAME)
        collect.locator("#petition_id").select_option(value=str(petition_id))
        collect.get_by_role("button").click()
        expect(rep).to_have_url(org_url)
        expect(rep.locator("main p.notice.success[role='status']")).to_have_text(
            tr("ar", "The member can now enter paper signatures for that petition."))
        _checked(rep, "association page, collector linked")

        # --- 5. the member enters three paper signatures from Khénifra ---------------------------------------------
        # (no page links to the entry form: the collector is given its address)
        member.goto(f"{petition_url}/paper")
        _checked(member, "paper entry, empty")
        expect(member.locator("#paper-area table")).to_have_count(0)
        khenifra_communes = member.locator(f"#commune_code option[value^='{KHENIFRA}.']").evaluate_all(
            "options => options.map(o => o.value)")
        assert len(khenifra_communes) >= 4, khenifra_communes
        member.locator("#channel-paper").check()
        for i, (name, cnie) in enumerate(PAPER_SIGNATORIES):
            _enter_paper_signature(member, "F-KH-001", name, cnie, khenifra_communes[i], expected_rows=i + 1)
        _checked(member, "paper entry, three signatures entered")
        screenshot(member, "lifecycle-paper-entry-ar")
        _in_french(member, "paper entry, three signatures entered", shot="lifecycle-paper-entry-fr")

        # --- 6. 397 signatures arrive (imported through the service by the member) ---------------------------------
        report = _seed_arrivals(live_civic, petition_id, member_email)
        assert (report.accepted_count, report.rejected_count) == (397, 0), report.rejected[:5]
        api = _api(rep, base, petition_id)
        assert api["signature_count"] == THRESHOLD, api
        assert api["signatures_by_province"][KHENIFRA] == PROVINCE_MINIMUM - 1, api
        assert all(api["signatures_by_province"][p] >= PROVINCE_MINIMUM for p in OTHER_PROVINCES), api

        # --- 7. submission refused (Khénifra short by one), then accepted one signature later ----------------------
        _reload_until_count(rep, petition_url, THRESHOLD)
        _checked(rep, "petition at the threshold")
        submit = rep.locator(f"form[action$='/petitions/{petition_id}/transition/submitted']")
        expect(submit.get_by_role("button")).to_have_text(tr("ar", "Submit to the council president"))
        submit.get_by_role("button").click()
        error = rep.locator("#action-error")
        expect(error).to_have_text(
            tr("ar", "The petition cannot be submitted before every province reaches its minimum."))
        expect(error).to_have_attribute("role", "alert")
        _expect_status(rep, "ar", "collecting")
        assert _api(rep, base, petition_id)["status"] == "collecting"
        _checked(rep, "submission refused")

        member.reload()
        _enter_paper_signature(member, "F-KH-002", *LAST_SIGNATORY, khenifra_communes[3], expected_rows=401)
        assert _api(rep, base, petition_id)["signatures_by_province"][KHENIFRA] == PROVINCE_MINIMUM
        _checked(member, "paper entry, fourth signature")

        _reload_until_count(rep, petition_url, THRESHOLD + 1)
        rep.locator(f"form[action$='/petitions/{petition_id}/transition/submitted']").get_by_role("button").click()
        expect(rep).to_have_url(f"{petition_url}#timeline")
        _expect_status(rep, "ar", "submitted")
        assert _api(rep, base, petition_id)["status"] == "submitted"
        receipt = rep.locator("section.procedure dd bdi[dir='ltr']")
        expect(receipt).to_have_text(re.compile(rf"^05-\d{{4}}-{petition_id:06d}$"))
        receipt_number = receipt.inner_text().strip()
        expect(rep.locator("#sign-area")).to_have_text(tr("ar", "This petition is not collecting signatures."))
        _checked(rep, "petition submitted, representative")
        with rep.expect_download() as download_info:
            rep.locator(f"section.procedure a[href$='/petitions/{petition_id}/receipt.pdf']").click()
        download = download_info.value
        pdf_path = download.path()
        pdf = pdf_path.read_bytes()
        assert pdf.startswith(b"%PDF"), pdf[:20]
        text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf_path), "-"], capture_output=True, text=True,
                              check=True, timeout=30).stdout
        assert receipt_number in text, text
        assert "401" in text, text  # signatures at submission
        _in_french(rep, "petition submitted, representative")

        # --- 8. staff examine, admit and answer; the public sees the timeline and the answer -----------------------
        _nav(staff, "/staff")
        row = staff.locator("section[aria-labelledby='exam-heading'] tbody tr").filter(has_text=receipt_number)
        expect(row).to_have_count(1)
        _checked(staff, "staff dashboard, petition awaiting the bureau")
        row.locator(f"a[href$='/petitions/{petition_id}']").click()
        expect(staff).to_have_url(petition_url)
        _checked(staff, "petition submitted, staff")
        staff.locator("form[action$='/transition/under_examination']").get_by_role("button").click()
        expect(staff).to_have_url(f"{petition_url}#timeline")
        _expect_status(staff, "ar", "under_examination")
        _checked(staff, "petition under examination, staff")
        staff.locator("#session_label").fill(SESSION_LABEL)
        staff.locator("#committee").fill(COMMITTEE)
        staff.locator("form[action$='/transition/admissible']").get_by_role("button").click()
        expect(staff).to_have_url(f"{petition_url}#timeline")
        _expect_status(staff, "ar", "admissible")
        expect(staff.locator("section.procedure")).to_contain_text(SESSION_LABEL)
        expect(staff.locator("section.procedure")).to_contain_text(COMMITTEE)
        _checked(staff, "petition admissible, staff")
        staff.locator("#answer").fill(ANSWER)
        staff.locator("form[action$='/transition/answered']").get_by_role("button").click()
        expect(staff).to_have_url(f"{petition_url}#timeline")
        _expect_status(staff, "ar", "answered")
        _checked(staff, "petition answered, staff")

        sign_out(staff)
        _checked(staff, "home, signed out")
        visitor = staff
        visitor.goto(petition_url)
        steps = ("collecting", "submitted", "under_examination", "admissible", "answered")
        answer = visitor.locator("section.procedure .answer p")
        for lang in ("ar", "fr"):
            if lang == "fr":
                switch_language(visitor, "fr")
            expect_language(visitor, lang)
            _expect_status(visitor, lang, "answered")
            expect(visitor.locator("#timeline ol li > strong")).to_have_text(
                [tr(lang, lifecycle.STATUS_LABELS[step]) for step in steps])
            expect(answer).to_have_text([p for p in ANSWER.split("\n") if p.strip()])
            expect(visitor.locator("section.procedure")).to_contain_text(receipt_number)
            expect(visitor.locator(f"form[action*='/petitions/{petition_id}/transition/']")).to_have_count(0)
            _checked(visitor, "petition answered, anonymous", lang)
            screenshot(visitor, f"lifecycle-petition-answered-{lang}")
