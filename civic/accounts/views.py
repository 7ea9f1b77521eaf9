"""Account pages: register, confirm the email (issue #8), sign in, sign out."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from civic import preferences
from civic.accounts import service, verification
from civic.accounts.forms import LoginForm, RegisterForm
from civic.db import utcnow
from civic.errors import Invalid, RateLimited
from civic.territories import service as territories
from civic.web.requests import field, keys, path_for, read_form, render, scope


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
    """GET the registration form; POST registers (issue #8, item 4): a valid form always gets the same answer,
    303 to /account/verify, whether the address was new or taken; the session then holds only an opaque
    handle (civic.accounts.verification). New accounts per client address are capped (register_limiter, 429)."""
    settings = request.app.state.settings
    async with scope(request) as (db, _actor):
        groups = await territories.communes_by_province(db, settings.region)
        form = RegisterForm()
        errors: dict[str, list[str]] = {}
        next_path = request.query_params.get("next", "")
        if request.method == "POST":
            form = RegisterForm(formdata=await read_form(request))
            client = request.client.host if request.client else "unknown"
            if not await request.app.state.register_limiter.hit("register", client):
                raise RateLimited()
            data = form.to_registration()
            mail_key = verification.email_key(keys(request), service.normalise_email(data.email))

            async def mail_allowed() -> bool:
                return bool(await request.app.state.verify_mail_limiter.hit("email", mail_key))

            try:
                pending = await service.register(db, keys(request), data, settings.region, settings.base_url,
                                                 utcnow(), mail_allowed=mail_allowed)
            except Invalid as exc:
                errors = exc.field_errors
            else:
                request.session.clear()
                request.session.update({"verify": pending.handle, "verify_mail": mail_key})
                return RedirectResponse(_verify_path(request, next_path), status_code=303)
        return render(request, "accounts/register.html", status_code=422 if errors else 200,
                      form=form, errors=errors, groups=groups, next=next_path)


def _verify_path(request: Request, next_path: str, **params: str) -> str:
    query = {k: v for k, v in {"next": next_path, **params}.items() if v}
    return path_for(request, "account_verify") + (f"?{urlencode(query)}" if query else "")


def _handle(request: Request) -> str | None:
    handle = request.session.get("verify")
    return handle if isinstance(handle, str) else None


async def verify_email(request: Request) -> Response:
    """GET: the page where a person types the code mailed to them; POST: check it, verify the email and sign
    in (session rotated). Attempts are capped per account (verify_code_limiter, 429); a wrong or expired code
    gets one translated message (issue #8, item 4)."""
    next_path = request.query_params.get("next", "")
    async with scope(request) as (db, actor):
        handle = _handle(request)
        error = None
        if request.method == "POST":
            form = await read_form(request)
            who = f"user:{actor.user_id}" if actor.user_id is not None else keys(request).keyed_hash(
                "verify-handle", handle or "")
            if not await request.app.state.verify_code_limiter.hit("account", who):
                raise RateLimited()
            try:
                done = await verification.verify(db, keys(request), actor, handle, field(form, "code", 100), utcnow())
            except Invalid as exc:
                error = exc.field_errors["code"][0]
            else:
                return _sign_in(request, service.SessionUser(done.user_id, done.nonce), next_path)
        verified = actor.signed_in and actor.email_verified and error is None
        return render(request, "accounts/verify.html", status_code=422 if error else 200, error=error,
                      verified=verified, waiting=handle is not None or (actor.signed_in and not actor.email_verified),
                      sent=request.query_params.get("sent") == "1", next=next_path)


async def new_code(request: Request) -> Response:
    """POST "send me a new code": capped per email address (keyed hash; verify_mail_limiter) and per client address
    (register_limiter's rate, under its own key), 429; answers the same whether or not a mail went out
    (issue #8, item 4)."""
    next_path = request.query_params.get("next", "")
    async with scope(request) as (db, actor):
        await read_form(request)
        handle = _handle(request)
        mail_key = await verification.mail_key(db, keys(request), actor)
        if mail_key is None and actor.user_id is None:
            stored = request.session.get("verify_mail")
            mail_key = stored if isinstance(stored, str) else None
        if mail_key is not None:
            limiter = request.app.state.verify_mail_limiter
            client = request.client.host if request.client else "unknown"
            by_mail = await limiter.hit("email", mail_key)
            # Per client address, the looser new-accounts limit: people behind one NAT or in one cybercafé must
            # not use up each other's mails (issue #8 review); per email address, the strict one.
            by_client = await request.app.state.register_limiter.hit("verify-mail", client)
            if not (by_mail and by_client):
                raise RateLimited()
            await verification.resend(db, keys(request), actor, handle, request.app.state.settings.base_url,
                                      utcnow())
    return RedirectResponse(_verify_path(request, next_path, sent="1"), status_code=303)


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
