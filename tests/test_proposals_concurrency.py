"""Parallel supports: the database's unique indexes keep the per-consultation limit and the counts exact
(issue #4, "What it must show"; design.md, constraints live in the database).

Written for PostgreSQL, where the transactions really run side by side (row-level waits on the unique indexes,
IntegrityError and retry); like tests/test_concurrency.py it also runs on SQLite, where writers are serialised
(BEGIN IMMEDIATE), so both suites run every test and neither skips. Each task has its own session.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from civic.errors import Conflict
from civic.permissions import Actor
from civic.proposals import service, supports
from civic.proposals.models import Support
from tests.conftest import NOW, make_user
from tests.test_proposals import new_consultation, open_phase, raw_proposal


async def test_30_parallel_supports_by_one_user_with_a_limit_of_3_on_10_proposals(sessionmaker) -> None:  # type: ignore[no-untyped-def]
    async with sessionmaker() as s:
        author, fan = await make_user(s, 1), await make_user(s, 2)
        cid = await new_consultation(s, author, [open_phase()], limit=3)
        pids = [await raw_proposal(s, cid, author, f"مقترح رقم {i}") for i in range(10)]

    async def click(i: int) -> supports.Outcome | str:
        async with sessionmaker() as s:
            try:
                return (await supports.support(s, fan, pids[i % 10], NOW)).outcome
            except Conflict as exc:
                return exc.message

    outcomes = await asyncio.gather(*(click(i) for i in range(30)))
    assert outcomes.count(supports.Outcome.SUPPORTED) == 3
    assert set(outcomes) <= {supports.Outcome.SUPPORTED, supports.Outcome.ALREADY_SUPPORTED, supports.LIMIT_REACHED}
    async with sessionmaker() as s:
        stored = (await s.execute(select(Support.proposal_id, Support.slot).where(
            Support.consultation_id == cid, Support.user_id == fan.user_id))).all()
        await s.commit()
        assert len(stored) == 3 and sorted(slot for _pid, slot in stored) == [1, 2, 3]
        state = await supports.state(s, fan, pids[0], NOW)
        listed = await service.list_proposals(s, cid, service.ListFilters(), 1, 0)
    assert state.used == 3 and state.remaining == 0  # "You have used 3 of your 3 supports"
    shown = {item.id: item.support_count for item in listed.items}
    assert sum(shown.values()) == 3
    assert {pid for pid, count in shown.items() if count} == {pid for pid, _slot in stored}


async def test_50_users_supporting_and_withdrawing_in_parallel_keep_the_count_exact(sessionmaker) -> None:  # type: ignore[no-untyped-def]
    async with sessionmaker() as s:
        author = await make_user(s, 1)
        cid = await new_consultation(s, author, [open_phase()], limit=2)
        pid = await raw_proposal(s, cid, author)
        other = await raw_proposal(s, cid, author, "مقترح آخر")
        people = [await make_user(s, 100 + i) for i in range(50)]

    async def person(i: int, actor: Actor) -> None:
        # even: support, withdraw, support again (ends supporting); odd: support, withdraw (ends not supporting);
        # every third person also supports the other proposal in between
        steps = [supports.support, supports.withdraw] + ([supports.support] if i % 2 == 0 else [])
        for n, step in enumerate(steps):
            async with sessionmaker() as s:
                await step(s, actor, pid, NOW)
            if n == 0 and i % 3 == 0:
                async with sessionmaker() as s:
                    await supports.support(s, actor, other, NOW)

    await asyncio.gather(*(person(i, actor) for i, actor in enumerate(people)))
    async with sessionmaker() as s:
        stored = await s.scalar(select(func.count()).select_from(Support).where(Support.proposal_id == pid))
        stored_other = await s.scalar(select(func.count()).select_from(Support).where(Support.proposal_id == other))
        await s.commit()
        shown = (await supports.state(s, author, pid, NOW)).count
        listed = {i.id: i.support_count for i in (await service.list_proposals(
            s, cid, service.ListFilters(sort="most_supported"), 1, 0)).items}
        api = await service.api_detail(s, pid)
    assert stored == 25 and stored_other == 17
    assert shown == stored and listed[pid] == stored and api["support_count"] == stored
    assert listed[other] == stored_other
