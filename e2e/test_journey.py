"""End-to-end journeys through Civic in headless Chromium: a citizen signs, a second account reuses the CNIE,
council staff read and export the signatures; every page is checked with axe-core, in Arabic and in French.

Run: ``.venv/bin/pytest e2e -q -p no:asyncio``
"""

from __future__ import annotations

import csv
import io
import re
import secrets

import pytest
from playwright.sync_api import Browser, Page, expect

from civic.demo import DEMO_PASSWORD, DEMO_SIGNATORIES, DEMO_TITLE
from e2e.conftest import (
    TIMEOUT_MS,
    api_count,
    check_axe,
    expect_language,
    register,
    screenshot,
    sign_in,
    sign_out,
    signature_count,
    switch_language,
    tr,
    type_mailed_code,
)

PETITION_ID = 1  # the demo petition is the first petition
DEMO_TITLE_START = "إدراج النقل العمومي"
PASSWORD = "e2e-password-2026!"
BOM = b"\xef\xbb\xbf"
THANK_YOU = "Thank you. Your signature is recorded."
ALREADY_SIGNED = "You have already signed this petition."
CNIE_FORMAT_ERROR = "A CNIE number is one or two Latin letters followed by up to six digits, e.g. AB123456."


def _unique_email(tag: str) -> str:
    return f"e2e-{tag}-{secrets.token_hex(6)}@example.ma"


def _fill_sign_form(page: Page, full_name: str, cnie: str, commune: str) -> None:
    """Type into the signing form as a person would and tick both declarations."""
    page.locator("#full_name").fill(full_name)
    page.locator("#cnie").fill("")
    page.locator("#cnie").press_sequentially(cnie)
    page.locator("#commune_code").select_option(value=commune)
    page.locator("#electoral_declaration").check()
    page.locator("#consent").check()


def _submit_sign_form(page: Page) -> None:
    page.locator("#sign-area form").get_by_role("button").click()


def _marker_survives(page: Page) -> bool:
    """True when the window object set before submitting is still there (no full page load happened)."""
    return page.evaluate("() => window.__marker === 1")


