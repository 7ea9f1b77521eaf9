"""Live results: tell open results pages that a ballot's results changed (issue #5, item 6).

What is sent: only *that* something changed on a ballot — the event ``results`` with the data ``updated`` —
never a count; the page then fetches the results fragment, which applies the visibility rule itself
(civic.votes.results). Streams are opened only while results are visible, and close when that may change.

Who says so: the services that change what a tally counts call ``notify(session, ballot_id)`` inside their
transaction — casting or changing a ballot (civic.votes.service.cast) and entering or correcting a paper
tally sheet (civic.votes.sheets) — so that nothing is announced for a transaction that rolls back:

- PostgreSQL: ``SELECT pg_notify('civic_results', '<ballot id>')``; PostgreSQL delivers it at COMMIT (never on
  ROLLBACK; duplicates within one transaction are folded into one) to every connection that LISTENs on the
  channel, in every app process. Each process keeps ONE listening connection (asyncpg, outside the pool:
  ``PgListener``), opened lazily by the first stream and closed when the last stream of the process ends. When
  the database restarts, the connection is lost: the listener reconnects (1, 2, 4 … 30 s) and then tells every
  open stream of the process to refresh, since notifications sent meanwhile were lost.
- SQLite (one process): ``notify`` remembers the ballot on the session and an ``after_commit`` hook hands it to
  the in-process fan-out (``LOCAL``) once the transaction commits; a rollback forgets it.

Fan-out: each open stream holds a ``Subscription`` (an asyncio queue on its event loop). Deliveries go through
``loop.call_soon_threadsafe``, so a service running in another thread (a CLI job, the e2e tests' database
thread) reaches the streams served by the web server's loop.

The stream itself (``event_stream``): ``retry: 5000`` first (the browser's reconnection delay), one ``results``
event per change — changes arriving within MIN_INTERVAL seconds of each other are folded into one, so a burst of
ballots costs each page one fragment fetch per second at most —, a comment line every HEARTBEAT seconds so that
proxies keep the connection, and the end after MAX_STREAM seconds (the browser reconnects by itself), or the
event ``closed`` when the results may stop being visible (the page's ``sse-close`` then stops reconnecting).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from civic.db import dialect_name

log = logging.getLogger("civic.votes.live")

CHANNEL = "civic_results"
APPLICATION_NAME = "civic-live-results"  # the listening connections, as pg_stat_activity names them
EVENT = "results"  # the event name the page listens for (hx-trigger="sse:results")
CLOSED_EVENT = "closed"  # sent when the results may stop being visible (sse-close="closed")
HEARTBEAT = 15.0  # seconds between comment lines
MAX_STREAM = 600.0  # seconds a stream stays open before the browser reconnects
MIN_INTERVAL = 1.0  # seconds between two events of one stream
RETRY_MS = 5000  # the browser's reconnection delay
LISTEN_WAIT = 5.0  # seconds a new stream waits for the listening connection before starting anyway
KEEPALIVE = 30.0  # seconds between checks of the listening connection (SELECT 1)
RECONNECT_MAX = 30.0  # longest wait between two reconnection attempts

_PENDING = "civic_live_pending"
_HOOKED = "civic_live_hooked"


# --- fan-out ----------------------------------------------------------------------------------------------


class Subscription:
    """One open stream's mailbox for one ballot: deliveries from any thread land in an asyncio queue of the
    stream's event loop."""

    def __init__(self, ballot_id: int, loop: asyncio.AbstractEventLoop) -> None:
        self.ballot_id = ballot_id
        self.loop = loop
        self.queue: asyncio.Queue[int] = asyncio.Queue()

    def deliver(self) -> None:
        """Queue one change, from any thread; dropped when the stream's loop is already closed."""
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, self.ballot_id)
        except RuntimeError:
            pass  # the loop closed: its streams are gone

    async def wait(self, seconds: float) -> bool:
        """True when at least one change arrived within ``seconds`` (all queued changes are taken, so a burst
        counts once); False when none did."""
        try:
            await asyncio.wait_for(self.queue.get(), seconds)
        except TimeoutError:
            return False
        while not self.queue.empty():
            self.queue.get_nowait()
        return True


