"""Pure ASGI middleware: request body limit, security headers, language selection, client origin for the audit."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import unquote

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from civic import audit, i18n, preferences

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
LANGUAGE_COOKIE = "civic_lang"


class BodyTooLarge(Exception):
    """A request body went past the limit while it was being read."""


class BodyLimitMiddleware:
    """Refuse bodies larger than ``max_bytes`` before reading them whole.

    Reading such a body raises BodyTooLarge at once (declared Content-Length) or as soon as the limit is
    passed (chunked); the app's exception handler answers 413 with a translated page.
    overrides: regular expression of a path (without the root path) → its own limit; the first match wins.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, overrides: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
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
        length = Headers(scope=scope).get("content-length")
        declared_too_large = length is not None and length.isdigit() and int(length) > max_bytes
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            if declared_too_large:
                raise BodyTooLarge()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise BodyTooLarge()
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
