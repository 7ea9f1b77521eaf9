"""The search page and its JSON twin over consultations, proposals and petitions (issue #4, item 7)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import NoMatchFound

from civic import i18n
from civic.db import utcnow
from civic.i18n import N_
from civic.listing import page_number
from civic.search import service
from civic.search.models import KINDS
from civic.web.requests import path_for, render, scope

# Each kind's page: route name and its path parameter (the routes live in civic/web/routes.py).
ITEM_ROUTES = {"consultation": ("consultation", "consultation_id"), "proposal": ("proposal", "proposal_id"),
               "petition": ("petition", "petition_id")}
KIND_NAMES = {"consultation": N_("Consultation"), "proposal": N_("Proposal"), "petition": N_("Petition")}
KIND_FILTERS = {None: N_("Everything"), "consultation": N_("Consultations"), "proposal": N_("Proposals"),
                "petition": N_("Petitions")}


def item_path(request: Request, kind: str, item_id: int) -> str:
    """The site-relative URL of a consultation, proposal or petition page (``/{kind}s/{id}`` if its route is
    not in the table)."""
    name, param = ITEM_ROUTES[kind]
    try:
        return path_for(request, name, **{param: item_id})
    except NoMatchFound:
        return str(request.scope.get("root_path", "")) + f"/{kind}s/{item_id}"


def search_path(request: Request, query: str, kind: str | None, page: int = 1) -> str:
    """The search page for ``query`` limited to ``kind`` (None: all kinds), at ``page``."""
    params: dict[str, str | int] = {"q": query}
    if kind:
        params["kind"] = kind
    if page > 1:
        params["page"] = page
    return path_for(request, "search") + "?" + urlencode(params)


async def _search(request: Request) -> service.SearchResults:
    params = request.query_params
    async with scope(request) as (db, actor):
        return await service.search_all(db, actor, params.get("q"), params.get("kind"),
                                        page_number(params.get("page")), utcnow())


async def search(request: Request) -> Response:
    """GET /search?q=&kind=&page=: the search form and a page of results, with counts per kind."""
    results = await _search(request)
    page = results.page
    hits = [(hit, item_path(request, hit.kind, hit.id),
             item_path(request, "consultation", hit.consultation_id) if hit.consultation_id else None)
            for hit in page.items]
    filters = [(kind, label, results.total if kind is None else results.counts.get(kind, 0),
                search_path(request, results.query, kind)) for kind, label in KIND_FILTERS.items()]
    return render(
        request, "search/index.html", results=results, hits=hits, filters=filters, kind_names=KIND_NAMES,
        previous_url=search_path(request, results.query, results.kind, page.number - 1) if page.has_previous
        else None,
        next_url=search_path(request, results.query, results.kind, page.number + 1) if page.has_next else None,
    )


def hit_json(request: Request, hit: service.SearchHit) -> dict[str, Any]:
    """The public JSON shape of a search result (no personal data: no author, no names)."""
    return {
        "kind": hit.kind, "id": hit.id, "title": hit.title, "excerpt": hit.excerpt, "date": hit.date.isoformat(),
        "url": item_path(request, hit.kind, hit.id),
        "consultation": {"id": hit.consultation_id, "title": hit.consultation_title,
                         "url": item_path(request, "consultation", hit.consultation_id)}
        if hit.consultation_id else None,
    }


async def api_search(request: Request) -> Response:
    """GET /api/v1/search?q=&kind=&page=: the same results as the search page, as JSON."""
    results = await _search(request)
    page = results.page
    return JSONResponse({
        "query": results.query, "kind": results.kind, "page": page.number, "pages": page.pages,
        "per_page": page.per_page, "total": page.total, "counts": {k: results.counts.get(k, 0) for k in KINDS},
        "message": i18n.gettext(results.message) if results.message else None,
        "results": [hit_json(request, hit) for hit in page.items],
    })
