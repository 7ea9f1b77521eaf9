"""Account pages: register, sign in, sign out."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from civic import preferences
from civic.accounts import service
from civic.accounts.forms import LoginForm, RegisterForm
from civic.db import utcnow
from civic.errors import Invalid, RateLimited
from civic.territories import service as territories
from civic.web.requests import path_for, read_form, render, scope


def safe_next(value: str | None) -> str:
    """A local path to go back to after signing in; anything else becomes ``/`` (no open redirect)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


def _sign_in(request: Request, created: service.SessionUser, next_path: str) -> Response:
    request.session.clear()
    request.session.update({"uid": created.user_id, "nonce": created.nonce})
    response = RedirectResponse(safe_next(next_path), status_code=303)
    if created.preferences:
        _set_preferences_cookie(request, response, created.preferences)
    return response


def _set_preferences_cookie(request: Request, response: Response, encoded: str) -> None:
    response.set_cookie(preferences.COOKIE, encoded, max_age=365 * 24 * 3600, samesite="lax",
                        secure=request.app.state.settings.https)


async def display_preferences(request: Request) -> Response:
    """GET: the display preferences form; POST: remember them (cookie, and the account when signed in)."""
    next_path = safe_next(request.query_params.get("next"))
    async with scope(request) as (db, actor):
        if request.method == "GET":
            return render(request, "accounts/preferences.html", prefs=preferences.current(), next=next_path)
        form = await read_form(request)
        chosen = preferences.from_form({k: v for k, v in form.items() if isinstance(v, str)})
        await service.save_preferences(db, actor, chosen.encode(), utcnow())
    response = RedirectResponse(next_path, status_code=303)
    _set_preferences_cookie(request, response, chosen.encode())
    return response


async def register(request: Request) -> Response:
    """GET the registration form; POST creates a citizen account and signs it in."""
    settings = request.app.state.settings
    async with scope(request) as (db, _actor):
        groups = await territories.communes_by_province(db, settings.region)
        form = RegisterForm()
        errors: dict[str, list[str]] = {}
        if request.method == "POST":
            form = RegisterForm(formdata=await read_form(request))
            client = request.client.host if request.client else "unknown"
            if not await request.app.state.register_limiter.hit("register", client):
                raise RateLimited()
            try:
                created = await service.register(db, form.to_registration(), settings.region, utcnow())
            except Invalid as exc:
                errors = exc.field_errors
            else:
                return _sign_in(request, created, request.query_params.get("next", "/"))
        return render(request, "accounts/register.html", status_code=422 if errors else 200,
                      form=form, errors=errors, groups=groups, next=request.query_params.get("next", ""))


async def login(request: Request) -> Response:
    """GET the sign-in form; POST checks the password. Failed attempts are rate-limited per address and per
    account; successful ones count for nothing, so people signing in from one shared connection (an office,
    a forum meeting's wifi) do not lock each other out."""
    async with scope(request) as (db, _actor):
        form = LoginForm()
        error = None
        if request.method == "POST":
            form = LoginForm(formdata=await read_form(request))
            limiter = request.app.state.login_limiter
            client = request.client.host if request.client else "unknown"
            email_key = request.app.state.keys.keyed_hash("login", service.normalise_email(form.email.data or ""))
            if not await limiter.allows("ip", client) or not await limiter.allows("account", email_key):
                raise RateLimited()
            try:
                created = await service.authenticate(db, form.email.data or "", form.password.data or "", utcnow())
            except Invalid as exc:
                error = exc.message
                await limiter.hit("ip", client)
                await limiter.hit("account", email_key)
            else:
                return _sign_in(request, created, request.query_params.get("next", "/"))
        return render(request, "accounts/login.html", status_code=422 if error else 200, form=form, error=error,
                      next=request.query_params.get("next", ""))


async def logout(request: Request) -> Response:
    """POST: end the session everywhere (rotate the nonce) and go home."""
    async with scope(request) as (db, actor):
        await read_form(request)
        await service.logout(db, actor, utcnow())
    request.session.clear()
    return RedirectResponse(path_for(request, "home"), status_code=303)
