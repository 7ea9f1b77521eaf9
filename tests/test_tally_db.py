"""Database aggregates feeding the tally (civic.votes.aggregate; issue #5, items 2, 4 and 7), on SQLite and
PostgreSQL: counts by SQL GROUP BY, changed ballots (only the last counts), paper sheets in force (superseded
ones do not count), the eligible population, the participation breakdown with census shares — and a property
test: for any generated set of ballots and sheets stored in the database, the tally equals a reference count.

Cast ballots are inserted directly (rows of cast_ballots and ballot_choices, as civic.votes.service writes them),
so these tests do not depend on the voting pages.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from civic.consultations.models import Consultation, Meeting, MeetingRegistration, Phase
from civic.permissions import Actor
from civic.votes import aggregate
from civic.votes import tally as t
from civic.votes.models import Ballot, CastBallot, Choice, Option, Question, TallySheet, TallySheetCount
from civic.votes.service import receipt_digest
from tests.conftest import NOW, make_user
from tests.test_tally import assert_matches, question_with_ballots, reference

FLAGS = ("proposals_enabled", "supports_enabled", "comments_enabled", "votes_enabled", "results_visible")
VOTING = {"kind": "voting", "start": -5, "end": 5, "votes_enabled": True}
RESULTS = {"kind": "results", "start": 5, "end": 30, "results_visible": True}


async def new_consultation(session, staff: Actor, phases: list[dict[str, Any]] | None = None,  # type: ignore[no-untyped-def]
                           scope: str = "region", territory: str = "05") -> int:
    """A consultation with its phases (days from NOW), inserted directly."""
    cid = int((await session.execute(insert(Consultation).values(
        title="منتدى جهوي حول النقل القروي", summary="", body="نص " * 30, scope=scope, territory_code=territory,
        addressed_to="council", support_limit=3, created_by=staff.user_id, created_at=NOW - timedelta(days=60),
        updated_at=NOW - timedelta(days=60)).returning(Consultation.id))).scalar_one())
    for ph in phases if phases is not None else [VOTING, RESULTS]:
        await session.execute(insert(Phase).values(
            consultation_id=cid, kind=ph["kind"], starts_at=NOW + timedelta(days=ph["start"]),
            ends_at=NOW + timedelta(days=ph["end"]), **{f: ph.get(f, False) for f in FLAGS}))
    await session.commit()
    return cid


async def new_meeting(session, cid: int, title: str = "لقاء تشاوري بأزيلال") -> int:  # type: ignore[no-untyped-def]
    mid = int((await session.execute(insert(Meeting).values(
        consultation_id=cid, title=title, mode="in_person", commune_code="05.081.01.01", address="دار الشباب",
        online_url="", starts_at=NOW - timedelta(days=2), ends_at=NOW - timedelta(days=2) + timedelta(hours=3),
        capacity=100, minutes="", created_at=NOW - timedelta(days=20)).returning(Meeting.id))).scalar_one())
    await session.commit()
    return mid


async def new_ballot(session, cid: int, staff: Actor, questions: list[dict[str, Any]],  # type: ignore[no-untyped-def]
                     meeting_id: int | None = None) -> tuple[int, list[int], list[list[int]]]:
    """A ballot with questions (method, options as labels or (label, cost), k, budget); returns (ballot id,
    question ids, option ids per question)."""
    bid = int((await session.execute(insert(Ballot).values(
        consultation_id=cid, title="تصويت على أولويات النقل", description="", meeting_id=meeting_id,
        created_by=staff.user_id, created_at=NOW - timedelta(days=10)).returning(Ballot.id))).scalar_one())
    qids, oids = [], []
    for position, q in enumerate(questions, start=1):
        labels = list(t.YES_NO_LABELS) if q["method"] == t.YES_NO_ABSTAIN else q["options"]
        qid = int((await session.execute(insert(Question).values(
            ballot_id=bid, position=position, text=q.get("text", f"السؤال رقم {position}"), method=q["method"],
            max_choices=q.get("k"), budget=q.get("budget")).returning(Question.id))).scalar_one())
        ids = []
        for op, label in enumerate(labels, start=1):
            text, cost = label if isinstance(label, tuple) else (label, None)
            ids.append(int((await session.execute(insert(Option).values(
                question_id=qid, position=op, label=text, cost=cost).returning(Option.id))).scalar_one()))
        qids.append(qid)
        oids.append(ids)
    await session.commit()
    return bid, qids, oids


def digest(code: str) -> str:
    """The stored digest of a receipt code: civic.votes.service's for a real code, else a plain SHA-256."""
    try:
        return receipt_digest(code)
    except ValueError:
        return hashlib.sha256(code.encode()).hexdigest()


