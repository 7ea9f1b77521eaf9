"""The server under test (issue #8, item 1): ``uvicorn 'civic.app:create_app' --factory --workers 2`` on a free
loopback port, on the benchmark database, with a known secret key and rate limits raised for the benchmark.

The rate limits are raised because every benchmark client signs from 127.0.0.1 and each account signs many
petitions over the runs; the limits themselves are tested in tests/, not measured here.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
HIGH_LIMIT = "1000000/hour"
RATE_LIMIT_VARIABLES = ("CIVIC_LOGIN_RATE_LIMIT", "CIVIC_REGISTER_RATE_LIMIT", "CIVIC_SIGN_RATE_LIMIT",
                        "CIVIC_SIGN_CNIE_RATE_LIMIT", "CIVIC_VERIFY_MAIL_RATE_LIMIT", "CIVIC_VERIFY_CODE_RATE_LIMIT")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(url: str, secret_key: str) -> dict[str, str]:
    """The environment the benchmark gives the app: database, key, development mode, high rate limits."""
    env = {**os.environ, "CIVIC_DATABASE_URL": url, "CIVIC_SECRET_KEY": secret_key, "CIVIC_ENV": "development"}
    env.update({name: HIGH_LIMIT for name in RATE_LIMIT_VARIABLES})
    return env


class Uvicorn:
    """``uvicorn --workers N`` in a subprocess; ``stop()`` ends it (and only it, by its own process id)."""

    COMMAND = "uvicorn 'civic.app:create_app' --factory --workers 2 --host 127.0.0.1 --port PORT --no-access-log"

    def __init__(self, url: str, secret_key: str, workers: int = 2) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [str(ROOT / ".venv/bin/uvicorn"), "civic.app:create_app", "--factory", "--workers", str(workers),
             "--host", "127.0.0.1", "--port", str(self.port), "--no-access-log", "--log-level", "warning"],
            env=server_env(url, secret_key), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 90
        healthy = 0
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise RuntimeError("the server stopped: " + err[-2000:])
            try:
                if httpx.get(self.base + "/healthz", timeout=5).status_code == 200:
                    healthy += 1
                    if healthy >= 4:  # both workers are likely up
                        return
                    continue
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError("the server did not answer /healthz within 90 s")

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the server and its worker processes."""
        total = 0.0
        try:
            proc = psutil.Process(self.process.pid)
            for p in [proc, *proc.children(recursive=True)]:
                try:
                    t = p.cpu_times()
                    total += t.user + t.system
                except psutil.NoSuchProcess:
                    pass
        except psutil.NoSuchProcess:
            pass
        return total

    def rss_mb(self) -> float:
        """Resident memory of the server and its workers, in MB."""
        proc = psutil.Process(self.process.pid)
        return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 1024 / 1024

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def postgres_cpu(database: str = "civic_bench") -> dict[int, float]:
    """CPU seconds used so far, per process id, by PostgreSQL for ``database``: its backends plus the shared
    background processes (WAL writer, checkpointer, …), not the backends of other databases (other sessions'
    tests share the server). Read with psutil from the process titles; nothing is signalled."""
    found: dict[int, float] = {}
    for p in psutil.process_iter(["name", "cmdline", "cpu_times"]):
        try:
            title = " ".join(p.info["cmdline"] or [])
            if not (p.info["name"] or "").startswith("postgres") or p.info["cpu_times"] is None:
                continue
            backend = "127.0.0.1(" in title or "[local]" in title
            if backend and f" {database} " not in title:
                continue
            found[p.pid] = p.info["cpu_times"].user + p.info["cpu_times"].system
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return found


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two ``postgres_cpu`` readings by the processes alive at the second one (a
    backend that ended in between is not counted: the figure is a lower bound, never negative)."""
    return sum(max(0.0, t - before.get(pid, 0.0)) for pid, t in after.items())
