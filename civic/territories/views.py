"""Territory API."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from civic.territories import service
from civic.web.requests import scope


async def api_provinces(request: Request) -> Response:
    """GET /api/v1/territories/provinces: the region's provinces, names and 2024 population (HCP, RGPH 2024)."""
    region_code = request.app.state.settings.region
    async with scope(request) as (db, _actor):
        region = await service.region(db, region_code)
        provinces = await service.provinces(db, region_code)
    return JSONResponse({
        "region": {"code": region.code, "name_ar": region.name_ar, "name_fr": region.name_fr,
                   "population_2024": region.population_2024},
        "provinces": [{"code": p.code, "name_ar": p.name_ar, "name_fr": p.name_fr,
                       "population_2024": p.population_2024} for p in provinces],
        "source": service.CENSUS_CREDIT,
        "licence": "CC BY 4.0",
    })
