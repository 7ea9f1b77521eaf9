"""Parallel casting: the unique index (question_id, voter_id) and INSERT … ON CONFLICT DO UPDATE keep exactly one
counted ballot per voter and question, whose choices are the voter's last submission (issue #5, "What it must
show": 200 voters casting and changing ballots in parallel end with exactly one counted ballot each).

Written for PostgreSQL, where the transactions really run side by side (row locks taken by the upsert); like
tests/test_concurrency.py it also runs on SQLite, where writers are serialised (BEGIN IMMEDIATE), so both suites
run every test and neither skips. Each task has its own session. All 200 voters start together; at most
IN_FLIGHT submissions hold a database connection at once (the app's pool is 8 + 4 connections per process, and
more would only queue for one — on a busy machine past the pool's 10-second timeout, or past SQLite's 30-second
busy timeout).
"""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from civic.permissions import Actor
from civic.votes import service
from civic.votes.models import CastBallot, Choice
from tests.conftest import NOW, make_user
from tests.test_votes import APPROVAL, BUDGET, SINGLE, YES_NO, answers, setup

IN_FLIGHT = 8
COMMUNES = ["05.091.01.01", "05.081.01.01", "05.255.01.05", "05.301.01.01", "05.311.01.07", "05.081.03.07"]
VOTERS = 200


async def test_200_voters_casting_and_changing_in_parallel_end_with_one_ballot_each(sessionmaker) -> None:  # type: ignore[no-untyped-def]
    async with sessionmaker() as s:
        _staff, _cid, bid, questions = await setup(s, (YES_NO, SINGLE, APPROVAL, BUDGET))
        voters = [await make_user(s, 100 + i, commune=COMMUNES[i % len(COMMUNES)]) for i in range(VOTERS)]

    gate = asyncio.Semaphore(IN_FLIGHT)

    async def submit(voter: Actor, pick: int) -> service.CastResult:
        async with gate, sessionmaker() as s:
            return await service.cast(s, voter, bid, answers(questions, pick, gender="woman" if pick % 2 else ""),
                                      NOW)

    async def voter_run(i: int, voter: Actor) -> service.CastResult:
        await submit(voter, i)  # a first ballot
        await asyncio.gather(submit(voter, i + 1), submit(voter, i + 2))  # two changes racing each other
        return await submit(voter, i + 3)  # the last change: the one that must count

    finals = await asyncio.gather(*(voter_run(i, v) for i, v in enumerate(voters)))
    assert all(r.changed for r in finals)
    async with sessionmaker() as s:
        per_pair = (await s.execute(
            select(CastBallot.question_id, CastBallot.voter_id, func.count()).group_by(
                CastBallot.question_id, CastBallot.voter_id))).all()
        digests = dict((await s.execute(
            select(CastBallot.voter_id, func.min(CastBallot.receipt_digest)).group_by(CastBallot.voter_id)
            .having(func.count(func.distinct(CastBallot.receipt_digest)) == 1))).all())
        stored: dict[tuple[int, int], set[int]] = {}
        for voter_id, question_id, option_id in await s.execute(
                select(CastBallot.voter_id, Choice.question_id, Choice.option_id)
                .join(Choice, Choice.cast_ballot_id == CastBallot.id)):
            stored.setdefault((voter_id, question_id), set()).add(option_id)
        by_option = dict((await s.execute(
            select(Choice.option_id, func.count()).where(Choice.question_id == questions[0].id)
            .group_by(Choice.option_id))).all())
        await s.commit()
    assert len(per_pair) == VOTERS * len(questions) and {n for _q, _v, n in per_pair} == {1}
    assert len(digests) == VOTERS  # every row of a voter carries the receipt of one submission
    for i, (voter, final) in enumerate(zip(voters, finals, strict=True)):
        assert digests[voter.user_id] == service.receipt_digest(final.receipt)
        for q, ids in answers(questions, i + 3).choices.items():
            assert stored[(voter.user_id, q)] == set(ids), (i, q)
    # the yes/no/abstain tally from the rows equals the voters' last choices
    expected: dict[int, int] = {}
    for i in range(VOTERS):
        option = answers(questions, i + 3).choices[questions[0].id][0]
        expected[option] = expected.get(option, 0) + 1
    assert by_option == expected and sum(by_option.values()) == VOTERS


async def test_30_parallel_submissions_by_one_voter_leave_one_whole_submission(sessionmaker) -> None:  # type: ignore[no-untyped-def]
    async with sessionmaker() as s:
        _staff, _cid, bid, questions = await setup(s, (YES_NO, SINGLE, APPROVAL, BUDGET))
        voter = await make_user(s, 1)

    async def submit(pick: int) -> tuple[int, service.CastResult]:
        async with sessionmaker() as s:
            return pick, await service.cast(s, voter, bid, answers(questions, pick), NOW)

    results = await asyncio.gather(*(submit(i) for i in range(30)))
    async with sessionmaker() as s:
        rows = (await s.execute(select(CastBallot.id, CastBallot.question_id, CastBallot.receipt_digest)
                                .where(CastBallot.voter_id == voter.user_id))).all()
        chosen: dict[int, set[int]] = {}
        for question_id, option_id in await s.execute(select(Choice.question_id, Choice.option_id).where(
                Choice.cast_ballot_id.in_([r.id for r in rows]))):
            chosen.setdefault(question_id, set()).add(option_id)
        await s.commit()
    assert sorted(r.question_id for r in rows) == sorted(q.id for q in questions)  # one row per question
    assert len({r.receipt_digest for r in rows}) == 1
    winner = [pick for pick, result in results if service.receipt_digest(result.receipt) == rows[0].receipt_digest]
    assert len(winner) == 1  # the rows hold exactly one submission, whole: its receipt and all its choices
    assert chosen == {q: set(ids) for q, ids in answers(questions, winner[0]).choices.items()}
