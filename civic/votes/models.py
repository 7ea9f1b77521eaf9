"""Ballot, question, option, cast ballot, choice and paper tally sheet tables (issue #5; shared/domain.md §4).

A *ballot* is what a consultation puts to the vote: one or more *questions*, each with a method and options.
A voter casts one ballot per question (``cast_ballots``, unique per voter and question); changing it replaces
its choices in place, so only the last one counts. Demographics (gender, age band, disability, area) are
optional, given by the voter for this ballot only, and published only as aggregates with groups under 5
suppressed (shared/domain.md §3).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from civic.db import Base, UtcDateTime
from civic.i18n import N_

METHODS = (N_("yes_no_abstain"), N_("single_choice"), N_("approval"), N_("budget"))
GENDERS = (N_("woman"), N_("man"))
AGE_BANDS = ("18-24", "25-34", "35-59", "60+")
AREAS = (N_("urban"), N_("rural"))


class Ballot(Base):
    """A ballot of a consultation, open while the consultation's current phase has ``votes_enabled``.

    meeting_id: when set, only people registered at that forum meeting may vote (issue #5, item 2); otherwise
    signed-in residents of the consultation's territory. published_at: when the council published the receipt
    digests and the anonymised ballots file (after closing).
    """

    __tablename__ = "ballots"

    id: Mapped[int] = mapped_column(primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultations.id"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("meetings.id"))
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_ballots_consultation", "consultation_id"),)


class Question(Base):
    """A question of a ballot. method: one of METHODS. max_choices: k for approval (choose up to k).
    budget: the amount (whole dirhams) a budget-allocation ballot may spend; options carry their cost."""

    __tablename__ = "ballot_questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    ballot_id: Mapped[int] = mapped_column(ForeignKey("ballots.id"))
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    method: Mapped[str] = mapped_column(String(20))
    max_choices: Mapped[int | None] = mapped_column(Integer)
    budget: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (Index("ix_ballot_questions_ballot", "ballot_id", "position"),)


class Option(Base):
    """An option of a question (for yes/no/abstain: the three fixed options). cost: whole dirhams (budget)."""

    __tablename__ = "ballot_options"

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("ballot_questions.id"))
    position: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(300))
    cost: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (Index("ix_ballot_options_question", "question_id", "position"),)


class CastBallot(Base):
    """One voter's ballot on one question; the unique index keeps one per voter and question.

    receipt_digest: SHA-256 hex of the receipt code shown once to the voter (the code itself is not stored).
    province_code, area: from the voter's commune at casting time (area urban/rural from the commune's type).
    gender, age_band, disability: optional self-declared demographics (None when not given).
    changed_at: the last change (a changed ballot replaces its choices; only the last counts).
    """

    __tablename__ = "cast_ballots"

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("ballot_questions.id"))
    voter_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    receipt_digest: Mapped[str] = mapped_column(String(64))
    province_code: Mapped[str | None] = mapped_column(String(10))
    area: Mapped[str | None] = mapped_column(String(10))
    gender: Mapped[str | None] = mapped_column(String(10))
    age_band: Mapped[str | None] = mapped_column(String(10))
    disability: Mapped[bool | None] = mapped_column(Boolean)
    cast_at: Mapped[datetime] = mapped_column(UtcDateTime())
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        Index("uq_cast_ballots_question_voter", "question_id", "voter_id", unique=True),
        Index("ix_cast_ballots_receipt", "receipt_digest"),
    )


class Choice(Base):
    """One option chosen on a cast ballot (approval and budget ballots have several)."""

    __tablename__ = "ballot_choices"

    id: Mapped[int] = mapped_column(primary_key=True)
    cast_ballot_id: Mapped[int] = mapped_column(ForeignKey("cast_ballots.id", ondelete="CASCADE"))
    question_id: Mapped[int] = mapped_column(ForeignKey("ballot_questions.id"))
    option_id: Mapped[int] = mapped_column(ForeignKey("ballot_options.id"))

    __table_args__ = (
        Index("uq_ballot_choices_ballot_option", "cast_ballot_id", "option_id", unique=True),
        Index("ix_ballot_choices_question_option", "question_id", "option_id"),
    )


class TallySheet(Base):
    """A paper tally sheet from a forum meeting, entered by council staff; never edited.

    A correction is a new sheet whose ``supersedes_id`` names the sheet it replaces; only sheets nobody
    supersedes count. reference: the number written on the paper sheet. blank, invalid: ballots counted as such.
    with_choice: for approval and budget questions, the papers with at least one choice (a paper may carry
    several choices, so the number of papers cannot be derived from the option counts); None otherwise.
    """

    __tablename__ = "tally_sheets"

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("ballot_questions.id"))
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id"))
    reference: Mapped[str] = mapped_column(String(100))
    blank: Mapped[int] = mapped_column(Integer, default=0)
    invalid: Mapped[int] = mapped_column(Integer, default=0)
    with_choice: Mapped[int | None] = mapped_column(Integer)
    entered_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    entered_at: Mapped[datetime] = mapped_column(UtcDateTime())
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("tally_sheets.id"), unique=True)
    note: Mapped[str] = mapped_column(Text, default="", server_default="")

    __table_args__ = (Index("ix_tally_sheets_question", "question_id"),)


class TallySheetCount(Base):
    """The count for one option on a paper tally sheet."""

    __tablename__ = "tally_sheet_counts"

    id: Mapped[int] = mapped_column(primary_key=True)
    sheet_id: Mapped[int] = mapped_column(ForeignKey("tally_sheets.id"))
    option_id: Mapped[int] = mapped_column(ForeignKey("ballot_options.id"))
    count: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("uq_tally_sheet_counts_sheet_option", "sheet_id", "option_id", unique=True),)


class PublishedReceipt(Base):
    """A receipt digest published after closing (issue #5, item 9), kept apart from voters so that the public
    list cannot be joined back to identities; ``cast_ballots.receipt_digest`` is the voter-side copy."""

    __tablename__ = "published_receipts"

    id: Mapped[int] = mapped_column(primary_key=True)
    ballot_id: Mapped[int] = mapped_column(ForeignKey("ballots.id"))
    receipt_digest: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("uq_published_receipts_ballot_digest", "ballot_id", "receipt_digest", unique=True),)
