"""The client address behind a reverse proxy (issue #8, item 4), through the real ``civic serve`` command.

Per-address limits (here: new accounts per client address) must count the person's address, not the proxy's:
with ``CIVIC_TRUSTED_PROXIES`` naming the proxy, 50 people behind one carrier NAT or cybercafé reach the app
through the proxy and are told apart by X-Forwarded-For. From an untrusted peer, the same header is a spoof and
is ignored, so a script cannot escape the limit by inventing addresses. ``civic serve`` passes the setting to
uvicorn (``proxy_headers`` and ``forwarded_allow_ips``), so these tests run that command itself.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import httpx

from civic.settings import Settings
from tests.conftest import csrf_from
from tests.servers import AppProcess

PEOPLE = 6  # registrations, each from a different address as the proxy reports it
LIMIT = "2/hour"  # new accounts per client address


class ServeProcess(AppProcess):
    """``python -m civic serve`` (the documented production command) instead of bare uvicorn."""

    def launch(self) -> None:
        """Start ``civic serve`` on this process's port without waiting for it."""
        import subprocess

        from civic.settings import ROOT

        log = self.log_path.open("ab")
        self.process = subprocess.Popen(  # our own interpreter and module, fixed arguments
            [sys.executable, "-m", "civic", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()


async def register_from(base: str, n: int, forwarded_for: str) -> int:
    """Register one made-up person with ``X-Forwarded-For: forwarded_for``; returns the answer's status."""
    async with httpx.AsyncClient(base_url=base, timeout=30, headers={"X-Forwarded-For": forwarded_for}) as client:
        token = csrf_from((await client.get("/register")).text)
        answer = await client.post("/register", data={
            "csrf_token": token, "display_name": f"Person {n}", "email": f"proxy{n}-{forwarded_for}@test.invalid",
            "password": "a long enough password", "commune_code": "05.091.01.01"})
        return answer.status_code


async def registrations(settings: Settings, tmp_path: Path, trusted: str, prefix: str) -> list[int]:
    """PEOPLE registrations, the i-th claiming to come from 203.0.113.i, against a fresh ``civic serve``.
    (The tests ask for ``sessionmaker``: territories loaded, tables emptied afterwards.)"""
    env = {"CIVIC_TRUSTED_PROXIES": trusted, "CIVIC_REGISTER_RATE_LIMIT": LIMIT,
           "CIVIC_VERIFY_MAIL_RATE_LIMIT": "100/hour"}
    process = ServeProcess(settings.database_url, tmp_path, env, name=f"serve-{prefix}")
    try:
        await process.start()
        statuses = [await register_from(process.base, i, f"203.0.113.{i + 1}") for i in range(PEOPLE)]
        assert "Traceback" not in process.log()
        return statuses
    finally:
        process.stop()


async def test_people_behind_a_trusted_proxy_are_told_apart(settings, sessionmaker, tmp_path) -> None:  # type: ignore[no-untyped-def]
    statuses = await registrations(settings, tmp_path, "127.0.0.1", "trusted")
    assert statuses == [303] * PEOPLE  # each address is under its own limit of 2


async def test_a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(settings, sessionmaker, tmp_path) -> None:  # type: ignore[no-untyped-def]
    statuses = await registrations(settings, tmp_path, "", "untrusted")
    # Every request really comes from 127.0.0.1: the limit of 2 new accounts per address applies to all of them.
    assert statuses == [303, 303] + [429] * (PEOPLE - 2)
    assert all(re.fullmatch(r"\d{3}", str(s)) for s in statuses)
