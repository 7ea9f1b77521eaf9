"""Verifiable tallies (civic.votes.verify; issue #5, item 9): publication of the receipt digests and of the
tally, the anonymised ballots file (no identity, no receipt, demographics only for combinations of 5 or more,
content order), the public receipt check, and ``civic tally --verify`` — matching a published file and reporting
a mismatch when one ballot line is altered (a subprocess against the test database)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from civic.audit import AuditEvent
from civic.errors import Conflict, Forbidden, NotFound, NotSignedIn
from civic.i18n import translations
from civic.permissions import ANONYMOUS, Actor
from civic.settings import ROOT
from civic.votes import aggregate, verify
from civic.votes import tally as t
from civic.votes.models import PublishedReceipt
from tests.conftest import NOW, SECRET, csrf_from, make_user
from tests.test_consultations import sign_in
from tests.test_tally_db import cast, digest, new_ballot, new_consultation, new_meeting, sheet, voters

ENDED = {"kind": "voting", "start": -10, "end": -1, "votes_enabled": True}
SHOWN = {"kind": "results", "start": -1, "end": 30, "results_visible": True}
HIDDEN = {"kind": "deliberation", "start": -1, "end": 30}
CODES = [f"K7M2Q-{n:05d}".replace("0", "A").replace("1", "B") for n in range(40)]  # receipt alphabet only


def ar(msgid: str) -> str:
    """A message as the (Arabic, default) pages show it."""
    return translations("ar").gettext(msgid)


NOT_PUBLISHED = "The receipts have not been published yet. They are published after the vote closes."


async def scenario(session, staff: Actor, phases: list[dict[str, Any]] | None = None) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """A ballot of two questions (single choice, approval) with 12 online voters — 6 of them sharing one
    combination of demographics, the others all different — one receipt per voter for both questions, and
    paper sheets (one superseded)."""
    cid = await new_consultation(session, staff, phases if phases is not None else [ENDED, SHOWN])
    mid = await new_meeting(session, cid)
    bid, (single, approval), (sopts, aopts) = await new_ballot(session, cid, staff, [
        {"method": t.SINGLE_CHOICE, "options": ["الطريق", "المدرسة", "الماء"]},
        {"method": t.APPROVAL, "options": ["أ", "ب", "ج"], "k": 2}])
    people = await voters(session, 12, start=500)
    for i, voter in enumerate(people):
        same = i < 6
        demo: dict[str, Any] = {"gender": "woman", "age_band": "18-24", "disability": False, "area": "rural",
                                "province": "05.081"} if same else {
            "gender": ("man", "woman", None)[i % 3], "age_band": ("25-34", "35-59", "60+", None)[i % 4],
            "disability": (True, None)[i % 2], "area": "urban", "province": ("05.091", "05.311", "05.301")[i % 3]}
        await cast(session, single, voter, [sopts[i % 3]], receipt=CODES[i], **demo)
        await cast(session, approval, voter, [] if i == 11 else [aopts[0], aopts[1 + i % 2]], receipt=CODES[i],
                   **demo)
    old = await sheet(session, single, mid, staff, {sopts[0]: 9, sopts[1]: 1, sopts[2]: 0}, reference="P-1")
    await sheet(session, single, mid, staff, {sopts[0]: 8, sopts[1]: 2, sopts[2]: 0}, blank=1, supersedes=old,
                reference="P-1 bis")
    await sheet(session, approval, mid, staff, {aopts[0]: 4, aopts[1]: 3, aopts[2]: 1}, invalid=2, with_choice=5,
                reference="P-2")
    return {"cid": cid, "bid": bid, "questions": (single, approval), "options": (sopts, aopts), "voters": people}


async def file_lines(session, bid: int) -> list[str]:  # type: ignore[no-untyped-def]
    return [line async for chunk in verify.anonymised_file(session, bid) for line in chunk.splitlines(keepends=True)]


# --- publication --------------------------------------------------------------------------------------------------


async def test_publish_copies_distinct_receipts_and_records_the_tally(session) -> None:  # type: ignore[no-untyped-def]
    staff = await make_user(session, 1, role="council_staff")
    s = await scenario(session, staff)
    citizen = await make_user(session, 2)
    with pytest.raises(NotSignedIn):
        await verify.publish(session, ANONYMOUS, s["bid"], NOW)
    with pytest.raises(Forbidden):
        await verify.publish(session, citizen, s["bid"], NOW)
    publication = await verify.publish(session, staff, s["bid"], NOW)
    assert publication.receipts == 12  # one receipt per voter, on both questions' rows: copied once
    stored = set((await session.scalars(select(PublishedReceipt.receipt_digest).where(
        PublishedReceipt.ballot_id == s["bid"]))).all())
    event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "votes:publish"))
    await session.commit()
    assert stored == {digest(c) for c in CODES[:12]}
    assert event is not None and event.subject_id == str(s["bid"]) and event.actor_id == staff.user_id
    single, approval = s["questions"]
    sopts, _aopts = s["options"]
    published = json.loads(event.detail)["questions"]
    assert published[str(single)]["counts"] == {str(sopts[0]): 4 + 8, str(sopts[1]): 4 + 2, str(sopts[2]): 4}
    assert published[str(single)]["paper_ballots"] == 11 and published[str(approval)]["invalid"] == 2
    with pytest.raises(Conflict):
        await verify.publish(session, staff, s["bid"], NOW)
    with pytest.raises(NotFound):
        await verify.publish(session, staff, 999_999, NOW)


async def test_publish_waits_for_the_end_of_voting(session) -> None:  # type: ignore[no-untyped-def]
    staff = await make_user(session, 1, role="council_staff")
    cid = await new_consultation(session, staff, [{"kind": "voting", "start": -1, "end": 1, "votes_enabled": True}])
    bid, _q, _o = await new_ballot(session, cid, staff, [{"method": t.YES_NO_ABSTAIN}])
    with pytest.raises(Conflict) as early:
        await verify.publish(session, staff, bid, NOW)
    assert early.value.message == verify.VOTING_NOT_OVER
    assert (await verify.publish(session, staff, bid, NOW + timedelta(days=2))).receipts == 0


def test_results_shown_follows_the_phases() -> None:
    class P:
        def __init__(self, start: int, end: int, shown: bool, votes: bool = False) -> None:
            self.id, self.starts_at, self.ends_at = start, NOW + timedelta(days=start), NOW + timedelta(days=end)
            self.results_visible, self.votes_enabled = shown, votes

    phases = [P(-10, -1, False, votes=True), P(-1, 5, False), P(5, 9, True)]
    assert not verify.results_shown(phases, NOW)  # a phase hiding results is current
    assert verify.results_shown(phases, NOW + timedelta(days=6))
    assert verify.results_shown(phases, NOW + timedelta(days=20))  # closed: as its last phase
    assert not verify.results_shown([P(-10, -5, True), P(5, 9, True)], NOW)  # between phases
    assert not verify.results_shown([], NOW)
    assert verify.voting_over(phases, NOW) and not verify.voting_over(phases, NOW - timedelta(days=5))
    assert not verify.voting_over([P(-1, 5, False)], NOW)  # no voting phase at all


# --- the anonymised file --------------------------------------------------------------------------------------------


async def test_anonymised_file_has_no_identity_and_suppresses_small_combinations(session) -> None:  # type: ignore[no-untyped-def]
    staff = await make_user(session, 1, role="council_staff")
    s = await scenario(session, staff)
    with pytest.raises(NotFound):  # not published yet
        await file_lines(session, s["bid"])
    await verify.publish(session, staff, s["bid"], NOW)
    lines = await file_lines(session, s["bid"])
    text = "".join(lines)
    rows = [json.loads(line) for line in lines]
    assert rows[0]["type"] == "header" and rows[0]["format"] == verify.FORMAT and rows[0]["ballot_id"] == s["bid"]
    for code in CODES[:12]:
        assert digest(code) not in text and code not in text  # no receipt
    assert "voter" not in text and "cast_ballot" not in text
    for voter in s["voters"]:
        assert f'"id":{voter}' not in text
    single, approval = s["questions"]
    ballots = [r for r in rows if r["type"] == "ballot"]
    assert len(ballots) == 24 and set(ballots[0]) == {"type", "question_id", "choices", "gender", "age_band",
                                                      "disability", "area", "province"}
    shown = [b for b in ballots if b["gender"] is not None]
    assert len(shown) == 12  # the 6 voters sharing one combination, on both questions
    assert all(b["gender"] == "woman" and b["age_band"] == "18-24" and b["disability"] is False and
               b["province"] == "05.081" for b in shown)
    hidden = [b for b in ballots if b["gender"] is None]
    assert all(b["age_band"] is None and b["disability"] is None and b["area"] is None and b["province"] is None
               for b in hidden)
    for qid in (single, approval):  # content order within each question
        keys = [(b["choices"], b["gender"] or "", b["age_band"] or "") for b in ballots if b["question_id"] == qid]
        texts = [" ".join(str(c) for c in k[0]) for k in keys]
        assert texts == sorted(texts)
    sheets = [r for r in rows if r["type"] == "sheet"]
    assert [r["reference"] for r in sheets] == ["P-1 bis", "P-2"]  # superseded sheets are not in force
    assert sheets[1]["with_choice"] == 5
    tallies = {r["question_id"]: r for r in rows if r["type"] == "tally"}
    database = await aggregate.question_tally(session, single, NOW)
    await session.commit()
    assert tallies[single]["counts"] == {str(k): v for k, v in database.counts().items()}
    assert rows[-1] == {"type": "receipts", "count": 12, "sha256": rows[-1]["sha256"]}
    # the file recounts to its own published tally
    found = verify.recount(lines)
    assert [f.problem for f in verify.compare(found, None)] == [None, None]
    assert found.questions[1][0].blank == 1  # the approval ballot with no choice


async def test_recount_names_the_first_mismatch_and_refuses_bad_files(session) -> None:  # type: ignore[no-untyped-def]
    staff = await make_user(session, 1, role="council_staff")
    s = await scenario(session, staff)
    await verify.publish(session, staff, s["bid"], NOW)
    lines = await file_lines(session, s["bid"])
    sopts, _aopts = s["options"]
    index = next(i for i, line in enumerate(lines) if f'"choices":[{sopts[0]}]' in line)
    altered = [*lines[:index], lines[index].replace(f'"choices":[{sopts[0]}]', f'"choices":[{sopts[1]}]'),
               *lines[index + 1:]]
    findings = verify.compare(verify.recount(altered), None)
    assert findings[0].problem is not None and f"option {sopts[0]}" in findings[0].problem
    assert findings[1].problem is None
    database = await verify.database_tallies(session, s["bid"], NOW)
    await session.commit()
    assert [f.problem for f in verify.compare(verify.recount(lines), database)] == [None, None]
    for bad in ([], ["not json\n"], ['{"type":"ballot"}\n'], [lines[0], '{"type":"ballot","question_id":1}\n'],
                [lines[0], lines[index].replace(f"[{sopts[0]}]", "[999999]")]):
        with pytest.raises(verify.BadFile):
            verify.recount(bad)


def _cli(settings, path: Path, *extra: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    env = {**os.environ, "CIVIC_DATABASE_URL": settings.database_url, "CIVIC_SECRET_KEY": SECRET,
           "CIVIC_ENV": "test"}
    return subprocess.run([sys.executable, "-m", "civic", "tally", "--verify", str(path), *extra], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


async def test_cli_verify_matches_and_reports_an_altered_ballot(session, settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    staff = await make_user(session, 1, role="council_staff")
    s = await scenario(session, staff)
    await verify.publish(session, staff, s["bid"], NOW)
    lines = await file_lines(session, s["bid"])
    await session.commit()
    good = tmp_path / "ballots.jsonl"
    good.write_text("".join(lines), encoding="utf-8")
    ok = _cli(settings, good)
    single, approval = s["questions"]
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"question {single}: match" in ok.stdout and f"question {approval}: match" in ok.stdout
    assert "published tally and the database" in ok.stdout

    _sopts, aopts = s["options"]
    index = next(i for i, line in enumerate(lines) if f'"question_id":{approval}' in line and '"type":"ballot"' in line
                 and f'"choices":[{aopts[0]},{aopts[1]}]' in line)
    bad = tmp_path / "altered.jsonl"
    bad.write_text("".join([*lines[:index], lines[index].replace(f"[{aopts[0]},{aopts[1]}]", f"[{aopts[0]}]"),
                            *lines[index + 1:]]), encoding="utf-8")
    mismatch = _cli(settings, bad)
    assert mismatch.returncode == 1, mismatch.stdout + mismatch.stderr
    assert f"question {single}: match" in mismatch.stdout
    assert f"question {approval}: MISMATCH: option {aopts[1]}" in mismatch.stdout
    offline = _cli(settings, bad, "--offline")
    assert offline.returncode == 1 and "the published tally" in offline.stdout and "database" not in offline.stdout

    # The file still matches its published tally, but the database changed after publication: reported.
    late = (await voters(session, 1, start=900))[0]
    await cast(session, single, late, [s["options"][0][0]])
    changed = _cli(settings, good)
    assert changed.returncode == 1 and f"question {single}: MISMATCH" in changed.stdout
    assert "database" in changed.stdout
    unreadable = tmp_path / "nothing.jsonl"
    unreadable.write_text("hello\n", encoding="utf-8")
    assert _cli(settings, unreadable).returncode == 2


# --- through HTTP -------------------------------------------------------------------------------------------------


async def test_receipt_check_publish_and_downloads_through_http(client, session) -> None:  # type: ignore[no-untyped-def]
    staff = await sign_in(client, session, "council_staff")
    s = await scenario(session, staff)
    bid = s["bid"]
    page = await client.get(f"/ballots/{bid}/receipt")
    assert page.status_code == 200 and ar(NOT_PUBLISHED) in page.text
    assert f'action="/ballots/{bid}/publish"' in page.text
    for path in (f"/ballots/{bid}/ballots.jsonl", f"/ballots/{bid}/receipts.txt"):
        assert (await client.get(path)).status_code == 404  # not published yet
    published = await client.post(f"/ballots/{bid}/publish", data={"csrf_token": csrf_from(page.text)})
    assert published.status_code == 303 and published.headers["location"] == f"/ballots/{bid}/receipt"
    page = await client.get(f"/ballots/{bid}/receipt")
    assert ar("The receipts and the tally have been published.") in page.text and 'name="code"' in page.text
    token = csrf_from(page.text)
    counted = await client.post(f"/ballots/{bid}/receipt", data={"csrf_token": token, "code": "k7m2q aaaab"})
    assert counted.status_code == 200 and ar("Counted.") in counted.text and 'aria-live="polite"' in counted.text
    unknown = await client.post(f"/ballots/{bid}/receipt", data={"csrf_token": token, "code": "ZZZZZ-ZZZZZ"})
    assert ar("Not found.") in unknown.text and 'value="ZZZZZ-ZZZZZ"' in unknown.text
    malformed = await client.post(f"/ballots/{bid}/receipt", data={"csrf_token": token, "code": "hello"})
    assert malformed.status_code == 422 and 'id="code-error"' in malformed.text
    forged = await client.post(f"/ballots/{bid}/receipt", data={"code": "K7M2Q-AAAAB"})
    assert forged.status_code == 403  # CSRF-checked
    again = await client.post(f"/ballots/{bid}/publish", data={"csrf_token": token})
    assert again.status_code == 409 and ar(verify.ALREADY_PUBLISHED) in again.text

    jsonl = await client.get(f"/ballots/{bid}/ballots.jsonl")
    assert jsonl.status_code == 200 and jsonl.headers["content-type"].startswith("application/x-ndjson")
    assert "attachment" in jsonl.headers["content-disposition"]
    assert [f.problem for f in verify.compare(verify.recount(jsonl.text.splitlines()), None)] == [None, None]
    receipts = await client.get(f"/ballots/{bid}/receipts.txt")
    listed = receipts.text.splitlines()
    assert listed == sorted(digest(c) for c in CODES[:12])


async def test_downloads_stay_hidden_while_results_are_hidden(client, session) -> None:  # type: ignore[no-untyped-def]
    staff = await make_user(session, 1, role="council_staff")
    s = await scenario(session, staff, [ENDED, HIDDEN])
    await verify.publish(session, staff, s["bid"], NOW)
    await session.commit()
    paths = [f"/ballots/{s['bid']}/ballots.jsonl", f"/ballots/{s['bid']}/receipts.txt"]
    for path in paths:
        assert (await client.get(path)).status_code == 404
    page = await client.get(f"/ballots/{s['bid']}/receipt")
    assert page.status_code == 200 and "ballots.jsonl" not in page.text and "receipts.txt" not in page.text
    await sign_in(client, session, "citizen", 7)
    for path in paths:
        assert (await client.get(path)).status_code == 404
    token = csrf_from((await client.get(f"/ballots/{s['bid']}/receipt")).text)
    answer = await client.post(f"/ballots/{s['bid']}/receipt", data={"csrf_token": token, "code": CODES[3]})
    assert ar("Counted.") in answer.text  # the receipt check shows no count, so it answers while results are hidden
    assert (await client.get("/ballots/999999/receipt")).status_code == 404
