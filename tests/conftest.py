"""Fixtures: a real database (SQLite file or PostgreSQL, by CIVIC_TEST_DATABASE), migrated with Alembic,
territories loaded once; an app and an httpx client per test. No mocks.

CIVIC_TEST_DATABASE=sqlite (default) | postgres. With postgres, CIVIC_TEST_POSTGRES_URL points at a
database the tests may wipe; if it cannot be reached the run fails (it never skips).
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from civic.app import create_app
from civic.db import make_engine, make_sessionmaker
from civic.migrations import upgrade as db_upgrade
from civic.permissions import Actor
from civic.security import Keys
from civic.settings import Settings, load_settings
from civic.territories.service import load_territories

BACKEND = os.environ.get("CIVIC_TEST_DATABASE", "sqlite")
PG_URL = os.environ.get("CIVIC_TEST_POSTGRES_URL", "postgresql+asyncpg://civic:civic@127.0.0.1:5432/civic_test")
SECRET = secrets.token_urlsafe(48)
WIPE_TABLES = ("tally_sheet_counts", "tally_sheets", "ballot_choices", "cast_ballots", "published_receipts",
               "ballot_options", "ballot_questions", "ballots",
               "reports", "moderations", "user_blocks", "role_grants",
               "search_entries", "supports", "proposal_updates", "proposal_answers", "comments", "proposals",
               "meeting_registrations", "meetings", "consultation_documents", "phases", "consultations",
               "invalidated_signatures", "signature_invalidation_batches", "rate_limit_counters",  # issue #8: limits
               "pending_signatures", "signature_flags", "signatures", "petition_events", "petition_collectors",
               "petition_organisations",
               "outbox", "audit_events",
               "invitations", "petitions", "organisation_verifications", "organisation_members", "organisations",
               "email_verifications", "users")
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def _database_url(tmp: Path) -> str:
    if BACKEND == "postgres":
        return PG_URL
    if BACKEND != "sqlite":
        raise RuntimeError(f"CIVIC_TEST_DATABASE must be sqlite or postgres, not {BACKEND!r}")
    return f"sqlite+aiosqlite:///{tmp / 'test.db'}"


def _private_database(url: str) -> tuple[str, str]:
    """A fresh database ``<name>_<pid>`` next to the one ``url`` names, so several test runs (helpers, CI,
    a developer) can use one PostgreSQL server at once without wiping each other. Returns (its URL, its name)."""
    import asyncio

    import asyncpg

    base, _, name = url.rpartition("/")
    private = f"{name}_{os.getpid()}"

    async def create() -> None:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{private}"')
            await conn.execute(f'CREATE DATABASE "{private}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return f"{base}/{private}", private


def _drop_database(url: str, name: str) -> None:
    import asyncio

    import asyncpg

    async def drop() -> None:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings for the test database, migrated to head on a fresh schema (on PostgreSQL, a private database
    created for this run and dropped after it)."""
    url = _database_url(tmp_path_factory.mktemp("db"))
    private = None
    if BACKEND == "postgres":
        url, private = _private_database(url)
    s = load_settings({"CIVIC_DATABASE_URL": url, "CIVIC_SECRET_KEY": SECRET, "CIVIC_ENV": "test",
                       "CIVIC_UPLOAD_DIR": str(tmp_path_factory.mktemp("uploads"))})
    db_upgrade(s)
    yield s
    if private is not None:
        _drop_database(PG_URL, private)


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """The session-wide engine, with territories loaded once."""
    eng = make_engine(settings.database_url)
    async with make_sessionmaker(eng)() as session:
        await load_territories(session, settings.region)
    yield eng
    await eng.dispose()


@pytest.fixture
async def sessionmaker(engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A sessionmaker; every table but territories is emptied after the test."""
    maker = make_sessionmaker(engine)
    yield maker
    async with engine.begin() as conn:
        for table in WIPE_TABLES:
            await conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - fixed table names


@pytest.fixture
async def session(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One database session for a test."""
    async with sessionmaker() as s:
        yield s


@pytest.fixture
def keys(settings: Settings) -> Keys:
    """The derived keys of the test settings."""
    return Keys(settings.secret_key)


@pytest.fixture
async def app(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]):  # type: ignore[no-untyped-def]
    """The ASGI app on the test database."""
    application = create_app(settings)
    yield application
    await application.state.engine.dispose()


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    """An httpx client talking to the app in-process (no network)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


# --- helpers -------------------------------------------------------------------------------------------


async def make_user(session: AsyncSession, n: int, role: str = "citizen", commune: str = "05.091.01.01",
                    verified: bool = True) -> Actor:
    """Insert a made-up user directly (no argon2, to keep tests fast) and return its actor; its email is
    verified unless ``verified`` is False (issue #8, item 4)."""
    at = NOW.replace(tzinfo=None) if BACKEND == "sqlite" else NOW
    result = await session.execute(text(
        "INSERT INTO users (display_name, email, password_hash, role, commune_code, session_nonce, created_at, "
        "email_verified_at) VALUES (:n, :e, 'x', :r, :c, :nonce, :t, :v) RETURNING id"
    ), {"n": f"User {n}", "e": f"user{n}-{secrets.token_hex(4)}@test.invalid", "r": role, "c": commune,
        "nonce": secrets.token_hex(8), "t": at, "v": at if verified else None})
    user_id = int(result.scalar_one())
    await session.commit()
    return Actor(user_id, role, f"User {n}", email_verified=verified)


async def mailed_code(app, address: str) -> str:  # type: ignore[no-untyped-def]
    """The code in the latest verification mail queued for ``address`` (issue #8, item 4), read from the outbox
    table of the app's database: the mail the person would get."""
    async with app.state.sessionmaker() as s:
        body = await s.scalar(text(
            "SELECT body FROM outbox WHERE to_address = :a AND purpose = 'accounts:verify_email' "
            "ORDER BY id DESC LIMIT 1"), {"a": address.strip().lower()})
    match = re.search(r"\b(\d{8})\b", body or "")
    assert match, "no verification code was mailed to this address"
    return match.group(1)


def csrf_from(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)
