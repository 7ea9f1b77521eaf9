"""Accessibility end-to-end tests (issue #7) in headless Chromium with axe-core.

1. Every GET route of ``civic.web.routes`` in Arabic, French and Tamazight, visited as the person it is for:
   ``<html lang dir>`` and axe with all WCAG 2.0/2.1/2.2 A and AA rules (any violation fails). A route of
   the table with no visit and no reason to be skipped fails the test, so a new route cannot be forgotten.
   The same pages at 360 px with larger text and high contrast: no sideways scrolling (axe again in Arabic).
2. A journey done with the keyboard only: skip link, register, sign petition 1; focus always visible.
3. The same without JavaScript: register, a CNIE error, sign (POST + redirect), display preferences.
4. Display preferences: larger text, high contrast and Arabic-Indic digits.
5. Screenshots of petition 1 in each language at 360 px and 1280 px, no sideways scrolling, Tifinagh font.

Signatures these tests give to the demo petition are withdrawn afterwards (the other journeys count it).

Run: ``.venv/bin/pytest e2e -q -p no:asyncio``
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.routing import Mount, Route, Router

from civic import i18n
from civic.accounts import service as accounts
from civic.accounts.models import User
from civic.db import utcnow
from civic.demo import DEMO_PASSWORD, DEMO_TITLE
from civic.organisations import service as organisations
from civic.organisations.models import Invitation, Organisation
from civic.permissions import Actor
from civic.petitions import rights
from civic.petitions import service as petitions
from civic.petitions.models import Signature
from civic.preferences import COOKIE as PREFERENCES_COOKIE
from civic.security import Keys
from civic.web.routes import routes
from e2e.conftest import (
    ARTIFACTS,
    WCAG_TAGS,
    LiveCivic,
    api_count,
    check_axe_wcag,
    describe_violations,
    expect_language,
    log_in,
    mailed_code,
    new_person,
    register,
    run_db,
    screenshot,
    set_language_cookie,
    signature_count,
    tr,
    wcag_violations,
)

PETITION_ID = 1  # the demo petition
LANGS = tuple(i18n.LANGUAGES)  # ar (rtl), fr, zgh (ltr, Tifinagh)
PASSWORD = "e2e-a11y-password-2026!"
EMAIL_PREFIX = "e2e-a11y-"
COMMUNE = "05.091.01.01"  # Béni Mellal
THANK_YOU = "Thank you. Your signature is recorded."
CNIE_FORMAT_ERROR = "A CNIE number is one or two Latin letters followed by up to six digits, e.g. AB123456."
ROUTER = Router(routes)


def _email(tag: str) -> str:
    return f"{EMAIL_PREFIX}{tag}-{secrets.token_hex(5)}@example.ma"


def _cnie(prefix: str) -> str:
    """A made-up CNIE no other test uses (two letters of its own, six random digits)."""
    return f"{prefix}{secrets.randbelow(900_000) + 100_000}"


def _path(name: str, **params: Any) -> str:
    return str(ROUTER.url_path_for(name, **{k: str(v) for k, v in params.items()}))


@pytest.fixture(scope="module", autouse=True)
def _withdraw_our_signatures(live_civic: LiveCivic) -> Iterator[None]:
    """After this module, withdraw (the signatory's right, through the service) every signature of the demo
    petition given by an account of these tests: test_journey expects the demo petition's own count."""
    yield

    async def work(session: AsyncSession) -> None:
        rows = (await session.execute(
            select(User.id, User.role, User.display_name).join(Signature, Signature.user_id == User.id)
            .where(Signature.petition_id == PETITION_ID, User.email.startswith(EMAIL_PREFIX)))).all()
        await session.rollback()
        for user_id, role, name in rows:
            await rights.withdraw(session, Actor(user_id, role, name), PETITION_ID, utcnow())

    run_db(live_civic.settings, work)


# --- 1. every route, in every language ---------------------------------------------------------------------


@dataclass(frozen=True)
class Visit:
    """One page to check: a route of the table, the person who looks at it, and its path parameters."""

    route: str
    role: str  # one of ROLES
    params: Mapping[str, Any] = field(default_factory=dict)
    query: str = ""
    fragment: bool = False  # an htmx fragment: checked inside the page it is swapped into


@dataclass(frozen=True)
class Data:
    org_id: int  # the demo association (verified; cso@demo is its legal representative)
    pending_org_id: int  # an association awaiting verification (listed on the staff dashboard)
    token: str  # a real invitation to the demo association, addressed to the citizen


ROLES = ("anonymous", "citizen", "signatory", "agent", "staff", "admin", "collector")
SIGNED_IN_DEMO = {"agent": "citizen2@demo.civic.ma",  # the demo petition's agent (Youssef)
                  "staff": "staff@demo.civic.ma", "admin": "admin@demo.civic.ma", "collector": "cso@demo.civic.ma"}


def _visits(d: Data) -> list[Visit]:
    petition = {"petition_id": PETITION_ID}
    return [
        Visit("home", "anonymous"),
        Visit("register", "anonymous"),
        Visit("login", "anonymous"),
        Visit("account_verify", "anonymous"),  # issue #8: accounts — the code form (journeys type codes in it)
        Visit("account_verify", "citizen"),  # the confirmation, once the email is verified
        Visit("preferences", "anonymous", query="next=/"),
        Visit("petition", "anonymous", petition),
        Visit("petition", "citizen", petition),  # with the signing form
        Visit("petition", "agent", petition),  # transitions, deputy invitation, associations allowed to collect
        Visit("petition_sign", "citizen", petition),
        Visit("petition_progress", "citizen", petition, fragment=True),
        Visit("petition_new", "citizen"),
        Visit("organisations", "anonymous"),  # verified and pending associations
        Visit("organisation_new", "citizen"),
        Visit("organisation", "collector", {"organisation_id": d.org_id}),  # representative: invite, collectors
        Visit("organisation", "staff", {"organisation_id": d.org_id}),  # verification history and form
        Visit("invitation", "citizen", {"token": d.token}),
        Visit("my_signatures", "signatory"),  # one signature, with its withdraw button
        Visit("staff_dashboard", "staff"),  # with an association awaiting verification
        Visit("staff_signatures", "staff", petition),
        Visit("staff_bursts", "staff", petition),  # issue #8: limits — groups, invalidation form, past batches
        Visit("staff_bursts", "staff", petition, query="window=all"),  # the demo's 12 signatures, whole collection
        Visit("outbox", "admin"),
        Visit("petition_paper", "collector", petition),
        Visit("petition_paper_import", "collector", petition),
        # consultations and phases
        Visit("consultations", "anonymous"),  # the two demo consultations, filter form
        Visit("consultations", "citizen", query="status=open&sort=random"),  # filtered, the visitor's random order
        Visit("consultation", "anonymous", {"consultation_id": 1}),  # youth forum: proposals phase current
        Visit("consultation", "citizen", {"consultation_id": 2}),  # Azilal: information phase, easy-read absent
        Visit("consultation", "staff", {"consultation_id": 1}),  # with the staff management links
        Visit("consultation_new", "staff"),
        Visit("consultation_edit", "staff", {"consultation_id": 1}),
        Visit("consultation_phases", "staff", {"consultation_id": 1}, query="kind=voting"),  # table and add form
        Visit("consultation_phase_edit", "staff", {"consultation_id": 1, "phase_id": 1}),
        Visit("consultation_documents", "staff", {"consultation_id": 1}),  # list and upload form
        # -- end of consultations
        # forum meetings
        Visit("meeting", "anonymous", {"meeting_id": 1}),  # the demo's upcoming hybrid meeting: seats, waiting list
        Visit("meeting", "citizen", {"meeting_id": 1}),  # registered (sign language) with the cancel button
        Visit("meeting", "staff", {"meeting_id": 1}),  # online link, staff box
        Visit("meeting", "staff", {"meeting_id": 2}),  # the demo's past meeting: minutes and the minutes form
        Visit("meeting_new", "staff", {"consultation_id": 1}),
        Visit("meeting_edit", "staff", {"meeting_id": 1}),
        Visit("meeting_registrations", "staff", {"meeting_id": 1}),  # needs summary, registered and waiting lists
        # -- end of forum meetings
        # proposals, supports, comments, official answers
        Visit("proposals", "anonymous", {"consultation_id": 1}),  # filters, sort orders, the demo proposals
        Visit("proposal_new", "citizen", {"consultation_id": 1}),  # the demo forum's proposals phase is open
        Visit("proposal", "anonymous", {"proposal_id": 1}),  # official answer, comments with a reply
        Visit("proposal", "citizen", {"proposal_id": 1}),  # support button, stance radios, reply forms
        Visit("proposal", "staff", {"proposal_id": 1}),  # the official answer form
        Visit("proposal_edit", "agent", {"proposal_id": 4}),  # demo proposal 4 is Youssef's, with no reaction
        Visit("consultation_comments", "citizen", {"consultation_id": 1}),
        # -- end of proposals
        # search
        Visit("search", "anonymous"),  # the form alone, with its helpful sentence
        Visit("search", "citizen", query="q=%D8%A7%D9%84%D9%86%D9%82%D9%84"),  # النقل: the demo petition's word
        # -- end of search
        # moderation
        Visit("moderation_queue", "staff"),  # the demo petition's two reports: counts per reason, decision form
        Visit("moderation_queue", "staff", query="state=all"),
        Visit("appeal", "agent", {"moderation_id": 1}),  # the demo petition's record, seen by its author Youssef
        # -- end of moderation
        # audit and dashboard
        Visit("staff_dashboard", "admin"),  # every part, with the outbox and audit log links
        Visit("audit_log", "admin"),  # filters, the chain check button, a page of events, exports
        Visit("audit_log", "admin", query="verify=1&action=accounts%3A"),  # the chain's status, filtered
        # -- end of audit and dashboard
        # exports and open data
        Visit("exports_centre", "staff"),  # lists, one consultation's lists, signatures and registrations
        Visit("open_data", "anonymous"),  # licence, download, every file's columns
        # -- end of exports and open data
        # roles
        Visit("admin_roles", "admin"),  # the two search forms
        Visit("admin_roles", "admin", query="name=demo"),  # the people found, in a table
        Visit("admin_roles", "admin", query="user=3"),  # Jamila (demo cso_member): grants, grant and base-role forms
        # -- end of roles
        # votes casting
        Visit("consultation_ballots", "anonymous", {"consultation_id": 1}),  # the youth forum's demo ballot
        Visit("ballot", "anonymous", {"ballot_id": 1}),  # demo ballot: its three questions, sign-in invitation
        Visit("ballot", "citizen", {"ballot_id": 1}),  # voting not open in the demo's proposals phase
        Visit("ballot_new", "staff", {"consultation_id": 1}),  # title, description, meeting select
        Visit("ballot_edit", "staff", {"ballot_id": 1}),  # details form, questions, the add-question form
        # -- end of votes casting
        # votes tallies
        Visit("tally_sheets", "staff", {"ballot_id": 1}),  # demo ballot: sheets per question, the entry form
        Visit("receipt_check", "anonymous", {"ballot_id": 1}),  # not published yet: the explanation
        Visit("receipt_check", "staff", {"ballot_id": 1}),  # the staff box (voting not over in the demo)
        # -- end of votes tallies
        # votes results
        Visit("ballot_results", "anonymous", {"ballot_id": 1}),  # demo ballot, results hidden: when they show, no count
        Visit("ballot_results", "citizen", {"ballot_id": 1}),  # the same, signed in (e2e/test_votes_journey.py
        # checks the visible results page, its charts, tables and live updates with axe in ar and fr)
        # -- end of votes results
    ]


# Routes of the table that are not HTML pages, and why. Those with a (role, params) are fetched to prove it.
NOT_PAGES: dict[str, tuple[str, tuple[str, dict[str, Any]] | None]] = {
    "static": ("static files (Mount)", None),
    "healthz": ("JSON health check", ("anonymous", {})),
    "set_language": ("redirect that sets the language cookie (every page's language links)", None),
    "my_data": (".json download", ("signatory", {})),
    "staff_signatures_csv": (".csv download", ("staff", {"petition_id": PETITION_ID})),
    "petition_paper_template": (".csv download", ("collector", {"petition_id": PETITION_ID})),
    "petition_dossier": (".pdf/.xlsx/.csv download", ("anonymous", {"petition_id": PETITION_ID, "fmt": "csv"})),
    "petition_receipt": (".pdf download (petition 1 is not submitted: the lifecycle journey downloads one)", None),
    "staff_petition_dossier": (".pdf/.xlsx/.csv download", ("staff", {"petition_id": PETITION_ID, "fmt": "csv"})),
    "api_petitions": ("JSON API", ("anonymous", {})),
    "api_petition": ("JSON API", ("anonymous", {"petition_id": PETITION_ID})),
    "api_provinces": ("JSON API", ("anonymous", {})),
    # consultations and phases
    "consultation_document": (".pdf download (the demo has no document; tests/test_consultations.py downloads one)",
                              None),
    "api_consultations": ("JSON API", ("anonymous", {})),
    "api_consultation": ("JSON API", ("anonymous", {"consultation_id": 1})),
    # -- end of consultations
    # forum meetings
    # -- end of forum meetings
    # proposals, supports, comments, official answers
    "api_proposals": ("JSON API", ("anonymous", {"consultation_id": 1})),
    "api_proposal": ("JSON API", ("anonymous", {"proposal_id": 1})),
    # -- end of proposals
    # search
    "api_search": ("JSON API", ("anonymous", {})),
    # -- end of search
    # moderation
    # -- end of moderation
    # audit and dashboard
    "audit_export": (".csv/.xlsx/.json download", ("admin", {"fmt": "csv"})),
    # -- end of audit and dashboard
    # exports and open data
    "export_dataset": (".csv/.xlsx/.json download", ("staff", {"dataset": "petitions", "fmt": "xlsx"})),
    "open_data_bundle": (".zip download", ("anonymous", {})),
    "openapi": ("JSON (OpenAPI description of the API)", ("anonymous", {})),
    # -- end of exports and open data
    # roles
    # -- end of roles
    # votes casting
    # -- end of votes casting
    # votes tallies
    "ballot_file": (".jsonl download, 404 until the ballot is published and its results shown "
                    "(tests/test_verify.py downloads one)", None),
    "ballot_receipts": (".txt download, 404 until the ballot is published and its results shown "
                        "(tests/test_verify.py downloads one)", None),
    # -- end of votes tallies
    # votes results
    "ballot_results_fragment": ("htmx fragment: the results region of ballot_results, visited with that page; swapped "
                                "in by the live results in e2e/test_votes_journey.py", None),
    "ballot_results_stream": ("Server-Sent Events stream, 404 while the demo's results are hidden "
                              "(tests/test_live.py reads one)", None),
    "ballot_results_export": (".csv/.xlsx/.pdf download, 409 while the demo's results are hidden "
                              "(tests/test_results.py downloads them)", None),
    "api_ballot_results": ("JSON API", ("anonymous", {"ballot_id": 1})),
    # -- end of votes results
}
# Not a route of the table, checked too: the error page.
EXTRA_PAGES = (("error page (404)", "anonymous", "/petitions/999999", 404),)


def _get_route_names() -> set[str]:
    """Names of every route of the table a browser can GET (and the static Mount)."""
    names = set()
    for route in routes:
        if isinstance(route, Mount) or (isinstance(route, Route) and "GET" in (route.methods or ())):
            assert route.name, route
            names.add(route.name)
    return names


def test_every_get_route_has_a_visit() -> None:
    """A route added to the table without a visit (or a reason to skip it) fails here, and in the walks."""
    visited = {v.route for v in _visits(Data(1, 1, "token"))}
    missing = _get_route_names() - visited - set(NOT_PAGES)
    stale = (visited | set(NOT_PAGES)) - _get_route_names()
    assert not missing, f"GET routes with no accessibility visit: {sorted(missing)} (add them to _visits)"
    assert not stale, f"visits of routes that are no longer in the table: {sorted(stale)}"
    assert not visited & set(NOT_PAGES), visited & set(NOT_PAGES)


def _prepare(live: LiveCivic, citizen_email: str, signatory_email: str) -> Data:
    """Through the services: the signatory signs petition 1, the demo association invites the citizen, and a
    new person registers an association that awaits verification."""
    settings = live.settings
    keys = Keys(settings.secret_key)

    async def actor(session: AsyncSession, email: str) -> Actor:
        row = (await session.execute(select(User.id, User.role, User.display_name).where(User.email == email))).one()
        await session.rollback()
        return Actor(row.id, row.role, row.display_name)

    async def work(session: AsyncSession) -> Data:
        now = utcnow()
        cso = await actor(session, "cso@demo.civic.ma")
        signatory = await actor(session, signatory_email)
        org_id = await session.scalar(select(Organisation.id).where(Organisation.legal_representative_id == cso.user_id)
                                      .order_by(Organisation.id).limit(1))
        await session.rollback()
        assert org_id is not None, "the demo association is missing"
        await petitions.sign(session, signatory, keys, PETITION_ID, petitions.SignatureInput(
            "Signataire A11y", _cnie("SX"), COMMUNE, electoral_declaration=True, consent=True), now)
        await organisations.invite(session, cso, keys, "organisation_member", org_id, citizen_email, now,
                                   live.base_url)
        invitation_id = await session.scalar(select(func.max(Invitation.id)).where(
            Invitation.invited_by_id == cso.user_id, Invitation.purpose == "organisation_member"))
        await session.rollback()
        assert invitation_id is not None
        rep_id = await accounts.create_user(session, display_name="Représentant A11y", email=_email("rep"),
                                            password=PASSWORD, role="citizen", commune_code="05.301.01.01", now=now,
                                            region_code=settings.region)
        pending_id = await organisations.register(
            session, Actor(rep_id, "citizen", "Représentant A11y"), organisations.OrganisationInput(
                "جمعية أزرو للثقافة", "Association Azrou pour la culture", f"RD-A11Y-{secrets.token_hex(3)}",
                "2015-03-01", "05.301.01.01", "أنشطة ثقافية لفائدة شباب الجماعات الجبلية."), settings.region, now)
        return Data(org_id, pending_id, organisations.invitation_token(keys, int(invitation_id)))

    return run_db(settings, work)


@dataclass(frozen=True)
class People:
    """One browser context per role (signed in once), the data the visits need, and the visits."""

    base: str
    pages: dict[str, Page]
    data: Data
    visits: list[Visit]

    def configure(self, lang: str, width: int, prefs: str = "") -> None:
        """Every role's page in ``lang`` at ``width`` px, with the display preferences cookie ``prefs``."""
        for page in self.pages.values():
            set_language_cookie(page.context, self.base, lang)
            page.context.clear_cookies(name=PREFERENCES_COOKIE)
            if prefs:
                page.context.add_cookies([{"name": PREFERENCES_COOKIE, "value": prefs, "url": self.base}])
            page.set_viewport_size({"width": width, "height": 800})


@pytest.fixture(scope="module")
def people(browser: Browser, live_civic: LiveCivic) -> Iterator[People]:
    """The people of the walks. Four sign in through /login (rate limit: 10 per 5 minutes, shared with the
    other journeys), so they are signed in once for the module."""
    base = live_civic.base_url
    citizen_email, signatory_email = _email("citizen"), _email("signatory")
    pages: dict[str, Page] = {}
    try:
        for role in ROLES:
            pages[role] = new_person(browser, base)
        register(pages["citizen"], base, "Citoyenne A11y", citizen_email, PASSWORD, COMMUNE)
        register(pages["signatory"], base, "Signataire A11y", signatory_email, PASSWORD, COMMUNE)
        for role, email in SIGNED_IN_DEMO.items():
            log_in(pages[role], base, email, DEMO_PASSWORD)
        data = _prepare(live_civic, citizen_email, signatory_email)
        yield People(base, pages, data, _visits(data))
    finally:
        for page in pages.values():
            page.context.close()


def _check_page(page: Page, lang: str, base: str, path: str, label: str, status: int = 200,
                fragment_path: str | None = None, axe: bool = True, reflow: bool = False) -> list[str]:
    """Open ``path``; return the problems found: status, redirect, ``<html lang dir>``, axe WCAG A/AA
    violations (``axe``), sideways scrolling (``reflow``)."""
    problems = []
    url = base + path
    response = page.goto(url)
    if response is None or response.status != status:
        return [f"{label}: HTTP {response.status if response else '-'} instead of {status}"]
    if page.url != url:
        return [f"{label}: redirected to {page.url}"]
    html = page.evaluate("() => [document.documentElement.lang, document.documentElement.dir]")
    expected = [lang, i18n.LANGUAGES[lang].direction]
    if html != expected:
        problems.append(f"{label}: <html lang dir> is {html}, expected {expected}")
    if reflow:
        overflow = page.evaluate(OVERFLOW_JS)
        if overflow["scrollWidth"] > overflow["innerWidth"]:
            problems.append(f"{label}: the page scrolls sideways (scrollWidth {overflow['scrollWidth']} > "
                            f"{overflow['innerWidth']}); too wide: {overflow['wide']}")
    if not axe:
        return problems
    context = None
    if fragment_path:  # swap the fragment, as the server sends it to htmx, into its host page
        fragment = page.request.get(base + fragment_path, headers={"HX-Request": "true"})
        body = fragment.text()
        if not fragment.ok or "<html" in body.lower() or 'id="progress"' not in body:
            return [*problems, f"{label}: not the progress fragment (HTTP {fragment.status})"]
        page.evaluate("html => { document.getElementById('progress').outerHTML = html; }", body)
        context = "#progress"
    violations = wcag_violations(page, context)
    if violations:
        problems.append(describe_violations(violations, label))
    return problems


# The page's width against the window's, and the innermost elements that stick out of the window.
OVERFLOW_JS = """() => {
  const W = window.innerWidth, wide = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if ((r.right > W + 1 || r.left < -1) && ![...el.children].some(c => {
          const q = c.getBoundingClientRect(); return q.right > W + 1 || q.left < -1; })) {
      const name = el.tagName.toLowerCase() + (el.id ? ' id=' + el.id : '');
      wide.push(`<${name}> ${Math.round(r.left)}..${Math.round(r.right)}`);
    }
  }
  return {scrollWidth: document.documentElement.scrollWidth, innerWidth: W, wide: wide.slice(0, 5)};
}"""


def _walk(people: People, lang: str, axe: bool = True, reflow: bool = False) -> tuple[list[str], list[str]]:
    """Visit every page as its person in ``lang``; returns (one line per page checked, problems found)."""
    problems: list[str] = []
    checked: list[str] = []
    for visit in people.visits:
        path = _path(visit.route, **visit.params)
        host = _path("petition", **visit.params) if visit.fragment else path
        label = f"[{lang}] {visit.route} {path} as {visit.role}"
        found = _check_page(people.pages[visit.role], lang, people.base,
                            host + (f"?{visit.query}" if visit.query else ""), label,
                            fragment_path=path if visit.fragment else None, axe=axe, reflow=reflow)
        problems += found
        checked.append(f"{lang}\t{visit.route}\t{path}{'?' + visit.query if visit.query else ''}\t{visit.role}"
                       f"{' (htmx fragment, in its page)' if visit.fragment else ''}\t{'FAIL' if found else 'ok'}")
    for label, role, path, status in EXTRA_PAGES:
        found = _check_page(people.pages[role], lang, people.base, path, f"[{lang}] {label} {path}", status,
                            axe=axe, reflow=reflow)
        problems += found
        checked.append(f"{lang}\t({label})\t{path}\t{role}\t{'FAIL' if found else 'ok'}")
    return checked, problems


def _report(name: str, title: str, checked: list[str], problems: list[str]) -> None:
    """Print the pages checked and write them, the routes skipped and the problems to e2e/artifacts/."""
    skipped = [f"skipped\t{route}\t{why}" for route, (why, _fetch) in sorted(NOT_PAGES.items())]
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / name).write_text("\n".join([f"# {title}", *checked, "", *skipped, "", *problems]) + "\n",
                                  encoding="utf-8")
    print(f"\n{title}:\n" + "\n".join(checked) + "\n" + "\n".join(skipped))


