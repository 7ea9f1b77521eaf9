"""Open data (issue #6, item 8): the public page, the bundle (zip of CSV files and a bilingual README, with no
personal data and no hidden content), ``civic opendata build``, and the OpenAPI description of every /api/v1
route of the table.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
import zipfile
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from starlette.routing import Route

from civic import opendata
from civic.accounts.models import User
from civic.consultations.models import Consultation, Phase
from civic.petitions.models import Petition
from civic.votes.models import Ballot, Option, Question
from civic.web.routes import routes
from tests.conftest import NOW, make_user
from tests.test_dossier import SIGNATORIES, seeded
from tests.test_exports_centre import (
    FORMULA_TITLE,
    HIDDEN_COMMENT,
    HIDDEN_TITLE,
    REGISTRANT,
    WITHDRAWN_TITLE,
    consultation_data,
)

BUNDLE_FILES = ["README.txt", "consultations.csv", "proposals.csv", "petitions.csv", "results.csv",
                "territories.csv"]
PROPOSAL_AUTHOR = "Auteur Secretname"


def read_zip(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


def csv_dicts(data: bytes) -> list[dict[str, str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "CSV without a UTF-8 BOM"
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


async def seed_everything(session, keys) -> tuple[int, dict[str, int]]:  # type: ignore[no-untyped-def]
    """A collecting petition with six signatures, a hidden one, a draft, and the consultation data of the
    exports tests; the first proposal's author gets a recognisable display name."""
    pid = await seeded(session, keys)
    hidden = await seeded(session, keys)
    await session.execute(update(Petition).where(Petition.id == hidden).values(
        hidden_at=NOW, title="Pétition masquée par la modération"))
    author = await make_user(session, 78)
    session.add(Petition(title="Brouillon jamais publié", body="x" * 60, addressed_to="council", region_code="05",
                         author_id=author.user_id, created_at=NOW))
    ids = await consultation_data(session)
    await session.execute(update(User).where(User.display_name == "User 901").values(display_name=PROPOSAL_AUTHOR))
    await session.commit()
    return pid, ids