def test_citizen_signs_once_and_staff_export(page: Page, browser: Browser, live_server: str) -> None:
    base = live_server
    petition_url = f"{base}/petitions/{PETITION_ID}"

    # --- a. the home page, in Arabic by default, lists the demo petition -----------------------------------
    page.goto(f"{base}/")
    expect_language(page, "ar")
    demo_link = page.locator(".card-list .card h3 a").filter(has_text=DEMO_TITLE_START)
    expect(demo_link).to_have_count(1)
    expect(demo_link).to_have_text(DEMO_TITLE)
    expect(demo_link).to_have_attribute("href", re.compile(rf"/petitions/{PETITION_ID}$"))
    check_axe(page, "home (ar)")

    # --- b. a new citizen registers through the header link --------------------------------------------------
    first_name = "سلمى بنعمر"  # made-up identity
    page.locator("nav.main-nav a[href$='/register']").click()
    expect(page).to_have_url(f"{base}/register")
    expect_language(page, "ar")
    check_axe(page, "register (ar)")
    page.locator("#display_name").fill(first_name)
    first_email = _unique_email("first")
    page.locator("#email").fill(first_email)
    page.locator("#password").fill(PASSWORD)
    page.locator("#commune_code").select_option(value="05.091.01.01")
    page.locator("form.narrow-form").get_by_role("button").click()
    expect(page).to_have_url(f"{base}/account/verify")  # issue #8: confirm the email with the mailed code
    check_axe(page, "verify email (ar)")
    type_mailed_code(page, base, first_email)
    expect(page).to_have_url(f"{base}/")
    expect(page.locator(".nav-user")).to_contain_text(first_name)

    # --- c. (and f.) open the demo petition; a malformed CNIE is refused without counting ------------------
    page.locator(".card-list .card h3 a").filter(has_text=DEMO_TITLE_START).click()
    expect(page).to_have_url(petition_url)
    expect_language(page, "ar")
    expect(page.locator("#sign-area form")).to_be_visible()
    check_axe(page, "petition (ar, signed in)")
    before = signature_count(page)
    assert before == api_count(page, base, PETITION_ID) == len(DEMO_SIGNATORIES)

    page.evaluate("() => { window.__marker = 1; }")
    _fill_sign_form(page, first_name, "123", "05.091.01.01")
    _submit_sign_form(page)
    cnie = page.locator("#cnie")
    expect(cnie).to_have_attribute("aria-invalid", "true")
    described_by = (cnie.get_attribute("aria-describedby") or "").split()
    assert "cnie-error" in described_by, described_by
    error = page.locator("#cnie-error")
    expect(error).to_be_visible()
    expect(error).to_have_text(tr("ar", CNIE_FORMAT_ERROR))
    # the other fields are not in error, and what the person typed is kept
    expect(page.locator("#full_name")).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator("#full_name")).to_have_value(first_name)
    # no success answer; a summary of the problem, if any, is an alert
    expect(page.locator("#sign-area .success")).to_have_count(0)
    if page.locator("#sign-result").count():
        expect(page.locator("#sign-result")).to_have_attribute("role", "alert")
    assert _marker_survives(page), "the error came with a full page load instead of an htmx swap"
    assert signature_count(page) == before
    assert api_count(page, base, PETITION_ID) == before, "a refused signature was counted"
    check_axe(page, "sign form with a CNIE error (ar)")

    # --- c. correct the CNIE (spaces and small letters are fine) and sign: htmx swaps, no reload -------------
    _fill_sign_form(page, first_name, "ab 123 456", "05.091.01.01")
    _submit_sign_form(page)
    result = page.locator("#sign-result")
    expect(result).to_be_visible()
    expect(result).to_have_text(tr("ar", THANK_YOU))
    expect(result).to_have_attribute("role", "status")
    expect(result).to_be_focused()  # civic.js moves focus to the answer
    expect(page.locator("#progress .signature-count")).to_have_attribute("data-count", str(before + 1))
    expect(page.locator("#sign-area form")).to_have_count(0)
    assert _marker_survives(page), "signing reloaded the page instead of swapping the result in"
    assert api_count(page, base, PETITION_ID) == before + 1
    thank_you_text = result.inner_text().strip()
    check_axe(page, "sign result (ar)")

    # --- d. after a reload the page says this person has already signed -------------------------------------
    page.reload()
    expect_language(page, "ar")
    expect(page.locator("#sign-area form")).to_have_count(0)
    expect(page.locator("#sign-area .notice")).to_have_text(tr("ar", ALREADY_SIGNED))
    assert signature_count(page) == before + 1
    check_axe(page, "petition, already signed (ar)")

    # --- e. a second account signs with the same CNIE written differently: same answer, not counted ----------
    second = browser.new_context()
    second.set_default_timeout(TIMEOUT_MS)
    try:
        page2 = second.new_page()
        second_name = "عمر الحداد"
        register(page2, base, second_name, _unique_email("second"), PASSWORD, "05.301.01.01")
        page2.goto(petition_url)
        expect(page2.locator("#sign-area form")).to_be_visible()
        count_before_second = signature_count(page2)
        assert count_before_second == before + 1
        page2.evaluate("() => { window.__marker = 1; }")
        _fill_sign_form(page2, second_name, "AB123456", "05.301.01.01")
        _submit_sign_form(page2)
        result2 = page2.locator("#sign-result")
        expect(result2).to_be_visible()
        expect(result2).to_have_text(thank_you_text)  # the very same neutral answer (never reveal a CNIE signed)
        expect(result2).to_have_class(re.compile(r"\bsuccess\b"))
        assert _marker_survives(page2)
        expect(page2.locator("#progress .signature-count")).to_have_attribute("data-count", str(count_before_second))
        assert api_count(page2, base, PETITION_ID) == count_before_second, "the same CNIE was counted twice"
        check_axe(page2, "sign result, CNIE reused (ar)")
    finally:
        second.close()

    # --- g. sign out, switch to French, council staff read and export the signatures -----------------------
    sign_out(page)
    expect(page).to_have_url(f"{base}/")
    switch_language(page, "fr")
    expect(page).to_have_url(f"{base}/")
    check_axe(page, "home (fr, signed out)")
    sign_in(page, base, "staff@demo.civic.ma", DEMO_PASSWORD, axe_label="login (fr)")
    expect_language(page, "fr")
    expect(page.locator(".nav-user")).to_contain_text("Council staff (demo)")

    page.goto(petition_url)
    expect_language(page, "fr")
    check_axe(page, "petition (fr, council staff)")
    page.locator(f"a[href$='/staff/petitions/{PETITION_ID}/signatures']").click()
    expect(page).to_have_url(f"{base}/staff/petitions/{PETITION_ID}/signatures")
    expect_language(page, "fr")
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(before + 1)  # the reused CNIE is not a second row
    cnie_cells = page.locator("table tbody td").filter(has_text=re.compile(r"^\s*AB123456\s*$"))
    expect(cnie_cells).to_have_count(1)
    expect(rows.filter(has_text="AB123456")).to_contain_text(first_name)
    check_axe(page, "staff signatures (fr)")

    with page.expect_download() as download_info:
        page.locator(f"a[href$='/staff/petitions/{PETITION_ID}/signatures.csv']").click()
    download = download_info.value
    assert download.suggested_filename == f"petition-{PETITION_ID}-signatures.csv"
    data = download.path().read_bytes()
    assert data.startswith(BOM), data[:20]
    text = data.decode("utf-8")
    assert text.count("AB123456") == 1, text
    for name, _cnie, _commune in DEMO_SIGNATORIES:
        assert name in text, f"demo signatory {name!r} missing or garbled in the CSV"
    table = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert len(table) == 1 + before + 1, table
    mine = [row for row in table if "AB123456" in row]
    assert len(mine) == 1 and first_name in mine[0], mine
    assert second_name not in text


