"""The audit trail (issue #6, item 5): where each event came from, the hash chain and ``civic audit verify``
(altered and deleted rows), the admin page (filters, pages, chain check, access) and its streamed exports.
Real databases, made-up people."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import httpx
from openpyxl import load_workbook
from sqlalchemy import delete, select, update
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from civic import audit, audit_log, i18n
from civic.accounts import service as accounts
from civic.accounts.models import User
from civic.audit import AuditEvent, check_chain, event_hash, verify_chain
from civic.permissions import Actor
from civic.settings import ROOT, Settings
from tests.conftest import NOW, SECRET, csrf_from, make_user

PASSWORD = "a long password for tests"


def ar(msgid: str) -> str:
    """``msgid`` as the pages show it in Arabic, the default language, from the catalogue."""
    return i18n.translations("ar").gettext(msgid)


async def sign_in(client, session, role: str, n: int, name: str | None = None) -> Actor:  # type: ignore[no-untyped-def]
    """Create an account with ``role`` and sign the client in with it."""
    email = f"audit-{role}{n}@test.invalid"
    display_name = name or f"{role} {n}"
    user_id = await accounts.create_user(session, display_name=display_name, email=email, password=PASSWORD,
                                         role=role, commune_code="05.091.01.01", now=NOW, region_code="05")
    page = await client.get("/login")
    r = await client.post("/login", data={"csrf_token": csrf_from(page.text), "email": email, "password": PASSWORD})
    assert r.status_code == 303, r.text
    return Actor(user_id, role, display_name)


async def add_events(session, n: int, action: str = "test:thing", start: datetime = NOW,  # type: ignore[no-untyped-def]
                     actor_id: int | None = None, subject_type: str = "petition") -> None:
    """``n`` events, one minute apart from ``start``, subjects 1..n."""
    async with session.begin():
        for i in range(n):
            await audit.record(session, actor_id=actor_id, action=action, subject_type=subject_type,
                               subject_id=i + 1, now=start + timedelta(minutes=i), detail={"n": i + 1})


async def events(session) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    rows = list(await session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    await session.commit()
    return rows


def client_from(app, address: str) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    """An httpx client whose requests come from ``address`` (the ASGI scope's client)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 40000)),
                             base_url="http://testserver")


# --- from where ---------------------------------------------------------------------------------------------


async def test_origin_is_the_requests_client_address_and_not_a_forged_header(app, session) -> None:  # type: ignore[no-untyped-def]
    async with client_from(app, "203.0.113.7") as client:
        page = await client.get("/register")
        r = await client.post("/register", headers={"X-Forwarded-For": "198.51.100.9"}, data={
            "csrf_token": csrf_from(page.text), "display_name": "Nadia", "email": "nadia@test.invalid",
            "password": PASSWORD, "commune_code": "05.091.01.01"})
        assert r.status_code == 303
    rows = await events(session)
    registered = [e for e in rows if e.action == "accounts:register"]
    assert len(registered) == 1 and registered[0].origin == "203.0.113.7"  # the peer, not the forged header
    assert all(e.origin != "198.51.100.9" for e in rows)
    # services called outside a request (CLI, jobs, these tests) record no origin
    await add_events(session, 1)
    assert (await events(session))[-1].origin is None
    assert await verify_chain(session) is None


async def test_behind_a_trusted_proxy_the_forwarded_address_is_recorded(app, session) -> None:  # type: ignore[no-untyped-def]
    # What `civic serve` does with CIVIC_TRUSTED_PROXIES: uvicorn's proxy middleware, trusting only those peers.
    behind = ProxyHeadersMiddleware(app, trusted_hosts="10.0.0.2")
    for peer, expected in (("10.0.0.2", "198.51.100.9"), ("192.0.2.44", "192.0.2.44")):
        transport = httpx.ASGITransport(app=behind, client=(peer, 40000))  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            page = await client.get("/register")
            r = await client.post("/register", headers={"X-Forwarded-For": "198.51.100.9"}, data={
                "csrf_token": csrf_from(page.text), "display_name": "Omar", "email": f"omar-{peer}@test.invalid",
                "password": PASSWORD, "commune_code": "05.091.01.01"})
            assert r.status_code == 303
        assert (await events(session))[-1].origin == expected


