"""Append-only audit log; each event carries the hash of the previous one (design.md, layout; issue #6, item 5).

The chain is extended under a lock: ``pg_advisory_xact_lock`` on PostgreSQL (holds across processes and is
released at commit); on SQLite every transaction starts with BEGIN IMMEDIATE (civic.db), so writers are
serialised until commit.

"From where": a web request's client address is put in a context variable by
``civic.web.middleware.ClientOriginMiddleware`` (the address the ASGI server resolved, which believes
X-Forwarded-For only from ``CIVIC_TRUSTED_PROXIES``); ``record`` reads it, so services need not pass it.
CLI and scheduled jobs run outside a request: their events have no origin (NULL).
"""

from __future__ import annotations

import hashlib
import json
from contextvars import ContextVar, Token
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from civic.db import Base, UtcDateTime, dialect_name, reading

_AUDIT_LOCK_KEY = 0x43495643  # "CIVC"
GENESIS = "0" * 64
ORIGIN_MAX = 64  # the column's length; an IPv6 address with a zone fits

_origin: ContextVar[str | None] = ContextVar("civic_audit_origin", default=None)


class AuditEvent(Base):
    """One audit event. detail: JSON text with no secret (never a CNIE, password, token or email).

    origin: the client address of the request that caused the event, None for CLI and scheduled jobs.
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(60))
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    origin: Mapped[str | None] = mapped_column(String(64))  # client address of the request ("from where")

    # For the admin page's filters (civic.audit_log), newest first by id.
    __table_args__ = (
        Index("ix_audit_events_action", "action", "id"),
        Index("ix_audit_events_subject", "subject_type", "subject_id", "id"),
        Index("ix_audit_events_actor", "actor_id", "id"),
        Index("ix_audit_events_at", "at"),
    )


def set_origin(address: str | None) -> Token[str | None]:
    """Make ``address`` (a client IP address, or None) the origin of the events recorded in the current context.

    Returns the token for ``reset_origin``. Longer values are cut to the column's 64 characters.
    """
    return _origin.set(address[:ORIGIN_MAX] if address else None)


def reset_origin(token: Token[str | None]) -> None:
    """Restore the origin that was current before ``set_origin`` returned ``token``."""
    _origin.reset(token)


def current_origin() -> str | None:
    """The origin events recorded now would get (None outside a web request)."""
    return _origin.get()


def event_hash(prev_hash: str, at: datetime, actor_id: int | None, action: str, subject_type: str,
               subject_id: str, detail: str, origin: str | None = None) -> str:
    """SHA-256 hex of the previous hash and this event's fields, in a fixed canonical JSON form.

    The origin is part of the hashed payload only when it is not None, so events written before the origin
    existed (migration 0006) keep verifying with the same hash (issue #6, item 5).
    """
    fields: list[object] = [prev_hash, at.isoformat(), actor_id, action, subject_type, subject_id, detail]
    if origin is not None:
        fields.append(origin)
    payload = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


async def record(session: AsyncSession, *, actor_id: int | None, action: str, subject_type: str,
                 subject_id: str | int, now: datetime, detail: dict[str, Any] | None = None) -> None:
    """Append an audit event inside the caller's open transaction.

    action: ``<domain>:<verb>``, e.g. ``signatures:view_personal``. detail must hold no personal secret.
    The origin is the current request's client address (``set_origin``), None outside a request.
    """
    detail_text = json.dumps(detail or {}, ensure_ascii=False, sort_keys=True)
    if dialect_name(session) == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _AUDIT_LOCK_KEY})
    await _append(session, actor_id, action, subject_type, str(subject_id), now.astimezone(UTC), detail_text,
                  _origin.get())


async def _append(session: AsyncSession, actor_id: int | None, action: str, subject_type: str,
                  subject_id: str, now: datetime, detail: str, origin: str | None) -> None:
    prev = await session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    prev_hash = prev or GENESIS
    digest = event_hash(prev_hash, now, actor_id, action, subject_type, subject_id, detail, origin)
    await session.execute(insert(AuditEvent).values(
        at=now, actor_id=actor_id, action=action, subject_type=subject_type, subject_id=subject_id,
        detail=detail, prev_hash=prev_hash, hash=digest, origin=origin,
    ))


@dataclass(frozen=True)
class BrokenEntry:
    """The first event whose hash or link to the previous event is wrong: its id, time (UTC) and action."""

    id: int
    at: datetime
    action: str


@dataclass(frozen=True)
class ChainStatus:
    """The result of checking the chain: how many events were found intact, and the first broken one (or None).

    ``checked`` counts the events before the broken one (all of them when the chain is intact).
    """

    checked: int
    broken: BrokenEntry | None

    @property
    def intact(self) -> bool:
        """True when no event is broken."""
        return self.broken is None


_CHAIN_COLUMNS = (AuditEvent.id, AuditEvent.at, AuditEvent.actor_id, AuditEvent.action, AuditEvent.subject_type,
                  AuditEvent.subject_id, AuditEvent.detail, AuditEvent.origin, AuditEvent.prev_hash,
                  AuditEvent.hash)


async def check_chain(session: AsyncSession, batch: int = 1000) -> ChainStatus:
    """Walk the whole log in id order and check every event's link and hash (issue #6, item 5).

    Streams plain rows over a server-side cursor (``batch`` at a time), so memory stays constant whatever
    the log's size. An altered row breaks its own hash; a deleted row breaks the next event's link.
    (Removing the newest events cannot be seen from the chain alone.)
    """
    prev_hash = GENESIS
    checked = 0
    async with reading(session):
        result = await session.stream(select(*_CHAIN_COLUMNS).order_by(AuditEvent.id)
                                      .execution_options(yield_per=batch))
        try:
            async for partition in result.partitions(batch):
                for row in partition:
                    expected = event_hash(prev_hash, row.at, row.actor_id, row.action, row.subject_type,
                                          row.subject_id, row.detail, row.origin)
                    if row.prev_hash != prev_hash or row.hash != expected:
                        return ChainStatus(checked, BrokenEntry(row.id, row.at, row.action))
                    prev_hash = row.hash
                    checked += 1
        finally:
            await result.close()
    return ChainStatus(checked, None)


async def verify_chain(session: AsyncSession) -> int | None:
    """Return the id of the first event whose hash or link is wrong, or None when the chain is intact."""
    status = await check_chain(session)
    return status.broken.id if status.broken else None
