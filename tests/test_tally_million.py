"""A tally over 1,000,000 ballots on PostgreSQL equals the seeded truth, computed by the database's aggregates
(issue #5, item 4 and "What it must show"; civic.votes.aggregate). The time it takes is printed and recorded in
bench/RESULTS.md, "Tally of 1,000,000 ballots (issue #5)" — never asserted.

The ballots are seeded by the database itself (``INSERT … SELECT`` over ``generate_series``): 1,000,000 voters,
one cast ballot each on one single-choice question, one choice each, and demographics, all following a known
rule of the row number ``i`` (below); the truth is counted from the same rule in Python, independently of the
tally code. Paper sheets (one superseded) are added on top.

Like tests/test_concurrency.py, this file runs on both databases and skips nothing (CI fails on skips): on
SQLite the same test seeds 20,000 ballots (a recursive CTE stands in for generate_series) and checks the same
aggregates; only the PostgreSQL run is the scale test.
"""

from __future__ import annotations

import time
from datetime import timedelta
from fractions import Fraction

from sqlalchemy import text

from civic.votes import aggregate
from civic.votes import tally as t
from tests.conftest import BACKEND, NOW, make_user
from tests.test_tally_db import new_ballot, new_consultation, new_meeting, sheet

N = 1_000_000 if BACKEND == "postgres" else 20_000
ID_BASE = 10_000_000  # seeded users and cast ballots take ids far above the sequences' values
PROVINCES = ("05.081", "05.091", "05.255", "05.301", "05.311")


def option_index(i: int) -> int:
    """The seeded rule for the option of ballot ``i``: 9/20, 6/20, 4/20 and 1/20 of the ballots."""
    r = i % 20
    return 0 if r < 9 else 1 if r < 15 else 2 if r < 19 else 3


