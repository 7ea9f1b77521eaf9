"""Keeping the search index and querying it, the same way on PostgreSQL and SQLite (issue #4, item 7).

Services call ``index_item`` inside their own transaction whenever a searchable item's text changes, and
``remove_item`` when it is deleted. Lists filter with ``matching_ids``; visibility (hidden, withdrawn, draft)
is always decided by the caller's own query, so a stale index entry can never reveal anything. The search
page and its API call ``search_all``, which joins each kind's own table to apply that kind's visibility rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    SQLColumnExpression,
    String,
    case,
    cast,
    delete,
    func,
    literal_column,
    null,
    select,
    text,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from civic.consultations.models import Consultation
from civic.db import dialect_name, reading
from civic.i18n import N_
from civic.listing import DEFAULT_PER_PAGE, Page
from civic.permissions import Actor
from civic.petitions.models import Petition
from civic.proposals.models import Proposal
from civic.search.models import KINDS, SearchEntry
from civic.search.normalise import index_text, query_terms
from civic.text import clean_text

QUERY_MAX = 200  # characters of a query that are searched; the rest is cut (issue #4, item 7)
EXCERPT_MAX = 200  # characters of an item's text shown under its title
NO_WORDS = N_("Your search has no letters or digits to look for. Please type one or more words.")


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


@dataclass(frozen=True)
class SearchHit:
    """One search result. kind: one of KINDS; date: when a consultation or proposal was created, when a petition
    was published (UTC); excerpt: the start of its text (plain text, at most EXCERPT_MAX characters and an
    ellipsis); consultation_id/consultation_title: the consultation a proposal belongs to (None otherwise)."""

    kind: str
    id: int
    title: str
    excerpt: str
    date: datetime
    consultation_id: int | None = None
    consultation_title: str | None = None


@dataclass(frozen=True)
class SearchResults:
    """What ``search_all`` answers.

    query: the query searched (clean, trimmed, at most QUERY_MAX characters; '' when none was given).
    kind: the kind the results are limited to, or None for all three. page: the page of results shown.
    counts: visible matches of each kind (for the filter), whatever ``kind`` is.
    message: a msgid when the query could not be searched (no letters or digits), else None.
    """

    query: str
    kind: str | None
    page: Page[SearchHit]
    counts: dict[str, int] = field(default_factory=dict)
    message: str | None = None

    @property
    def searched(self) -> bool:
        """True when a query was given and had words to look for."""
        return bool(self.query) and self.message is None

    @property
    def total(self) -> int:
        """Matches of every kind."""
        return sum(self.counts.values())


def clean_query(query: str | None) -> str:
    """A query as typed, without unsafe characters, white space collapsed, cut at QUERY_MAX characters."""
    return " ".join(clean_text(query)[:QUERY_MAX * 2].split())[:QUERY_MAX].strip()


def _excerpt(value: str) -> str:
    words = " ".join(value.split())
    if len(words) <= EXCERPT_MAX:
        return words
    cut = words[:EXCERPT_MAX]
    space = cut.rfind(" ")
    return (cut[:space] if space > EXCERPT_MAX // 2 else cut).rstrip(" ,.;:،؛") + "…"


def _head(column: SQLColumnExpression[str]) -> ColumnElement[str]:
    # Enough text for an excerpt, without fetching whole bodies.
    return func.substr(column, 1, EXCERPT_MAX * 2)


def _row(rank: int, kind: str, *columns: Any) -> Select[*tuple[Any, ...]]:
    names = ("id", "title", "excerpt", "date", "consultation_id", "consultation_title")
    return select(literal_column(str(rank), Integer).label("rank"), literal_column(f"'{kind}'", String).label("kind"),
                  *(column.label(name) for column, name in zip(columns, names, strict=True)))


def _kind_select(session: AsyncSession, kind: str, query: str) -> Select[*tuple[Any, ...]]:
    """The visible items of ``kind`` matching ``query``, as rows (rank, kind, id, title, excerpt, date,
    consultation_id, consultation_title): the same columns for every kind, so they can be put together."""
    # Imported here: these services import this module to index their items (no import cycle either way).
    from civic.petitions.service import public_petitions
    from civic.proposals.service import visible_proposals

    ids = matching_ids(session, kind, query)
    assert ids is not None  # search_all only asks when the query has words
    no_id, no_title = cast(null(), Integer), cast(null(), String)
    if kind == "consultation":
        summary = case((Consultation.summary != "", Consultation.summary), else_=Consultation.body)
        return _row(0, kind, Consultation.id, Consultation.title, _head(summary), Consultation.created_at,
                    no_id, no_title).where(Consultation.id.in_(ids))
    if kind == "proposal":
        return _row(1, kind, Proposal.id, Proposal.title, _head(Proposal.body), Proposal.created_at,
                    Consultation.id, Consultation.title).join(
            Consultation, Consultation.id == Proposal.consultation_id).where(Proposal.id.in_(ids), visible_proposals())
    return _row(2, kind, Petition.id, Petition.title, _head(Petition.body), Petition.published_at,
                no_id, no_title).where(Petition.id.in_(ids), public_petitions())


async def search_all(session: AsyncSession, actor: Actor, query: str | None, kind: str | None, page: int,
                     now: datetime, per_page: int = DEFAULT_PER_PAGE) -> SearchResults:
    """Search consultations, proposals and petitions (issue #4, item 7), ``per_page`` results a page.

    query: as typed; cleaned and cut at QUERY_MAX characters; its words are folded like the index
    (civic.search.normalise) and every word must match the start of a word of the item (AND). kind: one of
    KINDS to search only that kind; anything else searches all three. page: 1-based, clamped to the last page.
    Everyone may search and everyone gets the same answer (``actor`` and ``now`` are taken for the service
    convention only): only what anyone may see is found, decided by each kind's own rule: every consultation;
    proposals passing civic.proposals.service.visible_proposals (not hidden, not withdrawn); petitions passing
    civic.petitions.service.public_petitions (published, public status). Order (total, so pages never repeat or
    skip an item): consultations, then proposals, then petitions; newest first; then by id.
    An empty query, or one with no letters or digits (``message`` set), finds nothing. Raises nothing of its own.
    """
    text_query = clean_query(query)
    chosen = kind if kind in KINDS else None
    if not text_query:
        return SearchResults("", chosen, Page([], 1, per_page, 0), dict.fromkeys(KINDS, 0))
    if not query_terms(text_query):
        return SearchResults(text_query, chosen, Page([], 1, per_page, 0), dict.fromkeys(KINDS, 0), NO_WORDS)
    async with reading(session):
        selects = {k: _kind_select(session, k, text_query) for k in KINDS}
        counts = {}
        for k, stmt in selects.items():
            counts[k] = int(await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
        total = counts[chosen] if chosen else sum(counts.values())
        number = max(1, min(page, -(-total // per_page)))
        shown = [selects[chosen]] if chosen else list(selects.values())
        rows = union_all(*shown).subquery() if len(shown) > 1 else shown[0].subquery()
        result = await session.execute(
            select(rows).order_by(rows.c.rank, rows.c.date.desc(), rows.c.id.desc())
            .limit(per_page).offset((number - 1) * per_page)
        )
        hits = [SearchHit(kind=row.kind, id=row.id, title=row.title, excerpt=_excerpt(row.excerpt or ""),
                          date=row.date, consultation_id=row.consultation_id,
                          consultation_title=row.consultation_title) for row in result]
    return SearchResults(text_query, chosen, Page(hits, number, per_page, total), counts)
