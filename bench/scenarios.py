"""The measured scenarios of ``make bench`` (issue #8, item 1): sign, hot-row sweep, spread, limit, read, tally.

Each returns plain figures; bench/run.py decides how many runs fit in the time budget and writes RESULTS.md.
Signing goes through the real form endpoint ``POST /petitions/{id}/sign`` (fields of
civic/petitions/forms.py:SignForm and templates/petitions/_sign_form.html, CSRF field ``csrf_token``); a
success is the 303 redirect back to the petition (or any 2xx/3xx answer, should the view change).
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import asyncpg
import httpx

from bench.load import LoadResult, Req, run_load
from bench.seed import Signer, new_petitions, plain
from bench.server import Uvicorn, cpu_used, postgres_cpu

DISPLAY_CACHE_WAIT = 2.5  # seconds: the displayed count may be cached ~2 s per process (design.md)
FORM = "application/x-www-form-urlencoded"
_BODIES: dict[tuple[int, int, int], list[tuple[bytes, tuple[tuple[str, str], ...]]]] = {}


@dataclass
class SignRun:
    """One signing run: the load figures, what was stored, what the petition page shows, CPU split."""

    load: LoadResult
    petitions: list[int]
    stored: int = 0
    flagged: int = 0
    displayed: int | None = None
    app_cpu: float = 0.0
    db_cpu: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return self.stored == self.load.ok and (self.displayed is None or self.displayed == self.stored)


def sign_requests(signers: list[Signer], petitions: list[int], communes: list[str]) -> list[Req]:
    """Request ``i``: signer ``i`` signs petition ``i mod len(petitions)`` (each account once per petition)."""
    key = (id(signers), len(signers), id(communes))
    if key not in _BODIES:  # the bodies do not depend on the petition: built once per signer pool
        _BODIES.clear()
        _BODIES[key] = [
            (urlencode({"csrf_token": s.csrf, "full_name": f"مواطن تجريبي {i}", "cnie": s.cnie,
                        "commune_code": communes[i % len(communes)], "electoral_declaration": "y",
                        "consent": "y"}).encode(), (("Cookie", s.cookie), ("Content-Type", FORM)))
            for i, s in enumerate(signers)]
    paths = [f"/petitions/{p}/sign" for p in petitions]
    return [Req("POST", paths[i % len(paths)], body, headers) for i, (body, headers) in enumerate(_BODIES[key])]


async def displayed_count(base: str, petition_id: int) -> int | None:
    """The count the public petition page shows (``data-count`` of the progress box), as a visitor."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        page = await client.get(f"/petitions/{petition_id}")
    found = re.search(r'class="signature-count" data-count="(\d+)"', page.text)
    return int(found.group(1)) if found else None


async def sign_run(server: Uvicorn, url: str, signers: list[Signer], communes: list[str], concurrency: int,
                   duration: float, petitions: int = 1, label: str = "sign") -> SignRun:
    """Fresh petitions, then ``concurrency`` clients sign them for ``duration`` s; then count and compare."""
    conn = await asyncpg.connect(plain(url))
    try:
        pids = await new_petitions(conn, petitions, f"Bench sign {label} c{concurrency}")
    finally:
        await conn.close()
    requests = sign_requests(signers, pids, communes)
    app0, db0 = server.cpu_seconds(), postgres_cpu()
    load = await run_load(server.base, requests, concurrency, duration)
    load.app_cpu = (server.cpu_seconds() - app0) / load.seconds
    load.db_cpu = cpu_used(db0, postgres_cpu()) / load.seconds
    run = SignRun(load, pids, app_cpu=load.app_cpu, db_cpu=load.db_cpu)
    conn = await asyncpg.connect(plain(url))
    try:
        run.stored = int(await conn.fetchval("SELECT count(*) FROM signatures WHERE petition_id = ANY($1::int[])",
                                             pids))
        run.flagged = int(await conn.fetchval(
            "SELECT count(*) FROM signature_flags WHERE petition_id = ANY($1::int[])", pids))
    finally:
        await conn.close()
    if petitions == 1:
        await asyncio.sleep(DISPLAY_CACHE_WAIT)
        run.displayed = await displayed_count(server.base, pids[0])
    if run.stored != load.ok:
        run.problems.append(f"stored {run.stored:,} ≠ {load.ok:,} successful answers")
    if run.displayed is not None and run.displayed != run.stored:
        run.problems.append(f"displayed {run.displayed:,} ≠ stored {run.stored:,}")
    if load.ok < load.sent:
        run.problems.append(f"answers: {load.status_text()}")
    return run


