"""The load generator of ``make bench`` (issue #8, item 1): an asyncio client, one keep-alive connection per
simulated client (aiohttp), requests built before the clock starts.

``run_load`` sends requests ``0, 1, 2, …`` of a list to a server from ``concurrency`` clients until the list is
used up or ``duration`` seconds have passed (a bounded number of requests and a time limit), and returns a
``LoadResult``: answers by status, latencies (seconds, from the first byte sent to the last byte read), wall
time, and the CPU time the load generator itself used (so its share of the 2 cores can be reported).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp


@dataclass(frozen=True)
class Req:
    """One prepared HTTP request: method, site-relative path, body (form-encoded bytes or None), headers."""

    method: str
    path: str
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()


@dataclass
class LoadResult:
    """What one load run measured. ``ok`` counts 2xx and 3xx answers; ``errors`` transport failures/timeouts."""

    concurrency: int
    seconds: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    client_cpu_seconds: float = 0.0
    ok_indices: list[int] = field(default_factory=list)
    app_cpu: float = 0.0  # cores the server used during the run (set by the caller)
    db_cpu: float = 0.0  # cores PostgreSQL used during the run (set by the caller)

    def cpu_ms_per_answer(self) -> tuple[float, float, float]:
        """CPU milliseconds per successful answer: (load generator, app, PostgreSQL)."""
        if not self.ok:
            return (float("nan"),) * 3  # type: ignore[return-value]
        per = self.seconds * 1000 / self.ok
        return self.client_cpu_share * per, self.app_cpu * per, self.db_cpu * per

    @property
    def sent(self) -> int:
        return sum(self.statuses.values()) + self.errors

    @property
    def ok(self) -> int:
        return sum(n for s, n in self.statuses.items() if 200 <= s < 400)

    @property
    def rate(self) -> float:
        """Successful answers per second."""
        return self.ok / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        """Latency percentile ``q`` (0–100) in milliseconds (nearest rank)."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
        return ordered[rank] * 1000

    @property
    def client_cpu_share(self) -> float:
        """CPU used by the load generator as a share of one core (1.0 = a whole core)."""
        return self.client_cpu_seconds / self.seconds if self.seconds else 0.0

    def status_text(self) -> str:
        parts = [f"{s}: {n:,}" for s, n in sorted(self.statuses.items())]
        if self.errors:
            parts.append(f"transport errors/timeouts: {self.errors:,}")
        return ", ".join(parts)


async def run_load(base: str, requests: Sequence[Req], concurrency: int, duration: float,
                   request_timeout: float = 30.0) -> LoadResult:
    """Send ``requests`` in order from ``concurrency`` keep-alive clients for at most ``duration`` seconds.

    Redirects are not followed (a 303 after a POST is the success answer); cookies the server sets are ignored
    (each request carries its own Cookie header). Raises nothing for HTTP errors: they are counted by status.
    """
    result = LoadResult(concurrency)
    next_index = 0
    timeouts = aiohttp.ClientTimeout(total=request_timeout)
    sessions = [aiohttp.ClientSession(base_url=base, connector=aiohttp.TCPConnector(limit=1, force_close=False),
                                      cookie_jar=aiohttp.DummyCookieJar(), timeout=timeouts,
                                      auto_decompress=True)
                for _ in range(concurrency)]
    deadline = 0.0

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal next_index
        while True:
            i = next_index
            if i >= len(requests) or time.perf_counter() >= deadline:
                return
            next_index += 1
            req = requests[i]
            started = time.perf_counter()
            try:
                async with session.request(req.method, req.path, data=req.body, headers=dict(req.headers),
                                           allow_redirects=False) as answer:
                    await answer.read()
                    status = answer.status
            except (TimeoutError, aiohttp.ClientError):
                result.errors += 1
                continue
            result.latencies.append(time.perf_counter() - started)
            result.statuses[status] += 1
            if 200 <= status < 400:
                result.ok_indices.append(i)

    try:
        cpu = time.process_time()
        started = time.perf_counter()
        deadline = started + duration
        await asyncio.gather(*(client(s) for s in sessions))
        result.seconds = time.perf_counter() - started
        result.client_cpu_seconds = time.process_time() - cpu
    finally:
        await asyncio.gather(*(s.close() for s in sessions))
    return result


def median_spread(values: Sequence[float], fmt: str = "{:,.0f}") -> str:
    """``median (min–max)`` of several runs, or the single value."""
    if not values:
        return "–"
    if len(values) == 1:
        return fmt.format(values[0])
    return (f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}–"
            f"{fmt.format(max(values))})")
