"""Tables of batch invalidation: signatures council staff set aside as a scripted burst (issue #8, item 4).

An invalidated signature is moved out of ``signatures`` (so every count drops at once: counts come from that
table, design.md "Counting without a hot row") into ``invalidated_signatures``, with the batch that moved it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, LargeBinary, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from civic.db import Base, UtcDateTime


class SignatureInvalidationBatch(Base):
    """One decision of council staff to invalidate a group of signatures of a petition.

    reason: the recorded reason (10–500 characters, required). criterion: what was selected, as text, e.g.
    ``client=c-1a2b3c4d since=2026-11-20T09:00:00Z until=2026-11-20T10:00:00Z`` (civic.petitions.abuse).
    count: how many signatures were moved. actor_id: the staff member; at: when (UTC).
    """

    __tablename__ = "signature_invalidation_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id"))
    reason: Mapped[str] = mapped_column(Text)
    criterion: Mapped[str] = mapped_column(String(300))
    count: Mapped[int]
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_signature_invalidation_batches_petition", "petition_id", "at"),)


class InvalidatedSignature(Base):
    """A signature moved out of the count by a batch: the same columns as civic.petitions.models.Signature
    (``signature_id`` is its former id) plus ``batch_id``. Personal fields stay encrypted as they were, for the
    council's examination and the retention rules (shared/domain.md §3)."""

    __tablename__ = "invalidated_signatures"

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("signature_invalidation_batches.id"))
    signature_id: Mapped[int]
    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    full_name: Mapped[str] = mapped_column(String(150))
    cnie_hmac: Mapped[str] = mapped_column(String(64))
    cnie_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    commune_code: Mapped[str] = mapped_column(ForeignKey("territories.code"))
    province_code: Mapped[str] = mapped_column(String(10))
    electoral_declaration: Mapped[bool] = mapped_column(Boolean)
    consent_at: Mapped[datetime] = mapped_column(UtcDateTime())
    channel: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    entered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    paper_sheet_ref: Mapped[str | None] = mapped_column(String(100))
    public_name: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    client_hash: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_invalidated_signatures_batch", "batch_id"),
        Index("ix_invalidated_signatures_petition", "petition_id", "cnie_hmac"),
    )
