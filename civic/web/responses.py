"""Map errors to status codes and translated pages (design.md: errors as responses). Never a stack trace."""

from __future__ import annotations

import logging
import traceback

from sqlalchemy.exc import DBAPIError, IntegrityError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from civic import i18n
from civic.errors import DomainError, NotSignedIn
from civic.i18n import N_
from civic.web.middleware import BodyTooLarge
from civic.web.requests import login_path, render

log = logging.getLogger("civic.web")

HTTP_MESSAGES = {
    400: N_("The request could not be understood."),
    401: N_("Please sign in first."),
    403: N_("You are not allowed to do this."),
    404: N_("This page does not exist."),
    405: N_("This address does not accept that kind of request."),
    413: N_("What you sent is too large. Please shorten it and try again."),
    429: N_("Too many attempts. Please wait a few minutes and try again."),
    500: N_("Something went wrong on our side. Nothing you had saved is lost. Please try again."),
    503: N_("The service is briefly unavailable. Please try again in a minute."),
}


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/healthz"


def error_response(request: Request, status: int, message: str) -> Response:
    """A translated error: JSON under /api, a fragment for htmx, otherwise the error page."""
    text = i18n.gettext(message)
    if _wants_json(request):
        return JSONResponse({"error": text, "status": status}, status_code=status)
    return render(request, "errors/error.html", status_code=status, status=status, message=text)


async def domain_error(request: Request, exc: Exception) -> Response:
    """Domain errors: NotSignedIn redirects to the sign-in page, the others render their message."""
    assert isinstance(exc, DomainError)
    if isinstance(exc, NotSignedIn) and not _wants_json(request):
        return RedirectResponse(login_path(request), 303)
    return error_response(request, exc.status_code, exc.message)


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's HTTP errors (404 for unknown routes, 405, …) as translated pages."""
    assert isinstance(exc, HTTPException)
    return error_response(request, exc.status_code, HTTP_MESSAGES.get(exc.status_code, HTTP_MESSAGES[400]))


async def too_large(request: Request, exc: Exception) -> Response:
    """Bodies over the limit: 413."""
    return error_response(request, 413, HTTP_MESSAGES[413])


async def database_down(request: Request, exc: Exception) -> Response:
    """The database is unreachable or refuses us (connection, credentials, missing tables): 503 with a retry
    message. An IntegrityError that escaped a service is a bug, not an outage: the 500 page."""
    if isinstance(exc, IntegrityError):
        return await server_error(request, exc)
    log.warning("database unavailable: %s", type(exc).__name__)
    response = error_response(request, 503, HTTP_MESSAGES[503])
    response.headers["Retry-After"] = "10"
    return response


async def server_error(request: Request, exc: Exception) -> Response:
    """Last resort: log the exception type, the path and where it happened — not its message, which can carry
    request data — and answer a translated 500 page."""
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error("unhandled %s on %s\n%s", type(exc).__name__, request.url.path, frames)
    return error_response(request, 500, HTTP_MESSAGES[500])


EXCEPTION_HANDLERS = {
    DomainError: domain_error,
    HTTPException: http_error,
    BodyTooLarge: too_large,
    DBAPIError: database_down,
    ConnectionError: database_down,
    Exception: server_error,
}