async def test_the_hash_covers_the_origin_and_rows_without_one_keep_verifying(session) -> None:  # type: ignore[no-untyped-def]
    await add_events(session, 2)  # no origin: hashed as before migration 0006
    token = audit.set_origin("2001:db8::1")
    try:
        await add_events(session, 2, action="test:web")
    finally:
        audit.reset_origin(token)
    rows = await events(session)
    assert [e.origin for e in rows] == [None, None, "2001:db8::1", "2001:db8::1"]
    first = rows[0]
    assert first.hash == event_hash(audit.GENESIS, first.at, None, first.action, first.subject_type,
                                    first.subject_id, first.detail)  # the pre-0006 formula, unchanged
    assert rows[2].hash != event_hash(rows[2].prev_hash, rows[2].at, None, rows[2].action, rows[2].subject_type,
                                      rows[2].subject_id, rows[2].detail)  # the origin is in the hash
    status = await check_chain(session)
    assert status.intact and status.checked == 4
    await session.execute(update(AuditEvent).where(AuditEvent.id == rows[2].id).values(origin="192.0.2.1"))
    await session.commit()
    status = await check_chain(session)
    assert status.broken is not None and status.broken.id == rows[2].id and status.broken.action == "test:web"
    assert status.checked == 2


# --- civic audit verify -------------------------------------------------------------------------------------


