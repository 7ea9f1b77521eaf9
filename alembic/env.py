"""Alembic environment: async engines for both dialects, batch mode on SQLite (design.md, migrations)."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from civic.db import Base, import_all_models, make_engine
from civic.migrations import include_object

import_all_models()
target_metadata = Base.metadata
config = context.config


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url is not set"
    engine = make_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(_configure)
    await engine.dispose()


def run_migrations_online() -> None:
    """Run migrations with the URL set by ``civic db upgrade`` (or the caller's connection)."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
    else:
        asyncio.run(_run_async())


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `civic db upgrade`")
run_migrations_online()