@dataclass
class LimitRun:
    """The database's own ceiling: ``inserts`` signature INSERTs by ``concurrency`` asyncpg connections."""

    inserts: int
    concurrency: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.inserts / self.seconds if self.seconds else 0.0


async def limit_run(url: str, inserts: int, concurrency: int, communes: list[tuple[str, str]],
                    user_ids: list[int]) -> LimitRun:
    """Signature INSERTs straight into PostgreSQL (same columns and statement shape as a real online signature:
    ``INSERT … ON CONFLICT DO NOTHING RETURNING id``, one transaction each, random CNIE HMAC and a random
    ciphertext of a Fernet token's size, one signer account each), no HTTP and no app code, on a fresh petition.
    ``inserts`` must not exceed ``len(user_ids)``."""
    conn = await asyncpg.connect(plain(url))
    try:
        (pid,) = await new_petitions(conn, 1, "Bench sign limit")
    finally:
        await conn.close()
    now = datetime.now(UTC)
    rows = [(os.urandom(32).hex(), os.urandom(120), communes[i % len(communes)]) for i in range(inserts)]
    sql = ("INSERT INTO signatures (petition_id, user_id, full_name, cnie_hmac, cnie_encrypted, commune_code, "
           "province_code, electoral_declaration, consent_at, channel, created_at, public_name) VALUES "
           "($1, $8, $2, $3, $4, $5, $6, true, $7, 'online', $7, false) ON CONFLICT DO NOTHING RETURNING id")
    pool = None
    while pool is None:  # the PostgreSQL server is shared: take fewer connections when slots run out
        try:
            pool = await asyncpg.create_pool(plain(url), min_size=concurrency, max_size=concurrency)
        except asyncpg.TooManyConnectionsError:
            if concurrency <= 8:
                raise
            concurrency //= 2
            await asyncio.sleep(1)
    latencies: list[float] = []
    next_i = 0

    async def worker() -> None:
        nonlocal next_i
        async with pool.acquire() as c:
            stmt = await c.prepare(sql)
            while next_i < inserts:
                i = next_i
                next_i += 1
                h, enc, (commune, province) = rows[i]
                started = time.perf_counter()
                await stmt.fetchval(pid, f"مواطن تجريبي {i}", h, enc, commune, province,
                                    now + timedelta(microseconds=i), user_ids[i])
                latencies.append(time.perf_counter() - started)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))  # one task per connection
        seconds = time.perf_counter() - started
    finally:
        await pool.close()
    return LimitRun(inserts, concurrency, seconds, latencies)


async def read_run(server: Uvicorn, path: str, concurrency: int, duration: float, cap: int = 200_000) -> LoadResult:
    """``concurrency`` visitors read ``path`` (gzip accepted, as a browser does) for ``duration`` seconds."""
    app0, db0 = server.cpu_seconds(), postgres_cpu()
    result = await run_load(server.base, [Req("GET", path)] * cap, concurrency, duration)
    result.app_cpu = (server.cpu_seconds() - app0) / result.seconds
    result.db_cpu = cpu_used(db0, postgres_cpu()) / result.seconds
    return result


async def tally_run(url: str, question_id: int) -> tuple[float, float, int]:
    """Seconds for the question tally (civic.votes.aggregate.question_tally) and for its breakdown
    (aggregate.group_counts), through the app's own code and a fresh engine; and the online ballots counted."""
    from civic.db import make_engine, make_sessionmaker
    from civic.votes import aggregate
    from tests.conftest import NOW

    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            started = time.perf_counter()
            result = await aggregate.question_tally(session, question_id, NOW)
            tallied = time.perf_counter() - started
            started = time.perf_counter()
            await aggregate.group_counts(session, question_id)
            broken_down = time.perf_counter() - started
            await session.commit()
    finally:
        await engine.dispose()
    return tallied, broken_down, result.online_ballots