def test_every_route_in_every_language_passes_axe_wcag(people: People) -> None:
    """Every page, as its person, in ar, fr and zgh at 1280 px: lang and dir, and no WCAG A/AA violation."""
    test_every_get_route_has_a_visit()
    # the routes skipped as not HTML really are not HTML
    for name, (_why, fetch) in NOT_PAGES.items():
        if fetch is not None:
            role, params = fetch
            response = people.pages[role].request.get(people.base + _path(name, **params), max_redirects=0)
            content_type = response.headers.get("content-type", "")
            assert response.status == 200 and "text/html" not in content_type, \
                f"{name} as {role}: HTTP {response.status} {content_type} (skipped as not HTML)"
    # axe really reports violations of these rules (a broken image and faint text, put in and taken out)
    page = people.pages["anonymous"]
    people.configure("ar", 1280)
    page.goto(people.base + "/")
    page.evaluate("""() => { const img = document.createElement('img'); img.src = '/static/none.png';
      const p = document.createElement('p'); p.textContent = 'faint'; p.style.color = '#dddddd';
      document.querySelector('main').append(img, p); }""")
    assert {"image-alt", "color-contrast"} <= {v["id"] for v in wcag_violations(page)}

    checked: list[str] = []
    problems: list[str] = []
    for lang in LANGS:
        people.configure(lang, 1280)
        lines, found = _walk(people, lang)
        checked += lines
        problems += found
    routes_seen = len({v.route for v in people.visits})
    _report("routes-checked.txt", f"{len(checked)} pages checked with axe ({', '.join(WCAG_TAGS)}) at 1280 px: "
            f"{routes_seen} routes of the table and the error page, x {len(LANGS)} languages", checked, problems)
    assert not problems, f"{len(problems)} page(s) with accessibility problems:\n" + "\n".join(problems)


