"""Append-only audit log; each event carries the hash of the previous one (design.md, layout).

The chain is extended under a lock: ``pg_advisory_xact_lock`` on PostgreSQL (holds across processes and is
released at commit); on SQLite every transaction starts with BEGIN IMMEDIATE (civic.db), so writers are
serialised until commit.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from civic.db import Base, UtcDateTime, dialect_name

_AUDIT_LOCK_KEY = 0x43495643  # "CIVC"
GENESIS = "0" * 64


class AuditEvent(Base):
    """One audit event. detail: JSON text with no secret (never a CNIE, password, token or email)."""

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


def event_hash(prev_hash: str, at: datetime, actor_id: int | None, action: str, subject_type: str,
               subject_id: str, detail: str) -> str:
    """SHA-256 hex of the previous hash and this event's fields, in a fixed canonical JSON form."""
    payload = json.dumps(
        [prev_hash, at.isoformat(), actor_id, action, subject_type, subject_id, detail],
        ensure_ascii=False, separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()


async def record(session: AsyncSession, *, actor_id: int | None, action: str, subject_type: str,
                 subject_id: str | int, now: datetime, detail: dict[str, Any] | None = None) -> None:
    """Append an audit event inside the caller's open transaction.

    action: ``<domain>:<verb>``, e.g. ``signatures:view_personal``. detail must hold no personal secret.
    """
    detail_text = json.dumps(detail or {}, ensure_ascii=False, sort_keys=True)
    if dialect_name(session) == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _AUDIT_LOCK_KEY})
    await _append(session, actor_id, action, subject_type, str(subject_id), now, detail_text)


async def _append(session: AsyncSession, actor_id: int | None, action: str, subject_type: str,
                  subject_id: str, now: datetime, detail: str) -> None:
    prev = await session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    prev_hash = prev or GENESIS
    digest = event_hash(prev_hash, now, actor_id, action, subject_type, subject_id, detail)
    await session.execute(insert(AuditEvent).values(
        at=now, actor_id=actor_id, action=action, subject_type=subject_type, subject_id=subject_id,
        detail=detail, prev_hash=prev_hash, hash=digest,
    ))


async def verify_chain(session: AsyncSession) -> int | None:
    """Return the id of the first event whose hash or link is wrong, or None when the chain is intact."""
    prev_hash = GENESIS
    rows = await session.stream(select(AuditEvent).order_by(AuditEvent.id))
    async for (event,) in rows:
        expected = event_hash(prev_hash, event.at, event.actor_id, event.action, event.subject_type,
                              event.subject_id, event.detail)
        if event.prev_hash != prev_hash or event.hash != expected:
            return event.id
        prev_hash = event.hash
    return None