def groups(i: int) -> dict[str, str]:
    """The seeded rule for the demographics of ballot ``i`` (tally groups)."""
    return {"gender": ("woman", "man", t.NOT_GIVEN)[i % 3],
            "age_band": ("18-24", "25-34", "35-59", "60+", t.NOT_GIVEN)[i % 5],
            "disability": "yes" if i % 7 == 0 else t.NOT_GIVEN if i % 7 == 1 else "no",
            "area": "urban" if i % 2 == 0 else "rural",
            "province": PROVINCES[(i // 7) % 5]}


SERIES_PG = "FROM generate_series(1, :n) AS s(i)"
SQL_OPTION = ("CASE WHEN i % 20 < 9 THEN CAST(:a AS INTEGER) WHEN i % 20 < 15 THEN CAST(:b AS INTEGER) "
              "WHEN i % 20 < 19 THEN CAST(:c AS INTEGER) ELSE CAST(:d AS INTEGER) END")


def _seed_statements(dialect: str) -> list[str]:
    if dialect == "postgresql":
        series, prefix, true, false, digest = SERIES_PG, "", "TRUE", "FALSE", "md5(i::text) || md5((i + 1)::text)"
    else:
        series, true, false, digest = "FROM s", "1", "0", "printf('%064d', i)"
        prefix = "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n) "
    demographics = (
        "CASE i % 3 WHEN 0 THEN 'woman' WHEN 1 THEN 'man' END, "
        "CASE i % 5 WHEN 0 THEN '18-24' WHEN 1 THEN '25-34' WHEN 2 THEN '35-59' WHEN 3 THEN '60+' END, "
        f"CASE i % 7 WHEN 0 THEN {true} WHEN 1 THEN NULL ELSE {false} END, "
        "CASE WHEN i % 2 = 0 THEN 'urban' ELSE 'rural' END, "
        "CASE (i / 7) % 5 " + " ".join(f"WHEN {k} THEN '{code}'" for k, code in enumerate(PROVINCES)) + " END"
    )
    insert_users = "INSERT INTO users (id, display_name, email, password_hash, role, commune_code, session_nonce, " \
                   "created_at, preferences)"
    insert_ballots = "INSERT INTO cast_ballots (id, question_id, voter_id, receipt_digest, gender, age_band, " \
                     "disability, area, province_code, cast_at, changed_at)"
    insert_choices = "INSERT INTO ballot_choices (id, cast_ballot_id, question_id, option_id)"
    if dialect == "postgresql":
        return [
            f"{insert_users} SELECT :base + i, 'Voter ' || i, 'm' || i || '@million.invalid', 'x', 'citizen', "
            f"'05.091.01.01', 'n', :at, '' {series}",
            f"{insert_ballots} SELECT :base + i, :q, :base + i, {digest}, {demographics}, :at, :at {series}",
            f"{insert_choices} SELECT :base + i, :base + i, :q, {SQL_OPTION} {series}",
        ]
    return [
        f"{insert_users} {prefix}SELECT :base + i, 'Voter ' || i, 'm' || i || '@million.invalid', 'x', 'citizen', "
        f"'05.091.01.01', 'n', :at, '' {series}",
        f"{insert_ballots} {prefix}SELECT :base + i, :q, :base + i, {digest}, {demographics}, :at, :at {series}",
        f"{insert_choices} {prefix}SELECT :base + i, :base + i, :q, {SQL_OPTION} {series}",
    ]


async def test_tally_of_many_ballots_equals_the_seeded_truth(session) -> None:  # type: ignore[no-untyped-def]
    staff = await make_user(session, 1, role="council_staff")
    cid = await new_consultation(session, staff)
    mid = await new_meeting(session, cid)
    _bid, (q,), (opts,) = await new_ballot(session, cid, staff, [
        {"method": t.SINGLE_CHOICE, "options": ["الطريق الجهوية", "المستشفى", "الماء الصالح للشرب", "الملعب"]}])
    dialect = session.get_bind().dialect.name
    at = NOW - timedelta(days=1)
    params = {"n": N, "base": ID_BASE, "q": q, "a": opts[0], "b": opts[1], "c": opts[2], "d": opts[3],
              "at": at if dialect == "postgresql" else at.replace(tzinfo=None)}
    steps = []
    for statement in _seed_statements(dialect):
        started = time.perf_counter()
        await session.execute(text(statement), params)
        await session.commit()
        steps.append(time.perf_counter() - started)
    if dialect == "postgresql":  # what autovacuum does soon after a bulk load: statistics and visibility map
        started = time.perf_counter()
        async with session.bind.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE users, cast_ballots, ballot_choices"))
        steps.append(time.perf_counter() - started)
    old = await sheet(session, q, mid, staff, {opts[0]: 100, opts[1]: 0, opts[2]: 0, opts[3]: 0}, reference="S-1")
    await sheet(session, q, mid, staff, {opts[0]: 90, opts[1]: 10, opts[2]: 0, opts[3]: 0}, blank=3, invalid=2,
                supersedes=old, reference="S-1 bis")
    await sheet(session, q, mid, staff, {opts[0]: 0, opts[1]: 0, opts[2]: 7, opts[3]: 1}, reference="S-2")

    # The truth, from the seeding rule.
    votes = [0, 0, 0, 0]
    per_group: dict[tuple[str, str], int] = {}
    per_cell: dict[tuple[str, str, int], int] = {}
    for i in range(1, N + 1):
        option = option_index(i)
        votes[option] += 1
        for dimension, group in groups(i).items():
            per_group[(dimension, group)] = per_group.get((dimension, group), 0) + 1
            per_cell[(dimension, group, option)] = per_cell.get((dimension, group, option), 0) + 1
    paper = [90, 10, 7, 1]

    timings = []
    for _run in range(2):  # the first run reads from disk, the second from PostgreSQL's cache
        started = time.perf_counter()
        result = await aggregate.question_tally(session, q, NOW)
        tallied = time.perf_counter() - started
        started = time.perf_counter()
        counted = await aggregate.group_counts(session, q)
        timings.append((tallied, time.perf_counter() - started))
        await session.commit()

    assert [o.online for o in result.options] == votes
    assert votes == [N * 9 // 20, N * 6 // 20, N * 4 // 20, N // 20]
    assert [o.paper for o in result.options] == paper
    assert result.online_ballots == N and result.paper_ballots == 108 + 3 + 2
    assert result.ballots == N + 113 and result.blank == 3 and result.invalid == 2
    assert result.eligible == N + 1  # the seeded voters and the staff member live in the region
    assert result.winners == (opts[0],) and result.outcome == t.WINNER
    assert result.option(opts[0]).share == Fraction(votes[0] + 90, N + 108)
    assert {(g.dimension, g.group): g.ballots for g in counted} == per_group
    assert {(g.dimension, g.group, opts.index(o)): n for g in counted for o, n in g.choices.items()} == per_cell
    print(f"\n[tally of {N:,} ballots, {dialect}] seeding: users {steps[0]:.1f} s, cast ballots {steps[1]:.1f} s, "
          f"choices {steps[2]:.1f} s" + (f", VACUUM ANALYZE {steps[3]:.1f} s" if len(steps) > 3 else "") + "; "
          + "; ".join(f"run {n}: question tally {a:.3f} s, breakdown {b:.3f} s" for n, (a, b) in enumerate(timings, 1)))
    if dialect == "postgresql":  # quicker than the fixture's row-by-row DELETE of a million rows
        await session.execute(text("TRUNCATE ballot_choices, cast_ballots, users CASCADE"))
        await session.commit()
