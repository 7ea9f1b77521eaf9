"""Fixtures and helpers for Civic's browser tests (headless Debian Chromium, axe-core).

Run in its own pytest process (the sync Playwright API and pytest-asyncio do not mix):

    .venv/bin/pytest e2e -q -p no:asyncio

``live_server`` migrates a throw-away SQLite database with the real ``civic`` CLI (db upgrade,
load-territories, demo), then serves ``create_app`` with uvicorn in a background thread on a free port.
``live_civic`` gives the same server with its settings, so a test can also reach the database through the
services (``run_db``), the way a scheduled job or a second process would.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvicorn
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from civic import i18n
from civic.app import create_app
from civic.db import make_engine, make_sessionmaker
from civic.settings import ROOT, Settings, load_settings
from civic.web.middleware import LANGUAGE_COOKIE

SCREENSHOTS = Path(__file__).parent / "screenshots"
CHROMIUM = "/usr/bin/chromium"
TIMEOUT_MS = 10_000
LANGUAGE_NAMES = {code: language.name for code, language in i18n.LANGUAGES.items()}  # "العربية", "Français"

expect.set_options(timeout=TIMEOUT_MS)
AXE = Axe()  # loads the bundled axe-core once


# --- browser -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """Debian's Chromium: Playwright cannot download its own browsers on these machines."""
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    }


@pytest.fixture(autouse=True)
def _bounded_timeouts(context) -> None:  # type: ignore[no-untyped-def]
    """Generous but bounded waits for every page of the default context."""
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)


# --- the app under test --------------------------------------------------------------------------------------


def _run_cli(env: dict[str, str], *args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "civic", *args], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, f"civic {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"


@dataclass(frozen=True)
class LiveCivic:
    """The server under test: its base URL and the settings it runs with (database URL, secret key)."""

    base_url: str
    settings: Settings


_LIVE: dict[str, Settings] = {}  # base URL → settings of the live server (issue #8: codes are read from its outbox)


@pytest.fixture(scope="session")
def live_civic() -> Iterator[LiveCivic]:
    """Civic served from a fresh SQLite database holding the territories and the demo content."""
    with tempfile.TemporaryDirectory(prefix="civic-e2e-") as tmp:
        civic_env = {
            "CIVIC_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/e2e.db",
            "CIVIC_SECRET_KEY": secrets.token_hex(32),  # 64 characters
            "CIVIC_ENV": "test",
            "CIVIC_UPLOAD_DIR": f"{tmp}/uploads",
        }
        env = {**os.environ, **civic_env}
        for step in (("db", "upgrade"), ("load-territories",), ("demo",)):
            _run_cli(env, *step)

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        base_url = f"http://127.0.0.1:{port}"
        settings = load_settings(environ={**civic_env, "CIVIC_BASE_URL": base_url})  # links in mails point here
        app = create_app(settings)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="civic-e2e")
        thread.start()
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or not thread.is_alive():
                server.should_exit = True
                raise RuntimeError("Civic did not answer /healthz within 20 s")
            time.sleep(0.1)
        _LIVE[base_url] = settings
        try:
            yield LiveCivic(base_url, settings)
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            sock.close()


@pytest.fixture(scope="session")
def live_server(live_civic: LiveCivic) -> str:
    """Base URL of Civic served from a fresh SQLite database holding the territories and the demo content."""
    return live_civic.base_url


T = TypeVar("T")


