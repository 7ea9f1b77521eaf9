"""Keeping the search index and querying it, the same way on PostgreSQL and SQLite (issue #4, item 7).

Services call ``index_item`` inside their own transaction whenever a searchable item's text changes, and
``remove_item`` when it is deleted. Lists filter with ``matching_ids``; visibility (hidden, withdrawn, draft)
is always decided by the caller's own query, so a stale index entry can never reveal anything.
"""

from __future__ import annotations

from sqlalchemy import Select, delete, func, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from civic.db import dialect_name
from civic.search.models import KINDS, SearchEntry
from civic.search.normalise import index_text, query_terms


async def index_item(session: AsyncSession, kind: str, item_id: int, *parts: str) -> None:
    """Store the normalised text of ``parts`` for item ``(kind, item_id)``, replacing any earlier entry.

    kind: one of civic.search.models.KINDS (ValueError otherwise). Runs in the caller's transaction.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown search kind {kind!r}")
    await remove_item(session, kind, item_id)
    session.add(SearchEntry(kind=kind, item_id=item_id, body=index_text(*parts)))
    await session.flush()


async def remove_item(session: AsyncSession, kind: str, item_id: int) -> None:
    """Delete the index entry of ``(kind, item_id)`` if there is one (caller's transaction)."""
    await session.execute(delete(SearchEntry).where(SearchEntry.kind == kind, SearchEntry.item_id == item_id))


def matching_ids(session: AsyncSession, kind: str, query: str) -> Select[int] | None:
    """A SELECT of the ids of ``kind`` items whose text contains every word of ``query`` (as a word prefix).

    Returns None when the query has no words (the caller then applies no search filter). PostgreSQL: full-text
    search with the ``simple`` configuration through the GIN index ``ix_search_entries_tsv``; SQLite: FTS5.
    """
    terms = query_terms(query)
    if not terms:
        return None
    if dialect_name(session) == "postgresql":
        tsquery = " & ".join(f"{term}:*" for term in terms)
        vector = func.to_tsvector(literal_column("'simple'"), SearchEntry.body)
        condition = vector.op("@@")(func.to_tsquery(literal_column("'simple'"), tsquery))
        return select(SearchEntry.item_id).where(SearchEntry.kind == kind, condition)
    fts_query = " ".join(f'"{term}"*' for term in terms)
    matched = text("SELECT rowid FROM search_entries_fts WHERE search_entries_fts MATCH :q").bindparams(q=fts_query)
    return select(SearchEntry.item_id).where(
        SearchEntry.kind == kind, SearchEntry.id.in_(matched.columns(literal_column("rowid")))
    )
