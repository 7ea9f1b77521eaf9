"""Oversized and slow request bodies against a real uvicorn server over raw sockets (issue #8, item 5).

1. A body whose Content-Length is past the limit gets 413 at once, before the client has sent any of it.
2. A chunked body that passes the limit gets 413 as soon as it does: the server stops reading (the client is
   still able to send far more than the limit after the answer arrived).
3. A client that sends its body a few bytes a second holds no database connection while it does (the actor
   lookup and the page's reads run in their own short transactions) and is cut off with a translated 408 once
   ``CIVIC_BODY_TIMEOUT_SECONDS`` has passed.
4. A slow but complete body that arrives within the deadline is served normally (the deadline does not cut
   honest clients).

Test 1 and 2 run against a separate ``uvicorn --factory civic.app:create_app`` process; 3 and 4 serve the app
in the test's event loop (uvicorn.Server on a real socket) so the test can look at the app's connection pool.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import httpx
import pytest
import uvicorn
from sqlalchemy import text

from civic import i18n
from civic.accounts import service as accounts
from civic.app import create_app
from civic.settings import ROOT, Settings
from civic.web.middleware import BodyLimitMiddleware, BodyTimeout
from tests.conftest import BACKEND, NOW, SECRET, csrf_from, make_user
from tests.test_live import _port
from tests.test_petitions_service import open_petition

LIMIT = 256 * 1024  # CIVIC_MAX_BODY_BYTES default
TIMEOUT = 2  # CIVIC_BODY_TIMEOUT_SECONDS in these tests
PASSWORD = "slow-client-password-2026"


@contextmanager
def server_process(settings: Settings) -> Iterator[int]:
    """``uvicorn --factory civic.app:create_app`` on the test database; yields its port."""
    sock = _port()
    port = sock.getsockname()[1]
    sock.close()
    env = {**os.environ, "CIVIC_DATABASE_URL": settings.database_url, "CIVIC_SECRET_KEY": SECRET,
           "CIVIC_ENV": "test", "CIVIC_UPLOAD_DIR": settings.upload_dir}
    process = subprocess.Popen(  # our own interpreter and module
        [sys.executable, "-m", "uvicorn", "--factory", "civic.app:create_app", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"], cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def live_port(settings: Settings) -> Iterator[int]:
    with server_process(settings) as port:
        yield port


async def read_head(reader: asyncio.StreamReader, seconds: float) -> str:
    """The status line and headers of the answer (raises TimeoutError when none comes in ``seconds``)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), seconds)
    return head.decode("latin-1")


async def test_declared_oversized_body_gets_413_before_it_is_sent(live_port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", live_port)
    try:
        writer.write(b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n"
                     b"Content-Length: 52428800\r\n\r\n")  # 50 MB announced, not one byte of it sent
        await writer.drain()
        head = await read_head(reader, 5)
        assert head.startswith("HTTP/1.1 413 "), head
        assert "content-type: text/html" in head.lower()
    finally:
        writer.close()


async def test_chunked_body_past_the_limit_is_cut_off(live_port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", live_port)
    chunk = b"a=" + b"x" * (64 * 1024 - 2)
    sent = 0
    head = ""
    try:
        writer.write(b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n")
        # Up to 40 times the limit: the answer must come long before that, after a little more than the limit.
        while sent < 40 * LIMIT:
            writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            sent += len(chunk)
            try:
                await asyncio.wait_for(writer.drain(), 2)
            except (TimeoutError, ConnectionError):
                break  # the server stopped reading
            try:
                head = await read_head(reader, 0.05)
                break
            except TimeoutError:
                continue
            except asyncio.IncompleteReadError:
                break
        if not head:
            head = await read_head(reader, 5)
        assert head.startswith("HTTP/1.1 413 "), head
        # answered well before the client got to send the whole body (socket buffers hold a few chunks)
        assert sent < 20 * LIMIT, f"the server read {sent} bytes before answering"
    finally:
        writer.close()


@asynccontextmanager
async def serving_in_loop(settings: Settings) -> AsyncIterator[tuple[int, object]]:
    """The app (body timeout TIMEOUT) served by uvicorn in this event loop; yields (port, app)."""
    app = create_app(dataclasses.replace(settings, body_timeout_seconds=TIMEOUT))
    sock = _port()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=2))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.02)
        yield sock.getsockname()[1], app
    finally:
        server.should_exit = True
        await task
        sock.close()
        await app.state.engine.dispose()


async def signed_in(base: str, session, email: str) -> tuple[dict[str, str], str]:  # type: ignore[no-untyped-def]
    """Create an account, sign in through the form; returns (cookies, a CSRF token of the session)."""
    await accounts.create_user(session, display_name="Slow Client", email=email, password=PASSWORD,
                               role="citizen", commune_code="05.091.01.01", now=NOW, region_code="05")
    async with httpx.AsyncClient(base_url=base) as client:
        page = await client.get("/login")
        r = await client.post("/login", data={"csrf_token": csrf_from(page.text), "email": email,
                                              "password": PASSWORD})
        assert r.status_code == 303, r.text
        page = await client.get("/petitions/new")
        return dict(client.cookies), csrf_from(page.text)


