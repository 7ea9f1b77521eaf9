"""The site through HTTP (httpx + ASGI): pages, forms with CSRF, htmx fragments, API, exports, bad input."""

from __future__ import annotations

import csv
import io
import json
import re

import httpx
import pytest
from sqlalchemy import func, select

from civic.audit import AuditEvent
from civic.petitions import service
from civic.petitions.models import Signature
from tests.conftest import NOW, csrf_from, mailed_code, make_user
from tests.test_petitions_service import open_petition, signature

PASSWORD = "a long password"


async def register(client, email: str, name: str = "Citizen", commune: str = "05.091.01.01") -> None:  # type: ignore[no-untyped-def]
    """Register through the pages and type the mailed code (issue #8, item 4): ends signed in, email verified."""
    page = await client.get("/register")
    r = await client.post("/register", data={
        "csrf_token": csrf_from(page.text), "display_name": name, "email": email, "password": PASSWORD,
        "commune_code": commune,
    })
    assert r.status_code == 303 and r.headers["location"].startswith("/account/verify"), r.text
    page = await client.get("/account/verify")
    code = await mailed_code(client._transport.app, email)
    r = await client.post("/account/verify", data={"csrf_token": csrf_from(page.text), "code": code})
    assert r.status_code == 303, r.text


async def seeded_petition(session, keys) -> int:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    pid = await open_petition(session, author)
    signer = await make_user(session, 2, commune="05.301.01.01")
    await service.sign(session, signer, keys, pid, signature("ZK1", "05.301.01.01", full_name="=HYPERLINK(\"x\")"),
                       NOW)
    return pid


def sign_form(token: str, **over: str) -> dict[str, str]:
    data = {"csrf_token": token, "full_name": "Hajar Test", "cnie": "hb 98 76", "commune_code": "05.081.01.01",
            "electoral_declaration": "y", "consent": "y"}
    data.update(over)
    return data