async def cast(session, qid: int, voter_id: int, option_ids: list[int], *, receipt: str | None = None,  # type: ignore[no-untyped-def]
               gender: str | None = None, age_band: str | None = None, disability: bool | None = None,
               area: str | None = "urban", province: str | None = "05.091", commit: bool = True) -> int:
    """One cast ballot and its choices, inserted as civic.votes.service stores them."""
    cb = int((await session.execute(insert(CastBallot).values(
        question_id=qid, voter_id=voter_id, receipt_digest=digest(receipt or secrets.token_hex(8)),
        province_code=province, area=area, gender=gender, age_band=age_band, disability=disability,
        cast_at=NOW - timedelta(hours=1), changed_at=NOW - timedelta(hours=1)).returning(CastBallot.id))).scalar_one())
    if option_ids:
        await session.execute(insert(Choice), [{"cast_ballot_id": cb, "question_id": qid, "option_id": o}
                                               for o in option_ids])
    if commit:
        await session.commit()
    return cb


async def change(session, qid: int, voter_id: int, option_ids: list[int]) -> None:  # type: ignore[no-untyped-def]
    """Change a voter's ballot as the service does: the same row, its choices replaced."""
    cb = int((await session.scalar(select(CastBallot.id).where(CastBallot.question_id == qid,
                                                               CastBallot.voter_id == voter_id))) or 0)
    await session.execute(delete(Choice).where(Choice.cast_ballot_id == cb))
    if option_ids:
        await session.execute(insert(Choice), [{"cast_ballot_id": cb, "question_id": qid, "option_id": o}
                                               for o in option_ids])
    await session.execute(update(CastBallot).where(CastBallot.id == cb).values(changed_at=NOW))
    await session.commit()


async def sheet(session, qid: int, meeting_id: int, staff: Actor, counts: dict[int, int], blank: int = 0,  # type: ignore[no-untyped-def]
                invalid: int = 0, supersedes: int | None = None, with_choice: int | None = None,
                reference: str = "SHEET-1") -> int:
    """A paper tally sheet inserted directly (civic.votes.sheets writes the same rows)."""
    sid = int((await session.execute(insert(TallySheet).values(
        question_id=qid, meeting_id=meeting_id, reference=reference, blank=blank, invalid=invalid,
        entered_by=staff.user_id, entered_at=NOW, supersedes_id=supersedes,
        with_choice=with_choice).returning(TallySheet.id))).scalar_one())
    if counts:
        await session.execute(insert(TallySheetCount), [{"sheet_id": sid, "option_id": o, "count": n}
                                                        for o, n in counts.items()])
    await session.commit()
    return sid


async def voters(session, n: int, start: int = 1000, commune: str = "05.091.01.01") -> list[int]:  # type: ignore[no-untyped-def]
    return [(await make_user(session, start + i, commune=commune)).user_id or 0 for i in range(n)]


# --- counts -------------------------------------------------------------------------------------------------------