def run_db(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work(session)`` on the server's database through its own engine (disposed afterwards).

    ``asyncio.run`` goes to a worker thread: Playwright's sync API keeps an event loop marked as running in
    the test's thread, where ``asyncio.run`` would refuse to start.
    """
    async def main() -> T:
        engine = make_engine(settings.database_url)
        try:
            async with make_sessionmaker(engine)() as session:
                return await work(session)
        finally:
            await engine.dispose()

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="civic-e2e-db") as pool:
        return pool.submit(asyncio.run, main()).result(timeout=60)


# --- helpers -------------------------------------------------------------------------------------------------


def tr(lang: str, msgid: str) -> str:
    """``msgid`` in ``lang`` exactly as the server under test translates it (same process, same catalogue)."""
    return i18n.translations(lang).gettext(msgid)


def check_axe(page: Page, label: str = "") -> None:
    """Run axe-core on the page as it is now; fail on any serious or critical violation (report printed)."""
    results = AXE.run(page)
    bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    if results.violations_count:
        print(f"\naxe on {label or page.url}:\n{results.generate_report()}")
    assert not bad, (
        f"axe found {len(bad)} serious/critical violation(s) on {label or page.url}: "
        + "; ".join(f"{v['id']} ({v['impact']}): {len(v['nodes'])} node(s): "
                    + ", ".join(str(n.get('target')) for n in v['nodes'][:5]) for v in bad)
        + f"\n{results.generate_report()}"
    )


def expect_language(page: Page, lang: str) -> None:
    """The page is served in ``lang`` with the matching direction on <html>."""
    html = page.locator("html")
    expect(html).to_have_attribute("lang", lang)
    expect(html).to_have_attribute("dir", i18n.LANGUAGES[lang].direction)


def switch_language(page: Page, lang: str) -> None:
    """Click the link of ``lang`` in the language switch, as a person would, and wait for the page in it."""
    nav = page.locator("nav.lang-switch")
    nav.get_by_role("link", name=LANGUAGE_NAMES[lang], exact=True).click()
    expect_language(page, lang)
    # the current language is shown as text, not as a link
    expect(nav.get_by_role("link", name=LANGUAGE_NAMES[lang], exact=True)).to_have_count(0)


def screenshot(page: Page, name: str) -> Path:
    """A full-page PNG in e2e/screenshots/ (gitignored)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def signature_count(page: Page) -> int:
    """The count shown in the progress box (``.signature-count[data-count]``)."""
    value = page.locator("#progress .signature-count").get_attribute("data-count")
    assert value is not None and value.isdigit(), f"no signature count on {page.url}"
    return int(value)


def api_count(page: Page, base_url: str, petition_id: int) -> int:
    """The count the public API gives for a petition (server-side truth, independent of the page)."""
    response = page.request.get(f"{base_url}/api/v1/petitions/{petition_id}")
    assert response.ok, response.status
    return int(response.json()["signature_count"])


def register(page: Page, base_url: str, name: str, email: str, password: str, commune: str,
             axe_label: str | None = None) -> None:
    """Create a citizen account through /register, typing into the form, then the code mailed to confirm the
    email (issue #8); ends signed in (axe on the form when ``axe_label`` is given)."""
    page.goto(f"{base_url}/register")
    if axe_label:
        check_axe(page, axe_label)
    page.locator("#display_name").fill(name)
    page.locator("#email").fill(email)
    page.locator("#password").fill(password)
    page.locator("#commune_code").select_option(value=commune)
    page.locator("form.narrow-form").get_by_role("button").click()
    type_mailed_code(page, base_url, email)
    expect(page.locator(".nav-user")).to_contain_text(name)


def mailed_code(base_url: str, email: str) -> str:
    """The code in the latest verification mail the live server queued for ``email`` (issue #8, item 4): read
    from its outbox table, i.e. the mail the person would get."""
    async def work(session: AsyncSession) -> str | None:
        body = await session.scalar(text(
            "SELECT body FROM outbox WHERE to_address = :a AND purpose = 'accounts:verify_email' "
            "ORDER BY id DESC LIMIT 1"), {"a": email.strip().lower()})
        return None if body is None else str(body)

    match = re.search(r"\b(\d{8})\b", run_db(_LIVE[base_url], work) or "")
    assert match, "no verification code was mailed to this address"
    return match.group(1)


def type_mailed_code(page: Page, base_url: str, email: str) -> None:
    """After registering: on /account/verify, type the code mailed to ``email``; ends signed in."""
    expect(page).to_have_url(re.compile(re.escape(f"{base_url}/account/verify")))
    page.locator("#code").fill(mailed_code(base_url, email))
    page.locator("#verify-form").get_by_role("button").click()
    expect(page.locator(".nav-user")).to_be_visible()


def sign_in(page: Page, base_url: str, email: str, password: str, axe_label: str | None = None) -> None:
    """Sign in through the header link and the /login form (axe on the form when ``axe_label`` is given)."""
    page.locator("nav.main-nav a[href$='/login']:not([href*='?'])").click()  # not "/preferences?next=/login"
    expect(page).to_have_url(f"{base_url}/login")
    if axe_label:
        check_axe(page, axe_label)
    page.locator("#email").fill(email)
    page.locator("#password").fill(password)
    page.locator("form.narrow-form").get_by_role("button").click()
    expect(page.locator(".nav-user")).to_be_visible()


def sign_out(page: Page) -> None:
    """Sign out with the header's button."""
    page.locator("nav.main-nav form[action$='/logout']").get_by_role("button").click()
    expect(page.locator(".nav-user")).to_have_count(0)


# --- accessibility (issue #7) --------------------------------------------------------------------------------

WCAG_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa")
WCAG_OPTIONS = {"runOnly": {"type": "tag", "values": list(WCAG_TAGS)}, "resultTypes": ["violations"]}
ARTIFACTS = Path(__file__).parent / "artifacts"


def wcag_violations(page: Page, context: str | dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """axe-core's violations of every WCAG 2.0/2.1/2.2 A and AA rule on the page as it is now (any impact).
    The page needs JavaScript: in a context with ``java_script_enabled=False`` axe never finishes."""
    return list(AXE.run(page, context=context, options=WCAG_OPTIONS).response["violations"])


def describe_violations(violations: list[dict[str, Any]], label: str) -> str:
    """One readable block per violation: rule id, impact, help, and the first nodes with their HTML."""
    lines = [f"{label}: {len(violations)} WCAG violation(s)"]
    for v in violations:
        lines.append(f"  - {v['id']} ({v.get('impact')}): {v['help']} [{len(v['nodes'])} node(s)] "
                     f"{v.get('helpUrl', '')}")
        for node in v["nodes"][:4]:
            lines.append(f"      {node.get('target')}: {node.get('html', '')[:200]}")
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            if summary:
                lines.append(f"        {summary[:300]}")
    return "\n".join(lines)


def check_axe_wcag(page: Page, label: str = "") -> None:
    """Fail on ANY axe violation of the WCAG 2.0/2.1/2.2 A and AA rules (not only serious or critical)."""
    violations = wcag_violations(page)
    assert not violations, describe_violations(violations, label or page.url)


def new_person(browser: Browser, base_url: str, lang: str | None = None, **context_args: object) -> Page:
    """A new browser context (own cookies) with bounded timeouts, and its page; ``lang`` sets the language
    cookie the language switch would set. Close it with ``page.context.close()``."""
    context = browser.new_context(**context_args)  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    if lang:
        set_language_cookie(context, base_url, lang)
    return context.new_page()


def set_language_cookie(context: BrowserContext, base_url: str, lang: str) -> None:
    """Choose the interface language for a whole context, as ``/lang/{code}`` does (cookie ``civic_lang``)."""
    context.add_cookies([{"name": LANGUAGE_COOKIE, "value": lang, "url": base_url}])


def log_in(page: Page, base_url: str, email: str, password: str) -> None:
    """Sign in straight through the /login form (counts against the login rate limit: 10 per 5 minutes)."""
    page.goto(f"{base_url}/login")
    page.locator("#email").fill(email)
    page.locator("#password").fill(password)
    page.locator("form.narrow-form").get_by_role("button").click()
    expect(page.locator(".nav-user")).to_be_visible()
