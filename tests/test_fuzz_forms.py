"""Hypothesis over every form (issue #8, item 5: bad input at scale).

Every route of ``civic.web.routes`` that accepts POST gets hypothesis-generated bodies — unicode, huge, empty,
duplicated and unknown fields, wrong types, broken encodings, multipart with and without files, raw bytes with
odd content types — and path parameters (the demo's real ids, then any number or text), posted by visitors and
by signed-in accounts of each role, with a valid CSRF token (so the handler gets past CSRF) and without.
The answer must never be a 500 (or a 503: the database is up), never show a traceback or Python exception
text, and always have a status from ALLOWED.

A POST route with no entry in RIGHT_ROLE, or a path parameter with no entry in PARAMETERS, fails
``test_every_post_route_is_fuzzed``: a new form cannot be forgotten. One app and one demo database serve the
whole module (loaded once, wiped at the end).
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from starlette.routing import Route

from civic.app import create_app
from civic.db import make_sessionmaker
from civic.demo import DEMO_PASSWORD, load_demo
from civic.petitions.lifecycle import TRANSITIONS
from civic.settings import ROOT
from civic.web.routes import routes
from tests.conftest import WIPE_TABLES, csrf_from

POST_ROUTES = {r.name: r for r in routes if isinstance(r, Route) and "POST" in (r.methods or ())}

# Who posts to each form when the example uses "the right role" (other examples pick any role or a visitor).
ACCOUNTS = {"citizen": "citizen@demo.civic.ma", "citizen2": "citizen2@demo.civic.ma", "cso": "cso@demo.civic.ma",
            "moderator": "moderator@demo.civic.ma", "staff": "staff@demo.civic.ma", "admin": "admin@demo.civic.ma"}
ROLES = ("anonymous", "citizen", "cso", "moderator", "staff", "admin")
RIGHT_ROLE = {
    "register": "anonymous", "login": "anonymous", "logout": "citizen2",  # logging out spoils only citizen2
    "account_verify": "anonymous", "account_verify_new_code": "anonymous", "preferences": "citizen",
    "petition_new": "citizen", "petition_sign": "citizen", "petition_transition": "citizen",
    "petition_deputy": "citizen", "petition_organisations": "citizen", "withdraw_signature": "citizen",
    "organisation_new": "cso", "organisation_verify": "staff", "organisation_invite": "cso",
    "organisation_collectors": "cso", "invitation": "citizen",
    "staff_bursts_invalidate": "staff", "petition_paper": "cso", "petition_paper_import": "cso",
    "consultation_new": "staff", "consultation_edit": "staff", "consultation_phases": "staff",
    "consultation_phase_edit": "staff", "consultation_phase_delete": "staff", "consultation_documents": "staff",
    "consultation_document_delete": "staff",
    "meeting_new": "staff", "meeting_edit": "staff", "meeting_register": "citizen", "meeting_cancel": "staff",
    "meeting_attendance": "staff", "meeting_minutes": "staff",
    "proposal_new": "citizen", "consultation_comments": "citizen", "proposal_edit": "citizen",
    "proposal_withdraw": "citizen", "proposal_support": "citizen", "proposal_comments": "citizen",
    "proposal_answer": "staff", "proposal_updates": "staff",
    "report": "citizen", "moderation_decide": "moderator", "moderation_block": "moderator", "appeal": "citizen",
    "admin_roles": "admin", "admin_role_grant": "admin", "admin_role_revoke": "admin", "admin_role_base": "admin",
    "ballot_new": "staff", "ballot_vote": "citizen", "ballot_edit": "staff", "ballot_questions": "staff",
    "ballot_question_delete": "staff", "tally_sheet_new": "staff", "tally_sheet_correct": "staff",
    "ballot_publish": "staff", "receipt_check": "anonymous",
}

# Path parameters: integer ids come from the demo's rows of a table (1 when it has none), text ones from
# a list of meaningful values; hypothesis then also tries any number or text.
PARAMETERS: dict[str, str | tuple[str, ...]] = {
    "petition_id": "petitions", "organisation_id": "organisations", "consultation_id": "consultations",
    "phase_id": "phases", "document_id": "consultation_documents", "meeting_id": "meetings",
    "proposal_id": "proposals", "moderation_id": "moderations", "user_id": "users", "grant_id": "role_grants",
    "ballot_id": "ballots", "question_id": "ballot_questions", "sheet_id": "tally_sheets",
    "to": tuple(sorted({to for _from, to in TRANSITIONS})),
    "action": ("allow", "revoke"), "token": ("x", "0" * 43),
}

ALLOWED = {200, 302, 303, 307, 400, 401, 403, 404, 405, 408, 409, 410, 413, 415, 422, 429}  # 307: trailing slash
LEAKS = ("Traceback (most recent call last)", 'File "/', "sqlalchemy.", "asyncpg.", "aiosqlite.", "sqlite3.",
         "starlette.", "multipart.", "wtforms.", "Exception:", "Error:", "<module>")

# Every form field name the code reads, so examples often reach the validation code, not only "missing field".
FIELD_PATTERN = re.compile(r'(?:field\(form, |form\.get(?:list)?\(|formdata\.get(?:list)?\()"([a-z_0-9]+)"'
                           r'|^\s+([a-z_0-9]+) = [A-Za-z]*Field\(', re.M)
FIELD_NAMES = sorted({
    read or declared
    for path in (ROOT / "civic").rglob("*.py")
    for read, declared in FIELD_PATTERN.findall(path.read_text(encoding="utf-8"))
} | {"csrf_token"})

INTERESTING = ("", " ", "0", "1", "-1", "2147483648", "99999999999999999999", "1e309", "NaN", "on", "y", "true",
               "null", "[]", "{}", "2026-11-20", "2026-11-20T10:00", "2026-02-30T25:61", "0000-00-00",
               "05", "05.091.01.01", "05.091", "ZZ123456", "x@test.invalid", "citizen", "admin", "council_staff",
               "yes", "no", "abstain", "spam", "\x00", "\u202e", "<script>alert(1)</script>", "' OR 1=1 --",
               "%00", "../../etc/passwd", "١٢٣", "ⵜⴰⵎⴰⵣⵉⵖⵜ", "\ud7ff", "\U0001f600" * 50)

values = st.one_of(
    st.sampled_from(INTERESTING),
    st.text(max_size=40),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats().map(str),
    st.text(min_size=1, max_size=3).map(lambda s: s * 4000),  # long text, below the body limit
)
names = st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=12))


def _form_classes() -> dict[str, set[str]]:
    """WTForms classes of civic → their field names (class attributes assigned a ``…Field(…)``)."""
    classes: dict[str, set[str]] = {}
    for path in (ROOT / "civic").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                fields = {target.id for stmt in node.body if isinstance(stmt, ast.Assign)
                          and isinstance(stmt.value, ast.Call)
                          and ast.unparse(stmt.value.func).endswith("Field")
                          for target in stmt.targets if isinstance(target, ast.Name)}
                if fields:
                    classes[node.name] = fields
    return classes


FORM_CLASSES = _form_classes()


def route_fields(route: Route) -> list[str]:
    """The fields the route's view reads: named in its code, or fields of the form classes it uses; failing
    that, every field its module reads."""
    def reads(source: str) -> set[str]:
        found = {read or declared for read, declared in FIELD_PATTERN.findall(source)}
        return found | {f for cls, fields in FORM_CLASSES.items() if re.search(rf"\b{cls}\b", source)
                        for f in fields}

    own = reads(inspect.getsource(route.endpoint))
    return sorted(own or reads(inspect.getsource(inspect.getmodule(route.endpoint))))  # type: ignore[arg-type]


def pairs_for(route: Route) -> st.SearchStrategy[list[tuple[str, str]]]:
    """Generated fields for ``route``: often every field it reads, each with a generated value, plus extras;
    otherwise a list of (name, value) mostly using its own names. Duplicates and unknown names included."""
    own = route_fields(route) or FIELD_NAMES
    own_names = st.one_of(st.sampled_from(own), st.sampled_from(own), names)
    loose = st.lists(st.tuples(own_names, values), max_size=10)
    whole = st.tuples(st.fixed_dictionaries({f: values for f in own}), loose).map(
        lambda both: [*both[0].items(), *both[1]])
    return st.one_of(whole, loose)


@dataclass(frozen=True)
class Body:
    """One generated request body: how it is encoded and what it holds."""

    encoding: str  # urlencoded | multipart | multipart-file | raw
    pairs: list[tuple[str, str]]
    raw: bytes = b""
    content_type: str = ""
    huge: bool = False  # one more field past the body limit (413)


def bodies_for(route: Route) -> st.SearchStrategy[Body]:
    """Request bodies for ``route``: its fields url-encoded or multipart (sometimes with a file or one field past
    the body limit), or raw bytes under any content type."""
    return st.one_of(
        st.builds(Body, st.sampled_from(["urlencoded"] * 4 + ["multipart", "multipart-file"]), pairs_for(route),
                  huge=st.sampled_from([False] * 9 + [True])),
        st.builds(Body, st.just("raw"), st.just([]), st.binary(max_size=300),
                  st.sampled_from(["application/x-www-form-urlencoded", "multipart/form-data; boundary=zz",
                                   "multipart/form-data", "application/json", "text/plain", ""])),
    )


def path_values(route: Route, ids: dict[str, list[str]]) -> st.SearchStrategy[dict[str, str]]:
    """A strategy of path parameters for ``route``: mostly the demo's ids, sometimes anything."""
    parts: dict[str, st.SearchStrategy[str]] = {}
    for name, convertor in route.param_convertors.items():
        source = PARAMETERS[name]
        if type(convertor).__name__ == "IntegerConvertor":
            odd = st.one_of(st.sampled_from(["0", "2147483647", "2147483648", "9" * 30]),
                            st.integers(min_value=0, max_value=2**70).map(str))
            real = st.sampled_from(ids[name])
            parts[name] = st.one_of(real, real, real, odd)  # three times in four one of the demo's rows
        else:
            known = source if isinstance(source, tuple) else ()
            parts[name] = st.one_of(st.sampled_from(known),
                                    st.text(min_size=1, max_size=30).map(lambda s: quote(s, safe="")))
    return st.fixed_dictionaries(parts)


