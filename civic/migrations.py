"""Alembic, driven from code: the configuration lives here because the top level has no alembic.ini."""

from __future__ import annotations

import asyncio

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncSession

from civic.db import make_engine
from civic.settings import ROOT, Settings

# Search structures each dialect builds by hand in migration 0005, outside the models (civic.search.models).
HAND_MADE = ("search_entries_fts", "ix_search_entries_tsv")


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Alembic's filter: leave the hand-made search structures (and FTS5's shadow tables) out of comparisons."""
    return not (name or "").startswith(HAND_MADE)


def alembic_config(settings: Settings) -> Config:
    """Alembic configuration for this checkout's ``alembic/`` folder and the settings' database."""
    config = Config()
    config.set_main_option("script_location", str(ROOT / "alembic"))
    config.set_main_option("sqlalchemy.url", settings.database_url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest migration's revision id (what a migrated database records)."""
    config = Config()
    config.set_main_option("script_location", str(ROOT / "alembic"))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None, "no migrations found"
    return head


async def recorded_revision(session: AsyncSession) -> str | None:
    """The revision the database records; None when it has no ``alembic_version`` table (never migrated).

    Connection failures propagate (the web layer answers 503 for them).
    """
    try:
        async with session.begin():
            value = await session.scalar(text("SELECT version_num FROM alembic_version"))
    except (ProgrammingError, OperationalError) as exc:
        if isinstance(exc, OperationalError) and "no such table" not in str(exc):
            raise
        return None
    return str(value) if value is not None else None


async def _current(url: str) -> str | None:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            value = await conn.scalar(text("SELECT version_num FROM alembic_version"))
            return str(value) if value is not None else None
    except DBAPIError:
        return None  # no alembic_version table yet: an empty database
    finally:
        await engine.dispose()


def current_revision(settings: Settings) -> str | None:
    """The revision the database records, or None for an empty database."""
    return asyncio.run(_current(settings.database_url))


def upgrade(settings: Settings) -> tuple[str | None, str]:
    """Migrate the database to the newest revision (creates the SQLite file if needed); returns (from, to)."""
    before = current_revision(settings)
    command.upgrade(alembic_config(settings), "head")
    return before, head_revision()
