"""Proposal, support, comment, official answer and follow-up tables (shared/domain.md §4).

Counting (design.md, "Counting without a hot row"): support counts come from the ``supports`` table through
its ``proposal_id`` index; there is no counter column.
Hidden content: ``hidden_at`` set by moderation; civic.proposals.service.visible_proposals/visible_comments are
the one filter every list, count, search, feed, API route and export uses.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from civic.db import Base, UtcDateTime

# Codes only: their labels are in civic.proposals.service (CATEGORY_LABELS, STATUS_LABELS, STANCE_LABELS).
CATEGORIES = (
    "education", "health", "transport", "water_environment", "employment",
    "culture_sport", "agriculture", "social_inclusion", "other",
)
# published → (under_evaluation →) accepted | rejected; accepted → implemented; the author may withdraw before
# any official answer. Answer statuses are set by council staff only.
PROPOSAL_STATUSES = (
    "published", "under_evaluation", "accepted", "rejected", "implemented", "withdrawn",
)
ANSWER_STATUSES = ("under_evaluation", "accepted", "rejected", "implemented")
STANCES = ("for", "against", "neutral")


class Proposal(Base):
    """A citizen proposal in a consultation.

    organisation_id: set when submitted on behalf of an organisation the author represents or belongs to.
    category: one of CATEGORIES; territory_code: the commune, province or region it concerns.
    status: one of PROPOSAL_STATUSES. search_text: normalised title and body (civic.search.normalise).
    hidden_at/hidden_reason: set by moderation (issue #6); hidden proposals appear nowhere public.
    """

    __tablename__ = "proposals"

    id: Mapped[int] = mapped_column(primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultations.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(30))
    territory_code: Mapped[str] = mapped_column(ForeignKey("territories.code"))
    status: Mapped[str] = mapped_column(String(20), default="published")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    hidden_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    hidden_reason: Mapped[str] = mapped_column(Text, default="", server_default="")

    __table_args__ = (
        Index("ix_proposals_consultation_created", "consultation_id", "created_at", "id"),
        Index("ix_proposals_author", "author_id"),
    )


class Support(Base):
    """One person's support for a proposal.

    slot: 1..the consultation's support_limit. The unique index ``(consultation_id, user_id, slot)`` makes the
    database refuse a support beyond the limit even when parallel clicks race (design.md, constraints live in
    the database); ``(proposal_id, user_id)`` unique keeps one support per person per proposal.
    """

    __tablename__ = "supports"

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id"))
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultations.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    slot: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        Index("uq_supports_proposal_user", "proposal_id", "user_id", unique=True),
        Index("uq_supports_consultation_user_slot", "consultation_id", "user_id", "slot", unique=True),
    )


class Comment(Base):
    """A comment on a consultation (``proposal_id`` NULL) or on a proposal, threaded one level deep.

    parent_id: the comment replied to (itself a top-level comment), or NULL. stance: one of STANCES.
    hidden_at/hidden_reason: set by moderation (issue #6).
    """

    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultations.id"))
    proposal_id: Mapped[int | None] = mapped_column(ForeignKey("proposals.id"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    stance: Mapped[str] = mapped_column(String(10))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    hidden_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    hidden_reason: Mapped[str] = mapped_column(Text, default="", server_default="")

    __table_args__ = (
        Index("ix_comments_consultation_proposal", "consultation_id", "proposal_id", "created_at"),
        Index("ix_comments_proposal", "proposal_id"),
    )


class ProposalAnswer(Base):
    """An official answer by council staff: the status it set and the public written reasons. Never edited;
    the newest is the proposal's current answer (shared/domain.md §4)."""

    __tablename__ = "proposal_answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_proposal_answers_proposal", "proposal_id", "created_at"),)


class ProposalUpdate(Base):
    """A follow-up update on an accepted proposal's implementation, published by council staff."""

    __tablename__ = "proposal_updates"

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_proposal_updates_proposal", "proposal_id", "created_at"),)
