"""Consultation, phase, document, forum meeting and meeting registration tables (shared/domain.md §4).

A consultation's current phase is the one whose ``[starts_at, ends_at)`` contains ``now``; its flags decide
what participants may do (design.md, "Phases decide what is allowed"; checked in ``civic.permissions.can``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from civic.db import Base, UtcDateTime
from civic.i18n import N_

SCOPES = (N_("region"), N_("province"), N_("commune"))
# Phase kinds in their usual order (shared/domain.md §4).
PHASE_KINDS = (
    N_("information"), N_("proposals"), N_("deliberation"), N_("voting"), N_("results"), N_("follow_up"),
)
PHASE_FLAGS = ("proposals_enabled", "supports_enabled", "comments_enabled", "votes_enabled", "results_visible")
MEETING_MODES = (N_("in_person"), N_("online"), N_("hybrid"))
# Accessibility needs asked at meeting registration (issue #4, shared/domain.md §4).
ACCESSIBILITY_NEEDS = ("sign_language", "wheelchair", "easy_read", "companion")


class Consultation(Base):
    """A consultation run by the council or one of its consultative bodies.

    scope: one of SCOPES; territory_code: the region, province or commune code matching the scope.
    addressed_to: one of civic.petitions.models.ADDRESSEES (council or a consultative body).
    support_limit: how many proposals one person may support in this consultation (issue #4, 1–100).
    search_text: title, summary and description normalised by civic.search.normalise (kept by the service).
    """

    __tablename__ = "consultations"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text)
    easy_read: Mapped[str] = mapped_column(Text, default="", server_default="")
    scope: Mapped[str] = mapped_column(String(10))
    territory_code: Mapped[str] = mapped_column(ForeignKey("territories.code"))
    addressed_to: Mapped[str] = mapped_column(String(20))
    support_limit: Mapped[int] = mapped_column(Integer, default=3)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_consultations_created", "created_at", "id"),)


class Phase(Base):
    """One dated phase of a consultation, from ``starts_at`` (included) to ``ends_at`` (excluded), in UTC.

    kind: one of PHASE_KINDS. The five flags (PHASE_FLAGS) decide what participants may do during it.
    Phases of one consultation never overlap (checked by the service).
    """

    __tablename__ = "phases"

    id: Mapped[int] = mapped_column(primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultations.id"))
    kind: Mapped[str] = mapped_column(String(20))
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime())
    proposals_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    supports_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    comments_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    votes_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    results_visible: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    __table_args__ = (Index("ix_phases_consultation_starts", "consultation_id", "starts_at"),)


class ConsultationDocument(Base):
    """A PDF attached to a consultation, stored on disk under ``Settings.upload_dir`` as ``stored_name``.

    stored_name: a random file name (never the uploader's); sha256: hex digest of the bytes; size_bytes: bytes.
    """

    __tablename__ = "consultation_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultations.id"))
    title: Mapped[str] = mapped_column(String(200))
    stored_name: Mapped[str] = mapped_column(String(80), unique=True)
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_consultation_documents_consultation", "consultation_id"),)


class Meeting(Base):
    """A forum meeting of a consultation: in person (commune and address), online (link) or hybrid.

    mode: one of MEETING_MODES. capacity: seats for in-person attendance (registrations beyond it wait).
    minutes: published after the meeting (``minutes_published_at`` set), shown publicly.
    """

    __tablename__ = "meetings"

    id: Mapped[int] = mapped_column(primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultations.id"))
    title: Mapped[str] = mapped_column(String(200))
    mode: Mapped[str] = mapped_column(String(10))
    commune_code: Mapped[str | None] = mapped_column(ForeignKey("territories.code"))
    address: Mapped[str] = mapped_column(Text, default="")
    online_url: Mapped[str] = mapped_column(String(500), default="")
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime())
    capacity: Mapped[int] = mapped_column(Integer)
    minutes: Mapped[str] = mapped_column(Text, default="")
    minutes_published_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_meetings_consultation_starts", "consultation_id", "starts_at"),)


class MeetingRegistration(Base):
    """One person's registration for a meeting.

    seat: 1..capacity while holding a place, NULL on the waiting list or once cancelled. The unique index on
    ``(meeting_id, seat)`` keeps parallel registrations from exceeding the capacity (design.md, constraints
    live in the database). status: ``registered`` | ``waiting`` | ``cancelled``.
    The four needs (ACCESSIBILITY_NEEDS) are summed up for organisers; attended: None until attendance is taken.
    """

    __tablename__ = "meeting_registrations"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    seat: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10))
    sign_language: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    wheelchair: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    easy_read: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    companion: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    attended: Mapped[bool | None] = mapped_column(Boolean)
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        Index("uq_meeting_registrations_user", "meeting_id", "user_id", unique=True),
        Index("uq_meeting_registrations_seat", "meeting_id", "seat", unique=True),
    )