def url_of(route: Route, params: dict[str, str]) -> str:
    path = route.path
    for name, value in params.items():
        path = re.sub(r"\{" + name + r"(:[a-z]+)?\}", lambda _m, v=value: v, path)  # type: ignore[misc]
    return path


@dataclass
class World:
    """The module's app, one client per role (signed in through the login form), their CSRF tokens, and ids."""

    clients: dict[str, httpx.AsyncClient]
    tokens: dict[str, str]
    ids: dict[str, list[str]]  # path parameter → the demo's ids


async def _token(client: httpx.AsyncClient) -> str:
    for page in ("/preferences", "/login", "/register"):
        r = await client.get(page)
        if 'name="csrf_token"' in r.text:
            return csrf_from(r.text)
    raise AssertionError("no page with a CSRF token")


@pytest.fixture(scope="module")
async def world(settings, engine) -> AsyncIterator[World]:  # type: ignore[no-untyped-def]
    maker = make_sessionmaker(engine)
    async with maker() as session:
        await load_demo(session, settings)
    ids: dict[str, list[str]] = {}
    async with engine.connect() as conn:
        for name, source in PARAMETERS.items():
            if isinstance(source, str):
                found = (await conn.scalars(text(f"SELECT id FROM {source} ORDER BY id LIMIT 20"))).all()  # noqa: S608
                ids[name] = [str(i) for i in found] or ["1"]
    app = create_app(settings)
    clients: dict[str, httpx.AsyncClient] = {}
    tokens: dict[str, str] = {}
    try:
        for role in (*ROLES, "citizen2"):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
            clients[role] = client
            if role != "anonymous":
                page = await client.get("/login")
                r = await client.post("/login", data={"csrf_token": csrf_from(page.text), "email": ACCOUNTS[role],
                                                      "password": DEMO_PASSWORD})
                assert r.status_code == 303, (role, r.status_code)
            tokens[role] = await _token(client)
        yield World(clients, tokens, ids)
    finally:
        for client in clients.values():
            await client.aclose()
        await app.state.engine.dispose()
        async with engine.begin() as conn:
            for table in WIPE_TABLES:
                await conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - fixed table names