async def test_question_input_counts_online_paper_blank_and_eligible(session) -> None:  # type: ignore[no-untyped-def]
    staff = await make_user(session, 1, role="council_staff")
    cid = await new_consultation(session, staff)
    mid = await new_meeting(session, cid)
    _bid, (yn, appr), (yn_opts, appr_opts) = await new_ballot(session, cid, staff, [
        {"method": t.YES_NO_ABSTAIN}, {"method": t.APPROVAL, "options": ["أ", "ب", "ج"], "k": 2}])
    people = await voters(session, 6)
    await make_user(session, 99, commune="05.311.01.07")  # a resident who did not vote
    yes, no, abstain = yn_opts
    for i, voter in enumerate(people):
        await cast(session, yn, voter, [yes if i < 4 else no])
        await cast(session, appr, voter, [] if i == 5 else [appr_opts[0], appr_opts[i % 2 + 1]])
    await sheet(session, yn, mid, staff, {yes: 3, no: 4, abstain: 1}, blank=2, invalid=1)
    await sheet(session, appr, mid, staff, {appr_opts[0]: 5, appr_opts[1]: 2, appr_opts[2]: 0}, blank=1,
                with_choice=6)

    q = await aggregate.question_input(session, yn, NOW)
    assert [(o.online, o.paper) for o in q.options] == [(4, 3), (2, 4), (0, 1)]
    assert q.online_ballots == 6 and q.paper_ballots == 3 + 4 + 1 + 2 + 1 and q.blank == 2 and q.invalid == 1
    assert q.eligible == 8  # staff + 6 voters + the one who did not vote, all in region 05
    result = t.tally(q)
    assert result.outcome == t.ADOPTED and result.option(yes).votes == 7 and result.option(no).votes == 6

    a = await aggregate.question_input(session, appr, NOW)
    assert [o.votes for o in a.options] == [5 + 5, 3 + 2, 2 + 0]
    assert a.online_ballots == 6 and a.blank == 1 + 1  # one online ballot without a choice, one blank paper
    assert a.paper_ballots == 6 + 1  # approval papers are declared by the sheet


async def test_changed_ballot_counts_once_with_its_last_choices(session) -> None:  # type: ignore[no-untyped-def]
    staff = await make_user(session, 1, role="council_staff")
    cid = await new_consultation(session, staff)
    _bid, (q,), (opts,) = await new_ballot(session, cid, staff, [{"method": t.SINGLE_CHOICE, "options": ["أ", "ب"]}])
    voter = (await voters(session, 1))[0]
    await cast(session, q, voter, [opts[0]])
    await change(session, q, voter, [opts[1]])
    result = await aggregate.question_tally(session, q, NOW)
    assert [o.votes for o in result.options] == [0, 1] and result.ballots == 1 and result.winners == (opts[1],)
    with pytest.raises(IntegrityError):  # the unique index keeps one cast ballot per voter and question
        await cast(session, q, voter, [opts[0]])
    await session.rollback()
    assert (await aggregate.question_tally(session, q, NOW)).ballots == 1


async def test_only_sheets_nobody_supersedes_count(session) -> None:  # type: ignore[no-untyped-def]
    staff = await make_user(session, 1, role="council_staff")
    cid = await new_consultation(session, staff)
    mid = await new_meeting(session, cid)
    _bid, (q,), (opts,) = await new_ballot(session, cid, staff, [{"method": t.SINGLE_CHOICE, "options": ["أ", "ب"]}])
    first = await sheet(session, q, mid, staff, {opts[0]: 10, opts[1]: 5}, reference="A-1")
    second = await sheet(session, q, mid, staff, {opts[0]: 11, opts[1]: 5}, supersedes=first, reference="A-1 bis")
    await sheet(session, q, mid, staff, {opts[0]: 12, opts[1]: 4}, invalid=1, supersedes=second, reference="A-1 ter")
    other = await sheet(session, q, mid, staff, {opts[0]: 0, opts[1]: 3}, blank=1, reference="B-7")
    result = await aggregate.question_tally(session, q, NOW)
    assert [o.paper for o in result.options] == [12, 4 + 3]
    assert result.paper_ballots == 12 + 4 + 1 + 3 + 1 and result.invalid == 1 and result.blank == 1
    with pytest.raises(IntegrityError):  # a sheet is superseded at most once
        await sheet(session, q, mid, staff, {opts[0]: 1, opts[1]: 1}, supersedes=first)
    await session.rollback()
    assert other


