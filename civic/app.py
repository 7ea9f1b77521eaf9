"""create_app(settings) -> Starlette: the route table, middleware and lifespan. No logic here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.sessions import SessionMiddleware

from civic.db import make_engine, make_sessionmaker
from civic.migrations import head_revision
from civic.ratelimits import RateLimiter
from civic.security import Keys
from civic.settings import Settings, load_settings
from civic.web.middleware import (
    BodyLimitMiddleware,
    ClientOriginMiddleware,
    LanguageMiddleware,
    SecurityHeadersMiddleware,
)
from civic.web.responses import EXCEPTION_HANDLERS
from civic.web.routes import routes
from civic.web.templating import make_templates


def create_app(settings: Settings | None = None) -> Starlette:
    """Build the ASGI app. ``settings`` default to the environment (``load_settings``)."""
    settings = settings or load_settings()
    engine = make_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeadersMiddleware, https=settings.https),
            Middleware(GZipMiddleware, minimum_size=500),
            Middleware(LanguageMiddleware),
            Middleware(ClientOriginMiddleware),
            Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes,
                       timeout_seconds=settings.body_timeout_seconds,  # issue #8: bad input (slow clients)
                       overrides={r"^/petitions/\d+/paper/import$": 2 * 1024 * 1024,
                                  # consultation documents (PDF): the file plus room for the other fields
                                  r"^/consultations/\d+/documents$": settings.max_upload_bytes + 64 * 1024}),
            Middleware(SessionMiddleware, secret_key=settings.secret_key, session_cookie="civic_session",
                       same_site="lax", https_only=settings.https, max_age=14 * 24 * 3600),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.keys = Keys(settings.secret_key)
    app.state.templates = make_templates()
    # issue #8: limits — counted in the database (civic.ratelimits), so they hold across processes
    limiter_keys = app.state.keys
    app.state.login_limiter = RateLimiter("login", settings.login_rate_limit, engine, limiter_keys)
    app.state.register_limiter = RateLimiter("register", settings.register_rate_limit, engine, limiter_keys)
    # keys: ("account", user id)
    app.state.sign_limiter = RateLimiter("sign", settings.sign_rate_limit, engine, limiter_keys)
    # keys: ("cnie", keyed hash)
    app.state.sign_cnie_limiter = RateLimiter("sign_cnie", settings.sign_cnie_rate_limit, engine, limiter_keys)
    # keys: ("email", hash) / ("client", ip)
    app.state.verify_mail_limiter = RateLimiter("verify_mail", settings.verify_mail_rate_limit, engine, limiter_keys)
    # keys: ("account", user id)
    app.state.verify_code_limiter = RateLimiter("verify_code", settings.verify_code_rate_limit, engine, limiter_keys)
    app.state.schema_head = head_revision()
    return app