def test_every_post_route_is_fuzzed() -> None:
    missing = sorted(set(POST_ROUTES) - set(RIGHT_ROLE))
    assert not missing, f"POST routes with no entry in RIGHT_ROLE (add who posts to them): {missing}"
    params = {name for route in POST_ROUTES.values() for name in route.param_convertors}
    assert not params - set(PARAMETERS), f"path parameters with no entry in PARAMETERS: {params - set(PARAMETERS)}"


async def post(world: World, route: Route, params: dict[str, str], role: str, csrf: bool, htmx: bool,
               body: Body) -> httpx.Response:
    """Post ``body`` to ``route`` as ``role``."""
    client = world.clients[role]
    headers = {"HX-Request": "true"} if htmx else {}
    fields = list(body.pairs)
    if body.huge:
        fields.insert(0, ("text", "x" * 300_000))
    if csrf:
        fields.append(("csrf_token", world.tokens[role]))  # last, so it wins over generated csrf_token fields
    url = url_of(route, params)
    if body.encoding == "urlencoded":
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return await client.post(url, content=urlencode(fields).encode(), headers=headers)
    if body.encoding in ("multipart", "multipart-file"):
        files: list[tuple[str, Any]] = [(k, (None, v.encode("utf-8", "surrogatepass"))) for k, v in fields]
        if body.encoding == "multipart-file":
            files.append(("file", ("sheet.pdf", b"%PDF-1.4 not really", "application/pdf")))
        return await client.post(url, files=files, headers=headers)
    if body.content_type:
        headers["Content-Type"] = body.content_type
    if csrf:
        headers["X-CSRF-Token"] = world.tokens[role]
    return await client.post(url, content=body.raw, headers=headers)