class Fanout:
    """Subscriptions per ballot, safe to publish to from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscriptions: dict[int, set[Subscription]] = {}

    def add(self, subscription: Subscription) -> None:
        """Register a stream."""
        with self._lock:
            self._subscriptions.setdefault(subscription.ballot_id, set()).add(subscription)

    def remove(self, subscription: Subscription) -> int:
        """Unregister a stream; returns how many streams remain (all ballots)."""
        with self._lock:
            subscriptions = self._subscriptions.get(subscription.ballot_id, set())
            subscriptions.discard(subscription)
            if not subscriptions:
                self._subscriptions.pop(subscription.ballot_id, None)
            return sum(len(s) for s in self._subscriptions.values())

    def count(self) -> int:
        """Open streams, all ballots."""
        with self._lock:
            return sum(len(s) for s in self._subscriptions.values())

    def publish(self, ballot_id: int) -> None:
        """Tell every stream of ``ballot_id`` that its results changed."""
        with self._lock:
            targets = list(self._subscriptions.get(ballot_id, ()))
        for subscription in targets:
            subscription.deliver()

    def publish_all(self) -> None:
        """Tell every stream to refresh (after notifications may have been lost)."""
        with self._lock:
            targets = [s for subscriptions in self._subscriptions.values() for s in subscriptions]
        for subscription in targets:
            subscription.deliver()


LOCAL = Fanout()  # SQLite: every stream of this process


# --- notify (called by the services inside their transaction) ----------------------------------------------


def _deliver_pending(session: Session) -> None:
    pending: set[int] = session.info.get(_PENDING) or set()
    ballots = sorted(pending)
    pending.clear()
    for ballot_id in ballots:
        LOCAL.publish(ballot_id)


def _forget_pending(session: Session) -> None:
    pending: set[int] | None = session.info.get(_PENDING)
    if pending is not None:
        pending.clear()


async def notify(session: AsyncSession, ballot_id: int) -> None:
    """Announce that the results of ``ballot_id`` change when the current transaction commits (module
    docstring). Call it inside the service's transaction (``async with session.begin():``), after the writes.
    On PostgreSQL one ``pg_notify``; on SQLite nothing is sent before COMMIT, and nothing at all on ROLLBACK."""
    if dialect_name(session) == "postgresql":
        await session.execute(text("SELECT pg_notify(:channel, :payload)"),
                              {"channel": CHANNEL, "payload": str(int(ballot_id))})
        return
    sync = session.sync_session
    if not sync.info.get(_HOOKED):
        event.listen(sync, "after_commit", _deliver_pending)
        event.listen(sync, "after_rollback", _forget_pending)
        sync.info[_HOOKED] = True
    sync.info.setdefault(_PENDING, set()).add(int(ballot_id))
    if not session.in_transaction():  # called outside a transaction: nothing left to wait for
        _deliver_pending(sync)


# --- PostgreSQL: one listening connection per process -------------------------------------------------------


def asyncpg_dsn(database_url: str) -> str:
    """The SQLAlchemy URL ``postgresql+asyncpg://…`` as a plain ``postgresql://…`` DSN for asyncpg."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class PgListener:
    """LISTEN on CHANNEL through one asyncpg connection of its own, fanning notifications out to the streams
    of this process (module docstring). Started by the first ``subscribe``, stopped after the last
    ``unsubscribe``; reconnects when the connection is lost."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.fanout = Fanout()
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self._wake = asyncio.Event()
        self.connections = 0  # how many times it connected (tests)

    async def subscribe(self, ballot_id: int) -> Subscription:
        """A new stream's subscription; waits up to LISTEN_WAIT seconds for the LISTEN to be in place."""
        subscription = Subscription(ballot_id, asyncio.get_running_loop())
        self.fanout.add(subscription)
        if self._task is None or self._task.done():
            self._listening.clear()
            self._task = asyncio.create_task(self._run(), name="civic-live-listener")
        try:
            await asyncio.wait_for(self._listening.wait(), LISTEN_WAIT)
        except TimeoutError:
            log.warning("live results: not listening yet; the stream starts without it")
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Drop a stream; the last one stops the listener."""
        if self.fanout.remove(subscription) == 0:
            self._wake.set()

    def _on_notification(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if payload.isascii() and payload.isdigit():
            self.fanout.publish(int(payload))

    async def _run(self) -> None:
        delay = 1.0
        lost_before = False
        while self.fanout.count():
            conn: Any = None
            try:
                import asyncpg  # type: ignore[import-untyped]

                conn = await asyncpg.connect(self.dsn, timeout=10,
                                             server_settings={"application_name": APPLICATION_NAME})
                self.connections += 1
                conn.add_termination_listener(lambda _c: self._wake.set())
                await conn.add_listener(CHANNEL, self._on_notification)
                self._listening.set()
                if lost_before:
                    self.fanout.publish_all()  # what was notified while we were away is lost: refresh
                delay = 1.0
                while self.fanout.count() and not conn.is_closed():
                    self._wake.clear()
                    try:
                        await asyncio.wait_for(self._wake.wait(), KEEPALIVE)
                    except TimeoutError:
                        await conn.execute("SELECT 1")  # finds a connection that died silently
                if conn.is_closed():
                    raise ConnectionError("listening connection closed")
            except Exception as exc:  # any failure of the connection: wait and reconnect
                self._listening.clear()
                lost_before = True
                log.warning("live results: listening connection lost (%s); retrying in %.0f s",
                            type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX)
            finally:
                self._listening.clear()  # a stream arriving now waits for the next connection
                if conn is not None and not conn.is_closed():
                    try:
                        await asyncio.wait_for(conn.close(), 5)
                    except Exception:  # closing a broken connection may fail too
                        conn.terminate()
        self._listening.clear()

    async def close(self) -> None:
        """Stop the listener now (app shutdown)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass


def listener_for(state: Any, database_url: str) -> PgListener | None:
    """The app's PostgreSQL listener (created on first use and kept on ``app.state``), or None on SQLite."""
    if not database_url.startswith("postgresql"):
        return None
    listener: PgListener | None = getattr(state, "live_listener", None)
    if listener is None:
        listener = PgListener(asyncpg_dsn(database_url))
        state.live_listener = listener
    return listener


@asynccontextmanager
async def subscription(state: Any, database_url: str, ballot_id: int) -> AsyncIterator[Subscription]:
    """Subscribe a stream to a ballot's changes for the duration of the ``async with`` (the app's
    ``state`` and database URL pick the fan-out: PostgreSQL listener or in-process)."""
    listener = listener_for(state, database_url)
    if listener is None:
        sub = Subscription(ballot_id, asyncio.get_running_loop())
        LOCAL.add(sub)
        try:
            yield sub
        finally:
            LOCAL.remove(sub)
        return
    sub = await listener.subscribe(ballot_id)
    try:
        yield sub
    finally:
        listener.unsubscribe(sub)


async def close(state: Any) -> None:
    """Stop the app's listener, if any (for the app's lifespan shutdown)."""
    listener: PgListener | None = getattr(state, "live_listener", None)
    if listener is not None:
        await listener.close()


# --- the stream ----------------------------------------------------------------------------------------------


def _seconds_until(moment: datetime | None, clock: Callable[[], datetime]) -> float:
    return float("inf") if moment is None else (moment - clock()).total_seconds()


async def event_stream(state: Any, database_url: str, ballot_id: int, visible_until: datetime | None,
                       clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                       max_seconds: float = MAX_STREAM, heartbeat: float = HEARTBEAT) -> AsyncIterator[str]:
    """The text of a results stream (Server-Sent Events; module docstring). ``visible_until``: when the
    results may stop being visible (None: never), the stream then sends ``closed`` and ends. The first chunk
    is sent once the subscription is in place, so a change made after it arrives is never missed."""
    deadline = time.monotonic() + max_seconds
    async with subscription(state, database_url, ballot_id) as sub:
        yield f"retry: {RETRY_MS}\n: connected\n\n"
        while True:
            left_visible = _seconds_until(visible_until, clock)
            if left_visible <= 0:
                yield f"event: {CLOSED_EVENT}\ndata: closed\n\n"
                return
            left = min(deadline - time.monotonic(), left_visible)
            if left <= 0:
                return
            if await sub.wait(min(heartbeat, left)):
                yield f"event: {EVENT}\ndata: updated\n\n"
                await asyncio.sleep(MIN_INTERVAL)
            else:
                yield ": keep-alive\n\n"