async def test_bundle_has_every_file_and_no_personal_or_hidden_data(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    pid, ids = await seed_everything(session, keys)
    emails = [e for (e,) in (await session.execute(select(User.email))).all()]
    await session.commit()
    r = await client.get("/open-data/civic-open-data.zip")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert r.headers["content-disposition"] == 'attachment; filename="civic-open-data.zip"'
    files = read_zip(r.content)
    assert sorted(files) == sorted(BUNDLE_FILES)

    everything = b"\n".join(files.values()).decode("utf-8")
    secrets = [cnie for cnie, _n, _c in SIGNATORIES] + ["Secretname", "Plusname", "Atname", "زينب المخفية", "Minusname",
                                                        "HYPERLINK(\"x\")", REGISTRANT, PROPOSAL_AUTHOR, "User "]
    for secret in [*secrets, *emails, "@test.invalid"]:
        assert secret not in everything, secret
    for hidden in (HIDDEN_TITLE, WITHDRAWN_TITLE, HIDDEN_COMMENT, "Pétition masquée", "Brouillon jamais publié"):
        assert hidden not in everything, hidden

    petitions = csv_dicts(files["petitions.csv"])
    assert [(int(p["id"]), p["signatures"], p["status"]) for p in petitions] == [(pid, "6", "collecting")]
    assert list(petitions[0]) == [c.key for c in opendata.PETITIONS.columns]
    proposals = csv_dicts(files["proposals.csv"])
    assert sorted(int(p["id"]) for p in proposals) == sorted([ids["formula"], ids["arabic"]])
    formula = next(p for p in proposals if int(p["id"]) == ids["formula"])
    assert formula["title"] == "'" + FORMULA_TITLE and formula["supports"] == "2"  # neutralised
    assert formula["organisation_fr"] == "'@Association Espoir" and formula["created_at"].endswith("+00:00")
    consultations = csv_dicts(files["consultations.csv"])
    assert [(c["proposals"], c["comments"], c["current_phase"]) for c in consultations] == [("2", "1", "proposals")]
    assert csv_dicts(files["results.csv"]) == []
    assert files["results.csv"].decode("utf-8-sig").splitlines() == [",".join(c.key for c in opendata.RESULTS.columns)]
    territories = csv_dicts(files["territories.csv"])
    region = next(t for t in territories if t["kind"] == "region")
    assert region["code"] == "05" and int(region["population_2024"]) > 2_000_000
    assert sum(1 for t in territories if t["kind"] == "province") == 5
    assert all(t["population_2024"].isdigit() for t in territories)


async def test_readme_describes_every_column_in_arabic_and_french(client) -> None:  # type: ignore[no-untyped-def]
    files = read_zip((await client.get("/open-data/civic-open-data.zip")).content)
    readme = files["README.txt"].decode("utf-8")
    arabic, french = readme.split("=" * 72)
    assert "البيانات المفتوحة" in arabic and "Données ouvertes" in french
    assert opendata.LICENCE_NAME in arabic and opendata.LICENCE_NAME in french and "CC BY 4.0" in french
    for file in opendata.FILES:
        assert f"{file.name} — {file.ar}" in arabic and f"{file.name} — {file.fr}" in french
        for column in file.columns:
            assert f"  {column.key}: {column.ar}" in arabic, column.key
            assert f"  {column.key} : {column.fr}" in french, column.key
        header = files[file.name].decode("utf-8-sig").splitlines()[0]
        assert header == ",".join(c.key for c in file.columns)  # every column described, none left out


async def test_open_data_page_explains_licence_columns_and_links(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    await seeded(session, keys)
    r = await client.get("/open-data")
    assert r.status_code == 200 and r.text.count("<h1") == 1
    assert 'href="/open-data/civic-open-data.zip"' in r.text and 'href="/api/v1/openapi.json"' in r.text
    assert opendata.LICENCE_URL in r.text and "CC BY 4.0" in r.text
    for file in opendata.FILES:
        assert file.name in r.text and file.ar in r.text
        assert all(f"<code dir=\"ltr\">{c.key}</code>" in r.text for c in file.columns)
    assert "<caption" in r.text and 'scope="row"' in r.text
    await client.get("/lang/fr?next=/open-data")
    french = await client.get("/open-data")
    assert opendata.PETITIONS.fr.split(" (")[0] in french.text and 'lang="fr"' in french.text


async def test_civic_opendata_build_writes_the_bundle(settings, session, keys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    await seeded(session, keys)
    env = {**os.environ, "CIVIC_DATABASE_URL": settings.database_url, "CIVIC_SECRET_KEY": settings.secret_key,
           "CIVIC_ENV": "test"}
    out = tmp_path / "nightly"
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "civic", "opendata", "build", "--output", str(out)], env=env,
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "civic-open-data.zip" in done.stdout
    files = read_zip((out / "civic-open-data.zip").read_bytes())
    assert sorted(files) == sorted(BUNDLE_FILES)
    assert len(csv_dicts(files["petitions.csv"])) == 1
    assert [p.name for p in out.iterdir()] == ["civic-open-data.zip"]  # no temporary file left behind


# --- OpenAPI -----------------------------------------------------------------------------------------------


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def test_every_api_route_of_the_table_is_described() -> None:
    """A new /api/v1 route without its description in civic.opendata.OPERATIONS fails here."""
    api = [r for r in routes if isinstance(r, Route) and r.path.startswith("/api/v1/")]
    assert {"api_petitions", "api_petition", "api_provinces", "openapi"} <= {r.name for r in api}
    missing = sorted(r.name for r in api if r.name not in opendata.OPERATIONS)
    assert not missing, f"describe these API routes in civic/opendata.py OPERATIONS: {missing}"
    stale = sorted(set(opendata.OPERATIONS) - {r.name for r in api})
    assert not stale, f"descriptions of routes no longer in the table: {stale}"


def test_openapi_document_has_the_shape_of_openapi_3_1() -> None:
    doc = opendata.openapi_document(routes, "1.0")
    assert doc["openapi"].startswith("3.1") and {"openapi", "info", "paths"} <= set(doc)
    assert doc["info"]["title"] and doc["info"]["version"] == "1.0" and doc["info"]["license"]["name"]
    api = [r for r in routes if isinstance(r, Route) and r.path.startswith("/api/v1/")]
    assert len(doc["paths"]) == len({opendata._path_template(r)[0] for r in api})
    operation_ids = []
    for path, item in doc["paths"].items():
        assert path.startswith("/api/v1/") and ":" not in path
        assert set(item) == {"get"}, path
        op = item["get"]
        operation_ids.append(op["operationId"])
        assert op["summary"] and "200" in op["responses"]
        assert op["responses"]["200"]["content"]["application/json"]["schema"]
        in_path = {p["name"] for p in op["parameters"] if p["in"] == "path"}
        assert in_path == set(part[1:-1] for part in path.split("/") if part.startswith("{")), path
        for parameter in op["parameters"]:
            assert {"name", "in", "schema"} <= set(parameter) and parameter["in"] in ("path", "query")
    assert len(operation_ids) == len(set(operation_ids))
    schemas = doc["components"]["schemas"]
    for ref in _refs(doc):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas, ref


def _check(value: Any, schema: dict[str, Any], schemas: dict[str, Any], where: str) -> None:
    """A small structural check of ``value`` against a schema of the document: types, required keys, items."""
    if "$ref" in schema:
        _check(value, schemas[schema["$ref"].rsplit("/", 1)[1]], schemas, where)
        return
    if "oneOf" in schema:
        errors = []
        for option in schema["oneOf"]:
            try:
                _check(value, option, schemas, where)
                return
            except AssertionError as exc:
                errors.append(str(exc))
        raise AssertionError(f"{where}: none of oneOf matches: {errors}")
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} not in {schema['enum']}"
    kinds = schema.get("type")
    if kinds is None:
        return
    kinds = kinds if isinstance(kinds, list) else [kinds]
    python = {"object": dict, "array": list, "string": str, "integer": int, "number": (int, float), "boolean": bool,
              "null": type(None)}
    assert any(isinstance(value, python[k]) and not (k == "integer" and isinstance(value, bool)) for k in kinds), \
        f"{where}: {value!r} is not {kinds}"
    if isinstance(value, dict):
        for key in schema.get("required", []):
            assert key in value, f"{where}: missing {key}"
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                _check(value[key], sub, schemas, f"{where}.{key}")
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key, item in value.items():
                _check(item, extra, schemas, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            _check(item, schema["items"], schemas, f"{where}[{i}]")


async def test_api_answers_match_their_description(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    """Every route of the table under /api/v1 is fetched with real data and its answer checked against its
    schema, so the description cannot drift from what the API sends."""
    pid, ids = await seed_everything(session, keys)
    ballots = await ballot_data(session)
    r = await client.get("/api/v1/openapi.json")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    doc = r.json()
    schemas = doc["components"]["schemas"]
    values = {"petition_id": pid, "consultation_id": ids["consultation"], "proposal_id": ids["formula"],
              "ballot_id": ballots["results"]}
    checked = 0
    for path, item in doc["paths"].items():
        url = path
        for name, value in values.items():
            url = url.replace("{" + name + "}", str(value))
        assert "{" not in url, f"no example value for {path}: add one to this test"
        answer = await client.get(url, params={"q": "Mobilité"} if "search" in path else None)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:200])
        _check(answer.json(), item["get"]["responses"]["200"]["content"]["application/json"]["schema"], schemas,
               path)
        checked += 1
    assert checked == len(doc["paths"]) and checked >= 4
    missing = await client.get("/api/v1/petitions/999999")
    assert missing.status_code == 404
    _check(missing.json(), {"$ref": "#/components/schemas/Error"}, schemas, "404")
    hidden = (await client.get(f"/api/v1/ballots/{ballots['voting']}/results")).json()
    _check(hidden, {"$ref": "#/components/schemas/BallotResults"}, schemas, "hidden results")


def test_openapi_json_is_plain_json() -> None:
    text = json.dumps(opendata.openapi_document(routes, "0"))
    assert "{petition_id:int}" not in text and '"openapi": "3.1.0"' in text


async def ballot_data(session) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Two ballots of one single-choice question with two options: one in a consultation whose current phase
    shows results, one in a consultation still in its voting phase (results hidden). No ballot cast."""
    staff = await make_user(session, 990, "council_staff")
    ballots = {}
    for kind, shown in (("results", True), ("voting", False)):
        consultation = Consultation(title=f"Consultation {kind}", summary="", body="x" * 60, scope="region",
                                    territory_code="05", addressed_to="council", support_limit=3,
                                    created_by=staff.user_id, created_at=NOW, updated_at=NOW)
        session.add(consultation)
        await session.flush()
        session.add(Phase(consultation_id=consultation.id, kind=kind, starts_at=NOW - timedelta(days=2),
                          ends_at=NOW + timedelta(days=300), votes_enabled=not shown, results_visible=shown))
        ballot = Ballot(consultation_id=consultation.id, title=f"Vote {kind}", created_by=staff.user_id,
                        created_at=NOW)
        session.add(ballot)
        await session.flush()
        question = Question(ballot_id=ballot.id, position=1, text=f"Question {kind}", method="single_choice")
        session.add(question)
        await session.flush()
        session.add_all([Option(question_id=question.id, position=i, label=f"Option {kind} {i}") for i in (1, 2)])
        ballots[kind] = ballot.id
    await session.commit()
    return ballots


async def test_results_appear_only_once_their_consultation_shows_them(client, session) -> None:  # type: ignore[no-untyped-def]
    """results.csv has the options of the ballot whose results are shown, nothing of the hidden one (issue #5's
    visibility rule, civic.votes.results)."""
    ballots = await ballot_data(session)
    files = read_zip((await client.get("/open-data/civic-open-data.zip")).content)
    results = csv_dicts(files["results.csv"])
    assert [(int(r["ballot_id"]), r["question"], r["option"], r["votes"]) for r in results] == [
        (ballots["results"], "Question results", "Option results 1", "0"),
        (ballots["results"], "Question results", "Option results 2", "0")]
    assert "voting" not in files["results.csv"].decode("utf-8-sig")
