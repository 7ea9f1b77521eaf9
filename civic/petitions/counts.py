"""The displayed signature counts of public pages: a small per-process cache in front of the signatures table.

design.md, "Counting without a hot row": signatures are an append-only table counted through the
``(petition_id, province_code)`` index, and the figure shown to the public is cached briefly. Counting a
petition with 1,000,000 signatures on every page view (or every petition's signatures for the list) would make
public pages slower as a petition grows; this cache makes them independent of it (issue #8, item 4).

- Per process, per petition: ``{province_code: count}``. A displayed figure comes from a query started at most
  ``ttl`` seconds earlier (default ``DISPLAY_TTL_SECONDS``), so once the TTL has passed the page shows the
  stored count.
- Stale-while-revalidate: past half the TTL a figure is still answered at once while ONE background task
  recomputes it (a petition read continuously never makes a reader wait); a missing or expired figure is
  computed once and every concurrent reader awaits that same computation (no stampede).
- Bounded: least recently used petitions are dropped past ``max_entries`` (default ``MAX_PETITIONS``).
- Freshness on demand: ``get(..., fresh_after=t)`` answers a figure whose computation started at or after ``t``
  (the signer's own page after signing shows their signature); concurrent such readers share one computation.

The same cache (``DisplayCache``) keeps the page's list of signatories who chose to be listed, which also reads
every opted-in signature of the petition (``rights.public_names``).

Staff pages, submission, receipts, dossiers and the API keep exact uncached counts (``service.tally``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civic.petitions import rights, service
from civic.territories import service as territories

DISPLAY_TTL_SECONDS = 2.0  # how stale a displayed count may be (issue #8 brief: "e.g. 2 s")
MAX_PETITIONS = 10_000  # petitions whose counts one process keeps

Counts = Mapping[str, int]  # {province_code: signatures}
PublicNames = tuple[list[str], int]  # (names of signatories who opted in, at most rights.PUBLIC_NAMES_LIMIT; total)
V = TypeVar("V")
Loader = Callable[[Sequence[int]], Awaitable[Mapping[int, V]]]

log = logging.getLogger("civic.petitions.counts")


@dataclass
class _Entry(Generic[V]):
    value: V
    started: float  # clock() when the computation that produced it started


@dataclass
class _Load(Generic[V]):
    started: float
    future: asyncio.Future[V] = field(repr=False)


class DisplayCache(Generic[V]):
    """Per-process cache of a per-petition figure public pages show (see the module docstring).

    ``load(petition_ids)`` returns ``{petition_id: value}``; an id it leaves out gets ``empty()``. It is called
    with as many ids at once as callers ask for together.
    ``clock`` returns seconds (``time.time`` by default, so a timestamp kept in a session cookie means the same
    thing in every process of one machine). Errors of ``load`` reach the callers that await it; a failed
    background refresh keeps the previous figure and is logged.
    """

    def __init__(self, load: Loader[V], empty: Callable[[], V], ttl: float = DISPLAY_TTL_SECONDS,
                 max_entries: int = MAX_PETITIONS, clock: Callable[[], float] = time.time) -> None:
        self._load = load
        self._empty = empty
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[int, _Entry[V]] = OrderedDict()
        self._running: dict[int, _Load[V]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, petition_id: int, fresh_after: float | None = None) -> V:
        """The displayed value of one petition, computed from a query started at most ``ttl`` seconds ago
        (and not before ``fresh_after``, a ``clock()`` value, when given).

        Past half the TTL the cached figure is still answered at once while one background task recomputes it;
        a missing or too old figure is computed now, once, whoever else is waiting for it."""
        need = self._need(fresh_after)
        entry = self._entries.get(petition_id)
        if entry is not None and entry.started >= need:
            self._entries.move_to_end(petition_id)
            self._refresh_if_ageing([petition_id])
            return entry.value
        while True:
            running = self._running.get(petition_id)
            if running is None:
                running = self._start([petition_id])[petition_id]
            if running.started >= need:
                return await asyncio.shield(running.future)
            # A computation that started too early is running: wait for it to end; the first waiter to wake
            # starts the next one and the others join it.
            await asyncio.wait([running.future])

    async def get_many(self, petition_ids: Iterable[int]) -> dict[int, V]:
        """The displayed values of several petitions (a list page), as ``get`` does for one: missing or too old
        ones computed together in one query, ageing ones refreshed together in the background."""
        ids = list(dict.fromkeys(petition_ids))
        need = self._need(None)
        result: dict[int, V] = {}
        missing: list[int] = []
        waiting: dict[int, _Load[V]] = {}
        for pid in ids:
            entry = self._entries.get(pid)
            running = self._running.get(pid)
            if entry is not None and entry.started >= need:
                self._entries.move_to_end(pid)
                result[pid] = entry.value
            elif running is not None and running.started >= need:
                waiting[pid] = running
            else:
                missing.append(pid)
        self._refresh_if_ageing(list(result))
        if missing:
            waiting.update(self._start(missing))
        for pid, load in waiting.items():
            result[pid] = await asyncio.shield(load.future)
        return {pid: result[pid] for pid in ids}

    def _need(self, fresh_after: float | None) -> float:
        """The earliest start a computation may have to be answered now: less than ``ttl`` seconds ago, and not
        before ``fresh_after``."""
        oldest = math.nextafter(self.clock() - self.ttl, math.inf)
        return oldest if fresh_after is None else max(oldest, fresh_after)

    def _refresh_if_ageing(self, petition_ids: list[int]) -> None:
        """Start one background computation for the cached figures past half their TTL (none already running)."""
        now = self.clock()
        ageing = [pid for pid in petition_ids if pid not in self._running
                  and (entry := self._entries.get(pid)) is not None and now - entry.started >= self.ttl / 2]
        if ageing:
            self._start(ageing)

    def invalidate(self, petition_id: int) -> None:
        """Forget a petition's figure in this process (the next reader computes it)."""
        self._entries.pop(petition_id, None)

    async def drain(self) -> None:
        """Wait for the background computations in progress (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _start(self, petition_ids: list[int]) -> dict[int, _Load[V]]:
        loop = asyncio.get_running_loop()
        started = self.clock()
        loads: dict[int, _Load[V]] = {pid: _Load(started, loop.create_future()) for pid in petition_ids}
        self._running.update(loads)
        task = loop.create_task(self._run(loads))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return loads

    async def _run(self, loads: dict[int, _Load[V]]) -> None:
        try:
            values = await self._load(list(loads))
        except Exception as exc:  # a failed refresh keeps the previous figure; waiters get the error
            log.warning("counting signatures failed: %s", type(exc).__name__)
            for pid, load in loads.items():
                if self._running.get(pid) is load:
                    del self._running[pid]
                load.future.set_exception(exc)
                load.future.add_done_callback(_retrieved)
            return
        for pid, load in loads.items():
            value = values[pid] if pid in values else self._empty()
            if self._running.get(pid) is load:
                del self._running[pid]
            current = self._entries.get(pid)
            if current is None or current.started <= load.started:
                self._entries[pid] = _Entry(value, load.started)
                self._entries.move_to_end(pid)
            load.future.set_result(value)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


class CountCache(DisplayCache[Counts]):
    """The displayed per-province counts ``{province_code: n}`` of petitions, and the region's provinces."""

    def __init__(self, load: Loader[Counts], ttl: float = DISPLAY_TTL_SECONDS, max_entries: int = MAX_PETITIONS,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(load, dict, ttl, max_entries, clock)
        self._provinces: dict[str, list[territories.Place]] = {}

    async def provinces(self, session: AsyncSession, region_code: str) -> list[territories.Place]:
        """The region's provinces (static reference data, read once per process)."""
        if region_code not in self._provinces:
            self._provinces[region_code] = await territories.provinces(session, region_code)
        return self._provinces[region_code]


def _retrieved(future: asyncio.Future[Any]) -> None:
    future.exception()  # marks the error as seen when no request was waiting for it


def session_loader(sessionmaker: async_sessionmaker[AsyncSession]) -> Loader[Counts]:
    """A loader counting with ``service.province_counts`` in a session of its own (a background refresh
    outlives the request that started it)."""
    async def load(petition_ids: Sequence[int]) -> Mapping[int, Counts]:
        async with sessionmaker() as session:
            return await service.province_counts(session, petition_ids)
    return load


def names_loader(sessionmaker: async_sessionmaker[AsyncSession]) -> Loader[PublicNames]:
    """A loader of ``rights.public_names`` (it reads every opted-in signature of the petition: cached like the
    counts so the page does not slow down as signatures grow), in a session of its own."""
    async def load(petition_ids: Sequence[int]) -> Mapping[int, PublicNames]:
        async with sessionmaker() as session:
            return {pid: await rights.public_names(session, pid) for pid in petition_ids}
    return load


def cache_for(app: Any) -> CountCache:
    """The application's count cache, made on first use from ``app.state.sessionmaker``."""
    cache: CountCache | None = getattr(app.state, "petition_counts", None)
    if cache is None:
        cache = CountCache(session_loader(app.state.sessionmaker))
        app.state.petition_counts = cache
    return cache


def names_cache_for(app: Any) -> DisplayCache[PublicNames]:
    """The application's cache of public signatory names, made on first use from ``app.state.sessionmaker``."""
    cache: DisplayCache[PublicNames] | None = getattr(app.state, "petition_public_names", None)
    if cache is None:
        cache = DisplayCache(names_loader(app.state.sessionmaker), lambda: ([], 0))
        app.state.petition_public_names = cache
    return cache


async def displayed_tally(cache: CountCache, session: AsyncSession, petition: service.PetitionView,
                          region_code: str, fresh_after: float | None = None) -> service.Tally:
    """The Tally public pages show: the cached per-province counts (at most ``cache.ttl`` seconds old, or
    computed after ``fresh_after``) against the petition's stored rule set."""
    counts = await cache.get(petition.id, fresh_after)
    return service.make_tally(petition, counts, await cache.provinces(session, region_code))
