"""Map errors to status codes and translated pages (design.md: errors as responses). Never a stack trace."""

from __future__ import annotations

import logging
import sqlite3
import traceback

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
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
# issue #8: faults — a database that refuses writes (read-only, disk full) while reads keep working
WRITE_REFUSED = N_("Your change could not be saved: the database is not accepting changes at the moment. "
                   "Nothing that was already saved is lost. Please try again later.")
# SQLSTATEs (PostgreSQL) meaning "writes are refused, the database is up": read_only_sql_transaction,
# disk_full, out_of_memory; SQLite primary result codes: SQLITE_READONLY (8), SQLITE_FULL (13) — "attempt to
# write a readonly database", "database or disk is full" (a full disk and a PRAGMA max_page_count reached
# take the same OperationalError path).
_WRITE_REFUSED_SQLSTATES = frozenset({"25006", "53100", "53200"})
_WRITE_REFUSED_SQLITE_CODES = frozenset({8, 13})


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
    response = error_response(request, exc.status_code, HTTP_MESSAGES.get(exc.status_code, HTTP_MESSAGES[400]))
    response.headers.update(exc.headers or {})  # issue #8: bad input (405 keeps its Allow header, RFC 9110)
    return response


async def too_large(request: Request, exc: Exception) -> Response:
    """Bodies over the limit: 413."""
    return error_response(request, 413, HTTP_MESSAGES[413])


def writes_refused(exc: BaseException) -> bool:
    """True when ``exc`` (or the driver error it wraps: ``.orig``, ``__cause__``, ``__context__``) says the
    database is up but refuses writes: read-only (``default_transaction_read_only``, a standby, a SQLite file
    opened ``mode=ro``) or out of space (issue #8, item 3: "a disk-full or read-only database")."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        err = todo.pop()
        if err is None or id(err) in seen:
            continue
        seen.add(id(err))
        if (getattr(err, "sqlstate", None) or getattr(err, "pgcode", None)) in _WRITE_REFUSED_SQLSTATES:
            return True
        if isinstance(err, sqlite3.Error) and (getattr(err, "sqlite_errorcode", 0) & 0xFF) in \
                _WRITE_REFUSED_SQLITE_CODES:
            return True
        todo += [getattr(err, "orig", None), err.__cause__, err.__context__]
    return False


async def database_down(request: Request, exc: Exception) -> Response:
    """The database is unreachable or refuses us: 503 with a translated retry message and ``Retry-After``.

    Every way an outage surfaces maps here (issue #8, item 3, "restart PostgreSQL during load"): SQLAlchemy's
    DBAPIError family (OperationalError, InterfaceError — asyncpg's connection errors and
    CannotConnectNowError arrive wrapped in them), the pool's TimeoutError (no connection within
    ``pool_timeout``) and DisconnectionError, asyncpg's own connection errors when they escape unwrapped, and
    OSError (refused or reset connections, ``TimeoutError`` of a connect). A database that refuses writes
    (``writes_refused``) says the change was not saved and nothing saved is lost; reads keep working there.
    An IntegrityError that escaped a service is a bug, not an outage: the 500 page."""
    if isinstance(exc, IntegrityError):
        return await server_error(request, exc)
    refused = writes_refused(exc)
    log.warning("database %s: %s", "refuses writes" if refused else "unavailable", type(exc).__name__)
    response = error_response(request, 503, WRITE_REFUSED if refused else HTTP_MESSAGES[503])
    response.headers["Retry-After"] = "60" if refused else "10"
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
    # issue #8: faults — the other shapes of a database outage (database_down's docstring)
    PoolTimeout: database_down,
    DisconnectionError: database_down,
    asyncpg.PostgresConnectionError: database_down,
    asyncpg.exceptions.OperatorInterventionError: database_down,  # CannotConnectNowError, AdminShutdownError
    asyncpg.exceptions.InsufficientResourcesError: database_down,  # TooManyConnectionsError, DiskFullError
    asyncpg.exceptions.ReadOnlySQLTransactionError: database_down,
    asyncpg.InterfaceError: database_down,
    OSError: database_down,  # ConnectionError (refused, reset), TimeoutError, socket errors
    Exception: server_error,
}
