"""Paged lists shared by consultations, proposals and search: page numbers, sort orders, a stable random order.

Every order ends with the row id, so it is total: paging through it yields each item exactly once while the
data does not change (issue #4, item 8). The random order is a permutation of ids keyed by a per-visitor seed:
``(id * a + b) mod PRIME``, with ``a`` (1 ≤ a < PRIME) and ``b`` drawn from SHA-256 of the seed, so that even
neighbouring seeds give unrelated orders (a fixed multiplier would make every order a rotation of one sequence).
PRIME is prime and larger than any id (ids are PostgreSQL integers, < 2**31) and ``a`` is not a multiple of it,
so distinct ids get distinct keys and the order is the same on every page and both databases.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import BigInteger, ColumnElement, cast, literal

T = TypeVar("T")

PRIME = 2_147_483_659  # the smallest prime above 2**31
DEFAULT_PER_PAGE = 10
MAX_PAGE = 10_000


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list. number: 1-based; per_page: items per page; total: items in the whole list."""

    items: list[T]
    number: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        """How many pages the list has (at least 1)."""
        return max(1, -(-self.total // self.per_page))

    @property
    def has_previous(self) -> bool:
        """True unless this is the first page."""
        return self.number > 1

    @property
    def has_next(self) -> bool:
        """True unless this is the last page."""
        return self.number < self.pages

    @property
    def offset(self) -> int:
        """Rows skipped before this page."""
        return (self.number - 1) * self.per_page


def page_number(value: str | None) -> int:
    """A page number from the query string: 1 when missing or not a number, at most MAX_PAGE."""
    try:
        number = int(value or "1")
    except ValueError:
        return 1
    return min(max(number, 1), MAX_PAGE)


def new_seed() -> int:
    """A fresh random seed for one visitor's random order, 0 ≤ seed < PRIME."""
    return secrets.randbelow(PRIME)


def seed_from(value: Any) -> int:
    """A seed kept in the visitor's session, or a new one when it is missing or invalid."""
    return value if isinstance(value, int) and 0 <= value < PRIME else new_seed()


def random_key(id_column: ColumnElement[int], seed: int) -> ColumnElement[int]:
    """The SQL expression ordering rows by the visitor's random permutation (same on every page)."""
    # 64-bit arithmetic: an int4 product would overflow on PostgreSQL.
    digest = hashlib.sha256(str(seed).encode()).digest()
    multiplier = int.from_bytes(digest[:8], "big") % (PRIME - 1) + 1
    offset = int.from_bytes(digest[8:16], "big") % PRIME
    big = cast(id_column, BigInteger)
    return (big * literal(multiplier, BigInteger) + literal(offset, BigInteger)) % literal(PRIME, BigInteger)