def test_every_page_at_360px_with_larger_text_and_high_contrast(people: People) -> None:
    """A phone, with the app's own low-vision settings (larger text, high contrast): no page scrolls sideways
    in any language (WCAG 1.4.10 Reflow; tables scroll in their own region), and axe in Arabic."""
    checked: list[str] = []
    problems: list[str] = []
    for lang in LANGS:
        people.configure(lang, 360, "text-large.contrast-high")
        lines, found = _walk(people, lang, axe=lang == "ar", reflow=True)
        checked += lines
        problems += found
    people.configure("ar", 1280)
    _report("routes-checked-360.txt", f"{len(checked)} pages checked at 360 px with larger text and high contrast "
            f"(no sideways scrolling; axe in ar)", checked, problems)
    assert not problems, f"{len(problems)} page(s) with problems at 360 px:\n" + "\n".join(problems)


# --- 2. keyboard only --------------------------------------------------------------------------------------

FOCUS_JS = """() => {
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) { return null; }
  const cs = getComputedStyle(el);
  return {tag: el.tagName.toLowerCase(), id: el.id, cls: String(el.className || ''),
          href: el.getAttribute('href') || '', text: (el.innerText || el.value || '').trim().slice(0, 40),
          outlineStyle: cs.outlineStyle, outlineWidth: cs.outlineWidth, boxShadow: cs.boxShadow};
}"""


