"""Helpers every view uses: the database session, the actor, CSRF-checked forms, rendering."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from civic.accounts import service as accounts
from civic.errors import CsrfFailed, NotFound
from civic.permissions import ANONYMOUS, Actor
from civic.security import Keys, check_csrf_token, make_csrf_token, new_nonce
from civic.web.templating import context, route_path

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


MAX_ID = 2**31 - 1  # PostgreSQL integer; larger ids cannot exist


def path_id(request: Request, name: str) -> int:
    """An integer id from the path (the route's ``:int`` convertor); ids no row can have raise NotFound."""
    value = int(request.path_params[name])
    if not 1 <= value <= MAX_ID:
        raise NotFound()
    return value


def path_for(request: Request, name: str, **params: Any) -> str:
    """The site-relative URL of a named route, so links and redirects work behind a TLS proxy."""
    return str(request.scope.get("root_path", "")) + route_path(request.app, name, params)


def login_path(request: Request) -> str:
    """The sign-in page, coming back to the current page afterwards."""
    return path_for(request, "login") + "?" + urlencode({"next": request.url.path})


def keys(request: Request) -> Keys:
    """The application's derived keys."""
    return request.app.state.keys  # type: ignore[no-any-return]


def _csrf_seed(request: Request) -> str:
    seed = request.session.get("csrf")
    if not isinstance(seed, str):
        seed = new_nonce()
        request.session["csrf"] = seed
    return seed


async def resolve_actor(request: Request, db: AsyncSession) -> Actor:
    """The actor of the session cookie; puts it and the CSRF token on ``request.state`` for the templates."""
    uid = request.session.get("uid")
    nonce = request.session.get("nonce")
    actor = ANONYMOUS
    if isinstance(uid, int) and isinstance(nonce, str):
        actor = await accounts.actor_for_session(db, uid, nonce)
    request.state.actor = actor
    request.state.csrf_token = make_csrf_token(keys(request), _csrf_seed(request))
    return actor


def open_session(request: Request) -> AsyncSession:
    """A new database session; the caller closes it."""
    return request.app.state.sessionmaker()  # type: ignore[no-any-return]


BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


async def body_first(request: Request) -> None:
    """Read a form body (``application/x-www-form-urlencoded``) whole before the view touches the database.

    A slow client then waits on the body with no database session open at all, whatever the view does before
    ``read_form`` (issue #8, item 5: slow clients time out without holding a database connection); the body is
    kept on the request, so ``read_form`` parses it without reading again. The read is bounded by the body
    middleware (BodyTooLarge → 413, BodyTimeout → 408). Multipart uploads (documents, paper sheets) are
    streamed by their views instead of being held in memory here.
    """
    if request.method in BODY_METHODS and not request.headers.get("content-type", "").startswith("multipart/"):
        await request.body()


@asynccontextmanager
async def scope(request: Request) -> AsyncIterator[tuple[AsyncSession, Actor]]:
    """Open a database session for the request and resolve the actor from the session cookie.

    The form body of a POST is read first (``body_first``), so no connection waits on a slow client.
    """
    await body_first(request)
    async with open_session(request) as db:
        yield db, await resolve_actor(request, db)


async def read_form(request: Request) -> FormData:
    """Read a POSTed form and check its CSRF token (field ``csrf_token`` or header ``X-CSRF-Token``).

    Raises CsrfFailed when the token is missing or wrong; BodyTooLarge (middleware) when the body is too big.
    """
    # A field may be as large as the whole body the middleware lets through, so a long text gets the form's
    # field error (and keeps what was typed) rather than a bare 400.
    max_part = request.app.state.settings.max_body_bytes
    form = await request.form(max_files=0, max_fields=50, max_part_size=max_part)
    token = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    if not check_csrf_token(keys(request), request.session.get("csrf"), token if isinstance(token, str) else None):
        raise CsrfFailed()
    return form


async def closing_stream(db: AsyncSession, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """``body`` chunk by chunk, then close ``db``: a streamed export keeps its database session exactly as long
    as the stream runs (closed when it ends, fails or the client goes away)."""
    try:
        async for chunk in body:
            yield chunk
    finally:
        await db.close()


def field(form: FormData, name: str, max_length: int = 20_000) -> str:
    """A form field as text ('' when missing or a file), cut at ``max_length`` characters."""
    value = form.get(name)
    return value[:max_length] if isinstance(value, str) else ""


def is_htmx(request: Request) -> bool:
    """True for requests htmx sent (``HX-Request: true``), which get fragments instead of whole pages."""
    return request.headers.get("hx-request") == "true"


def render(request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
    """Render ``template`` with the base context."""
    if not hasattr(request.state, "actor"):
        request.state.actor = ANONYMOUS
        # Outside the session middleware (the last-resort 500 handler) there is no session: no form is shown.
        has_session = "session" in request.scope
        request.state.csrf_token = make_csrf_token(keys(request), _csrf_seed(request)) if has_session else ""
    templates = request.app.state.templates
    return templates.TemplateResponse(  # type: ignore[no-any-return]
        request, template, context(request, **values), status_code=status_code
    )