@pytest.mark.parametrize("lang", ["ar", "fr"])
def test_pages_in_each_language(page: Page, live_server: str, lang: str) -> None:
    """Home, petition and sign pages: language and direction, axe, and screenshots (1280 px and 360 px)."""
    base = live_server
    page.goto(f"{base}/")
    if lang != "ar":
        switch_language(page, lang)
    expect_language(page, lang)
    check_axe(page, f"home ({lang}, signed out)")
    screenshot(page, f"home-{lang}")

    # signed in, so that the petition and sign pages show the whole form
    register(page, base, "Nora Test" if lang == "fr" else "نورة اختبار", _unique_email(f"pages-{lang}"),
             PASSWORD, "05.081.01.01")
    expect_language(page, lang)
    check_axe(page, f"home ({lang}, signed in)")

    page.goto(f"{base}/petitions/{PETITION_ID}")
    expect_language(page, lang)
    expect(page.locator("#sign-area form")).to_be_visible()
    expect(page.locator("h1")).to_have_text(DEMO_TITLE)
    check_axe(page, f"petition ({lang})")
    screenshot(page, f"petition-{lang}")

    page.set_viewport_size({"width": 360, "height": 780})
    try:
        expect(page.locator("#sign-area form")).to_be_visible()
        screenshot(page, f"petition-{lang}-360")
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the petition page scrolls sideways by {overflow}px at 360px width ({lang})"
    finally:
        page.set_viewport_size({"width": 1280, "height": 720})

    page.goto(f"{base}/petitions/{PETITION_ID}/sign")
    expect_language(page, lang)
    expect(page.locator("#sign-area form")).to_be_visible()
    for field in ("#full_name", "#cnie", "#commune_code", "#electoral_declaration", "#consent"):
        expect(page.locator(field)).to_be_visible()
    # every form control has a label the accessibility tree can read
    expect(page.get_by_label(tr(lang, "CNIE number"), exact=False)).to_have_attribute("id", "cnie")
    check_axe(page, f"sign page ({lang})")
    screenshot(page, f"sign-{lang}")