async def test_home_is_arabic_rtl_and_lists_petitions(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    await seeded_petition(session, keys)
    r = await client.get("/")
    assert r.status_code == 200
    assert '<html lang="ar" dir="rtl">' in r.text
    assert "Un titre de pétition assez long" in r.text
    assert "content-security-policy" in r.headers and "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert 'href="#main"' in r.text  # skip link


async def test_language_switch_is_remembered(client) -> None:  # type: ignore[no-untyped-def]
    r = await client.get("/lang/fr", params={"next": "/register"})
    assert r.status_code == 303 and r.headers["location"] == "/register"
    r = await client.get("/register")
    assert '<html lang="fr" dir="ltr">' in r.text
    evil = await client.get("/lang/ar", params={"next": "//evil.example"})
    assert evil.headers["location"] == "/"


async def test_petition_page_shows_rules_and_accessible_progress(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    pid = await seeded_petition(session, keys)
    await client.get("/lang/fr")
    r = await client.get(f"/petitions/{pid}")
    assert r.status_code == 200
    assert 'data-count="1"' in r.text
    assert re.search(r'<progress id="progress-total" aria-labelledby="progress-total-label" max="400" value="1">',
                     r.text)
    assert len(re.findall(r'<progress id="progress-05-\d{3}"[^>]* max="20"', r.text)) == 5
    assert 'aria-live="polite"' in r.text
    assert "400" in r.text and "20" in r.text


async def test_register_sign_with_htmx_and_sign_again(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    pid = await seeded_petition(session, keys)
    await register(client, "hajar@test.invalid", "Hajar")
    page = await client.get(f"/petitions/{pid}")
    assert 'id="cnie"' in page.text and "Hajar" in page.text
    r = await client.post(f"/petitions/{pid}/sign", data=sign_form(csrf_from(page.text)),
                          headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert "<html" not in r.text  # a fragment
    assert 'id="progress" class="progress-box"' in r.text and 'hx-swap-oob="true"' in r.text
    assert 'data-count="2"' in r.text
    again = await client.get(f"/petitions/{pid}/sign")
    assert 'id="cnie"' not in again.text  # no form: already signed
    stored = await session.scalar(select(func.count()).select_from(Signature).where(Signature.petition_id == pid))
    assert stored == 2


async def test_sign_without_javascript_redirects_with_a_message(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    pid = await seeded_petition(session, keys)
    await register(client, "nojs@test.invalid")
    page = await client.get(f"/petitions/{pid}/sign")
    r = await client.post(f"/petitions/{pid}/sign", data=sign_form(csrf_from(page.text)))
    assert r.status_code == 303 and r.headers["location"].endswith(f"/petitions/{pid}")
    shown = await client.get(r.headers["location"])
    assert 'role="status"' in shown.text and 'data-count="2"' in shown.text


@pytest.mark.parametrize(("over", "field"), [
    ({"cnie": "123"}, "cnie"), ({"cnie": ""}, "cnie"), ({"full_name": ""}, "full_name"), ({"consent": ""}, "consent"),
    ({"commune_code": "01.511.01.0"}, "commune_code"), ({"commune_code": "<script>"}, "commune_code"),
])
async def test_bad_signature_gets_a_translated_field_error(client, session, keys, over, field) -> None:  # type: ignore[no-untyped-def]
    pid = await seeded_petition(session, keys)
    await register(client, "bad@test.invalid")
    page = await client.get(f"/petitions/{pid}/sign")
    r = await client.post(f"/petitions/{pid}/sign", data=sign_form(csrf_from(page.text), **over))
    assert r.status_code == 422
    assert f'id="{field}-error"' in r.text
    assert re.search(rf'id="{field}"[^>]*aria-describedby="[^"]*{field}-error"', r.text)
    assert re.search(r'id="[a-z_]+-error">\s*<span>[^<]*[\u0600-\u06FF]', r.text), "error not in Arabic"
    assert await session.scalar(select(func.count()).select_from(Signature).where(Signature.petition_id == pid)) == 1


async def test_every_post_needs_a_csrf_token(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    pid = await seeded_petition(session, keys)
    await register(client, "csrf@test.invalid")
    for path in ("/register", "/login", "/logout", "/petitions/new", f"/petitions/{pid}/sign",
                 f"/petitions/{pid}/transition/submitted", f"/petitions/{pid}/deputy", "/organisations/new",
                 f"/me/signatures/{pid}/withdraw"):
        r = await client.post(path, data={"title": "x"})
        assert r.status_code == 403, path
        assert "Traceback" not in r.text


async def test_create_and_publish_a_petition(client, session) -> None:  # type: ignore[no-untyped-def]
    await register(client, "author@test.invalid")
    page = await client.get("/petitions/new")
    token = csrf_from(page.text)
    bad = await client.post("/petitions/new", data={"csrf_token": token, "title": "x" * 5000, "body": "",
                                                    "addressed_to": "body_youth"})
    assert bad.status_code == 422 and 'id="title-error"' in bad.text and 'id="body-error"' in bad.text
    body = "نطالب المجلس بإدراج هذه النقطة في جدول أعمال الدورة المقبلة لأن الأمر يهم ساكنة الجهة كلها."
    r = await client.post("/petitions/new", data={"csrf_token": token, "title": "تهيئة الطرق القروية بإقليم أزيلال",
                                                  "body": body, "addressed_to": "body_youth"})
    assert r.status_code == 303
    draft = await client.get(r.headers["location"])
    assert "/transition/collecting" in draft.text
    r = await client.post(r.headers["location"] + "/transition/collecting", data={"csrf_token": csrf_from(draft.text)})
    assert r.status_code == 303
    api = (await client.get("/api/v1/petitions")).json()["petitions"]
    assert [(p["title"], p["status"], p["threshold"]) for p in api] == [("تهيئة الطرق القروية بإقليم أزيلال",
                                                                         "collecting", 400)]


async def test_anonymous_signing_redirects_to_login(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    pid = await seeded_petition(session, keys)
    r = await client.get("/petitions/new")
    assert r.status_code == 303 and "/login" in r.headers["location"]
    page = await client.get(f"/petitions/{pid}")
    assert 'id="cnie"' not in page.text and "/login?next=" in page.text
    token = csrf_from((await client.get("/login")).text)
    r = await client.post(f"/petitions/{pid}/sign", data=sign_form(token))
    assert r.status_code == 303 and "/login" in r.headers["location"]


async def test_login_is_rate_limited(client) -> None:  # type: ignore[no-untyped-def]
    page = await client.get("/login")
    token = csrf_from(page.text)
    statuses = [(await client.post("/login", data={"csrf_token": token, "email": "x@test.invalid",
                                                   "password": "wrong password"})).status_code for _ in range(12)]
    assert statuses[:10] == [422] * 10
    assert statuses[10:] == [429, 429]


async def test_successful_sign_ins_do_not_use_up_the_limit(client) -> None:  # type: ignore[no-untyped-def]
    """Twelve sign-ins from one shared address (an association's office) are not locked out."""
    await register(client, "office@test.invalid")
    for _ in range(12):
        await client.post("/logout", data={"csrf_token": csrf_from((await client.get("/")).text)})
        token = csrf_from((await client.get("/login")).text)
        r = await client.post("/login", data={"csrf_token": token, "email": "office@test.invalid",
                                              "password": PASSWORD})
        assert r.status_code == 303


async def test_bad_requests_are_4xx_never_500(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    pid = await seeded_petition(session, keys)
    assert (await client.get("/petitions/999999")).status_code == 404
    assert (await client.get("/petitions/abc")).status_code == 404
    assert (await client.get("/api/v1/petitions/999999")).json()["status"] == 404
    assert (await client.delete(f"/petitions/{pid}")).status_code == 405
    page = await client.get("/register")
    huge = await client.post("/register", data={"csrf_token": csrf_from(page.text), "display_name": "x" * 1_000_000})
    assert huge.status_code == 413 and "Traceback" not in huge.text
    assert 'lang="ar"' in huge.text


async def test_staff_view_and_csv_export(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    pid = await seeded_petition(session, keys)
    await register(client, "citizen@test.invalid")
    assert (await client.get(f"/staff/petitions/{pid}/signatures.csv")).status_code == 403
    assert (await client.get(f"/staff/petitions/{pid}/signatures")).status_code == 403
    page = await client.get("/")
    await client.post("/logout", data={"csrf_token": csrf_from(page.text)})
    from civic.accounts import service as accounts
    await accounts.create_user(session, display_name="Staff", email="staff@test.invalid", password=PASSWORD,
                               role="council_staff", commune_code="05.091.01.01", now=NOW, region_code="05")
    page = await client.get("/login")
    r = await client.post("/login", data={"csrf_token": csrf_from(page.text), "email": "staff@test.invalid",
                                          "password": PASSWORD})
    assert r.status_code == 303
    listing = await client.get(f"/staff/petitions/{pid}/signatures")
    assert listing.status_code == 200 and ">ZK1<" in listing.text
    r = await client.get(f"/staff/petitions/{pid}/signatures.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert len(rows) == 2 and rows[1][3] == "ZK1" and rows[1][2] == "'=HYPERLINK(\"x\")"
    assert rows[1][4] == "خنيفرة"
    actions = (await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id))).all()
    assert actions[-2:] == ["signatures:view_personal", "signatures:export_personal"]


async def test_api_and_health_carry_no_personal_data(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    pid = await seeded_petition(session, keys)
    health = await client.get("/healthz")
    assert health.json() == {"status": "ok"}
    one = (await client.get(f"/api/v1/petitions/{pid}")).json()
    assert set(one) >= {"id", "title", "status", "addressed_to", "signature_count", "threshold",
                        "signatures_by_province", "created_at"}
    assert one["signature_count"] == 1 and one["signatures_by_province"]["05.301"] == 1
    provinces = (await client.get("/api/v1/territories/provinces")).json()
    assert provinces["provinces"][0]["name_ar"] == "أزيلال"
    assert provinces["region"]["population_2024"] == 2_525_801
    everything = json.dumps([one, provinces, (await client.get("/api/v1/petitions")).json()], ensure_ascii=False)
    assert "ZK1" not in everything and "HYPERLINK" not in everything and "@" not in everything


async def test_an_unexpected_error_is_a_translated_page_without_a_trace(app) -> None:  # type: ignore[no-untyped-def]
    from starlette.routing import Route

    async def boom(request):  # type: ignore[no-untyped-def]
        raise RuntimeError("secret internals")

    app.router.routes.append(Route("/boom", boom))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        r = await c.get("/boom")
    assert r.status_code == 500
    assert "secret internals" not in r.text and "Traceback" not in r.text
    assert '<html lang="ar" dir="rtl">' in r.text


@pytest.mark.parametrize("path", [
    "/petitions/99999999999999999999", "/petitions/2147483648", "/petitions/0", "/api/v1/petitions/3000000000",
    "/petitions/9223372036854775808/sign", "/petitions/2147483648/progress",
    "/staff/petitions/99999999999999999999/signatures.csv",
])
async def test_ids_no_row_can_have_are_404(client, path) -> None:  # type: ignore[no-untyped-def]
    assert (await client.get(path)).status_code == 404


async def test_nul_and_bidi_overrides_are_removed_from_input(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    page = await client.get("/login")
    r = await client.post("/login", data={"csrf_token": csrf_from(page.text), "email": "a\x00b@x.ma",
                                          "password": "whatever pass"})
    assert r.status_code == 422
    page = await client.get("/register")
    r = await client.post("/register", data={
        "csrf_token": csrf_from(page.text), "display_name": "ab\x00c\u202ed", "email": "nul@test.invalid",
        "password": PASSWORD, "commune_code": "05.091.01.01"})
    assert r.status_code == 303
    page = await client.get("/account/verify")  # signed in once the mailed code is typed (issue #8, item 4)
    await client.post("/account/verify", data={"csrf_token": csrf_from(page.text),
                                               "code": await mailed_code(client._transport.app, "nul@test.invalid")})
    home = await client.get("/")
    assert "abcd" in home.text and "\x00" not in home.text and "\u202e" not in home.text


async def test_links_and_redirects_are_site_relative(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    r = await client.get("/", headers={"host": "civic.example.ma"})
    assert 'href="/static/css/civic.css"' in r.text and "http://civic.example.ma" not in r.text
    pid = await seeded_petition(session, keys)
    await register(client, "rel@test.invalid")
    page = await client.get(f"/petitions/{pid}/sign")
    r = await client.post(f"/petitions/{pid}/sign", data=sign_form(csrf_from(page.text)))
    assert r.headers["location"] == f"/petitions/{pid}"


async def test_healthz_reports_an_unmigrated_database(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from civic.app import create_app
    from civic.settings import load_settings

    empty = create_app(load_settings({"CIVIC_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}",
                                      "CIVIC_SECRET_KEY": "k" * 40, "CIVIC_ENV": "test"}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=empty), base_url="http://testserver") as c:
        health = await c.get("/healthz")
        home = await c.get("/")
    assert health.status_code == 503 and "civic db upgrade" in health.json()["error"]
    assert home.status_code == 503 and "Traceback" not in home.text
    await empty.state.engine.dispose()


async def test_a_very_long_field_gets_the_form_error_not_a_bare_400(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    """A field longer than a form part used to be (64 KiB) but within the body limit is answered by the form."""
    pid = await seeded_petition(session, keys)
    await register(client, "long@test.invalid")
    token = csrf_from((await client.get(f"/petitions/{pid}/sign")).text)
    r = await client.post(f"/petitions/{pid}/sign", data=sign_form(token, full_name="a" * 70_000))
    assert r.status_code == 422, r.status_code
    assert 'aria-invalid="true"' in r.text