def check(response: httpx.Response, sent: str) -> None:
    """No 500/503, an allowed status, and no Python internals on the page (unless the example sent them)."""
    assert response.status_code in ALLOWED, f"status {response.status_code}: {response.text[:300]}"
    shown = response.text
    for leak in LEAKS:
        assert leak not in shown or leak in sent, f"{leak!r} on the page: {shown[:500]}"


@pytest.mark.parametrize("name", sorted(POST_ROUTES))
@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(data=st.data())
async def test_a_form_survives_any_input(world: World, name: str, data: st.DataObject) -> None:
    route = POST_ROUTES[name]
    params = data.draw(path_values(route, world.ids), label="path")
    right = RIGHT_ROLE.get(name, "citizen")  # test_every_post_route_is_fuzzed fails for a route not listed
    role = data.draw(st.one_of(st.just(right), st.sampled_from(ROLES)), label="role")
    csrf = data.draw(st.sampled_from([True, True, False]), label="csrf")
    htmx = data.draw(st.booleans(), label="htmx")
    body = data.draw(bodies_for(route), label="body")
    response = await post(world, route, params, role, csrf, htmx, body)
    sent = " ".join(f"{k} {v}" for k, v in body.pairs) + body.raw.decode("latin-1") + " ".join(params.values())
    check(response, sent)
