"""User accounts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from civic.db import Base, UtcDateTime

ROLES = ("citizen", "cso_member", "moderator", "council_staff", "admin")


class User(Base):
    """A person with an account.

    email: stored lower-cased, unique; never logged or put in a URL (Law 09-08).
    password_hash: argon2id. session_nonce: changes on logout, so old session cookies die.
    role: one of ROLES. commune_code: commune of residence.
    preferences: display preferences in the cookie's encoding (civic.preferences), restored at sign-in.
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
