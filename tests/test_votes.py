"""Ballots and casting (issue #5, items 1, 2, 7 and 9): ballot and question validation, eligibility (residents,
meeting-only ballots), the role × phase grid, each method's rule, changing a vote, receipts shown once and
stored only as digests, optional demographics, no count on the ballot pages, and the pages through HTTP with
CSRF and without JavaScript. Real databases only."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from civic.accounts import service as accounts
from civic.audit import AuditEvent
from civic.consultations.models import Consultation, Meeting, MeetingRegistration, Phase
from civic.db import utcnow
from civic.errors import Conflict, Forbidden, Invalid, NotFound, NotSignedIn
from civic.permissions import ANONYMOUS, BLOCKED_MESSAGE, Actor
from civic.votes import service
from civic.votes.models import CastBallot, Choice, Option, Question
from civic.votes.service import BallotInput, QuestionInput, VoteInput
from tests.conftest import NOW, csrf_from, make_user

PASSWORD = "a long password for the votes tests"
ROLES = ("citizen", "cso_member", "moderator", "council_staff", "admin")
TITLE = "التصويت على أولويات النقل القروي"
YES_NO = QuestionInput("هل توافقون على خط النقل القروي؟", "yes_no_abstain")
SINGLE = QuestionInput("ما هي أولويتكم الأولى؟", "single_choice", "الطرق\nالنقل المدرسي\nLe transport rural")
APPROVAL = QuestionInput("اختاروا المشاريع التي تدعمونها", "approval", "أ\nب\nج\nد", max_choices="2")
BUDGET = QuestionInput("ميزانية تشاركية", "budget",
                       "حافلة مدرسية | 450 000\nملعب للقرب | 350000\nنقاط الماء | 400,000", budget="1 000 000")


# --- helpers ---------------------------------------------------------------------------------------------------


async def new_consultation(session, staff: Actor, phases: list[dict[str, Any]], scope: str = "region",  # type: ignore[no-untyped-def]
                           territory: str = "05", base: datetime = NOW) -> int:
    """A consultation and its phases, inserted directly. Each phase: kind, start/end (days from ``base``), flags."""
    cid = int((await session.execute(insert(Consultation).values(
        title="استشارة حول التنقل في العالم القروي", summary="", body="نص الاستشارة " * 5, scope=scope,
        territory_code=territory, addressed_to="council", support_limit=3, created_by=staff.user_id,
        created_at=base - timedelta(days=60), updated_at=base - timedelta(days=60)).returning(Consultation.id)))
        .scalar_one())
    for ph in phases:
        await session.execute(insert(Phase).values(
            consultation_id=cid, kind=ph.get("kind", "voting"), starts_at=base + timedelta(days=ph["start"]),
            ends_at=base + timedelta(days=ph["end"]), votes_enabled=ph.get("votes_enabled", False),
            results_visible=ph.get("results_visible", False)))
    await session.commit()
    return cid


def voting(**over: Any) -> dict[str, Any]:
    """The voting phase, current at the base time, with votes allowed."""
    return {"kind": "voting", "start": -5, "end": 5, "votes_enabled": True, **over}


async def setup(session, questions: tuple[QuestionInput, ...] = (YES_NO, SINGLE, APPROVAL, BUDGET),  # type: ignore[no-untyped-def]
                phases: list[dict[str, Any]] | None = None, base: datetime = NOW, **consultation: Any):
    """Staff, a consultation with a current voting phase, and a ballot with ``questions``; returns
    (staff, consultation id, ballot id, question views)."""
    staff = await make_user(session, 900, role="council_staff")
    cid = await new_consultation(session, staff, phases if phases is not None else [voting()], base=base,
                                 **consultation)
    bid = await service.create_ballot(session, staff, cid, BallotInput(TITLE, "وصف التصويت"), base)
    for q in questions:
        await service.add_question(session, staff, bid, q, base)
    page = await service.ballot_page(session, staff, bid, base)
    return staff, cid, bid, page.questions


def answers(questions: list[service.QuestionView], pick: int = 0, **demographics: str) -> VoteInput:
    """A valid submission: option ``pick`` on one-answer questions, options pick and pick+1 on approval and
    budget questions (the demo budget's first two projects fit: 800,000 MAD)."""
    choices: dict[int, list[int]] = {}
    for q in questions:
        ids = [o.id for o in q.options]
        one = ids[pick % len(ids)]
        if q.method in ("approval", "budget"):
            choices[q.id] = [one, ids[(pick + 1) % len(ids)]]
        else:
            choices[q.id] = [one]
    return VoteInput(choices, **demographics)


async def rows_of(session, voter: Actor) -> list[CastBallot]:  # type: ignore[no-untyped-def]
    rows = list(await session.scalars(select(CastBallot).where(CastBallot.voter_id == voter.user_id)
                                      .order_by(CastBallot.question_id).execution_options(populate_existing=True)))
    await session.commit()
    return rows


async def choices_of(session, voter: Actor) -> dict[int, list[int]]:  # type: ignore[no-untyped-def]
    result: dict[int, list[int]] = {}
    for qid, oid in await session.execute(
            select(Choice.question_id, Choice.option_id).join(CastBallot, CastBallot.id == Choice.cast_ballot_id)
            .where(CastBallot.voter_id == voter.user_id).order_by(Choice.question_id, Choice.option_id)):
        result.setdefault(qid, []).append(oid)
    await session.commit()
    return result


async def audit_actions(session) -> list[str]:  # type: ignore[no-untyped-def]
    actions = list(await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    await session.commit()
    return actions


# --- receipts --------------------------------------------------------------------------------------------------


def test_receipt_codes_are_random_readable_and_hashed() -> None:
    codes = {service.new_receipt_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        assert re.fullmatch(r"[23456789ABCDEFGHJKMNPQRSTVWXYZ]{5}-[23456789ABCDEFGHJKMNPQRSTVWXYZ]{5}", code)
    code = codes.pop()
    digest = service.receipt_digest(code)
    assert digest == hashlib.sha256(code.replace("-", "").encode()).hexdigest()
    assert service.receipt_digest(" " + code.lower().replace("-", " ") + " ") == digest  # typed back by a voter
    assert service.normalise_receipt("O0I1L-ABCDE") is None and service.normalise_receipt("ABCD") is None
    with pytest.raises(ValueError):
        service.receipt_digest("not a code")


# --- ballots and questions --------------------------------------------------------------------------------------


async def test_ballot_creation_validation_permissions_and_audit(session) -> None:  # type: ignore[no-untyped-def]
    staff = await make_user(session, 1, role="council_staff")
    cid = await new_consultation(session, staff, [voting()])
    other = await new_consultation(session, staff, [])
    meeting_id = int((await session.execute(insert(Meeting).values(
        consultation_id=other, title="لقاء", mode="in_person", starts_at=NOW, ends_at=NOW + timedelta(hours=2),
        capacity=10, created_at=NOW).returning(Meeting.id))).scalar_one())
    await session.commit()
    with pytest.raises(Invalid) as exc:
        await service.create_ballot(session, staff, cid, BallotInput("abc", "x" * 5001, str(meeting_id)), NOW)
    assert exc.value.field_errors == {"title": [service.TITLE_LENGTH], "description": [service.DESCRIPTION_LONG],
                                      "meeting_id": [service.MEETING_UNKNOWN]}  # a meeting of another consultation
    with pytest.raises(Invalid) as exc:
        await service.create_ballot(session, staff, cid, BallotInput("  \u202e "), NOW)
    assert exc.value.field_errors == {"title": [service.TITLE_MISSING]}
    citizen = await make_user(session, 2)
    with pytest.raises(Forbidden):
        await service.create_ballot(session, citizen, cid, BallotInput(TITLE), NOW)
    with pytest.raises(NotSignedIn):
        await service.create_ballot(session, ANONYMOUS, cid, BallotInput(TITLE), NOW)
    with pytest.raises(NotFound):
        await service.create_ballot(session, staff, 999_999, BallotInput(TITLE), NOW)
    bid = await service.create_ballot(session, staff, cid, BallotInput(f"  {TITLE}  ", "وصف"), NOW)
    page = await service.ballot_for_edit(session, staff, bid, NOW)
    assert (page.ballot.title, page.ballot.description, page.ballot.meeting_id, page.locked) == (TITLE, "وصف", None,
                                                                                              False)
    with pytest.raises(Forbidden):
        await service.ballot_for_edit(session, citizen, bid, NOW)
    assert await audit_actions(session) == ["votes:create_ballot"]


async def test_yes_no_abstain_gets_its_three_fixed_options_and_positions_follow(session) -> None:  # type: ignore[no-untyped-def]
    _staff, _cid, bid, questions = await setup(session, (YES_NO, SINGLE, APPROVAL, BUDGET))
    assert [q.method for q in questions] == ["yes_no_abstain", "single_choice", "approval", "budget"]
    assert [q.position for q in questions] == [1, 2, 3, 4]
    assert [o.label for o in questions[0].options] == ["Yes", "No", "Abstain"]
    assert [o.position for o in questions[0].options] == [1, 2, 3]
    assert [o.label for o in questions[1].options] == ["الطرق", "النقل المدرسي", "Le transport rural"]
    assert questions[2].max_choices == 2 and questions[2].budget is None
    assert [(o.label, o.cost) for o in questions[3].options] == [
        ("حافلة مدرسية", 450_000), ("ملعب للقرب", 350_000), ("نقاط الماء", 400_000)]
    assert questions[3].budget == 1_000_000
    assert await audit_actions(session) == ["votes:create_ballot"] + ["votes:add_question"] * 4
    assert bid > 0


@pytest.mark.parametrize(("data", "errors"), [
    (QuestionInput("", ""), {"text": [service.QUESTION_MISSING], "method": [service.METHOD_MISSING]}),
    (QuestionInput("abc", "ranked"), {"text": [service.QUESTION_LENGTH], "method": [service.METHOD_MISSING]}),
    (QuestionInput("سؤال واضح", "single_choice", "وحيد"), {"options": [service.OPTIONS_COUNT]}),
    (QuestionInput("سؤال واضح", "single_choice", "\n".join(f"خيار {i}" for i in range(31))),
     {"options": [service.OPTIONS_COUNT]}),
    (QuestionInput("سؤال واضح", "single_choice", "نعم\n  نعم "), {"options": [service.OPTIONS_DUPLICATE]}),
    (QuestionInput("سؤال واضح", "single_choice", "a\n" + "b" * 301), {"options": [service.OPTION_LONG]}),
    (QuestionInput("سؤال واضح", "approval", "أ\nب\nج", max_choices="0"), {"max_choices": [service.MAX_CHOICES_WRONG]}),
    (QuestionInput("سؤال واضح", "approval", "أ\nب\nج", max_choices="4"), {"max_choices": [service.MAX_CHOICES_WRONG]}),
    (QuestionInput("سؤال واضح", "approval", "أ\nب\nج"), {"max_choices": [service.MAX_CHOICES_WRONG]}),
    (QuestionInput("سؤال واضح", "budget", "مشروع أ\nمشروع ب | 100", budget="1000"),
     {"options": [service.PROJECT_FORMAT]}),
    (QuestionInput("سؤال واضح", "budget", "مشروع أ | -5\nمشروع ب | 100", budget="1000"),
     {"options": [service.PROJECT_FORMAT]}),
    (QuestionInput("سؤال واضح", "budget", "مشروع أ | 50\nمشروع ب | 100", budget="1000.50"),
     {"budget": [service.BUDGET_WRONG]}),
    (QuestionInput("سؤال واضح", "budget", "مشروع أ | 5000\nمشروع ب | 100", budget="1000"),
     {"options": [service.PROJECT_OVER_BUDGET]}),
])
async def test_question_validation(session, data: QuestionInput, errors: dict[str, list[str]]) -> None:  # type: ignore[no-untyped-def]
    staff, _cid, bid, _questions = await setup(session, ())
    with pytest.raises(Invalid) as exc:
        await service.add_question(session, staff, bid, data, NOW)
    assert exc.value.field_errors == errors
    assert await session.scalar(select(func.count()).select_from(Question)) == 0
    await session.commit()


def test_money_parsing() -> None:
    assert service.parse_money("1 000 000") == 1_000_000
    assert service.parse_money("1,000,000 MAD") == 1_000_000
    assert service.parse_money("١٢٠٠٠") == 12_000  # Arabic-Indic digits
    assert service.parse_money("450\u202f000 درهم") == 450_000
    for wrong in ("", "0", "-5", "12.5", "1,00", "abc", str(2**31)):
        assert service.parse_money(wrong) is None, wrong


async def test_questions_cannot_change_once_a_ballot_is_cast(session) -> None:  # type: ignore[no-untyped-def]
    staff, cid, bid, questions = await setup(session, (YES_NO, SINGLE))
    meeting_id = int((await session.execute(insert(Meeting).values(
        consultation_id=cid, title="لقاء", mode="in_person", starts_at=NOW, ends_at=NOW + timedelta(hours=2),
        capacity=10, created_at=NOW).returning(Meeting.id))).scalar_one())
    await session.commit()
    await service.delete_question(session, staff, bid, questions[1].id, NOW)  # before any vote: allowed
    assert [q.id for q in await service._questions(session, bid)] == [questions[0].id]
    await session.commit()
    voter = await make_user(session, 1)
    await service.cast(session, voter, bid, answers(questions[:1]), NOW)
    with pytest.raises(Conflict) as exc:
        await service.add_question(session, staff, bid, SINGLE, NOW)
    assert exc.value.message == service.LOCKED
    with pytest.raises(Conflict):
        await service.delete_question(session, staff, bid, questions[0].id, NOW)
    with pytest.raises(Conflict):  # who may vote cannot change either
        await service.update_ballot(session, staff, bid, BallotInput(TITLE, "", str(meeting_id)), NOW)
    await service.update_ballot(session, staff, bid, BallotInput("عنوان جديد للتصويت", "وصف آخر"), NOW)
    page = await service.ballot_for_edit(session, staff, bid, NOW)
    assert page.locked and page.ballot.title == "عنوان جديد للتصويت" and len(page.questions) == 1
    assert await session.scalar(select(func.count()).select_from(Option)) == 3
    await session.commit()
    assert (await audit_actions(session))[-1] == "votes:update_ballot"


# --- eligibility ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("scope", "territory", "commune", "eligible"), [
    ("region", "05", "05.081.03.07", True),
    ("province", "05.081", "05.081.03.07", True),
    ("province", "05.081", "05.091.01.01", False),
    ("commune", "05.081.03.07", "05.081.03.07", True),
    ("commune", "05.081.03.07", "05.081.01.01", False),
    ("province", "05.091", "05.091.01.07", True),
])
async def test_residents_of_the_territory_may_vote(session, scope: str, territory: str, commune: str,  # type: ignore[no-untyped-def]
                                                    eligible: bool) -> None:
    _staff, _cid, bid, questions = await setup(session, (YES_NO,), scope=scope, territory=territory)
    voter = await make_user(session, 1, commune=commune)
    page = await service.ballot_page(session, voter, bid, NOW)
    if eligible:
        assert page.refusal is None
        await service.cast(session, voter, bid, answers(questions), NOW)
        assert len(await rows_of(session, voter)) == 1
    else:
        assert page.refusal is not None and page.refusal.reason == "not_resident"
        assert page.refusal.place is not None and page.refusal.place.code == territory
        with pytest.raises(service.NotEligible) as exc:
            await service.cast(session, voter, bid, answers(questions), NOW)
        assert exc.value.refusal.reason == "not_resident" and exc.value.status_code == 403
        assert await rows_of(session, voter) == []


async def test_meeting_only_ballot_needs_a_seat_at_the_meeting(session) -> None:  # type: ignore[no-untyped-def]
    staff, cid, _bid, _questions = await setup(session, ())
    meeting_id = int((await session.execute(insert(Meeting).values(
        consultation_id=cid, title="لقاء المنتدى بأزيلال", mode="in_person", starts_at=NOW - timedelta(hours=1),
        ends_at=NOW + timedelta(hours=2), capacity=1, created_at=NOW).returning(Meeting.id))).scalar_one())
    await session.commit()
    bid = await service.create_ballot(session, staff, cid, BallotInput("تصويت الحاضرين", "", str(meeting_id)), NOW)
    await service.add_question(session, staff, bid, YES_NO, NOW)
    questions = (await service.ballot_page(session, staff, bid, NOW)).questions
    seated, waiting, cancelled, absent = [await make_user(session, i) for i in range(4)]
    for person, seat, status in ((seated, 1, "registered"), (waiting, None, "waiting"),
                                 (cancelled, None, "cancelled")):
        await session.execute(insert(MeetingRegistration).values(
            meeting_id=meeting_id, user_id=person.user_id, seat=seat, status=status, registered_at=NOW))
    await session.commit()
    await service.cast(session, seated, bid, answers(questions), NOW)
    for person in (waiting, cancelled, absent, staff):
        with pytest.raises(service.NotEligible) as exc:
            await service.cast(session, person, bid, answers(questions), NOW)
        assert exc.value.refusal.reason == "not_registered"
        assert exc.value.refusal.meeting is not None and exc.value.refusal.meeting.id == meeting_id
    assert await session.scalar(select(func.count()).select_from(CastBallot)) == 1
    await session.commit()


GRID = {
    "voting phase, votes on": ([voting()], True),
    "voting phase, votes off": ([voting(votes_enabled=False)], False),
    "results phase": ([{"kind": "results", "start": -5, "end": 5, "results_visible": True}], False),
    "before the voting phase": ([voting(start=1, end=10)], False),
    "after the voting phase": ([voting(start=-10, end=-1)], False),
    "between two phases": ([voting(start=-10, end=-1), voting(start=1, end=10)], False),
    "at the very end (excluded)": ([voting(start=-10, end=0)], False),
    "no phase at all": ([], False),
}


@pytest.mark.parametrize("case", list(GRID))
async def test_role_by_phase_grid_for_casting(session, case: str) -> None:  # type: ignore[no-untyped-def]
    phases, allowed = GRID[case]
    _staff, _cid, bid, questions = await setup(session, (YES_NO,), phases=phases)
    with pytest.raises(NotSignedIn):
        await service.cast(session, ANONYMOUS, bid, answers(questions), NOW)
    anonymous_page = await service.ballot_page(session, ANONYMOUS, bid, NOW)
    assert anonymous_page.refusal is not None
    assert anonymous_page.refusal.reason == ("sign_in" if allowed else "closed")  # invited only while open
    for n, role in enumerate(ROLES):
        actor = await make_user(session, 10 + n, role=role)
        page = await service.ballot_page(session, actor, bid, NOW)
        if allowed:
            assert page.refusal is None and page.voting_open
            result = await service.cast(session, actor, bid, answers(questions, n), NOW)
            assert not result.changed and len(result.receipt) == 11
        else:
            assert page.refusal is not None and page.refusal.reason == "closed" and not page.voting_open
            with pytest.raises(service.VotingClosed) as exc:
                await service.cast(session, actor, bid, answers(questions, n), NOW)
            assert exc.value.status_code == 409 and exc.value.message == service.VOTING_CLOSED
    stored = await session.scalar(select(func.count()).select_from(CastBallot))
    await session.commit()
    assert stored == (len(ROLES) if allowed else 0)


async def test_blocked_voter_is_refused(session) -> None:  # type: ignore[no-untyped-def]
    _staff, _cid, bid, questions = await setup(session, (YES_NO,))
    voter = await make_user(session, 1)
    blocked = Actor(voter.user_id, "citizen", "User 1", blocked_until=NOW + timedelta(days=1))
    with pytest.raises(service.NotEligible) as exc:
        await service.cast(session, blocked, bid, answers(questions), NOW)
    assert exc.value.message == BLOCKED_MESSAGE
    await service.cast(session, Actor(voter.user_id, "citizen", "User 1", blocked_until=NOW), bid,
                       answers(questions), NOW)  # the block has ended
    assert len(await rows_of(session, voter)) == 1


async def test_a_ballot_without_questions_cannot_be_cast(session) -> None:  # type: ignore[no-untyped-def]
    _staff, _cid, bid, _questions = await setup(session, ())
    voter = await make_user(session, 1)
    with pytest.raises(Conflict) as exc:
        await service.cast(session, voter, bid, VoteInput(), NOW)
    assert exc.value.message == service.NO_QUESTIONS
    with pytest.raises(NotFound):
        await service.cast(session, voter, 999_999, VoteInput(), NOW)


# --- each method's rule -----------------------------------------------------------------------------------------


async def test_each_method_validation(session) -> None:  # type: ignore[no-untyped-def]
    _staff, _cid, bid, questions = await setup(session)
    yes_no, single, approval, budget = questions
    voter = await make_user(session, 1)
    ids = {q.id: [o.id for o in q.options] for q in questions}
    good = answers(questions).choices

    async def refused(**change: list[int]) -> service.BallotInvalid:
        choices = {**good, **{int(k[1:]): v for k, v in change.items()}}
        with pytest.raises(service.BallotInvalid) as exc:
            await service.cast(session, voter, bid, VoteInput(choices), NOW)
        assert await rows_of(session, voter) == []  # nothing written
        return exc.value

    for key, value, error in (
            (f"q{yes_no.id}", [], service.CHOOSE_ONE), (f"q{yes_no.id}", ids[yes_no.id][:2], service.CHOOSE_ONE),
            (f"q{single.id}", [], service.CHOOSE_ONE), (f"q{single.id}", ids[single.id], service.CHOOSE_ONE),
            (f"q{single.id}", [ids[yes_no.id][0]], service.CHOOSE_GIVEN),  # another question's option
            (f"q{single.id}", [0], service.CHOOSE_GIVEN),
            (f"q{approval.id}", ids[approval.id][:3], service.TOO_MANY_CHOSEN)):
        exc = await refused(**{key: value})
        assert exc.field_errors == {key: [error]} and exc.over_budget == {}
    exc = await refused(**{f"q{budget.id}": ids[budget.id]})  # 1,200,000 MAD for a budget of 1,000,000
    assert exc.field_errors == {f"q{budget.id}": [service.OVER_BUDGET]}
    assert exc.over_budget == {budget.id: (1_200_000, 1_000_000)}
    # approval and budget accept no option at all: a blank ballot for that question; duplicates count once
    blank = {**good, approval.id: [], budget.id: [], single.id: [ids[single.id][2], ids[single.id][2]]}
    await service.cast(session, voter, bid, VoteInput(blank), NOW)
    stored = await choices_of(session, voter)
    assert stored == {yes_no.id: good[yes_no.id], single.id: [ids[single.id][2]]}
    assert len(await rows_of(session, voter)) == 4  # a row per question, blank ones included
    exact = {**good, budget.id: [ids[budget.id][1], ids[budget.id][2]]}  # 750,000: fits
    await service.cast(session, voter, bid, VoteInput(exact), NOW + timedelta(minutes=1))
    assert (await choices_of(session, voter))[budget.id] == sorted(exact[budget.id])


# --- changing a vote, receipts, demographics ---------------------------------------------------------------------


async def test_changing_a_vote_replaces_it_in_place_with_a_new_receipt(session) -> None:  # type: ignore[no-untyped-def]
    _staff, _cid, bid, questions = await setup(session)
    voter, other = await make_user(session, 1), await make_user(session, 2)
    first = await service.cast(session, voter, bid, answers(questions, 0, gender="woman"), NOW)
    await service.cast(session, other, bid, answers(questions, 1), NOW)
    before = await rows_of(session, voter)
    assert {r.receipt_digest for r in before} == {service.receipt_digest(first.receipt)}  # one per submission
    later = NOW + timedelta(hours=3)
    second = await service.cast(session, voter, bid, answers(questions, 2), later)
    assert second.changed and not first.changed and second.receipt != first.receipt
    after = await rows_of(session, voter)
    assert [r.id for r in after] == [r.id for r in before]  # the same rows, one per question
    assert {r.receipt_digest for r in after} == {service.receipt_digest(second.receipt)}
    assert all(r.cast_at == NOW and r.changed_at == later for r in after)
    assert all(r.gender is None for r in after)  # the last submission's demographics count
    expected = {q: sorted(v) for q, v in answers(questions, 2).choices.items()}
    assert await choices_of(session, voter) == expected
    old = await session.scalar(select(func.count()).select_from(CastBallot).where(
        CastBallot.receipt_digest == service.receipt_digest(first.receipt)))
    total = await session.scalar(select(func.count()).select_from(CastBallot))
    choices = await session.scalar(select(func.count()).select_from(Choice))
    await session.commit()
    assert old == 0 and total == 8 and choices == 2 * (1 + 1 + 2 + 2)
    page = await service.ballot_page(session, voter, bid, later)
    assert page.current is not None and page.current.changed and page.current.changed_at == later
    assert page.summary(questions[0]) == [questions[0].options[2].label]


async def test_demographics_are_optional_and_stored_on_the_cast_ballots_only(session) -> None:  # type: ignore[no-untyped-def]
    _staff, _cid, bid, questions = await setup(session, (YES_NO, SINGLE), scope="province", territory="05.081")
    rural = await make_user(session, 1, commune="05.081.03.07")
    urban = await make_user(session, 2, commune="05.081.01.01")
    await service.cast(session, rural, bid, answers(questions), NOW)
    rows = await rows_of(session, rural)
    assert [(r.province_code, r.area, r.gender, r.age_band, r.disability) for r in rows] == [
        ("05.081", "rural", None, None, None)] * 2
    await service.cast(session, urban, bid, answers(questions, gender="woman", age_band="18-24",
                                                    disability="yes"), NOW)
    assert [(r.area, r.gender, r.age_band, r.disability) for r in await rows_of(session, urban)] == [
        ("urban", "woman", "18-24", True)] * 2
    await service.cast(session, urban, bid, answers(questions, gender="prefer_not", age_band="60+",
                                                    disability="no"), NOW)
    assert [(r.gender, r.age_band, r.disability) for r in await rows_of(session, urban)] == [(None, "60+", False)] * 2
    with pytest.raises(service.BallotInvalid) as exc:
        await service.cast(session, urban, bid, answers(questions, gender="other", age_band="12-17",
                                                        disability="maybe"), NOW)
    assert exc.value.field_errors == {name: [service.DEMOGRAPHIC_WRONG] for name in ("gender", "age_band",
                                                                                     "disability")}
    from civic.accounts.models import User
    columns = {c.name for c in User.__table__.columns}
    assert not columns & {"gender", "age_band", "disability", "area"}  # never on the user


# --- demo -------------------------------------------------------------------------------------------------------


async def test_load_demo(session, settings) -> None:  # type: ignore[no-untyped-def]
    staff = await make_user(session, 900, role="council_staff")
    voters = [await make_user(session, i, commune=c) for i, c in enumerate(("05.091.01.01", "05.081.03.07",
                                                                             "05.301.01.01", "05.311.01.07"))]
    proposals_phase = await new_consultation(session, staff, [{"kind": "proposals", "start": -5, "end": 5},
                                                              voting(start=20, end=30)])
    bid = await service.load_demo(session, settings, proposals_phase, staff, voters, NOW)
    page = await service.ballot_page(session, staff, bid, NOW)
    assert [q.method for q in page.questions] == ["yes_no_abstain", "single_choice", "budget"]
    assert page.questions[2].budget == 1_000_000 and len(page.questions[2].options) == 3
    assert await session.scalar(select(func.count()).select_from(CastBallot)) == 0  # not a voting phase
    await session.commit()
    assert await service.load_demo(session, settings, proposals_phase, staff, voters, NOW) == bid  # idempotent
    open_now = await new_consultation(session, staff, [voting()])
    bid2 = await service.load_demo(session, settings, open_now, staff, voters, NOW)
    voted = await session.scalar(select(func.count(func.distinct(CastBallot.voter_id))).where(
        CastBallot.question_id.in_(select(Question.id).where(Question.ballot_id == bid2))))
    await session.commit()
    assert voted == 4


# --- pages ------------------------------------------------------------------------------------------------------


async def sign_in(client, session, role: str = "citizen", n: int = 1, commune: str = "05.091.01.01") -> Actor:  # type: ignore[no-untyped-def]
    email = f"votes-{role}{n}@test.invalid"
    uid = await accounts.create_user(session, display_name=f"{role} {n}", email=email, password=PASSWORD, role=role,
                                     commune_code=commune, now=NOW, region_code="05")
    page = await client.get("/login")
    r = await client.post("/login", data={"csrf_token": csrf_from(page.text), "email": email, "password": PASSWORD})
    assert r.status_code == 303
    return Actor(uid, role, f"{role} {n}")


def posted(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Form pairs (one per ticked box, as a browser sends them) in the shape httpx posts."""
    data: dict[str, list[str]] = {}
    for name, value in pairs:
        data.setdefault(name, []).append(value)
    return data


def form_of(questions: list[service.QuestionView], token: str, pick: int = 0, **extra: Any) -> dict[str, list[str]]:
    """The voting form as a browser posts it."""
    pairs = [("csrf_token", token)]
    for q, ids in answers(questions, pick).choices.items():
        pairs += [(f"q{q}", str(i)) for i in ids]
    return posted(pairs + [(k, str(v)) for k, v in extra.items()])


_CSRF = re.compile(r'name="csrf_token" value="[^"]+"')
VOTE_FIELD = re.compile(r'name="q[0-9]')


async def test_voting_without_javascript_receipt_shown_once_and_never_in_a_url(client, session) -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    _staff, cid, bid, questions = await setup(session, base=now)
    anon = await client.get(f"/ballots/{bid}")
    assert anon.status_code == 200 and anon.text.count("<h1") == 1
    assert f"/login?next=/ballots/{bid}" in anon.text and not VOTE_FIELD.search(anon.text)
    assert "Yes" in anon.text or "نعم" in anon.text
    token = csrf_from((await client.get("/login")).text)
    r = await client.post(f"/ballots/{bid}/vote", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == f"/login?next=%2Fballots%2F{bid}"

    voter = await sign_in(client, session)
    page = await client.get(f"/ballots/{bid}")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert f'action="/ballots/{bid}/vote"' in page.text and 'method="post"' in page.text
    assert 'aria-describedby="demographics-why"' in page.text and 'name="gender"' in page.text
    assert 'value="prefer_not"' in page.text and "hx-post" not in page.text.split("ballot-form", 1)[1]
    for q in questions:
        assert f'<fieldset class="field ballot-question" aria-describedby="q{q.id}-hint">' in page.text
    token = csrf_from(page.text)
    without_token = {k: v for k, v in form_of(questions, "").items() if k != "csrf_token"}
    no_csrf = await client.post(f"/ballots/{bid}/vote", data=without_token)
    assert no_csrf.status_code == 403
    assert await rows_of(session, voter) == []

    r = await client.post(f"/ballots/{bid}/vote", data=form_of(questions, token, gender="woman", age_band="25-34"))
    assert r.status_code == 200 and "location" not in r.headers
    assert r.headers["cache-control"] == "no-store"
    code = re.search(r'<code dir="ltr" translate="no">([0-9A-Z]{5}-[0-9A-Z]{5})</code>', r.text)
    assert code is not None
    receipt = code.group(1)
    assert r.text.count(receipt) == 1 and str(r.url).endswith(f"/ballots/{bid}/vote")
    assert "?" not in str(r.url) and receipt not in str(r.url)
    assert f'href="/ballots/{bid}/receipt"' in r.text  # the receipt check page, the code typed there, never in a URL
    rows = await rows_of(session, voter)
    assert len(rows) == 4 and {row.receipt_digest for row in rows} == {
        hashlib.sha256(receipt.replace("-", "").encode()).hexdigest()}
    assert (rows[0].gender, rows[0].age_band, rows[0].disability) == ("woman", "25-34", None)
    assert all(receipt not in str(value) for row in rows for value in vars(row).values())  # never in clear
    again = await client.get(f"/ballots/{bid}")
    assert receipt not in again.text and receipt.replace("-", "") not in again.text
    assert 'class="progress-box ballot-current"' in again.text
    assert f'id="q{questions[0].id}-o{questions[0].options[0].id}" name="q{questions[0].id}" type="radio" ' \
           f'value="{questions[0].options[0].id}" checked' in again.text  # the current vote, ticked
    assert 'value="woman" checked' in again.text
    for url in (f"/consultations/{cid}/ballots", f"/ballots/{bid}"):
        assert receipt not in (await client.get(url)).text

    changed = await client.post(f"/ballots/{bid}/vote", data=form_of(questions, token, pick=1))
    assert changed.status_code == 200
    new_code = re.search(r'translate="no">([0-9A-Z]{5}-[0-9A-Z]{5})<', changed.text)
    assert new_code is not None and new_code.group(1) != receipt
    assert len(await rows_of(session, voter)) == 4
    assert {row.receipt_digest for row in await rows_of(session, voter)} == {service.receipt_digest(new_code.group(1))}


async def test_over_budget_is_refused_with_the_total_and_the_choices_kept(client, session) -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    _staff, _cid, bid, questions = await setup(session, (YES_NO, BUDGET), base=now)
    voter = await sign_in(client, session)
    token = csrf_from((await client.get(f"/ballots/{bid}")).text)
    budget = questions[1]
    data = [("csrf_token", token), (f"q{questions[0].id}", str(questions[0].options[1].id)),
            *((f"q{budget.id}", str(o.id)) for o in budget.options), ("gender", "man")]
    r = await client.post(f"/ballots/{bid}/vote", data=posted(data))
    assert r.status_code == 422 and 'role="alert"' in r.text
    assert f'id="q{budget.id}-error"' in r.text
    assert f'aria-describedby="q{budget.id}-hint q{budget.id}-error"' in r.text
    assert re.search(r"1[,.\u00a0\u202f ]?200[,.\u00a0\u202f ]?000", r.text)  # the total
    assert re.search(r"1[,.\u00a0\u202f ]?000[,.\u00a0\u202f ]?000", r.text)  # the budget
    for o in budget.options:
        assert f'name="q{budget.id}" type="checkbox" value="{o.id}" checked' in r.text  # kept
    assert f'value="{questions[0].options[1].id}" checked' in r.text and 'value="man" checked' in r.text
    assert await rows_of(session, voter) == []
    missing = await client.post(f"/ballots/{bid}/vote", data={"csrf_token": token})
    assert missing.status_code == 422 and f'id="q{questions[0].id}-error"' in missing.text
    assert f'id="q{budget.id}-error"' not in missing.text  # a blank budget ballot is allowed


async def test_refusals_on_the_page(client, session) -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    _staff, _cid, bid, questions = await setup(session, (YES_NO,), base=now, scope="province", territory="05.081")
    await sign_in(client, session)  # lives in Béni Mellal, not in the province of Azilal
    page = await client.get(f"/ballots/{bid}")
    assert page.status_code == 200 and not VOTE_FIELD.search(page.text)
    assert "Azilal" in page.text or "أزيلال" in page.text
    r = await client.post(f"/ballots/{bid}/vote", data=form_of(questions, csrf_from(page.text)))
    assert r.status_code == 403 and 'role="alert"' in r.text
    _s2, _c2, closed, closed_questions = await setup(session, (YES_NO,), base=now,
                                                     phases=[voting(start=1, end=5)])
    page = await client.get(f"/ballots/{closed}")
    assert not VOTE_FIELD.search(page.text)
    r = await client.post(f"/ballots/{closed}/vote", data=form_of(closed_questions, csrf_from(page.text)))
    assert r.status_code == 409 and 'role="alert"' in r.text
    assert (await client.get("/ballots/999999")).status_code == 404


async def test_no_count_on_the_ballot_pages(client, session) -> None:  # type: ignore[no-untyped-def]
    """Whatever others vote, a person's ballot pages do not change: no count, share or total can be in them."""
    now = utcnow()
    _staff, cid, bid, questions = await setup(session, base=now)
    await sign_in(client, session)
    urls = (f"/ballots/{bid}", f"/consultations/{cid}/ballots")
    before = [_CSRF.sub("", (await client.get(u)).text) for u in urls]
    anon_before = None
    for i in range(7):
        await service.cast(session, await make_user(session, 100 + i), bid, answers(questions, i), now)
    after = [_CSRF.sub("", (await client.get(u)).text) for u in urls]
    assert before == after
    await client.post("/logout", data={"csrf_token": csrf_from((await client.get("/")).text)})
    anon_before = [_CSRF.sub("", (await client.get(u)).text) for u in urls]
    await service.cast(session, await make_user(session, 200), bid, answers(questions, 1), now)
    assert anon_before == [_CSRF.sub("", (await client.get(u)).text) for u in urls]
    assert "data-count" not in after[0] and "<progress" not in after[0]


async def test_staff_pages_create_edit_add_and_remove_questions(client, session) -> None:  # type: ignore[no-untyped-def]
    staff = await make_user(session, 900, role="council_staff")
    cid = await new_consultation(session, staff, [voting()], base=utcnow())
    r = await client.get(f"/consultations/{cid}/ballots/new")
    assert r.status_code == 303 and "/login" in r.headers["location"]
    await sign_in(client, session, "citizen", 2)
    assert (await client.get(f"/consultations/{cid}/ballots/new")).status_code == 403
    await client.post("/logout", data={"csrf_token": csrf_from((await client.get("/")).text)})
    await sign_in(client, session, "council_staff", 3)
    form = await client.get(f"/consultations/{cid}/ballots/new")
    assert form.status_code == 200 and form.text.count("<h1") == 1 and 'name="meeting_id"' in form.text
    bad = await client.post(f"/consultations/{cid}/ballots/new",
                            data={"csrf_token": csrf_from(form.text), "title": "abc", "description": "وصف"})
    assert bad.status_code == 422 and 'id="title-error"' in bad.text and 'value="abc"' in bad.text
    assert ">وصف</textarea>" in bad.text
    ok = await client.post(f"/consultations/{cid}/ballots/new",
                           data={"csrf_token": csrf_from(form.text), "title": TITLE, "description": ""})
    assert ok.status_code == 303
    bid = int(ok.headers["location"].split("/")[2])
    edit = await client.get(ok.headers["location"])
    assert edit.status_code == 200 and 'role="status"' in edit.text
    assert f'action="/ballots/{bid}/questions"' in edit.text
    token = csrf_from(edit.text)
    wrong = await client.post(f"/ballots/{bid}/questions", data={
        "csrf_token": token, "text": "ميزانية تشاركية للشباب", "method": "budget", "options": "مشروع بلا كلفة\nب | 5",
        "budget": "1000"})
    assert wrong.status_code == 422 and 'id="options-error"' in wrong.text
    assert "مشروع بلا كلفة" in wrong.text and 'value="1000"' in wrong.text and 'value="budget" checked' in wrong.text
    added = await client.post(f"/ballots/{bid}/questions", data={
        "csrf_token": token, "text": "ميزانية تشاركية للشباب", "method": "budget",
        "options": "مشروع أ | 600\nمشروع ب | 500", "budget": "1000"})
    assert added.status_code == 303 and added.headers["location"].endswith("#questions")
    yes_no = await client.post(f"/ballots/{bid}/questions", data={
        "csrf_token": token, "text": "هل توافقون على المشروع؟", "method": "yes_no_abstain"})
    assert yes_no.status_code == 303
    shown = await client.get(f"/ballots/{bid}/edit")
    assert "مشروع أ" in shown.text and shown.text.count(f'/ballots/{bid}/questions/') == 2
    qid = int(re.findall(rf'/ballots/{bid}/questions/(\d+)/delete', shown.text)[1])
    removed = await client.post(f"/ballots/{bid}/questions/{qid}/delete", data={"csrf_token": token})
    assert removed.status_code == 303
    saved = await client.post(f"/ballots/{bid}/edit", data={"csrf_token": token, "title": "عنوان آخر للتصويت",
                                                              "description": "", "meeting_id": ""})
    assert saved.status_code == 303
    listed = await client.get(f"/consultations/{cid}/ballots")
    assert "عنوان آخر للتصويت" in listed.text and f'href="/ballots/{bid}"' in listed.text
    assert f'/consultations/{cid}/ballots/new' in listed.text
    public = await client.get(f"/ballots/{bid}")
    assert f'href="/ballots/{bid}/edit"' in public.text
    assert [a for a in await audit_actions(session) if a.startswith("votes:")] == [
        "votes:create_ballot", "votes:add_question", "votes:add_question", "votes:delete_question",
        "votes:update_ballot"]
