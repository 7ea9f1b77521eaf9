"""THE leak test of hidden results (issue #5, item 5; shared/domain.md §4: "A consultation may hide results until
it closes. Nothing may then leak them: not the pages, the API, the exports or the markup").

A ballot is seeded with distinctive figures — 1,324 online yes, 862 online no, one online abstention, 47 paper
yes (so 1,371 yes and 2,234 ballots; shares 61.4 % and 38.6 %; 905 women and 1,281 men) — while its voting phase
hides the results. Then EVERY GET route of the route table is fetched, with the ids of that ballot, its
consultation, question, meeting and sheet, as an anonymous visitor and as a voter who voted, in Arabic and French
(and with Arabic-Indic digits), as a page and as an htmx request; PDF, XLSX and ZIP bodies are opened. No body and
no header (but Content-Length, a byte count unrelated to votes) may hold any of these figures, whole, in any of
the ways Civic writes numbers (``1371``, ``1.371``, ``1,371``, ``1 371``, ``١٣٧١``…).

The check can fail: once a phase shows the results, the same fetches of the results page, fragment, API and
exports find every figure.
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import zipfile
from datetime import timedelta
from decimal import Decimal

import openpyxl
from sqlalchemy import case, insert, select, update
from starlette.routing import Route

from civic.accounts.models import User
from civic.consultations.models import Meeting, Phase
from civic.db import utcnow
from civic.permissions import Actor
from civic.votes import service, sheets
from civic.votes.models import CastBallot, Choice
from civic.web.routes import routes
from tests.conftest import make_user
from tests.test_views import register
from tests.test_votes import YES_NO, new_consultation

YES_ONLINE, NO_ONLINE, YES_PAPER = 1324, 862, 47
WOMEN = 905
ONLINE = YES_ONLINE + NO_ONLINE + 1  # the voter below abstains
YES, BALLOTS = YES_ONLINE + YES_PAPER, ONLINE + YES_PAPER
MEN = YES_ONLINE + NO_ONLINE - WOMEN
COUNTS = (YES, NO_ONLINE, BALLOTS, ONLINE, YES_ONLINE, WOMEN, MEN)
SHARES = (Decimal("61.4"), Decimal("38.6"))  # yes and no, of the votes for yes or no
VOTER_EMAIL = "leak-voter@test.invalid"
DIGITS = re.compile(r"\d")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
SEPARATORS = "[.,\u066c\u202f\u00a0' ]"  # grouping: ar_MA "1.371", en "1,371", fr "1 371", Arabic "١٬٣٧١"


def _number_pattern(n: int) -> str:
    digits = str(n)
    head, groups = digits[: len(digits) % 3 or 3], [digits[i:i + 3] for i in range(len(digits) % 3 or 3,
                                                                                   len(digits), 3)]
    western = head + "".join(f"{SEPARATORS}?{g}" for g in groups)
    return f"(?:{western}|{western.translate(ARABIC_INDIC)})"


def _share_pattern(d: Decimal) -> str:
    whole, _, fraction = str(d).partition(".")
    western = f"{whole}[.,\u066b]{fraction}"
    return f"(?:{western}|{western.translate(ARABIC_INDIC)})"


BEFORE = r"(?<!\d)(?<!\d[.,\u066b\u066c])"  # not the end of a longer number (digits, or digits and a separator)
AFTER = r"(?!\d)(?![.,\u066b\u066c]\d)"
FIGURES = {str(n): re.compile(BEFORE + _number_pattern(n) + AFTER) for n in COUNTS}
FIGURES |= {str(d): re.compile(BEFORE + _share_pattern(d) + AFTER) for d in SHARES}


def figures_in(text: str) -> set[str]:
    """The seeded figures found in ``text``, as whole numbers."""
    return {name for name, pattern in FIGURES.items() if pattern.search(text)}


def test_the_patterns_find_every_way_of_writing_the_figures() -> None:
    for text in ("1371", "1.371", "1,371", "1\u202f371", "1\u00a0371", "١٣٧١", "١٬٣٧١", "(1.371)", ">١٬٣٧١<",
                 "61,4%", "61.4", "٦١٫٤٪", "٦١,٤"):
        assert figures_in(text), text
    for text in ("21371", "1371.5", "1.3712", "13710", "0.905", "161.45", "2026-11-20", "9050", "1905"):
        assert not figures_in(text), text


def _json_values(value: object) -> list[object]:
    if isinstance(value, dict):
        return [*value.keys(), *(v for item in value.values() for v in _json_values(item))]
    if isinstance(value, list):
        return [v for item in value for v in _json_values(item)]
    return [value]


def _text(content: bytes, content_type: str) -> str:
    if content_type.startswith("application/pdf"):
        return subprocess.run(["pdftotext", "-", "-"], input=content, capture_output=True, check=True).stdout.decode()
    if "spreadsheetml" in content_type:
        book = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
        return " ".join(str(v) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True)
                        for v in row if v is not None)
    if content_type.startswith("text/csv"):  # cells apart, so that the commas between them are no separators
        rows = csv.reader(io.StringIO(content.decode("utf-8-sig", errors="replace")))
        return " | ".join(cell for row in rows for cell in row)
    if content_type.startswith("application/json"):
        return " | ".join(str(v) for v in _json_values(json.loads(content)))
    if content_type.startswith("application/zip"):
        with zipfile.ZipFile(io.BytesIO(content)) as bundle:
            return " ".join(bundle.read(name).decode("utf-8", errors="replace") for name in bundle.namelist())
    return content.decode("utf-8", errors="replace")


async def seed(session, client):  # type: ignore[no-untyped-def]
    """The ballot and its figures (module docstring), with a current voting phase that hides the results and a
    results phase next week. Returns the ids the routes need."""
    now = utcnow()
    staff = await make_user(session, 1, role="council_staff")
    cid = await new_consultation(session, staff, [
        {"kind": "voting", "start": -3, "end": 4, "votes_enabled": True},
        {"kind": "results", "start": 4, "end": 30, "results_visible": True}], base=now)
    meeting_id = int((await session.execute(insert(Meeting).values(
        consultation_id=cid, title="لقاء المنتدى الجهوي", mode="in_person", starts_at=now - timedelta(days=2),
        ends_at=now - timedelta(days=2) + timedelta(hours=3), capacity=100, created_at=now - timedelta(days=9),
        address="دار الشباب").returning(Meeting.id))).scalar_one())
    await session.commit()
    bid = await service.create_ballot(session, staff, cid, service.BallotInput("تصويت المنتدى على خط النقل"), now)
    qid = await service.add_question(session, staff, bid, YES_NO, now)
    page = await service.ballot_page(session, staff, bid, now)
    yes_id, no_id, abstain_id = (o.id for o in page.questions[0].options)
    # the online ballots, inserted in bulk (the voting service is tested elsewhere; here only the figures matter)
    created = now - timedelta(days=30)
    await session.execute(insert(User), [
        {"display_name": f"Voter {i}", "email": f"voter{i}@leak.invalid", "password_hash": "x", "role": "citizen",
         "commune_code": "05.091.01.01" if i % 3 else "05.091.03.03", "session_nonce": "n", "created_at": created}
        for i in range(YES_ONLINE + NO_ONLINE)])
    ids = list(await session.scalars(select(User.id).where(User.email.like("%@leak.invalid")).order_by(User.id)))
    await session.execute(insert(CastBallot), [
        {"question_id": qid, "voter_id": uid, "receipt_digest": f"{i:064x}", "province_code": "05.091",
         "area": "urban" if i % 3 else "rural", "gender": "woman" if i < WOMEN else "man", "age_band": "25-34",
         "disability": False, "cast_at": now - timedelta(hours=1), "changed_at": now - timedelta(hours=1)}
        for i, uid in enumerate(ids)])
    last_yes = ids[YES_ONLINE - 1]
    await session.execute(insert(Choice).from_select(
        ["cast_ballot_id", "question_id", "option_id"],
        select(CastBallot.id, CastBallot.question_id,
               case((CastBallot.voter_id <= last_yes, yes_id), else_=no_id)).where(CastBallot.question_id == qid)))
    await session.commit()
    # the paper sheet of the forum meeting, through its service
    sheet_id = await sheets.enter_sheet(session, staff, bid, sheets.SheetInput(
        meeting_id=str(meeting_id), question_id=str(qid), reference="PV-2026-17",
        counts={yes_id: str(YES_PAPER), no_id: "0", abstain_id: "0"}, blank="0", invalid="0"), now)
    # the voter: signed in here, votes (abstains) through the service
    await register(client, VOTER_EMAIL, name="Leak Voter")
    voter_id = await session.scalar(select(User.id).where(User.email == VOTER_EMAIL))
    await session.commit()
    await service.cast(session, Actor(voter_id, "citizen", "Leak Voter"), bid,
                       service.VoteInput({qid: [abstain_id]}), now)
    return {"ballot_id": bid, "consultation_id": cid, "question_id": qid, "meeting_id": meeting_id,
            "sheet_id": sheet_id, "petition_id": 1, "proposal_id": 1, "organisation_id": 1, "phase_id": 1}


def _paths(known: dict[str, int]) -> list[str]:
    class Values(dict[str, object]):
        def __missing__(self, key: str) -> object:
            return 1 if key.endswith("_id") else "x"

    values = Values(known)
    paths: list[str] = []
    for route in routes:
        if not isinstance(route, Route) or "GET" not in (route.methods or ()):
            continue
        params = {k: values[k] for k in route.param_convertors if k != "fmt"}
        if "fmt" in route.param_convertors:
            paths += [str(route.url_path_for(route.name, **params, fmt=fmt))
                      for fmt in ("pdf", "xlsx", "csv", "json", "jsonl", "txt")]
        else:
            paths.append(str(route.url_path_for(route.name, **params)))
    return paths


async def _fetch_all(client, paths: list[str], label: str) -> list[str]:  # type: ignore[no-untyped-def]
    leaks = []
    for path in paths:
        for htmx in (False, True):
            r = await client.get(path, headers={"HX-Request": "true"} if htmx else {})
            assert r.status_code < 500, (label, path, r.status_code)
            headers = " ".join(f"{k}: {v}" for k, v in r.headers.items() if k.lower() != "content-length")
            found = figures_in(_text(r.content, r.headers.get("content-type", ""))) | figures_in(headers)
            if found:
                leaks.append(f"{label} {'htmx ' if htmx else ''}{path}: {sorted(found)}")
    return leaks


async def test_hidden_results_leak_nowhere(client, session) -> None:  # type: ignore[no-untyped-def]
    known = await seed(session, client)
    bid = known["ballot_id"]
    paths = _paths(known)
    assert len(paths) >= 80 and f"/ballots/{bid}/results" in paths and f"/api/v1/ballots/{bid}/results" in paths
    assert f"/ballots/{bid}/results.pdf" in paths and f"/ballots/{bid}/results/fragment" in paths
    leaks: list[str] = []
    # the voter (signed in, has voted), then an anonymous visitor, in Arabic, French and Arabic-Indic digits
    for who in ("voter", "anonymous"):
        if who == "anonymous":
            client.cookies.clear()
        for lang, digits in (("ar", False), ("fr", False), ("ar", True)):
            await client.get(f"/lang/{lang}")
            if digits:
                client.cookies.set("civic_prefs", "digits-arab")
            else:
                client.cookies.delete("civic_prefs")
            leaks += await _fetch_all(client, paths, f"{who} {lang}{' arab digits' if digits else ''}")
    assert not leaks, "\n".join(leaks)
    # the check can fail: once a phase shows the results, the same fetches find every figure
    await session.execute(update(Phase).where(Phase.consultation_id == known["consultation_id"],
                                              Phase.kind == "voting").values(results_visible=True))
    await session.commit()
    client.cookies.delete("civic_prefs")
    for lang in ("ar", "fr"):
        await client.get(f"/lang/{lang}")
        shown: set[str] = set()
        for path in (f"/ballots/{bid}/results", f"/ballots/{bid}/results/fragment", f"/api/v1/ballots/{bid}/results",
                     f"/ballots/{bid}/results.csv", f"/ballots/{bid}/results.xlsx", f"/ballots/{bid}/results.pdf"):
            r = await client.get(path)
            assert r.status_code == 200, path
            found = figures_in(_text(r.content, r.headers["content-type"]))
            assert {str(YES), str(NO_ONLINE), str(BALLOTS)} <= found, (lang, path, found)
            shown |= found
        assert shown == set(FIGURES), (lang, set(FIGURES) - shown)
    await session.commit()