async def test_eligible_population_by_scope_and_meeting(session) -> None:  # type: ignore[no-untyped-def]
    staff = await make_user(session, 1, role="council_staff", commune="05.091.01.01")
    await voters(session, 3, start=2000, commune="05.081.01.01")  # Azilal
    await voters(session, 2, start=3000, commune="05.091.01.07")  # Béni Mellal, another commune
    cid_p = await new_consultation(session, staff, scope="province", territory="05.081")
    cid_c = await new_consultation(session, staff, scope="commune", territory="05.091.01.07")
    _b, (qp,), _o = await new_ballot(session, cid_p, staff, [{"method": t.YES_NO_ABSTAIN}])
    _b, (qc,), _o = await new_ballot(session, cid_c, staff, [{"method": t.YES_NO_ABSTAIN}])
    assert (await aggregate.question_input(session, qp, NOW)).eligible == 3
    assert (await aggregate.question_input(session, qc, NOW)).eligible == 2
    # Accounts created after ``now`` are not counted.
    assert (await aggregate.question_input(session, qp, NOW - timedelta(days=1))).eligible == 0
    # A ballot for one meeting: the people holding a seat there.
    mid = await new_meeting(session, cid_p)
    people = await voters(session, 4, start=4000, commune="05.081.01.01")
    for i, uid in enumerate(people):
        await session.execute(insert(MeetingRegistration).values(
            meeting_id=mid, user_id=uid, seat=i + 1 if i < 3 else None, status="registered" if i < 3 else "waiting",
            registered_at=NOW - timedelta(days=5)))
    await session.commit()
    _b, (qm,), _o = await new_ballot(session, cid_p, staff, [{"method": t.YES_NO_ABSTAIN}], meeting_id=mid)
    q = await aggregate.question_input(session, qm, NOW)
    assert q.eligible == 3
    assert t.tally(q).turnout == 0


async def test_unknown_question_is_not_found(session) -> None:  # type: ignore[no-untyped-def]
    from civic.errors import NotFound

    with pytest.raises(NotFound):
        await aggregate.question_input(session, 999_999, NOW)
    with pytest.raises(NotFound):
        await aggregate.group_counts(session, 999_999)
    with pytest.raises(NotFound):
        await aggregate.ballot_tallies(session, 999_999, NOW)


# --- breakdown ----------------------------------------------------------------------------------------------------


