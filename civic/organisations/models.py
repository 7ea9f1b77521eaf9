"""Organisations, the staff's eligibility checks, memberships, and the petitions members collect for.

Eligibility of an association to file a petition: Organic Law 111-14 as summarised in shared/domain.md §2
(constituted in Morocco for more than 3 years, democratic statutes, good standing, seat or branch in the
region, activity related to the subject).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from civic.db import Base, UtcDateTime


class Organisation(Base):
    """An association. status: ``pending`` | ``verified`` | ``rejected`` (set by council staff only)."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name_ar: Mapped[str] = mapped_column(String(200))
    name_fr: Mapped[str] = mapped_column(String(200))
    registration_ref: Mapped[str] = mapped_column(String(100))
    founded_on: Mapped[date] = mapped_column(Date)
    seat_commune_code: Mapped[str] = mapped_column(ForeignKey("territories.code"))
    activity: Mapped[str] = mapped_column(Text)
    legal_representative_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class OrganisationVerification(Base):
    """One verification by council staff: each check, the documents seen, the outcome. Never edited."""

    __tablename__ = "organisation_verifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    constituted_over_3_years: Mapped[bool] = mapped_column(Boolean)
    democratic_statutes: Mapped[bool] = mapped_column(Boolean)
    good_standing: Mapped[bool] = mapped_column(Boolean)
    seat_in_region: Mapped[bool] = mapped_column(Boolean)
    document_refs: Mapped[str] = mapped_column(Text)
    notes: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[str] = mapped_column(String(20))

    __table_args__ = (Index("ix_organisation_verifications_org", "organisation_id"),)


class OrganisationMember(Base):
    """A person acting for an organisation. role: ``representative`` | ``member``."""

    __tablename__ = "organisation_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    role: Mapped[str] = mapped_column(String(20))
    joined_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index("uq_organisation_members_org_user", "organisation_id", "user_id", unique=True),)


class Invitation(Base):
    """An invitation sent by email: to join an organisation, or to be a petition's deputy agent.

    purpose: ``organisation_member`` | ``petition_deputy``; subject_id: the organisation or petition id.
    The email is not stored here (only in the outbox until sent); the link carries a signed token naming
    this row (itsdangerous, salt ``invitation``).
    """

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[str] = mapped_column(String(30))
    subject_id: Mapped[int]
    invited_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    accepted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class PetitionCollector(Base):
    """A member of an organisation allowed to enter paper and assisted signatures for one petition."""

    __tablename__ = "petition_collectors"

    id: Mapped[int] = mapped_column(primary_key=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    added_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    added_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index("uq_petition_collectors_petition_user", "petition_id", "user_id", unique=True),)


class PetitionOrganisation(Base):
    """An association the petition's agent (or deputy) allowed to collect paper signatures for it.

    An association petition's own organisation needs no such row.
    """

    __tablename__ = "petition_organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    authorised_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    authorised_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index("uq_petition_organisations_petition_org", "petition_id", "organisation_id", unique=True),)
