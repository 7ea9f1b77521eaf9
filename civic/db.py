"""Database plumbing shared by every domain: declarative base, engine and sessions for both dialects."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, MetaData, TypeDecorator, event
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


READ_ONLY_OPTION = "civic_read_only"


class Base(DeclarativeBase):
    """Declarative base of every model, with a naming convention so migrations name constraints the same way."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on both dialects (SQLite stores naive text, PostgreSQL timestamptz).

    Raises ValueError when given a naive datetime: every ``now`` in Civic is aware (shared/domain.md §4, time zone).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def make_engine(url: str) -> AsyncEngine:
    """Create the async engine: a small pool on PostgreSQL (design.md: 4–8 per process), WAL on SQLite."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Take transaction control from the driver (which would BEGIN only at the first write, leaving
            # earlier reads unisolated), so that every transaction starts with BEGIN IMMEDIATE below.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(connection: Any) -> None:
            # SQLite has no row locks (SELECT … FOR UPDATE is ignored): one writer at a time, from the start of
            # the transaction, gives decisions, acceptances and the audit chain the same guarantees as
            # PostgreSQL's row locks. Read-only transactions (``reading``) begin deferred and run alongside.
            read_only = connection.get_execution_options().get(READ_ONLY_OPTION)
            connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    # issue #8: faults — 8 + 4 connections per process (README, Production layout: processes × 12 must stay under
    # max_connections); pre-ping replaces connections a database restart killed; a request waits at most 10 s
    # for a free connection and a new connection at most 5 s (asyncpg's default is 60 s), then gets the 503 page.
    return create_async_engine(url, pool_size=8, max_overflow=4, pool_pre_ping=True, pool_timeout=10,
                               connect_args={"timeout": 5})


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded values after commit, so a view can render what a service returned."""
    return async_sessionmaker(engine, expire_on_commit=False)


def utcnow() -> datetime:
    """The current time, aware, in UTC. Only views and the CLI call this; services take ``now``."""
    return datetime.now(UTC)


def import_all_models() -> None:
    """Import every domain's models so ``Base.metadata`` is complete (Alembic, tests)."""
    import civic.accounts.models
    import civic.audit
    import civic.consultations.models
    import civic.moderation.models
    import civic.notifications.models
    import civic.organisations.models
    import civic.petitions.abuse_models  # issue #8: limits
    import civic.petitions.models
    import civic.proposals.models
    import civic.ratelimits  # issue #8: limits
    import civic.search.models
    import civic.territories.models
    import civic.votes.models  # noqa: F401


@asynccontextmanager
async def reading(session: AsyncSession) -> AsyncIterator[None]:
    """Run reads in their own short transaction, or inside the caller's when one is open.

    Read services use this so they never leave an implicit transaction open behind them (services that
    write use ``session.begin()`` and would otherwise find one already begun).
    """
    if session.in_transaction():
        yield
    else:
        async with session.begin():
            await session.connection(execution_options={READ_ONLY_OPTION: True})
            yield


def dialect_name(session: AsyncSession) -> str:
    """``postgresql`` or ``sqlite``: the dialect behind a session (for dialect-specific INSERT … ON CONFLICT)."""
    return session.get_bind().dialect.name
