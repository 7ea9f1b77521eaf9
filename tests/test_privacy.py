"""No CNIE on any public page, fragment, API response or public export (Law 09-08, shared/domain.md §3).

Every GET route of the route table is fetched as an anonymous visitor and as a signed-in citizen, with the
data each needs; the seeded CNIEs (online and paper) must appear in none of them, in any format.
"""

from __future__ import annotations

import io
import re
import subprocess

import openpyxl
from starlette.routing import Route

from civic.organisations import service as orgs
from civic.petitions import paper, service
from civic.web.routes import routes
from tests.conftest import NOW, make_user
from tests.test_organisations_and_rights import ALL_CHECKS, OLD
from tests.test_petitions_service import open_petition, signature
from tests.test_views import register

CNIES = ("QX771201", "QX771202", "QW99")
STAFF_ONLY = re.compile(r"^/(staff|admin)/|^/me/")


def _text(content: bytes, content_type: str) -> str:
    if content_type.startswith("application/pdf"):
        return subprocess.run(["pdftotext", "-", "-"], input=content, capture_output=True, check=True).stdout.decode()
    if "spreadsheetml" in content_type:
        book = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
        return " ".join(str(v) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True)
                        for v in row if v is not None)
    return content.decode("utf-8", errors="replace")


async def seed(session, keys):  # type: ignore[no-untyped-def]
    agent, signer, staff = await make_user(session, 1), await make_user(session, 2), await make_user(
        session, 3, role="council_staff")
    rep, member = await make_user(session, 4), await make_user(session, 5)
    pid = await open_petition(session, agent)
    await service.sign(session, signer, keys, pid, signature(CNIES[0], public_name=True), NOW)
    org_id = await orgs.register(session, rep, OLD, "05", NOW)
    await orgs.verify(session, staff, org_id, ALL_CHECKS, NOW)
    from sqlalchemy import insert

    from civic.organisations.models import OrganisationMember
    await session.execute(insert(OrganisationMember).values(organisation_id=org_id, user_id=member.user_id,
                                                            role="member", joined_at=NOW))
    await session.commit()
    rep_now = rep.__class__(rep.user_id, "cso_member", "")
    await orgs.authorise_organisation(session, agent, pid, org_id, NOW)
    await orgs.link_collector(session, rep_now, org_id, pid, member.user_id, NOW)
    collector = member.__class__(member.user_id, "cso_member", "")
    await paper.enter_signature(session, collector, keys, pid, paper.PaperSignatureInput(
        full_name="Paper Person", cnie=CNIES[1], commune_code="05.301.01.01", electoral_declaration=True,
        consent=True, sheet_ref="F-1", channel="paper"), NOW)
    return pid, org_id


def _paths(pid: int, org_id: int) -> list[str]:
    known = {"petition_id": pid, "organisation_id": org_id, "token": "not-a-token", "code": "fr", "to": "submitted",
             "dataset": "petitions"}

    class Values(dict[str, object]):
        """Known values, else 1 for any other id (a consultation, meeting, proposal… that may not exist) and
        a word for any other parameter, so every new route is fetched too."""

        def __missing__(self, key: str) -> object:
            return 1 if key.endswith("_id") else "x"

    values = Values(known)
    paths = []
    for route in routes:
        if not isinstance(route, Route) or "GET" not in (route.methods or ()):
            continue
        if "fmt" in route.param_convertors:
            paths += [route.url_path_for(route.name, **{k: values[k] for k in route.param_convertors if k != "fmt"},
                                         fmt=fmt) for fmt in ("pdf", "xlsx", "csv")]
        else:
            paths.append(route.url_path_for(route.name, **{k: values[k] for k in route.param_convertors}))
    return [str(p) for p in paths]


async def test_no_cnie_anywhere_public(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    pid, org_id = await seed(session, keys)
    paths = _paths(pid, org_id)
    assert len(paths) >= 20, paths
    for who in ("anonymous", "citizen"):
        if who == "citizen":
            await register(client, "reader@test.invalid")
        for path in paths:
            for lang in ("ar", "fr"):
                await client.get(f"/lang/{lang}")
                r = await client.get(path)
                assert r.status_code < 500, (path, r.status_code)
                if STAFF_ONLY.match(path) and who == "anonymous":
                    assert r.status_code in (303, 401, 403), path
                body = _text(r.content, r.headers.get("content-type", ""))
                for cnie in CNIES:
                    assert cnie not in body, (who, lang, path)
                    assert cnie.lower() not in body.lower(), (who, lang, path)
    # The same check finds the CNIEs where they are meant to be: on the staff page.
    from civic.accounts import service as accounts
    from tests.conftest import csrf_from

    await accounts.create_user(session, display_name="Staff", email="staff-privacy@test.invalid",
                               password="a long password", role="council_staff", commune_code="05.091.01.01",
                               now=NOW, region_code="05")
    page = await client.get("/login")
    await client.post("/login", data={"csrf_token": csrf_from(page.text), "email": "staff-privacy@test.invalid",
                                      "password": "a long password"})
    staff_view = await client.get(f"/staff/petitions/{pid}/signatures")
    assert CNIES[0] in staff_view.text and CNIES[1] in staff_view.text
