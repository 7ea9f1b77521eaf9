"""Several app processes on one PostgreSQL (issue #8, item 2 and "What it must show"): two separate uvicorn
processes (``uvicorn --factory civic.app:create_app``, as ``civic serve`` runs it) on the test run's private
database, with one CIVIC_SECRET_KEY, and requests spread over both. Across the two processes:

- deduplication: 50 parallel sign submissions with one CNIE from 50 accounts store exactly one signature, and
  every submission gets the same answer (status, redirect target, and the next page modulo its CSRF token);
- a consultation's support limit holds under parallel supports;
- one counted ballot per voter and question under parallel casts;
- the per-account signing rate limit (CIVIC_SIGN_RATE_LIMIT=3/hour in both processes) holds in total, which
  needs the database-backed limiter (civic.security / civic.ratelimits);
- a results stream served by one process hears a ballot cast through the other (LISTEN/NOTIFY).

Sessions are forged cookies (tests/servers.py), so no argon2 and no sign-in limit get in the way. The whole
module runs on PostgreSQL only: SQLite is one process by design (README, Settings), and CI fails on skipped
tests, so nothing is defined for SQLite.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, insert, select, text

from civic.consultations.models import Consultation, Phase
from civic.db import utcnow
from civic.petitions.models import Signature, SignatureFlag
from civic.proposals.models import Support
from civic.security import normalise_cnie
from civic.votes.models import CastBallot
from tests.conftest import BACKEND, make_user
from tests.servers import Account, AppProcess, accounts_for, add_users, app_processes
from tests.test_live import EVENT, open_stream
from tests.test_petitions_service import open_petition
from tests.test_proposals import FLAGS, raw_proposal
from tests.test_results import voted_ballot
from tests.test_votes import SINGLE, YES_NO, setup

COMMUNES = ["05.091.01.01", "05.081.01.01", "05.255.01.05", "05.301.01.01", "05.311.01.07"]
# Both processes: at most 3 signing attempts per account and hour (the rate-limit test); the per-CNIE limit
# raised so the duplicate storm (50 submissions of one CNIE) measures deduplication, not that limit.
PAIR_ENV = {"CIVIC_SIGN_RATE_LIMIT": "3/hour"}  # the per-CNIE limit stays at its default (30/hour)
CSRF_VALUE = re.compile(r'name="csrf_token" value="([^"]+)"')


def sign_fields(account: Account, cnie: str, commune: str = "05.091.01.01") -> dict[str, str]:
    """The signing form as a browser posts it."""
    return account.form(full_name="Zineb Test", cnie=cnie, commune_code=commune, electoral_declaration="y",
                        consent="y")


def without_csrf(html: str) -> str:
    """A page with its CSRF token (one per session, signed with a timestamp) replaced by a placeholder."""
    tokens = set(CSRF_VALUE.findall(html))
    for token in tokens:
        html = html.replace(token, "CSRF")
    return html


def no_trace(processes: list[AppProcess]) -> None:
    for p in processes:
        assert "Traceback" not in p.log(), p.log()[-3000:]


async def close_all(accounts: list[Account]) -> None:
    await asyncio.gather(*(a.close() for a in accounts))


async def proposals_consultation(session, author, limit: int) -> int:  # type: ignore[no-untyped-def]
    """A consultation whose proposals phase is current now (the processes use the real clock)."""
    now = utcnow()
    cid = int((await session.execute(insert(Consultation).values(
        title="استشارة حول النقل", summary="", body="نص الاستشارة " * 5, scope="region", territory_code="05",
        addressed_to="council", support_limit=limit, created_by=author.user_id, created_at=now - timedelta(days=9),
        updated_at=now - timedelta(days=9)).returning(Consultation.id))).scalar_one())
    await session.execute(insert(Phase).values(
        consultation_id=cid, kind="proposals", starts_at=now - timedelta(days=5), ends_at=now + timedelta(days=5),
        **dict.fromkeys(FLAGS, True)))
    await session.commit()
    return cid


if BACKEND == "postgres":
    @pytest.fixture(scope="module")
    async def pair(settings, engine, tmp_path_factory) -> AsyncIterator[list[AppProcess]]:  # type: ignore[no-untyped-def]
        """Two app processes on the run's database (territories loaded by ``engine``)."""
        logs: Path = tmp_path_factory.mktemp("multiprocess-logs")
        async with app_processes(settings.database_url, logs, 2, env=PAIR_ENV) as processes:
            yield processes
        no_trace(processes)

    async def test_duplicate_storm_stores_one_signature_and_answers_all_alike(pair, sessionmaker, keys) -> None:  # type: ignore[no-untyped-def]
        async with sessionmaker() as s:
            pid = await open_petition(s, await make_user(s, 1))
            # one display name for all, so that the pages after the storm may be compared byte for byte
            accounts = await accounts_for(s, await add_users(s, 50, COMMUNES, "storm", display_name="Citizen"))
        start = asyncio.Event()

        async def submit(i: int) -> httpx.Response:
            client = accounts[i].client(pair[i % 2].base)
            await start.wait()
            return await client.post(f"/petitions/{pid}/sign", data=sign_fields(accounts[i], "ZZ123456"))

        tasks = [asyncio.create_task(submit(i)) for i in range(50)]
        await asyncio.sleep(0.1)
        start.set()
        answers = await asyncio.gather(*tasks)
        try:
            assert {(r.status_code, r.headers.get("location")) for r in answers} == {(303, f"/petitions/{pid}")}
            pages = await asyncio.gather(*(accounts[i].client(pair[i % 2].base).get(f"/petitions/{pid}")
                                           for i in range(50)))
        finally:
            await close_all(accounts)
        assert {p.status_code for p in pages} == {200}
        bodies = {without_csrf(p.text) for p in pages}
        assert len(bodies) == 1, "the answers differ between accounts"
        async with sessionmaker() as s:
            stored = (await s.execute(select(Signature.cnie_hmac, func.count()).where(Signature.petition_id == pid)
                                      .group_by(Signature.cnie_hmac))).all()
            flagged = await s.scalar(select(func.count()).select_from(SignatureFlag)
                                     .where(SignatureFlag.petition_id == pid))
            await s.commit()
        assert stored == [(keys.cnie_hmac(normalise_cnie("ZZ123456")), 1)]
        assert flagged == 49  # the other 49 are flagged for staff, quietly
        no_trace(pair)

    async def test_the_support_limit_holds_across_processes(pair, sessionmaker) -> None:  # type: ignore[no-untyped-def]
        async with sessionmaker() as s:
            author = await make_user(s, 1)
            cid = await proposals_consultation(s, author, limit=3)
            proposals = [await raw_proposal(s, cid, author, f"مقترح رقم {i}") for i in range(10)]
            fans = await accounts_for(s, await add_users(s, 4, COMMUNES, "fan"))

        async def click(fan: Account, n: int) -> int:
            client = fan.client(pair[n % 2].base)
            r = await client.post(f"/proposals/{proposals[n % 10]}/support", data=fan.form(action="support"))
            return r.status_code

        try:
            statuses = await asyncio.gather(*(click(fan, n) for fan in fans for n in range(20)))
        finally:
            await close_all(fans)
        assert set(statuses) <= {303, 409}, statuses  # supported / already supported, or the limit's refusal
        async with sessionmaker() as s:
            for fan in fans:
                slots = sorted((await s.scalars(select(Support.slot).where(
                    Support.consultation_id == cid, Support.user_id == fan.user_id))).all())
                assert slots == [1, 2, 3], (fan.user_id, slots)
            await s.commit()
        no_trace(pair)

    async def test_one_ballot_per_voter_and_question_across_processes(pair, sessionmaker) -> None:  # type: ignore[no-untyped-def]
        async with sessionmaker() as s:
            _staff, _cid, bid, questions = await setup(s, (YES_NO, SINGLE), base=utcnow())
            voters = await accounts_for(s, await add_users(s, 20, COMMUNES, "voter"))

        async def cast(voter: Account, pick: int) -> int:
            fields = voter.form(**{f"q{q.id}": str(q.options[pick % len(q.options)].id) for q in questions})
            r = await voter.client(pair[pick % 2].base).post(f"/ballots/{bid}/vote", data=fields)
            return r.status_code

        try:  # every voter casts three different ballots at once, through both processes
            statuses = await asyncio.gather(*(cast(v, pick) for v in voters for pick in range(3)))
        finally:
            await close_all(voters)
        assert set(statuses) == {200}, statuses
        async with sessionmaker() as s:
            per_pair = (await s.execute(select(CastBallot.question_id, CastBallot.voter_id, func.count())
                                        .where(CastBallot.voter_id.in_([v.user_id for v in voters]))
                                        .group_by(CastBallot.question_id, CastBallot.voter_id))).all()
            await s.commit()
        assert len(per_pair) == 20 * len(questions) and {n for _q, _v, n in per_pair} == {1}
        no_trace(pair)

    async def test_the_signing_rate_limit_is_shared_by_the_processes(pair, sessionmaker) -> None:  # type: ignore[no-untyped-def]
        """CIVIC_SIGN_RATE_LIMIT=3/hour in both processes: one account's attempts, alternating between them,
        are limited to 3 in total (in-process limiters would allow 3 in each)."""
        async with sessionmaker() as s:
            pid = await open_petition(s, await make_user(s, 1))
            (account,) = await accounts_for(s, await add_users(s, 1, COMMUNES, "limited"))
        statuses = []
        try:
            for n in range(8):
                r = await account.client(pair[n % 2].base).post(f"/petitions/{pid}/sign",
                                                                 data=sign_fields(account, "ZY123456"))
                statuses.append(r.status_code)
        finally:
            await account.close()
        assert 429 not in statuses[:3], statuses
        assert statuses[3:] == [429] * 5, statuses
        async with sessionmaker() as s:
            stored = await s.scalar(select(func.count()).select_from(Signature).where(Signature.petition_id == pid))
            await s.commit()
        assert stored == 1
        no_trace(pair)

    async def test_a_ballot_cast_through_one_process_reaches_a_stream_of_the_other(pair, session) -> None:  # type: ignore[no-untyped-def]
        _staff, _cid, bid, questions = await voted_ballot(session, utcnow())
        (voter,) = await accounts_for(session, await add_users(session, 1, COMMUNES, "live"))
        fields = voter.form(**{f"q{q.id}": str(q.options[0].id) for q in questions})
        try:
            async with open_stream(pair[0].base, bid) as stream:
                before = stream.body.count(EVENT)
                r = await voter.client(pair[1].base).post(f"/ballots/{bid}/vote", data=fields)
                assert r.status_code == 200
                assert await stream.until(EVENT, before + 1), stream.body
        finally:
            await voter.close()
        stored = await session.scalar(text("SELECT count(*) FROM cast_ballots WHERE voter_id = :v"),
                                      {"v": voter.user_id})
        await session.commit()
        assert stored == len(questions)
        no_trace(pair)