def civic_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CIVIC_DATABASE_URL": settings.database_url, "CIVIC_SECRET_KEY": SECRET,
           "CIVIC_ENV": "test"}
    return subprocess.run([sys.executable, "-m", "civic", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


async def test_cli_verify_passes_then_names_an_altered_entry(settings, session) -> None:  # type: ignore[no-untyped-def]
    await add_events(session, 5)
    ok = civic_cli(settings, "audit", "verify")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "audit chain intact: 5 events"
    rows = await events(session)
    altered = rows[2]
    await session.execute(update(AuditEvent).where(AuditEvent.id == altered.id).values(detail='{"n": 99}'))
    await session.commit()
    broken = civic_cli(settings, "audit", "verify")
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert f"broken at event {altered.id} " in broken.stdout
    assert altered.at.isoformat() in broken.stdout and "test:thing" in broken.stdout


async def test_cli_verify_detects_a_deleted_entry_by_the_next_link(settings, session) -> None:  # type: ignore[no-untyped-def]
    await add_events(session, 5)
    rows = await events(session)
    await session.execute(delete(AuditEvent).where(AuditEvent.id == rows[1].id))
    await session.commit()
    result = civic_cli(settings, "audit", "verify")
    assert result.returncode == 1
    assert f"broken at event {rows[2].id} " in result.stdout  # the entry after the hole
    assert "1 events before it are intact" in result.stdout


# --- the admin page -----------------------------------------------------------------------------------------


async def test_only_admins_see_the_audit_log(client, session) -> None:  # type: ignore[no-untyped-def]
    anonymous = await client.get("/admin/audit")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    for path in ("/admin/audit.csv", "/admin/audit.pdf"):  # nothing, not even which formats exist
        assert (await client.get(path)).status_code == 303
    await sign_in(client, session, "council_staff", 1)
    assert (await client.get("/admin/audit")).status_code == 403
    assert (await client.get("/admin/audit.csv")).status_code == 403
    assert (await client.get("/admin/audit.json")).status_code == 403
    assert (await client.get("/admin/audit.pdf")).status_code == 403
    page = await client.get("/")
    await client.post("/logout", data={"csrf_token": csrf_from(page.text)})
    await sign_in(client, session, "moderator", 2)
    assert (await client.get("/admin/audit")).status_code == 403
    assert not [e for e in await events(session) if e.action.startswith("audit:")]


async def test_admin_page_filters_pages_and_is_itself_audited(app, session) -> None:  # type: ignore[no-untyped-def]
    async with client_from(app, "192.0.2.10") as client:
        admin = await sign_in(client, session, "admin", 1, name="Amina Admin")
        other = await make_user(session, 7)
        await add_events(session, 60, action="petitions:submitted", start=NOW - timedelta(days=3))
        await add_events(session, 3, action="signatures:view_personal", start=NOW, actor_id=other.user_id,
                         subject_type="signature")
        r = await client.get("/admin/audit")
        assert r.status_code == 200
        assert r.text.count("<tr>") == 1 + 50  # header + a page of 50
        assert "signatures:view_personal" in r.text and "User 7" in r.text
        assert "<caption" in r.text and 'scope="col"' in r.text
        viewed = (await events(session))[-1]
        assert viewed.action == "audit:view" and viewed.actor_id == admin.user_id and viewed.origin == "192.0.2.10"

        # action prefix, subject type, subject id, actor
        r = await client.get("/admin/audit", params={"action": "signatures:"})
        assert r.text.count("signatures:view_personal</code>") == 3 and "petitions:submitted</code>" not in r.text
        r = await client.get("/admin/audit", params={"subject_type": "petition", "subject_id": "60"})
        assert r.text.count("petitions:submitted</code>") == 1
        r = await client.get("/admin/audit", params={"actor_id": str(other.user_id)})
        assert r.text.count("signatures:view_personal</code>") == 3 and "petitions:submitted</code>" not in r.text
        # local dates: the 60 events are on the day three days before NOW (Africa/Casablanca), the others on NOW's
        day = (NOW - timedelta(days=3)).astimezone(UTC).date().isoformat()
        r = await client.get("/admin/audit", params={"date_from": day, "date_to": day, "action": "petitions:"})
        assert r.text.count("petitions:submitted</code>") == 50  # first page
        r = await client.get("/admin/audit", params={"date_from": NOW.date().isoformat()})
        assert "petitions:submitted</code>" not in r.text and "signatures:view_personal</code>" in r.text
        # a LIKE wildcard is taken literally
        assert ar("No event matches these filters.") in (await client.get("/admin/audit", params={"action": "%"})).text

        # bad filters: 422, the typed text kept, errors linked to their fields, nothing read
        bad = await client.get("/admin/audit", params={"date_from": "2026-02-31", "actor_id": "abc",
                                                       "action": "signatures:"})
        assert bad.status_code == 422
        assert 'id="date_from-error"' in bad.text and 'aria-describedby="date_from-error"' in bad.text
        assert 'id="actor_id-error"' in bad.text and 'value="abc"' in bad.text and 'value="signatures:"' in bad.text
        reversed_dates = await client.get("/admin/audit", params={"date_from": "2026-11-20", "date_to": "2026-11-19"})
        assert reversed_dates.status_code == 422 and 'id="date_to-error"' in reversed_dates.text

        # keyset pages: stable while new events arrive
        first = await client.get("/admin/audit", params={"action": "petitions:"})
        assert 'rel="next"' in first.text and 'rel="prev"' not in first.text
        older_link = first.text.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
        await add_events(session, 5, action="petitions:published")
        second = await client.get(older_link)
        assert second.text.count("petitions:submitted</code>") == 10 and 'rel="next"' not in second.text
        assert 'rel="prev"' in second.text
        assert "petitions:published</code>" in (await client.get("/admin/audit", params={"action": "petitions:"})).text


async def test_chain_check_on_demand_reports_intact_then_the_broken_entry(client, session) -> None:  # type: ignore[no-untyped-def]
    await sign_in(client, session, "admin", 1)
    await add_events(session, 4)
    plain = await client.get("/admin/audit")
    assert 'id="chain-status"' not in plain.text and 'name="verify"' in plain.text
    checked = await client.get("/admin/audit", params={"verify": "1"})
    assert 'id="chain-status"' in checked.text and "notice success" in checked.text
    rows = await events(session)
    assert json.loads(rows[-1].detail)["verify"] is True
    target = [e for e in rows if e.action == "test:thing"][2]
    await session.execute(update(AuditEvent).where(AuditEvent.id == target.id).values(actor_id=None,
                                                                                     subject_id="999"))
    await session.commit()
    broken = await client.get("/admin/audit", params={"verify": "1"})
    assert "notice error" in broken.text
    status = broken.text.split('id="chain-status">')[1].split("</p>")[0]
    assert str(target.id) in status and "test:thing" in status


# --- exports ------------------------------------------------------------------------------------------------


async def test_exports_stream_the_filtered_log_neutralised_and_are_audited(client, session) -> None:  # type: ignore[no-untyped-def]
    admin = await sign_in(client, session, "admin", 1)
    evil = await make_user(session, 9)
    await session.execute(update(User).where(User.id == evil.user_id).values(display_name="=HYPERLINK(\"x\")"))
    await session.commit()
    await add_events(session, 3, action="signatures:view_personal", actor_id=evil.user_id)
    await add_events(session, 2, action="petitions:submitted")

    r = await client.get("/admin/audit.csv", params={"action": "signatures:"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["cache-control"] == "no-store" and "attachment" in r.headers["content-disposition"]
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert len(rows) == 1 + 3
    assert all(row[4] == "'=HYPERLINK(\"x\")" for row in rows[1:])  # formula neutralised
    assert [row[5] for row in rows[1:]] == ["signatures:view_personal"] * 3
    assert [int(row[0]) for row in rows[1:]] == sorted(int(row[0]) for row in rows[1:])  # oldest first

    j = await client.get("/admin/audit.json", params={"action": "petitions:"})
    assert j.status_code == 200 and j.headers["content-type"].startswith("application/json")
    data = j.json()
    assert [e["action"] for e in data] == ["petitions:submitted"] * 2
    assert data[0]["at"] == NOW.isoformat() and data[0]["origin"] is None and len(data[0]["hash"]) == 64

    x = await client.get("/admin/audit.xlsx", params={"actor_id": str(evil.user_id)})
    assert x.status_code == 200
    sheet = load_workbook(io.BytesIO(x.content), read_only=True).active
    assert sheet is not None
    cells = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert len(cells) == 1 + 3 and cells[1][4] == "'=HYPERLINK(\"x\")"

    assert (await client.get("/admin/audit.pdf")).status_code == 404
    assert (await client.get("/admin/audit.csv", params={"date_from": "nope"})).status_code == 422
    exported = [e for e in await events(session) if e.action == "audit:export"]
    assert [json.loads(e.detail)["format"] for e in exported] == ["csv", "json", "xlsx"]
    assert all(e.actor_id == admin.user_id and e.origin == "127.0.0.1" for e in exported)
    assert json.loads(exported[0].detail)["filters"] == {"action": "signatures:"}
    assert await verify_chain(session) is None


async def test_browse_service_pages_newer_and_older(session) -> None:  # type: ignore[no-untyped-def]
    admin = await make_user(session, 1, role="admin")
    await add_events(session, 120)
    query = audit_log.AuditQuery.from_params({"action": "test:"})
    first = await audit_log.browse(session, admin, query, NOW)
    assert len(first.rows) == 50 and first.newer is None and first.older is not None
    ids = [row.id for row in first.rows]
    assert ids == sorted(ids, reverse=True)
    second = await audit_log.browse(session, admin, query, NOW, before=str(first.older))
    assert second.rows[0].id == ids[-1] - 1 and second.newer == second.rows[0].id
    back = await audit_log.browse(session, admin, query, NOW, after=str(second.newer))
    assert [row.id for row in back.rows] == ids and back.newer is None
    third = await audit_log.browse(session, admin, query, NOW, before=str(second.older))
    assert len(third.rows) == 20 and third.older is None
    junk = await audit_log.browse(session, admin, query, NOW, before="1e9")  # a cursor that is not an id
    assert [row.id for row in junk.rows] == ids
