"""Rate limits kept in the database, so every app process shares them (issue #8, item 4).

design.md, "Scaling past one machine": app processes are stateless and rate-limit state goes through
PostgreSQL (or the embedded SQLite file). Rules keep the ``limits`` notation (``10/5minutes``, ``30/hour``,
parsed by ``limits.parse``) and the fixed-window strategy: time is cut into windows of the rule's length,
aligned on the epoch, and each (key, window) has one counter row in ``rate_limit_counters``.

- One attempt is one statement in its own short transaction:
  ``INSERT … ON CONFLICT (key, window_start) DO UPDATE SET hits = hits + 1 RETURNING hits``.
- No raw personal data is stored: the key is ``keys.keyed_hash("ratelimit", "<limiter name>|<identifiers…>")``,
  so client addresses, emails and CNIE hashes given as identifiers never reach the table in clear.
- No hot row: every identifier (an account, a CNIE, an address) has its own rows. There is deliberately no
  per-address limit on signing (a carrier NAT or a cybercafé would be one row locking 50 people out);
  bursts by address are shown to staff instead (civic.petitions.abuse).
- Expired windows are deleted by the limiters themselves, now and then: after about one hit in
  ``PURGE_EVERY`` (random), in a separate short transaction; ``purge_expired`` does the same on demand.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from limits import parse
from sqlalchemy import BigInteger, Index, Integer, String, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from civic.db import READ_ONLY_OPTION, Base
from civic.security import Keys

PURGE_EVERY = 1000  # on average one hit in PURGE_EVERY also deletes the expired windows
KEY_LABEL = "ratelimit"  # the HMAC label of counter keys (civic.security.Keys.keyed_hash)


class RateLimitCounter(Base):
    """Hits of one key in one fixed window.

    key: hex HMAC-SHA256 of ``<limiter name>|<identifiers joined by |>`` (never the identifiers themselves).
    window_start: start of the window, whole seconds since the epoch (UTC). hits: attempts counted in it.
    expires_at: window_start + the rule's length, epoch seconds; rows with expires_at <= now are dead and purged.
    """

    __tablename__ = "rate_limit_counters"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hits: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_rate_limit_counters_expires_at", "expires_at"),)


class RateLimiter:
    """A fixed-window rate limit shared by every process through the database.

    name: the limiter's purpose (``login``, ``sign``, …), part of every key, so two limiters never share a
    counter. rule: ``limits`` notation, e.g. ``"10/5minutes"`` (raises ValueError when malformed).
    engine: the app's engine (each hit borrows a pooled connection for one statement). keys: the app's derived
    keys, for hashing identifiers. clock: seconds since the epoch (default ``time.time``; tests inject one).
    purge_every: on average one hit in this many also deletes expired windows (0: never).
    """

    def __init__(self, name: str, rule: str, engine: AsyncEngine, keys: Keys,
                 clock: Callable[[], float] = time.time, purge_every: int = PURGE_EVERY) -> None:
        self.name = name
        self._item = parse(rule)
        self._engine = engine
        self._keys = keys
        self._clock = clock
        self._purge_every = purge_every

    @property
    def amount(self) -> int:
        """Attempts allowed per window."""
        return int(self._item.amount)

    @property
    def window_seconds(self) -> int:
        """Length of a window in seconds (e.g. 300 for ``10/5minutes``)."""
        return int(self._item.get_expiry())

    def key_for(self, *identifiers: str) -> str:
        """The stored key of ``identifiers``: a keyed hash, so no raw identifier is ever stored."""
        return self._keys.keyed_hash(KEY_LABEL, "|".join((self.name, *identifiers)))

    def _window(self, now: float | None) -> tuple[int, int]:
        moment = int(self._clock() if now is None else now)
        start = moment - moment % self.window_seconds
        return moment, start

    async def hit(self, *identifiers: str, now: float | None = None) -> bool:
        """Count one attempt for ``identifiers``; False when this attempt is over the limit.

        now: epoch seconds (default the clock). One upsert in its own transaction; with PostgreSQL concurrent
        hits on one key queue on its row for the statement only, never across a request.
        """
        moment, start = self._window(now)
        counter = RateLimitCounter
        async with self._engine.begin() as conn:
            dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            upsert = dialect_insert(counter).values(
                key=self.key_for(*identifiers), window_start=start, hits=1, expires_at=start + self.window_seconds,
            ).on_conflict_do_update(index_elements=[counter.key, counter.window_start],
                                    set_={"hits": counter.hits + 1})
            hits = int((await conn.execute(upsert.returning(counter.hits))).scalar_one())
        if self._purge_every and random.randrange(self._purge_every) == 0:  # not for security: spreads the purge
            await purge_expired(self._engine, moment)
        return hits <= self.amount

    async def allows(self, *identifiers: str, now: float | None = None) -> bool:
        """True while ``identifiers`` are under the limit in the current window; counts nothing (for limits on
        failures only, e.g. failed sign-ins). now: epoch seconds (default the clock)."""
        _moment, start = self._window(now)
        counter = RateLimitCounter
        async with self._engine.connect() as conn:
            await conn.execution_options(**{READ_ONLY_OPTION: True})  # SQLite: a deferred BEGIN (civic.db)
            hits = await conn.scalar(select(counter.hits).where(
                counter.key == self.key_for(*identifiers), counter.window_start == start))
            await conn.rollback()
        return int(hits or 0) < self.amount


async def purge_expired(engine: AsyncEngine, now: float) -> int:
    """Delete every counter whose window ended at or before ``now`` (epoch seconds); returns how many."""
    async with engine.begin() as conn:
        result = await conn.execute(delete(RateLimitCounter).where(RateLimitCounter.expires_at <= int(now)))
    return int(result.rowcount or 0)