class Keyboard:
    """Drives a page with the keyboard only, and checks that every element that gets focus shows it."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.focused: list[str] = []

    def focus_info(self) -> dict[str, str]:
        info = self.page.evaluate(FOCUS_JS)
        assert info, f"focus is lost (on <body>) at {self.page.url}"
        return info  # type: ignore[no-any-return]

    def check_focus_visible(self) -> dict[str, str]:
        info = self.focus_info()
        name = f"<{info['tag']}" + (f" id={info['id']}" if info["id"] else "") + (
            f" href={info['href']}" if info["href"] else "") + ">"
        outline = info["outlineStyle"] != "none" and info["outlineWidth"] not in ("0px", "")
        shadow = info["boxShadow"] not in ("none", "")
        assert outline or shadow, (
            f"focus is not visible on {name} {info['text']!r} at {self.page.url}: outline {info['outlineStyle']} "
            f"{info['outlineWidth']}, box-shadow {info['boxShadow']}")
        self.focused.append(name)
        return info

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)

    def tab_to(self, selector: str, reverse: bool = False, limit: int = 80) -> None:
        """Press Tab (Shift+Tab) until the focused element matches ``selector``; focus must show each time."""
        trail = []
        for _ in range(limit):
            self.press("Shift+Tab" if reverse else "Tab")
            info = self.check_focus_visible()
            trail.append(f"{info['tag']}#{info['id']}{info['href']}")
            if self.page.evaluate("s => document.activeElement.matches(s)", selector):
                return
        raise AssertionError(f"{selector} never got focus by {'Shift+' if reverse else ''}Tab: {trail}")

    def type(self, text: str) -> None:
        self.page.keyboard.type(text)


def test_keyboard_only_journey(browser: Browser, live_civic: LiveCivic) -> None:
    """Skip link, register, petition 1, a CNIE error, then sign: Tab, Shift+Tab, Enter, Space and typing only.
    After each htmx answer focus is on the message; focus always shows."""
    base = live_civic.base_url
    page = new_person(browser, base)
    kb = Keyboard(page)
    name = "Kenza Clavier"
    try:
        page.goto(f"{base}/")
        expect_language(page, "ar")

        # the first Tab lands on the skip link, shown on screen; Enter moves focus to <main>
        kb.press("Tab")
        kb.check_focus_visible()
        assert page.evaluate("() => document.activeElement.matches('a.skip-link')"), kb.focus_info()
        expect(page.locator("a.skip-link")).to_have_text(tr("ar", "Skip to main content"))
        expect(page.locator("a.skip-link")).to_be_in_viewport()
        kb.press("Enter")
        page.wait_for_function("() => document.activeElement && document.activeElement.id === 'main'")
        kb.check_focus_visible()

        # register: from <main> back (Shift+Tab) to the header's "Create an account"
        kb.tab_to("nav.main-nav a[href$='/register']", reverse=True)
        kb.press("Enter")
        expect(page).to_have_url(f"{base}/register")
        kb.tab_to("#display_name")
        kb.type(name)
        kb.tab_to("#email")
        email = _email("keyboard")
        kb.type(email)
        kb.tab_to("#password")
        kb.type(PASSWORD)
        kb.tab_to("#commune_code")
        kb.press("ArrowDown")  # the first commune (the first option is "Choose your commune")
        assert page.locator("#commune_code").input_value(), "ArrowDown did not choose a commune"
        kb.tab_to("main form button[type='submit']")
        kb.press("Enter")
        # issue #8: accounts — type the code mailed to confirm the email
        expect(page).to_have_url(f"{base}/account/verify")
        kb.tab_to("#code")
        kb.type(mailed_code(base, email))
        kb.tab_to("#verify-form button[type='submit']")
        kb.press("Enter")
        expect(page).to_have_url(f"{base}/")
        expect(page.locator(".nav-user")).to_contain_text(name)

        # open petition 1 from the list
        kb.tab_to(f".card-list a[href$='/petitions/{PETITION_ID}']")
        kb.press("Enter")
        expect(page).to_have_url(f"{base}/petitions/{PETITION_ID}")
        before = signature_count(page)

        # fill the form with a malformed CNIE: the error summary gets focus, the field says what is wrong
        kb.tab_to("#full_name")
        kb.type(name)
        kb.tab_to("#cnie")
        kb.type("123")
        kb.tab_to("#commune_code")
        if not page.locator("#commune_code").input_value():  # preselected from the account's commune
            kb.press("ArrowDown")
        assert page.locator("#commune_code").input_value()
        for box_id in ("electoral_declaration", "consent"):
            if page.locator(f"#{box_id}").count():
                kb.tab_to(f"#{box_id}")
                kb.press("Space")
                expect(page.locator(f"#{box_id}")).to_be_checked()
        kb.tab_to("#sign-area form button[type='submit']")
        kb.press("Enter")
        alert = page.locator("#sign-result[role='alert']")
        expect(alert).to_have_text(tr("ar", "Please correct the errors below."))
        page.wait_for_function("() => document.activeElement && document.activeElement.id === 'sign-result'")
        kb.check_focus_visible()
        expect(page.locator("#cnie")).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#cnie-error")).to_have_text(tr("ar", CNIE_FORMAT_ERROR))
        check_axe_wcag(page, "sign form with a CNIE error after htmx, keyboard journey (ar)")

        # correct the CNIE (what was typed and ticked is kept) and sign
        kb.tab_to("#cnie")
        kb.press("Control+A")
        kb.type(_cnie("KB"))
        expect(page.locator("#full_name")).to_have_value(name)
        for box_id in ("electoral_declaration", "consent"):
            if page.locator(f"#{box_id}").count() and not page.locator(f"#{box_id}").is_checked():
                kb.tab_to(f"#{box_id}")
                kb.press("Space")
        kb.tab_to("#sign-area form button[type='submit']")
        kb.press("Enter")
        result = page.locator("#sign-result")
        expect(result).to_have_text(tr("ar", THANK_YOU))
        page.wait_for_function("() => document.activeElement && document.activeElement.id === 'sign-result'")
        kb.check_focus_visible()
        expect(page.locator("#progress .signature-count")).to_have_attribute("data-count", str(before + 1))
        assert api_count(page, base, PETITION_ID) == before + 1
        print(f"\nkeyboard journey: focus visible on all {len(kb.focused)} focused elements")
    finally:
        page.context.close()


# --- 3. JavaScript off -------------------------------------------------------------------------------------


def _check_axe_wcag_without_js(browser: Browser, base: str, page: Page, label: str) -> None:
    """axe-core cannot run in a page without JavaScript (its promise never settles: no timers fire, and the
    call hangs), so check the document this page received in a twin page with JavaScript, same address."""
    html, url = page.content(), page.url
    twin = new_person(browser, base)
    try:
        twin.route(url, lambda route: route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html))
        twin.goto(url)
        check_axe_wcag(twin, label)
    finally:
        twin.context.close()


def test_without_javascript(browser: Browser, live_civic: LiveCivic) -> None:
    base = live_civic.base_url
    page = new_person(browser, base, java_script_enabled=False)
    name = "Nadia Sans-JS"
    try:
        register(page, base, name, _email("nojs"), PASSWORD, COMMUNE)
        page.goto(f"{base}/petitions/{PETITION_ID}")
        before = signature_count(page)

        # a malformed CNIE: the whole page comes back with the field in error
        page.locator("#full_name").fill(name)
        page.locator("#cnie").fill("123")
        page.locator("#commune_code").select_option(value=COMMUNE)
        page.locator("#electoral_declaration").check()
        page.locator("#consent").check()
        with page.expect_navigation():
            page.locator("#sign-area form").get_by_role("button").click()
        expect(page).to_have_url(f"{base}/petitions/{PETITION_ID}/sign")
        cnie = page.locator("#cnie")
        expect(cnie).to_have_attribute("aria-invalid", "true")
        assert "cnie-error" in (cnie.get_attribute("aria-describedby") or "").split()
        expect(page.locator("#cnie-error")).to_have_text(tr("ar", CNIE_FORMAT_ERROR))
        expect(page.locator("#full_name")).to_have_value(name)
        assert api_count(page, base, PETITION_ID) == before
        _check_axe_wcag_without_js(browser, base, page, "sign page with a CNIE error, JavaScript off (ar)")

        # corrected: a plain POST, a redirect to the petition, the thank-you message and the new count
        cnie.fill(_cnie("NJ"))
        page.locator("#electoral_declaration").check()
        page.locator("#consent").check()
        with page.expect_navigation():
            page.locator("#sign-area form").get_by_role("button").click()
        expect(page).to_have_url(f"{base}/petitions/{PETITION_ID}")
        expect(page.locator("#sign-result")).to_have_text(tr("ar", THANK_YOU))
        assert signature_count(page) == before + 1
        _check_axe_wcag_without_js(browser, base, page, "petition after signing, JavaScript off (ar)")

        # the display preferences form
        page.locator("nav.main-nav a[href^='/preferences']").click()
        expect(page).to_have_url(re.compile(r"/preferences\?next="))
        page.locator("#text_large").check()
        with page.expect_navigation():
            page.locator("main form").get_by_role("button").click()
        expect(page).to_have_url(f"{base}/petitions/{PETITION_ID}")
        expect(page.locator("html")).to_have_class(re.compile(r"\btext-large\b"))
    finally:
        page.context.close()


# --- 4. display preferences --------------------------------------------------------------------------------


def _root_font_px(page: Page) -> float:
    return float(page.evaluate("() => parseFloat(getComputedStyle(document.documentElement).fontSize)"))


def test_display_preferences(browser: Browser, live_civic: LiveCivic) -> None:
    base = live_civic.base_url
    page = new_person(browser, base)
    petition_url = f"{base}/petitions/{PETITION_ID}"
    try:
        page.goto(petition_url)
        default_px = _root_font_px(page)
        expect(page.locator("#progress")).to_contain_text("400")
        page.locator("nav.main-nav a[href^='/preferences']").click()
        expect(page).to_have_url(re.compile(r"/preferences\?next="))
        check_axe_wcag(page, "display preferences (ar)")
        for box in ("#text_large", "#contrast_high", "#digits_arab"):
            page.locator(box).check()
        page.locator("main form").get_by_role("button").click()
        expect(page).to_have_url(petition_url)
        html = page.locator("html")
        expect(html).to_have_class(re.compile(r"\btext-large\b"))
        expect(html).to_have_class(re.compile(r"\bcontrast-high\b"))
        assert _root_font_px(page) > default_px, (_root_font_px(page), default_px)
        progress = page.locator("#progress")
        expect(progress).to_contain_text("٤٠٠")  # the threshold in Arabic-Indic digits
        assert "400" not in progress.inner_text()
        check_axe_wcag(page, "petition in high contrast, larger text, Arabic-Indic digits (ar)")
        page.goto(f"{base}/preferences")
        for box in ("#text_large", "#contrast_high", "#digits_arab"):
            expect(page.locator(box)).to_be_checked()
        expect(page.locator("#motion_reduce")).not_to_be_checked()
    finally:
        page.context.close()


# --- 5. screenshots ----------------------------------------------------------------------------------------


def _no_sideways_scroll(page: Page, label: str) -> None:
    sizes = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert sizes[0] <= sizes[1], f"{label}: the page scrolls sideways (scrollWidth {sizes[0]} > {sizes[1]})"


def _fonts_of(page: Page, selector: str) -> list[str]:
    """The platform fonts Chromium really used to draw the text of ``selector`` (DevTools protocol)."""
    cdp = page.context.new_cdp_session(page)
    try:
        cdp.send("DOM.enable")
        cdp.send("CSS.enable")
        root = cdp.send("DOM.getDocument")["root"]["nodeId"]
        node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        return [f["familyName"] for f in cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]]
    finally:
        cdp.detach()


def test_petition_screenshots(browser: Browser, live_civic: LiveCivic) -> None:
    base = live_civic.base_url
    page = new_person(browser, base, viewport={"width": 1280, "height": 800})
    petition_url = f"{base}/petitions/{PETITION_ID}"
    try:
        register(page, base, "Yasmine Capture", _email("shots"), PASSWORD, COMMUNE)  # with the signing form
        for lang in LANGS:
            set_language_cookie(page.context, base, lang)
            page.set_viewport_size({"width": 1280, "height": 800})
            page.goto(petition_url)
            expect_language(page, lang)
            expect(page.locator("h1")).to_have_text(DEMO_TITLE)
            screenshot(page, f"a11y-petition-{lang}-1280")
            page.set_viewport_size({"width": 360, "height": 780})
            _no_sideways_scroll(page, f"petition ({lang}, 360 px)")
            screenshot(page, f"a11y-petition-{lang}-360")
            if lang == "zgh":  # Tifinagh drawn with Noto Sans Tifinagh, not a fallback with empty boxes
                heading = page.locator("#progress-heading")
                expect(heading).to_have_text(re.compile(r"^[\u2d30-\u2d7f\s]+$"))
                fonts = _fonts_of(page, "#progress-heading")
                assert fonts and all(f.startswith("Noto Sans Tifinagh") for f in fonts), fonts

        set_language_cookie(page.context, base, "ar")
        page.context.add_cookies([{"name": "civic_prefs", "value": "text-large.contrast-high", "url": base}])
        page.set_viewport_size({"width": 360, "height": 780})
        page.goto(petition_url)
        expect(page.locator("html")).to_have_class(re.compile(r"text-large.*contrast-high"))
        _no_sideways_scroll(page, "petition (ar, 360 px, high contrast and larger text)")
        screenshot(page, "a11y-petition-ar-360-contrast-large")
    finally:
        page.context.close()