def request_head(path: str, cookies: dict[str, str], length: int) -> bytes:
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {length}\r\n\r\n").encode()


async def database_connections(app) -> int:  # type: ignore[no-untyped-def]
    """Connections the app's pool has handed out (and, on PostgreSQL, this test database's busy backends)."""
    return int(app.state.engine.pool.checkedout())


async def pg_busy_backends(session) -> int:  # type: ignore[no-untyped-def]
    """Backends of the test database inside a transaction or running a query, other than this one."""
    return int(await session.scalar(text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND state IN ('active', 'idle in transaction', 'idle in transaction (aborted)')")))


async def test_slow_body_holds_no_connection_and_gets_408(settings: Settings, session) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    pid = await open_petition(session, author)
    async with serving_in_loop(settings) as (port, app):
        cookies, token = await signed_in(f"http://127.0.0.1:{port}", session, "slow@test.invalid")
        await session.commit()
        body = (f"csrf_token={token}&full_name=Slow+Person&cnie=ZZ123456&commune_code=05.091.01.01"
                "&electoral_declaration=y&consent=y").encode()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        try:
            writer.write(request_head(f"/petitions/{pid}/sign", cookies, len(body) + 1000))  # never all sent
            await writer.drain()
            held: list[int] = []
            busy: list[int] = []
            head = ""
            for i in range(0, len(body), 3):  # three bytes every 0.2 s until the server gives up
                writer.write(body[i:i + 3])
                try:
                    await writer.drain()
                except ConnectionError:
                    break
                await asyncio.sleep(0.2)
                if time.monotonic() - started > 0.5:  # the view is waiting for the body by now
                    held.append(await database_connections(app))
                    if BACKEND == "postgres":
                        busy.append(await pg_busy_backends(session))
                        await session.commit()
                try:
                    head = await read_head(reader, 0.01)
                    break
                except (TimeoutError, asyncio.IncompleteReadError):
                    continue
            if not head:
                head = await read_head(reader, 5)
            elapsed = time.monotonic() - started
            rest = await asyncio.wait_for(reader.read(65536), 5)
        finally:
            writer.close()
        assert head.startswith("HTTP/1.1 408 "), head
        assert TIMEOUT - 0.5 <= elapsed <= TIMEOUT + 3, elapsed
        assert len(held) >= 5 and set(held) == {0}, f"connections checked out while waiting for the body: {held}"
        assert set(busy) <= {0}, f"busy PostgreSQL backends while waiting for the body: {busy}"
        page = rest.decode("utf-8", "replace")
        i18n.set_language("ar")
        assert i18n.gettext(BodyTimeout.message) in page
        assert "Traceback" not in page and 'lang="ar"' in page


async def test_slow_but_complete_body_is_served(settings: Settings, session) -> None:  # type: ignore[no-untyped-def]
    async with serving_in_loop(settings) as (port, _app):
        cookies, token = await signed_in(f"http://127.0.0.1:{port}", session, "patient@test.invalid")
        body = f"csrf_token={token}&title=x".encode()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(request_head("/petitions/new", cookies, len(body)))
            step = max(1, len(body) // 5)
            for i in range(0, len(body), step):  # the whole body within about 1 s, under the 2 s deadline
                writer.write(body[i:i + step])
                await writer.drain()
                await asyncio.sleep(0.2)
            head = await read_head(reader, 5)
        finally:
            writer.close()
        assert head.startswith("HTTP/1.1 422 "), head  # the form's own answer: title too short, no body


@pytest.mark.parametrize("with_body", [True, False])
async def test_the_deadline_ends_with_the_body(with_body: bool) -> None:
    """Once the body is complete, waiting on ``receive`` (a streamed answer listening for the disconnect) is not
    cut by the body deadline; a request without a body has no deadline at all."""
    seen: list[object] = []
    queue: asyncio.Queue[dict[str, object]] = asyncio.Queue()
    await queue.put({"type": "http.request", "body": b"a=1" if with_body else b"", "more_body": False})

    async def app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        seen.append((await receive())["type"])
        seen.append((await receive())["type"])  # long after the deadline

    async def receive() -> dict[str, object]:
        return await queue.get()

    async def send(message) -> None:  # type: ignore[no-untyped-def]
        return None

    async def disconnect_later() -> None:
        await asyncio.sleep(1.5)
        await queue.put({"type": "http.disconnect"})

    middleware = BodyLimitMiddleware(app, 1024, timeout_seconds=1)
    headers = [(b"content-length", b"3")] if with_body else []
    scope = {"type": "http", "method": "POST", "path": "/x", "headers": headers}
    await asyncio.gather(middleware(scope, receive, send), disconnect_later())  # type: ignore[arg-type]
    assert seen == ["http.request", "http.disconnect"]
