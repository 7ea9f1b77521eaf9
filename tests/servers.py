"""Real app processes for the multi-process and fault tests (issue #8, items 2 and 3).

- ``AppProcess``: one ``uvicorn --factory civic.app:create_app`` process (what ``civic serve`` runs) on a free
  port of 127.0.0.1, with the test run's CIVIC_SECRET_KEY, so cookies and CSRF tokens forged here are valid in
  every process. Its output goes to a log file the tests read (no stack trace may appear there).
- ``Account``: a signed-in browser for one user: a forged Starlette session cookie (user id, session nonce,
  CSRF seed) and the matching CSRF token, so no argon2 and no sign-in rate limit stand in the way.
- ``add_users``: many made-up users in one statement (email verified when the column exists).
- ``TcpProxy``: an asyncio TCP relay between an app process and PostgreSQL that can drop every connection and
  refuse new ones for a while — a database restart without touching the machine's shared server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from base64 import b64encode
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import itsdangerous
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from civic.security import Keys, make_csrf_token
from civic.settings import ROOT
from tests.conftest import BACKEND, NOW, SECRET

START_TIMEOUT = 40.0  # seconds a process may take to answer /healthz (two cores shared with other suites)


def free_port() -> int:
    """A TCP port of 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class AppProcess:
    """One app process: ``python -m uvicorn --factory civic.app:create_app`` on ``database_url``.

    ``env`` adds or overrides CIVIC_* variables (e.g. a low ``CIVIC_SIGN_RATE_LIMIT``). ``base`` is its URL.
    """

    def __init__(self, database_url: str, log_dir: Path, env: dict[str, str] | None = None,
                 name: str = "app") -> None:
        self.database_url = database_url
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"{name}-{self.port}.log"
        self.env = {**os.environ, "CIVIC_DATABASE_URL": database_url, "CIVIC_SECRET_KEY": SECRET,
                    "CIVIC_ENV": "test", **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    def launch(self) -> None:
        """Start the process without waiting for it."""
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(  # our own interpreter and module, fixed arguments
            [sys.executable, "-m", "uvicorn", "--factory", "civic.app:create_app", "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "warning", "--timeout-graceful-shutdown", "2"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    async def start(self) -> AppProcess:
        """Start the process and wait until ``/healthz`` answers 200. Raises AssertionError when it exits or does
        not answer within START_TIMEOUT seconds."""
        self.launch()
        await self.wait_healthy()
        return self

    async def wait_healthy(self, seconds: float = START_TIMEOUT) -> None:
        """Wait until ``/healthz`` answers 200 (the process answers and its database is reachable)."""
        deadline = time.monotonic() + seconds
        async with httpx.AsyncClient(timeout=3) as client:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.base}/healthz")).status_code == 200:
                        return
                assert self.alive(), f"the app process exited: {self.log()[-2000:]}"
                assert time.monotonic() < deadline, f"the app process did not start: {self.log()[-2000:]}"
                await asyncio.sleep(0.1)

    async def warm(self) -> None:
        """Load what the first requests load (templates, catalogues, imports), so that a load test measures the
        steady state: the home page in each language."""
        for lang in ("ar", "fr", "zgh"):
            async with httpx.AsyncClient(base_url=self.base, timeout=30, cookies={"civic_lang": lang}) as client:
                await client.get("/")

    def alive(self) -> bool:
        """True while the process runs."""
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """kill -9: no shutdown, no flush, open transactions die with their connections."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL after 10 s)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()

    def log(self) -> str:
        """What the process wrote so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""


@asynccontextmanager
async def app_processes(database_url: str, log_dir: Path, count: int = 2,
                        env: dict[str, str] | None = None) -> AsyncIterator[list[AppProcess]]:
    """``count`` app processes on one database, started together; stopped on exit."""
    processes = [AppProcess(database_url, log_dir, env, name=f"app{i}") for i in range(count)]
    try:
        for p in processes:
            p.launch()
        await asyncio.gather(*(p.wait_healthy() for p in processes))
        await asyncio.gather(*(p.warm() for p in processes))
        yield processes
    finally:
        for p in processes:
            p.stop()


# --- accounts -------------------------------------------------------------------------------------------------


def session_cookie(data: dict[str, object]) -> str:
    """The ``civic_session`` cookie Starlette's SessionMiddleware would set for ``data`` (base64 JSON signed
    with itsdangerous' TimestampSigner and the app's secret key)."""
    payload = b64encode(json.dumps(data).encode("utf-8"))
    return itsdangerous.TimestampSigner(SECRET).sign(payload).decode("utf-8")


@dataclass
class Account:
    """A signed-in person: user id, the forged session cookie and the CSRF token that goes with it."""

    user_id: int
    cookie: str
    csrf: str
    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)

    def client(self, base: str) -> httpx.AsyncClient:
        """This person's browser on one app process (its own cookie jar, redirects not followed)."""
        if base not in self.clients:
            self.clients[base] = httpx.AsyncClient(base_url=base, cookies={"civic_session": self.cookie},
                                                   timeout=httpx.Timeout(60), follow_redirects=False)
        return self.clients[base]

    def form(self, **values: str) -> dict[str, str]:
        """Form fields with the CSRF token."""
        return {"csrf_token": self.csrf, **values}

    async def close(self) -> None:
        """Close every client."""
        for client in self.clients.values():
            await client.aclose()
        self.clients.clear()


async def account_for(session: AsyncSession, user_id: int) -> Account:
    """An Account for an existing user (reads its session nonce)."""
    nonce = await session.scalar(text("SELECT session_nonce FROM users WHERE id = :id"), {"id": user_id})
    await session.commit()
    seed = secrets.token_urlsafe(16)
    cookie = session_cookie({"uid": user_id, "nonce": nonce, "csrf": seed})
    return Account(user_id, cookie, make_csrf_token(Keys(SECRET), seed))


async def accounts_for(session: AsyncSession, user_ids: Sequence[int]) -> list[Account]:
    """Accounts for many users (one query for their session nonces), in the order of ``user_ids``."""
    nonces = dict((await session.execute(text("SELECT id, session_nonce FROM users"))).all())
    await session.commit()
    keys = Keys(SECRET)
    out = []
    for user_id in user_ids:
        seed = secrets.token_urlsafe(16)
        out.append(Account(user_id, session_cookie({"uid": user_id, "nonce": nonces[user_id], "csrf": seed}),
                           make_csrf_token(keys, seed)))
    return out


async def add_users(session: AsyncSession, count: int, communes: Sequence[str], prefix: str = "load",
                    display_name: str | None = None) -> list[int]:
    """Insert ``count`` made-up citizens in one statement (no argon2), email verified when the schema has
    ``users.email_verified_at``; returns their ids in order. Commune ``communes[i % len(communes)]``; display
    name ``display_name`` for all, or ``"<prefix> <i>"``."""
    columns = {row[0] for row in (await session.execute(text(
        "SELECT name FROM pragma_table_info('users')" if BACKEND == "sqlite" else
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'users' "
        "AND table_schema = current_schema()"))).all()}
    verified = "email_verified_at" in columns
    at = NOW.replace(tzinfo=None) if BACKEND == "sqlite" else NOW
    tag = secrets.token_hex(4)
    rows = [{"n": display_name or f"{prefix} {i}", "e": f"{prefix}{i}-{tag}@test.invalid",
             "c": communes[i % len(communes)], "nonce": secrets.token_hex(8), "t": at} for i in range(count)]
    extra_column, extra_value = (", email_verified_at", ", :t") if verified else ("", "")
    statement = ("INSERT INTO users (display_name, email, password_hash, role, commune_code, session_nonce, "  # noqa: S608 - fixed names, values bound
                 f"created_at{extra_column}) VALUES (:n, :e, 'x', 'citizen', :c, :nonce, :t{extra_value})")
    await session.execute(text(statement), rows)
    ids = [int(i) for i in (await session.scalars(text(
        "SELECT id FROM users WHERE email LIKE :pattern ORDER BY id"), {"pattern": f"%-{tag}@test.invalid"})).all()]
    await session.commit()
    assert len(ids) == count
    return ids


# --- a TCP proxy in front of PostgreSQL ---------------------------------------------------------------------


class TcpProxy:
    """Relay 127.0.0.1:<port> to ``target``. ``down()`` closes every relayed connection and stops listening
    (new connections are refused: ECONNREFUSED), ``up()`` listens again on the same port."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.accepted = 0

    async def up(self) -> None:
        """Listen (again)."""
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port, reuse_address=True)

    async def down(self) -> None:
        """Drop every connection and refuse new ones."""
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return
        self.writers |= {client_writer, server_writer}

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                writer.transport.abort()
                self.writers.discard(writer)

        await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))
