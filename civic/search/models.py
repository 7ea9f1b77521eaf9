"""The search index: one row per searchable item, holding its normalised text (issue #4, item 7).

PostgreSQL searches it through a GIN index on ``to_tsvector('simple', body)``; SQLite through the FTS5 table
``search_entries_fts`` (external content, kept in step by triggers). Both are created by migration 0005 and
left out of the model-drift check (civic.migrations.include_object).
"""

from __future__ import annotations

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from civic.db import Base

KINDS = ("consultation", "proposal", "petition")


class SearchEntry(Base):
    """kind: one of KINDS; item_id: that item's id; body: civic.search.normalise.index_text of its text."""

    __tablename__ = "search_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    item_id: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("uq_search_entries_kind_item", "kind", "item_id", unique=True),)
