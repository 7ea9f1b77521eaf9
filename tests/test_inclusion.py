"""Inclusion (issue #7) outside the browser: deadlines across the Ramadan change of offset, display
preferences, Arabic-Indic digits, the easy-read summary, Tamazight pages, and the page-weight budget."""

from __future__ import annotations

import gzip
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from civic import i18n, preferences
from civic.errors import Conflict
from civic.petitions import lifecycle, service
from civic.petitions.models import Petition
from civic.settings import PetitionRules
from tests.conftest import NOW, csrf_from, make_user
from tests.test_petitions_service import BODY, TITLE, signature

CASABLANCA = i18n.TIMEZONE


@pytest.mark.parametrize(("last_day", "offset_hours"), [
    ("2026-02-25", 0),  # during Ramadan 2026 Morocco is UTC+0
    ("2026-03-25", 1),  # after it, UTC+1
])
async def test_collection_closes_at_2359_local_whatever_the_offset(session, keys, last_day, offset_hours) -> None:  # type: ignore[no-untyped-def]
    agent, early, late = await make_user(session, 1), await make_user(session, 2), await make_user(session, 3)
    pid = await service.create_petition(session, agent, service.PetitionDraft(TITLE, BODY, "council"), "05", NOW)
    await lifecycle.transition(session, agent, pid, "collecting", lifecycle.TransitionInput(), PetitionRules(), NOW)
    ends = i18n.end_of_local_day(datetime.fromisoformat(last_day + "T12:00").replace(tzinfo=CASABLANCA))
    assert ends.astimezone(CASABLANCA).utcoffset() == timedelta(hours=offset_hours)
    await session.execute(update(Petition).where(Petition.id == pid).values(collection_ends_at=ends))
    await session.commit()
    at_2358 = datetime.fromisoformat(last_day + "T23:58").replace(tzinfo=CASABLANCA)
    at_0001 = at_2358 + timedelta(minutes=3)
    assert await service.sign(session, early, keys, pid, signature("TZ1"), at_2358) is service.SignOutcome.SIGNED
    with pytest.raises(Conflict):
        await service.sign(session, late, keys, pid, signature("TZ2"), at_0001)
    assert at_2358.astimezone(UTC).hour == 23 - offset_hours


def test_published_periods_end_at_local_midnight() -> None:
    published = datetime(2026, 2, 20, 12, 0, tzinfo=UTC)  # Ramadan: UTC+0
    end = i18n.end_of_local_day(published + timedelta(days=365))
    local = end.astimezone(CASABLANCA)
    assert (local.date().isoformat(), local.hour, local.minute) == ("2027-02-20", 23, 59)


def test_preferences_cookie_round_trip_and_digits() -> None:
    prefs = preferences.from_form({"text_large": "y", "digits_arab": "y"})
    assert prefs.encode() == "text-large.digits-arab"
    assert preferences.decode(prefs.encode()) == prefs
    assert preferences.decode("text-huge.evil-1.contrast-high") == preferences.Preferences(contrast="high")
    token = preferences.set_current(prefs)
    try:
        shown = i18n.format_number(2025)
        assert "٢" in shown and "٥" in shown and not re.search("[0-9]", shown)
    finally:
        preferences.reset(token)
    assert i18n.format_number(2025) in ("2025", "2,025", "2 025", "2.025")


async def test_preferences_page_sets_classes_and_remembers_per_user(client) -> None:  # type: ignore[no-untyped-def]
    from tests.test_views import register

    page = await client.get("/preferences")
    assert page.status_code == 200
    r = await client.post("/preferences?next=/", data={"csrf_token": csrf_from(page.text), "text_large": "y",
                                                        "contrast_high": "y", "motion_reduce": "y",
                                                        "digits_arab": "y"})
    assert r.status_code == 303 and r.headers["location"] == "/"
    home = await client.get("/")
    assert 'class="text-large contrast-high motion-reduce"' in home.text
    assert "٤٠٠" in home.text  # the threshold, 400, in Arabic-Indic digits
    # signed in: saved on the account and restored at the next sign-in on another device
    await register(client, "prefs@test.invalid")
    page = await client.get("/preferences")
    await client.post("/preferences", data={"csrf_token": csrf_from(page.text), "contrast_high": "y"})
    client.cookies.clear()
    page = await client.get("/login")
    r = await client.post("/login", data={"csrf_token": csrf_from(page.text), "email": "prefs@test.invalid",
                                          "password": "a long password"})
    assert "civic_prefs" in r.headers.get("set-cookie", "")
    assert 'class="contrast-high"' in (await client.get("/")).text


async def test_easy_read_summary_is_shown_first(session, client) -> None:  # type: ignore[no-untyped-def]
    agent = await make_user(session, 1)
    draft = service.PetitionDraft(TITLE, BODY, "council", easy_read="نريد حافلات يسهل ركوبها.")
    pid = await service.create_petition(session, agent, draft, "05", NOW)
    await lifecycle.transition(session, agent, pid, "collecting", lifecycle.TransitionInput(), PetitionRules(), NOW)
    html = (await client.get(f"/petitions/{pid}")).text
    assert html.index("نريد حافلات يسهل ركوبها.") < html.index(BODY[:30])
    assert re.search(r'<button type="button"[^>]*data-listen="easy-text"[^>]*hidden>', html)
    with pytest.raises(service.Invalid):
        await service.create_petition(session, agent, service.PetitionDraft(TITLE, BODY, "council",
                                                                            easy_read="x" * 2001), "05", NOW)


async def test_tamazight_pages_are_ltr_in_tifinagh(client) -> None:  # type: ignore[no-untyped-def]
    await client.get("/lang/zgh")
    html = (await client.get("/")).text
    assert '<html lang="zgh" dir="ltr">' in html
    assert re.search("<h1>[^<]*[\u2d30-\u2d7f]{3,}", html)  # the heading is in Tifinagh
    assert 'lang="ar" dir="rtl"' in html and 'lang="fr" dir="ltr"' in html  # the switch names each language


async def test_page_weight_budget(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    """Home and petition pages under 60 KB transferred on first load (HTML + CSS + JS, gzip), no third party."""
    from tests.test_views import seeded_petition

    pid = await seeded_petition(session, keys)
    for path in ("/", f"/petitions/{pid}"):
        page = await client.get(path, headers={"accept-encoding": "gzip"})
        assert page.headers.get("content-encoding") == "gzip"
        assets = re.findall(r'(?:href|src)="(/static/[^"]+\.(?:css|js))"', page.text)
        assert assets and not re.search(r'(?:href|src)="(?:https?:)?//', page.text)  # nothing third-party
        total = len(gzip.compress(page.content))
        for asset in assets:
            body = (await client.get(asset)).content
            total += len(gzip.compress(body))
        print(f"page weight {path}: {total} bytes gzip ({len(assets)} assets)")
        assert total < 60_000, (path, total)
