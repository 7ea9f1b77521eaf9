"""Views that belong to no domain: health check and language switch."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from civic import i18n
from civic.accounts.views import safe_next
from civic.migrations import recorded_revision
from civic.web.middleware import LANGUAGE_COOKIE
from civic.web.requests import open_session


async def healthz(request: Request) -> Response:
    """GET /healthz: ``{"status": "ok"}`` when the database answers and is migrated to the newest revision; else 503."""
    async with open_session(request) as db:
        revision = await recorded_revision(db)
    if revision != request.app.state.schema_head:
        return JSONResponse({"status": "unavailable", "error": "database not migrated: run civic db upgrade"},
                            status_code=503)
    return JSONResponse({"status": "ok"})


async def set_language(request: Request) -> Response:
    """GET /lang/{code}?next=/path: remember the language in a cookie for a year and go back."""
    code = request.path_params["code"]
    target = safe_next(request.query_params.get("next"))
    response = RedirectResponse(target, status_code=303)
    if code in i18n.LANGUAGES:
        response.set_cookie(LANGUAGE_COOKIE, code, max_age=365 * 24 * 3600, samesite="lax",
                            secure=request.app.state.settings.https)
    return response
