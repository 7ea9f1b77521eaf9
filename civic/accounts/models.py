"""User accounts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from civic.db import Base, UtcDateTime

ROLES = ("citizen", "cso_member", "moderator", "council_staff", "admin")


class User(Base):
    """A person with an account.

    email: stored lower-cased, unique; never logged or put in a URL (Law 09-08).
    password_hash: argon2id. session_nonce: changes on logout, so old session cookies die.
    role: one of ROLES. commune_code: commune of residence.
    preferences: display preferences in the cookie's encoding (civic.preferences), restored at sign-in.
    email_verified_at: when the person typed the code mailed to them (UTC); NULL = not verified, and then their
    signatures wait in ``pending_signatures`` (issue #8, item 4).
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    display_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default="citizen")
    commune_code: Mapped[str] = mapped_column(ForeignKey("territories.code"))
    session_nonce: Mapped[str] = mapped_column(String(64))
    preferences: Mapped[str] = mapped_column(String(200), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    email_verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class EmailVerification(Base):
    """The current email-verification code of one account (issue #8, item 4); a new code replaces the old.

    code_hash: ``keys.keyed_hash("verify-code", code)`` of the 8-digit code (the code itself is only in the mail).
    handle_hash: ``keys.keyed_hash("verify-handle", handle)`` of the opaque handle kept in the registering
    browser's session (never the user id). expires_at: created_at + 24 h. attempts: wrong codes typed.
    """

    __tablename__ = "email_verifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    code_hash: Mapped[str] = mapped_column(String(64))
    handle_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (
        Index("uq_email_verifications_user", "user_id", unique=True),
        Index("ix_email_verifications_handle", "handle_hash"),
    )


# Roles that can be granted for a scope (issue #6, item 1): scope "body:<addressee>" for a consultative body's
# secretary (civic.petitions.models.ADDRESSEES), "organisation:<id>" for an organisation's member.
SCOPED_ROLES = ("body_secretary", "cso_member")


class RoleGrant(Base):
    """A role granted to a user by an admin, everywhere (scope '') or for one scope (SCOPED_ROLES).

    role: one of ROLES or SCOPED_ROLES; scope: '' | ``body:<addressee>`` | ``organisation:<id>``.
    revoked_at/revoked_by: set when an admin revokes it (rows are never deleted; both acts are audited).
    """

    __tablename__ = "role_grants"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    role: Mapped[str] = mapped_column(String(20))
    scope: Mapped[str] = mapped_column(String(40), default="", server_default="")
    granted_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    granted_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (
        Index("ix_role_grants_user", "user_id"),
        # One active grant per user, role and scope, even when two admins grant at once.
        Index("uq_role_grants_active", "user_id", "role", "scope", unique=True,
              postgresql_where=text("revoked_at IS NULL"), sqlite_where=text("revoked_at IS NULL")),
    )
