"""Views that belong to no domain: health check and language switch."""

from __future__ import annotations

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from civic import i18n
from civic.accounts.views import safe_next
from civic.web.middleware import LANGUAGE_COOKIE
from civic.web.requests import open_session


async def healthz(request: Request) -> Response:
    """GET /healthz: ``{"status": "ok"}`` once the database answers a query; 503 otherwise (via the handler)."""
    async with open_session(request) as db:
        await db.execute(text("SELECT 1"))
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
