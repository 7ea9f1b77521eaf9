"""Pure ASGI middleware: request body limit, security headers, language selection, client origin for the audit."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from urllib.parse import unquote

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from civic import audit, i18n, preferences
from civic.errors import DomainError
from civic.i18n import N_

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
LANGUAGE_COOKIE = "civic_lang"


class BodyTooLarge(Exception):
    """A request body went past the limit while it was being read."""


class BodyTimeout(DomainError):
    """The client did not send its whole request body in time (408; issue #8, item 5: slow clients).

    A DomainError, so the app's domain error handler answers it with this translated message.
    """

    status_code = 408
    message = N_("Your request took too long to arrive. Please check your connection and try again.")


class BodyLimitMiddleware:
    """Refuse bodies larger than ``max_bytes`` before reading them whole, and bodies that arrive too slowly.

    Reading such a body raises BodyTooLarge at once (declared Content-Length) or as soon as the limit is
    passed (chunked); the app's exception handler answers 413 with a translated page.
    timeout_seconds: the body must have arrived this many seconds after the request started, plus one second for
    every MIN_RATE bytes already received (Apache mod_reqtimeout's ``body=…,MinRate=…``: a large upload over a
    slow but honest line keeps going), or reading raises BodyTimeout (408) as soon as the deadline passes. It is
    a deadline, not a per-chunk idle timeout, so a client trickling a few bytes a second is cut off too. Once
    the body is complete, ``receive`` is passed through untouched (streamed responses wait on it for the
    disconnect). None: no deadline.
    Source: issue #8, item 5 (oversized bodies answered 413 before being read whole; slow clients time out).
    overrides: regular expression of a path (without the root path) → its own limit; the first match wins.
    """

    MIN_RATE = 500  # bytes per second that earn one more second of deadline

    def __init__(self, app: ASGIApp, max_bytes: int, overrides: Mapping[str, int] | None = None,
                 timeout_seconds: float | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_seconds = timeout_seconds
        self.overrides = [(re.compile(pattern), limit) for pattern, limit in (overrides or {}).items()]

    def limit_for(self, scope: Scope) -> int:
        """The body limit of the request's path."""
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):]
        return next((limit for pattern, limit in self.overrides if pattern.search(path)), self.max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.limit_for(scope)
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        declared_too_large = length is not None and length.isdigit() and int(length) > max_bytes
        has_body = length not in (None, "0") or "transfer-encoding" in headers
        received = 0
        complete = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_seconds if self.timeout_seconds is not None and has_body else None

        async def limited_receive() -> Message:
            nonlocal received, complete
            if complete:
                return await receive()
            if declared_too_large:
                raise BodyTooLarge()
            if deadline is None:
                message = await receive()
            else:
                try:
                    remaining = deadline + received / self.MIN_RATE - loop.time()
                    async with asyncio.timeout(max(remaining, 0.0)):  # no extra task on the hot path
                        message = await receive()
                except TimeoutError:
                    raise BodyTimeout() from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise BodyTooLarge()
                complete = not message.get("more_body", False)
            else:
                complete = True  # http.disconnect: nothing more will come
            return message

        await self.app(scope, limited_receive, send)


class SecurityHeadersMiddleware:
    """Strict CSP, no framing, no sniffing, and HSTS behind TLS (design.md, security headers)."""

    def __init__(self, app: ASGIApp, https: bool) -> None:
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", CSP)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "same-origin")
                headers.setdefault("X-Frame-Options", "DENY")
                if self.https:
                    headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
            await send(message)

        await self.app(scope, receive, send_with_headers)


class LanguageMiddleware:
    """Pick the interface language from the ``civic_lang`` cookie (Arabic by default, domain.md §5) and the
    display preferences from the ``civic_prefs`` cookie."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        code = i18n.DEFAULT_LANGUAGE
        prefs = None
        for part in Headers(scope=scope).get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == LANGUAGE_COOKIE and value in i18n.LANGUAGES:
                code = value
            elif name == preferences.COOKIE:
                prefs = preferences.decode(unquote(value))
        token = i18n.set_language(code)
        prefs_token = preferences.set_current(prefs or preferences.Preferences())
        try:
            await self.app(scope, receive, send)
        finally:
            preferences.reset(prefs_token)
            i18n._current.reset(token)


class ClientOriginMiddleware:
    """Give the audit log the client address of each request ("from where", issue #6, item 5).

    The address is the ASGI scope's ``client``: the peer, or the address the server took from X-Forwarded-For
    when the peer is one of ``CIVIC_TRUSTED_PROXIES`` (``civic serve`` sets uvicorn's ``forwarded_allow_ips``).
    No header is read here, so an untrusted peer cannot choose what the log records.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        token = audit.set_origin(str(client[0]) if client else None)
        try:
            await self.app(scope, receive, send)
        finally:
            audit.reset_origin(token)
