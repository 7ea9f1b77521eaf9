"""Report, moderation record and user block tables (issue #6, items 2 and 3).

One ``moderations`` row per reported item keeps its report count and decision; reports themselves are kept,
one per reporter and item. Hiding sets ``hidden_at`` on the item itself (proposals, comments, petitions), which
the visibility helpers of each domain read.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from civic.db import Base, UtcDateTime
from civic.i18n import N_

SUBJECT_TYPES = ("proposal", "comment", "petition")
REASONS = (N_("spam"), N_("offensive"), N_("personal_data"), N_("off_topic"), N_("other"))
# open: reported, not decided; hidden: hidden (automatically at the threshold, or by a moderator);
# restored: a moderator kept it visible; the appeal fields record the author's one appeal.
STATES = (N_("open"), N_("hidden"), N_("restored"))


class Report(Base):
    """One user's report of an item. reason: one of REASONS; details: optional free text."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_type: Mapped[str] = mapped_column(String(20))
    subject_id: Mapped[int] = mapped_column(Integer)
    reporter_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(String(20))
    details: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        Index("uq_reports_subject_reporter", "subject_type", "subject_id", "reporter_id", unique=True),
    )


class Moderation(Base):
    """The moderation record of one item: report count, state, the decision and the author's appeal.

    state: one of STATES. decided_by/decided_at/decision_reason: the last moderator decision (None when the
    item was hidden automatically at the report threshold). appeal_text/appealed_at: the author's single appeal;
    appeal_decided_at: when a moderator answered it.
    """

    __tablename__ = "moderations"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_type: Mapped[str] = mapped_column(String(20))
    subject_id: Mapped[int] = mapped_column(Integer)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    report_count: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(10), default="open")
    last_reported_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    decision_reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    appeal_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    appealed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    appeal_decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (
        Index("uq_moderations_subject", "subject_type", "subject_id", unique=True),
        Index("ix_moderations_state_reported", "state", "last_reported_at"),
    )


class UserBlock(Base):
    """A moderator's block of a user from participating until ``ends_at`` (UTC); lifted early by ``lifted_at``."""

    __tablename__ = "user_blocks"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    blocked_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(Text)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime())
    lifted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_user_blocks_user_ends", "user_id", "ends_at"),)
