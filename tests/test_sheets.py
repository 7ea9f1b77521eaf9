"""Paper tally sheets (civic.votes.sheets; issue #5, item 3): entered by meeting organisers, validated, audited,
corrected only by a new sheet that supersedes the old one (once), frozen after publication — through the service
and through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from civic.audit import AuditEvent
from civic.errors import Conflict, Forbidden, Invalid, NotFound, NotSignedIn
from civic.i18n import translations
from civic.permissions import ANONYMOUS
from civic.votes import aggregate, sheets
from civic.votes import tally as t
from civic.votes.models import Ballot, TallySheet
from civic.votes.sheets import SheetInput
from tests.conftest import NOW, csrf_from, make_user
from tests.test_consultations import sign_in
from tests.test_tally_db import new_ballot, new_consultation, new_meeting


def ar(msgid: str) -> str:
    """A message as the (Arabic, default) pages show it."""
    return translations("ar").gettext(msgid)


def data(question_id: int, meeting_id: int, counts: dict[int, object], reference: str = "AZL-2026-014",
         blank: object = 0, invalid: object = 0, ballots: object = "") -> SheetInput:
    return SheetInput(str(meeting_id), str(question_id), reference, {k: str(v) for k, v in counts.items()},
                      str(blank), str(invalid), str(ballots))


async def setup(session, methods: list[dict[str, object]] | None = None):  # type: ignore[no-untyped-def]
    staff = await make_user(session, 1, role="council_staff")
    cid = await new_consultation(session, staff)
    mid = await new_meeting(session, cid)
    bid, qids, oids = await new_ballot(session, cid, staff, methods or [
        {"method": t.SINGLE_CHOICE, "options": ["الطريق", "المدرسة", "الماء"]},
        {"method": t.APPROVAL, "options": ["أ", "ب", "ج"], "k": 2},
        {"method": t.BUDGET, "options": [("حافلة", 600), ("مستوصف", 500)], "budget": 1000},
    ])
    return staff, cid, mid, bid, qids, oids


async def test_enter_a_sheet_counts_it_and_audits_it(session) -> None:  # type: ignore[no-untyped-def]
    staff, _cid, mid, bid, (q, _a, _b), (opts, _ao, _bo) = await setup(session)
    sid = await sheets.enter_sheet(session, staff, bid, data(q, mid, {opts[0]: 12, opts[1]: "٧", opts[2]: 0},
                                                            blank=2, invalid=1), NOW)
    result = await aggregate.question_tally(session, q, NOW)
    assert [o.paper for o in result.options] == [12, 7, 0]  # Arabic-Indic digits are read
    assert result.paper_ballots == 12 + 7 + 2 + 1
    event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "votes:enter_sheet"))
    await session.commit()
    assert event is not None and event.subject_id == str(sid) and event.actor_id == staff.user_id
    detail = json.loads(event.detail)
    assert detail["counts"] == {str(opts[0]): 12, str(opts[1]): 7, str(opts[2]): 0} and detail["reference"] == \
        "AZL-2026-014"


async def test_sheet_validation(session) -> None:  # type: ignore[no-untyped-def]
    staff, cid, mid, bid, (q, a, b), (opts, aopts, bopts) = await setup(session)
    with pytest.raises(Invalid) as bad:
        await sheets.enter_sheet(session, staff, bid, data(q, mid, {opts[0]: -1, opts[1]: "x", opts[2]: ""},
                                                          reference=" ", blank="1.5", invalid=""), NOW)
    assert set(bad.value.field_errors) == {"reference", f"count_{opts[0]}", f"count_{opts[1]}", f"count_{opts[2]}",
                                           "blank", "invalid"}
    with pytest.raises(Invalid) as bad:
        await sheets.enter_sheet(session, staff, bid, data(q, mid, {opts[0]: 100_001, opts[1]: 0, opts[2]: 0},
                                                          reference="x" * 101), NOW)
    assert bad.value.field_errors == {"reference": [sheets.REFERENCE_TOO_LONG],
                                      f"count_{opts[0]}": [sheets.NUMBER_ERROR]}
    # approval: papers with a choice are required and bound the counts
    cases = [({aopts[0]: 5, aopts[1]: 1, aopts[2]: 0}, "", sheets.NUMBER_ERROR),
             ({aopts[0]: 5, aopts[1]: 1, aopts[2]: 0}, 4, sheets.OPTION_OVER_BALLOTS),
             ({aopts[0]: 2, aopts[1]: 1, aopts[2]: 0}, 4, sheets.CHOICES_UNDER_BALLOTS),
             ({aopts[0]: 4, aopts[1]: 4, aopts[2]: 1}, 4, sheets.CHOICES_OVER_LIMIT)]  # k = 2: at most 8 choices
    for counts, papers, error in cases:
        with pytest.raises(Invalid) as bad:
            await sheets.enter_sheet(session, staff, bid, data(a, mid, counts, ballots=papers), NOW)
        assert bad.value.field_errors == {"ballots": [error]}
    await sheets.enter_sheet(session, staff, bid, data(a, mid, {aopts[0]: 4, aopts[1]: 4, aopts[2]: 0}, ballots=4),
                             NOW)
    # budget: the chosen projects' costs cannot pass papers × budget
    with pytest.raises(Invalid) as bad:
        await sheets.enter_sheet(session, staff, bid, data(b, mid, {bopts[0]: 2, bopts[1]: 2}, ballots=2), NOW)
    assert bad.value.field_errors == {"ballots": [sheets.COSTS_OVER_BUDGET]}
    await sheets.enter_sheet(session, staff, bid, data(b, mid, {bopts[0]: 1, bopts[1]: 2}, ballots=2, invalid=1),
                             NOW)
    budget = await aggregate.question_tally(session, b, NOW)
    assert budget.paper_ballots == 3 and budget.invalid == 1
    # a meeting of another consultation, or a question of another ballot
    other = await new_meeting(session, await new_consultation(session, staff))
    with pytest.raises(Invalid) as bad:
        await sheets.enter_sheet(session, staff, bid, data(q, other, {o: 0 for o in opts}), NOW)
    assert list(bad.value.field_errors) == ["meeting_id"]
    with pytest.raises(Invalid) as bad:
        await sheets.enter_sheet(session, staff, bid, data(999_999, mid, {}), NOW)
    assert list(bad.value.field_errors) == ["question_id"]
    assert cid


async def test_who_may_enter_sheets(session) -> None:  # type: ignore[no-untyped-def]
    _staff, _cid, mid, bid, (q, _a, _b), (opts, _ao, _bo) = await setup(session)
    citizen = await make_user(session, 2)
    moderator = await make_user(session, 3, role="moderator")
    entry = data(q, mid, {o: 1 for o in opts})
    with pytest.raises(NotSignedIn):
        await sheets.enter_sheet(session, ANONYMOUS, bid, entry, NOW)
    for actor in (citizen, moderator):
        with pytest.raises(Forbidden):
            await sheets.enter_sheet(session, actor, bid, entry, NOW)
        with pytest.raises(Forbidden):
            await sheets.sheets_page(session, actor, bid, NOW)
    admin = await make_user(session, 4, role="admin")
    assert await sheets.enter_sheet(session, admin, bid, entry, NOW)
    with pytest.raises(NotFound):
        await sheets.enter_sheet(session, admin, 999_999, entry, NOW)


async def test_a_correction_supersedes_once_and_only_the_newest_counts(session) -> None:  # type: ignore[no-untyped-def]
    staff, _cid, mid, bid, (q, _a, _b), (opts, _ao, _bo) = await setup(session)
    first = await sheets.enter_sheet(session, staff, bid, data(q, mid, {opts[0]: 10, opts[1]: 5, opts[2]: 0}), NOW)
    second = await sheets.correct_sheet(session, staff, first, data(q, mid, {opts[0]: 11, opts[1]: 5, opts[2]: 0},
                                                                    reference="AZL-2026-014 (corrigée)"), NOW)
    with pytest.raises(Conflict) as twice:
        await sheets.correct_sheet(session, staff, first, data(q, mid, {o: 0 for o in opts}), NOW)
    assert twice.value.message == sheets.ALREADY_CORRECTED
    third = await sheets.correct_sheet(session, staff, second, data(q, mid, {opts[0]: 11, opts[1]: 6, opts[2]: 0}),
                                       NOW + timedelta(minutes=5))
    result = await aggregate.question_tally(session, q, NOW)
    assert [o.paper for o in result.options] == [11, 6, 0]
    page = await sheets.sheets_page(session, staff, bid, NOW)
    listed = page.questions[0].sheets
    assert [s.id for s in listed] == [third, second, first]  # newest first, superseded ones still listed
    assert [s.in_force for s in listed] == [True, False, False]
    assert listed[1].superseded_by == third and listed[1].supersedes == first
    assert listed[0].entered_by == "User 1"
    # the correction keeps the corrected sheet's question and meeting, whatever is posted
    stored = await session.get(TallySheet, third)
    await session.commit()
    assert stored is not None and stored.question_id == q and stored.meeting_id == mid


async def test_two_simultaneous_corrections_one_wins(sessionmaker) -> None:  # type: ignore[no-untyped-def]
    async with sessionmaker() as s:
        staff, _cid, mid, bid, (q, _a, _b), (opts, _ao, _bo) = await setup(s)
        first = await sheets.enter_sheet(s, staff, bid, data(q, mid, {o: 1 for o in opts}), NOW)

    async def correct(n: int) -> str:
        async with sessionmaker() as s:
            try:
                await sheets.correct_sheet(s, staff, first, data(q, mid, {o: n for o in opts}), NOW)
            except Conflict as exc:
                return exc.message
            return "ok"

    outcomes = await asyncio.gather(*(correct(n) for n in range(2, 8)))
    assert outcomes.count("ok") == 1 and set(outcomes) == {"ok", sheets.ALREADY_CORRECTED}
    async with sessionmaker() as s:
        n = await s.scalar(select(func.count()).select_from(TallySheet).where(TallySheet.supersedes_id == first))
        await s.commit()
        assert n == 1


async def test_sheets_are_frozen_after_publication(session) -> None:  # type: ignore[no-untyped-def]
    staff, _cid, mid, bid, (q, _a, _b), (opts, _ao, _bo) = await setup(session)
    first = await sheets.enter_sheet(session, staff, bid, data(q, mid, {o: 1 for o in opts}), NOW)
    ballot = await session.get(Ballot, bid)
    assert ballot is not None
    ballot.published_at = NOW
    await session.commit()
    with pytest.raises(Conflict):
        await sheets.enter_sheet(session, staff, bid, data(q, mid, {o: 1 for o in opts}), NOW)
    with pytest.raises(Conflict):
        await sheets.correct_sheet(session, staff, first, data(q, mid, {o: 2 for o in opts}), NOW)


# --- through HTTP -------------------------------------------------------------------------------------------------


async def test_sheets_page_entry_and_correction_through_http(client, session) -> None:  # type: ignore[no-untyped-def]
    staff = await sign_in(client, session, "council_staff")
    cid = await new_consultation(session, staff)
    mid = await new_meeting(session, cid)
    bid, (q, a), (opts, aopts) = await new_ballot(session, cid, staff, [
        {"method": t.YES_NO_ABSTAIN}, {"method": t.APPROVAL, "options": ["أ", "ب", "ج"], "k": 2}])
    page = await client.get(f"/ballots/{bid}/sheets")
    assert page.status_code == 200
    assert "<h1>" in page.text and f'name="count_{opts[0]}"' in page.text and 'name="ballots"' not in page.text
    token = csrf_from(page.text)
    form = {"csrf_token": token, "question_id": str(q), "meeting_id": str(mid), "reference": "BM-77",
            f"count_{opts[0]}": "30", f"count_{opts[1]}": "12", f"count_{opts[2]}": "", "blank": "1", "invalid": "0"}
    bad = await client.post(f"/ballots/{bid}/sheets/new", data=form)
    assert bad.status_code == 422
    assert 'id="count_' + str(opts[2]) + '-error"' in bad.text and 'value="BM-77"' in bad.text  # keeps the typing
    assert 'aria-invalid="true"' in bad.text
    form[f"count_{opts[2]}"] = "3"
    ok = await client.post(f"/ballots/{bid}/sheets/new", data=form)
    assert ok.status_code == 303 and ok.headers["location"].startswith(f"/ballots/{bid}/sheets?question={q}")
    listed = await client.get(ok.headers["location"])
    assert "BM-77" in listed.text and "council_staff 1" in listed.text
    assert ar("The sheet has been recorded.") in listed.text
    sid = int(await session.scalar(select(TallySheet.id).where(TallySheet.reference == "BM-77")) or 0)
    await session.commit()
    assert f"?correct={sid}" in listed.text
    # the correction form shows the sheet being corrected, filled with its numbers
    correcting = await client.get(f"/ballots/{bid}/sheets?correct={sid}")
    assert correcting.status_code == 200 and f'action="/sheets/{sid}/correct"' in correcting.text
    assert 'value="30"' in correcting.text and "BM-77" in correcting.text
    form2 = {k: v for k, v in form.items() if k not in ("question_id", "meeting_id")}
    form2.update({f"count_{opts[0]}": "31", "reference": "BM-77 bis"})
    corrected = await client.post(f"/sheets/{sid}/correct", data=form2)
    assert corrected.status_code == 303
    again = await client.post(f"/sheets/{sid}/correct", data=form2)
    assert again.status_code == 409 and ar(sheets.ALREADY_CORRECTED) in again.text
    final = await client.get(f"/ballots/{bid}/sheets")
    assert "BM-77 bis" in final.text and 'class="superseded"' in final.text
    assert ar("Replaced by sheet no. %(id)s: not counted") % {"id": sid + 1} in final.text
    result = await aggregate.question_tally(session, q, NOW)
    await session.commit()
    assert [o.paper for o in result.options] == [31, 12, 3]
    # an approval question's form asks for the papers with a choice
    approval = await client.get(f"/ballots/{bid}/sheets?question={a}")
    assert 'name="ballots"' in approval.text and f'name="count_{aopts[0]}"' in approval.text


async def test_sheets_page_is_for_organisers_only(client, session) -> None:  # type: ignore[no-untyped-def]
    staff = await make_user(session, 1, role="council_staff")
    cid = await new_consultation(session, staff)
    bid, _q, _o = await new_ballot(session, cid, staff, [{"method": t.YES_NO_ABSTAIN}])
    anonymous = await client.get(f"/ballots/{bid}/sheets")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    await sign_in(client, session, "citizen", 5)
    assert (await client.get(f"/ballots/{bid}/sheets")).status_code == 403
    assert (await client.get("/ballots/999999/sheets")).status_code == 404
    token = csrf_from((await client.get(f"/ballots/{bid}/sheets")).text)  # the sign-out form of the 403 page
    refused = await client.post(f"/ballots/{bid}/sheets/new", data={"csrf_token": token})
    assert refused.status_code == 403