async def test_breakdown_groups_suppression_and_census(session) -> None:  # type: ignore[no-untyped-def]
    staff = await make_user(session, 1, role="council_staff")
    cid = await new_consultation(session, staff)
    _bid, (q,), (opts,) = await new_ballot(session, cid, staff, [{"method": t.SINGLE_CHOICE, "options": ["أ", "ب"]}])
    people = await voters(session, 12)
    for i, voter in enumerate(people):
        # 5 women (exactly 5: shown), 4 men (suppressed), 3 not given; 2 rural in Azilal (suppressed)
        gender = "woman" if i < 5 else "man" if i < 9 else None
        rural = i >= 10
        await cast(session, q, voter, [opts[0] if i < 7 else opts[1]], gender=gender,
                   age_band="18-24" if i % 2 else "35-59", disability=(i == 0) if i < 6 else None,
                   area="rural" if rural else "urban", province="05.081" if rural else "05.091")
    groups = await aggregate.group_counts(session, q)
    by = {(g.dimension, g.group): g for g in groups}
    assert by[("gender", "woman")].ballots == 5 and by[("gender", "man")].ballots == 4
    assert by[("gender", t.NOT_GIVEN)].ballots == 3
    assert by[("gender", "woman")].choices == {opts[0]: 5}
    assert by[("disability", "yes")].ballots == 1 and by[("disability", t.NOT_GIVEN)].ballots == 6
    assert [g.group for g in groups if g.dimension == "gender"] == ["woman", "man", t.NOT_GIVEN]
    assert sum(g.ballots for g in groups if g.dimension == "province") == 12

    rows = {(r.dimension, r.group): r for r in await aggregate.question_breakdown(session, q)}
    woman, man, rural = rows[("gender", "woman")], rows[("gender", "man")], rows[("area", "rural")]
    assert woman.ballots == 5 and woman.share == Fraction(5, 12) and woman.choices == {opts[0]: 5, opts[1]: 0}
    assert woman.census_share == Fraction(511, 1000)  # region 05, RGPH 2024: 51.1 % women
    assert man.ballots == "<5" and man.choices == {opts[0]: "<5", opts[1]: "<5"} and man.share == "<5"
    assert rural.ballots == "<5" and rural.census_share is not None and rural.census_share > Fraction(49, 100)
    # 10 in Béni Mellal and fewer than 5 elsewhere: the 10 hide too, or 12 - 10 would give the others away
    assert rows[("province", "05.091")].ballots == "<5" and rows[("province", "05.091")].suppressed
    assert rows[("province", "05.091")].census_share == Fraction(580_327, 2_525_801)


def test_census_shares_for_a_region_a_province_and_a_commune() -> None:
    region = aggregate.census_shares("05")
    assert region["gender"]["woman"] == Fraction(511, 1000)
    assert region["disability"]["yes"] == Fraction(52, 1000)
    assert sum(region["age_band"].values()) == 1 and set(region["age_band"]) == {"18-24", "25-34", "35-59", "60+"}
    assert sum(region["province"].values()) == 1 and len(region["province"]) == 5
    assert round(float(region["area"]["rural"]), 3) == 0.492  # shared/domain.md §1: 49.2 % rural
    province = aggregate.census_shares("05.081")
    assert province["province"] == {"05.081": 1}
    rural_commune = aggregate.census_shares("05.081.03.05")
    assert rural_commune["area"] == {"urban": 0, "rural": 1} and rural_commune["province"] == {"05.081": 1}
    assert aggregate.census_shares("99.999") == {}


# --- property test on the database ------------------------------------------------------------------------------


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(case=question_with_ballots())
async def test_property_database_tally_equals_a_reference_count(session, case: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    """Each example stores its own consultation, ballot, voters, cast ballots and sheets, then compares the
    database's tally with the reference count of tests/test_tally.py."""
    staff = await make_user(session, 1, role="council_staff")
    cid = await new_consultation(session, staff)
    mid = await new_meeting(session, cid)
    labels: list[Any] = [f"خيار {i}" if c is None else (f"مشروع {i}", c) for i, c in enumerate(case["costs"])]
    _bid, (q,), (ids,) = await new_ballot(session, cid, staff, [{
        "method": case["method"], "options": labels, "k": case["k"], "budget": case["budget"]}])
    people = await voters(session, len(case["ballots"]), start=10_000)
    for voter, chosen in zip(people, case["ballots"], strict=True):
        await cast(session, q, voter, [ids[i] for i in chosen], commit=False)
    await session.commit()
    multi = case["method"] in (t.APPROVAL, t.BUDGET)
    for s in case["sheets"]:
        await sheet(session, q, mid, staff, {ids[i]: n for i, n in enumerate(s["counts"])}, blank=s["blank"],
                    invalid=s["invalid"], with_choice=s["with_choice"] if multi else None)
    result = await aggregate.question_tally(session, q, NOW)
    await session.commit()
    assert_matches(result, reference(case), ids)
