"""Petition and signature tables.

Counting (design.md, "Counting without a hot row"): there is no counter column. Counts come from the
append-only ``signatures`` table through the ``(petition_id, province_code)`` index.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, LargeBinary, String, Text, false, text
from sqlalchemy.orm import Mapped, mapped_column

from civic.db import Base, UtcDateTime
from civic.i18n import N_

STATUSES = (
    "draft", "collecting", "submitted", "under_examination", "admissible", "inadmissible",
    "answered", "closed", "withdrawn", "expired",
)
ADDRESSEES = ("council", "body_equality", "body_youth", "body_economic")
# Signature channels; the labels are msgids shown to staff (domain.md §2, paper and assisted signing).
CHANNELS = (N_("online"), N_("paper"), N_("assisted"))


class Petition(Base):
    """A petition to the regional council or one of its consultative bodies (art. 117 of 111-14).

    kind: ``citizen`` | ``association`` (filed by a verified organisation's legal representative).
    addressed_to: one of ADDRESSEES. status: one of STATUSES (domain.md §2 lifecycle, civic.petitions.lifecycle).
    threshold, province_minimum, require_electoral_registration: the rule set in force when the petition was
    published, stored so a later change of settings never changes it (domain.md §2).
    agent_id, deputy_id: the agent (وكيل) and deputy who follow the procedure; for an association the agent is
    its legal representative.
    receipt_number, receipt_digest, submitted_count: the receipt given at submission (SHA-256 of the content).
    examination_due_at: receipt + 2 months for a region (domain.md §2), by which the bureau must decide.
    easy_read: an optional plain-language summary, shown first (issue #7: 32% of the region cannot read
    easily; short sentences also help screen-reader and "listen" users).
    """

    __tablename__ = "petitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="citizen")
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    addressed_to: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="draft")
    region_code: Mapped[str] = mapped_column(String(2))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    collection_ends_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    threshold: Mapped[int | None]
    province_minimum: Mapped[int | None]
    require_electoral_registration: Mapped[bool | None] = mapped_column(Boolean)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    deputy_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    receipt_number: Mapped[str | None] = mapped_column(String(40), unique=True)
    hidden_at: Mapped[datetime | None] = mapped_column(UtcDateTime())  # moderation (issue #6)
    hidden_reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    receipt_digest: Mapped[str | None] = mapped_column(String(64))
    submitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    submitted_count: Mapped[int | None]
    examination_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    decision_reasons: Mapped[str | None] = mapped_column(Text)
    session_label: Mapped[str | None] = mapped_column(String(200))
    committee: Mapped[str | None] = mapped_column(String(200))
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    anonymised_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    easy_read: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_petitions_status_created", "status", "created_at"),)


class PetitionEvent(Base):
    """One step of a petition's public timeline: a status change, who made it, and its public note."""

    __tablename__ = "petition_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id"))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    from_status: Mapped[str] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_petition_events_petition", "petition_id", "id"),)


class Signature(Base):
    """One person's signature on one petition.

    cnie_hmac: HMAC-SHA256 of the normalised CNIE (hex); unique per petition, whatever the channel.
    cnie_encrypted: Fernet token of the normalised CNIE; only council staff see it, audited (domain.md §3).
    province_code: province of the signatory's commune, kept for the per-province spread.
    channel: ``online`` | ``paper`` | ``assisted``. entered_by_id and paper_sheet_ref: who typed a paper or
    assisted signature in, and the sheet it came from (domain.md §2). public_name: the signatory agreed to
    their name being listed publicly. After the retention period, name and CNIE are erased (domain.md §3).
    """

    __tablename__ = "signatures"

    id: Mapped[int] = mapped_column(primary_key=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    full_name: Mapped[str] = mapped_column(String(150))
    cnie_hmac: Mapped[str] = mapped_column(String(64))
    cnie_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    commune_code: Mapped[str] = mapped_column(ForeignKey("territories.code"))
    province_code: Mapped[str] = mapped_column(String(10))
    electoral_declaration: Mapped[bool] = mapped_column(Boolean)
    consent_at: Mapped[datetime] = mapped_column(UtcDateTime())
    channel: Mapped[str] = mapped_column(String(10), default="online")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    entered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    paper_sheet_ref: Mapped[str | None] = mapped_column(String(100))
    public_name: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # issue #8: accounts — keyed hash of the signer's client address (keys.keyed_hash("client", address)).
    client_hash: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("uq_signatures_petition_cnie", "petition_id", "cnie_hmac", unique=True),
        Index(
            "uq_signatures_petition_user", "petition_id", "user_id", unique=True,
            postgresql_where=text("user_id IS NOT NULL"), sqlite_where=text("user_id IS NOT NULL"),
        ),
        Index("ix_signatures_petition_province", "petition_id", "province_code"),
        # Only the signatories who chose to be listed, newest first per petition (issue #8: the public names
        # must not cost a scan of every signature of a large petition).
        Index("ix_signatures_public_name", "petition_id", "created_at",
              postgresql_where=text("public_name"), sqlite_where=text("public_name")),
        Index("ix_signatures_petition_client", "petition_id", "client_hash"),  # issue #8: accounts
    )


class SignatureFlag(Base):
    """A signing attempt staff should look at, answered like a success (design.md, "Answers that reveal nothing").

    reason: ``cnie_used_by_other_account`` (the CNIE had already signed from another account). It is not
    counted, but to its account it looks exactly like a signature (listed, exportable, withdrawable), so the
    account cannot learn that the CNIE had signed; hence the same personal fields, encrypted the same way.
    """

    __tablename__ = "signature_flags"

    id: Mapped[int] = mapped_column(primary_key=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    cnie_hmac: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    full_name: Mapped[str] = mapped_column(String(150), default="", server_default="")
    cnie_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    commune_code: Mapped[str | None] = mapped_column(ForeignKey("territories.code"))
    public_name: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    electoral_declaration: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    __table_args__ = (Index("ix_signature_flags_petition_user", "petition_id", "user_id"),)


# issue #8: accounts — signatures waiting for their account's email to be verified (item 4).
class PendingSignature(Base):
    """An online signature from an account whose email is not verified yet (issue #8, item 4).

    Same personal fields as Signature, encrypted the same way; not counted. When the email is verified,
    civic.petitions.pending.promote moves it into ``signatures`` (or ``signature_flags`` when the CNIE already
    signed from another account). One per (petition, account). client_hash as in Signature.
    """

    __tablename__ = "pending_signatures"

    id: Mapped[int] = mapped_column(primary_key=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    full_name: Mapped[str] = mapped_column(String(150))
    cnie_hmac: Mapped[str] = mapped_column(String(64))
    cnie_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    commune_code: Mapped[str] = mapped_column(ForeignKey("territories.code"))
    province_code: Mapped[str] = mapped_column(String(10))
    electoral_declaration: Mapped[bool] = mapped_column(Boolean)
    consent_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    public_name: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    client_hash: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("uq_pending_signatures_petition_user", "petition_id", "user_id", unique=True),
        Index("ix_pending_signatures_user", "user_id"),
    )
