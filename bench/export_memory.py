"""Export memory benchmark (issue #6): does exporting 1,000,000 signatures keep the server's memory flat?

What it does, on PostgreSQL:
1. creates the database if it is missing (the role ``civic`` has CREATEDB), migrates it, loads the territories;
2. inserts one petition with ``--rows`` signatures (default 1,000,000) with asyncpg's COPY, looking like real
   ones: a distinct CNIE HMAC per row, Fernet-encrypted CNIEs (a pool of 1,000 ciphertexts reused, to be
   fast), names, communes and provinces of the region. Re-runs reuse the rows already there;
3. for each format, starts the real server (``civic serve``) as a subprocess, signs in as a council staff
   user through the login form, downloads the staff signatures export ``--runs`` times (streamed, bytes
   dropped), and samples the server process's RSS with psutil every 50 ms;
4. prints rows/s and peak RSS (MB) per run and the median, and with ``--results bench/RESULTS.md`` writes them
   into the section "Export memory (issue #6)" of that file (the rest of the file is left alone).

Run: ``make bench`` or ``.venv/bin/python bench/export_memory.py [--rows N] [--xlsx-rows N] [--runs 3]``.
Database: ``CIVIC_BENCH_DATABASE_URL`` (default postgresql+asyncpg://civic:civic@127.0.0.1:5432/civic_bench).
The made-up identities and the password here are for this benchmark database only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgresql+asyncpg://civic:civic@127.0.0.1:5432/civic_bench"
SECRET_KEY = "bench-only-secret-key-" + "k" * 32  # the benchmark database's own key, not a real one
STAFF_EMAIL = "bench-staff@example.invalid"
AUTHOR_EMAIL = "bench-author@example.invalid"
PASSWORD = "bench-password-2026"  # noqa: S105 - the benchmark database's made-up account
TITLE_PREFIX = "Benchmark petition"
SAMPLE_SECONDS = 0.05
POOL = 1_000
SECTION = "## Export memory (issue #6)"
FIRST_NAMES = ("أمينة", "يوسف", "فاطمة", "محمد", "خديجة", "عمر", "سناء", "Karim", "Nadia", "Hassan", "Zineb", "Said")
LAST_NAMES = ("العلوي", "بنعلي", "الإدريسي", "Amrani", "Tazi", "Berrada", "الفاسي", "Ouazzani", "الحسني", "Alaoui")


@dataclass
class Run:
    """One download: format, rows, seconds from request to last byte, bytes, RSS before and peak (MB)."""

    fmt: str
    rows: int
    seconds: float
    size: int
    rss_before: float
    rss_peak: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def ensure_database(url: str) -> None:
    """Create the database of ``url`` when it does not exist (as its role, which has CREATEDB)."""
    import asyncpg

    try:
        conn = await asyncpg.connect(_plain(url))
    except asyncpg.InvalidCatalogNameError:
        base, _, name = url.rpartition("/")
        conn = await asyncpg.connect(_plain(base + "/postgres"))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        print(f"created database {name}")
    else:
        await conn.close()


def _settings(url: str):  # type: ignore[no-untyped-def]
    from civic.settings import load_settings

    return load_settings({"CIVIC_DATABASE_URL": url, "CIVIC_SECRET_KEY": SECRET_KEY, "CIVIC_ENV": "development"})


async def prepare(url: str, rows: int, title: str) -> int:
    """The benchmark petition with ``rows`` signatures (created, or found from an earlier run): its id."""
    import asyncpg
    from sqlalchemy import select

    from civic.accounts import service as accounts
    from civic.accounts.models import User
    from civic.db import make_engine, make_sessionmaker
    from civic.security import Keys
    from civic.territories.service import load_territories

    settings = _settings(url)
    engine = make_engine(url)
    now = datetime.now(UTC)
    try:
        async with make_sessionmaker(engine)() as session:
            await load_territories(session, settings.region)
            for email, role, name in ((STAFF_EMAIL, "council_staff", "Bench Staff"),
                                      (AUTHOR_EMAIL, "citizen", "Bench Author")):
                found = await session.scalar(select(User.id).where(User.email == email))
                await session.commit()
                if found is None:
                    await accounts.create_user(session, display_name=name, email=email, password=PASSWORD, role=role,
                                               commune_code="05.091.01.01", now=now, region_code=settings.region)
    finally:
        await engine.dispose()

    conn = await asyncpg.connect(_plain(url))
    try:
        author = await conn.fetchval("SELECT id FROM users WHERE email = $1", AUTHOR_EMAIL)
        petition = await conn.fetchval("SELECT id FROM petitions WHERE title = $1", title)
        if petition is not None:
            have = await conn.fetchval("SELECT count(*) FROM signatures WHERE petition_id = $1", petition)
            if have == rows:
                print(f"petition {petition} already has {rows:,} signatures")
                return int(petition)
            await conn.execute("DELETE FROM signatures WHERE petition_id = $1", petition)
        else:
            petition = await conn.fetchval(
                "INSERT INTO petitions (kind, title, body, addressed_to, status, region_code, author_id, created_at, "
                "published_at, collection_ends_at, threshold, province_minimum, require_electoral_registration, "
                "hidden_reason) VALUES ('citizen', $1, $2, 'council', 'collecting', '05', $3, $4, $4, $5, 400, 20, "
                "true, '') RETURNING id",
                title, "عريضة لقياس الذاكرة عند تصدير التوقيعات. " * 3, author, now, now + timedelta(days=365))
        communes = await conn.fetch(
            "SELECT code, province_code FROM territories WHERE region_code = '05' AND kind = 'commune' ORDER BY code")
        keys = Keys(SECRET_KEY)
        pool = [keys.encrypt_cnie(f"BP{j:06d}") for j in range(POOL)]
        started = time.perf_counter()
        batch = 50_000
        columns = ("petition_id", "full_name", "cnie_hmac", "cnie_encrypted", "commune_code", "province_code",
                   "electoral_declaration", "consent_at", "channel", "created_at", "public_name")
        for first in range(0, rows, batch):
            records = []
            for i in range(first, min(rows, first + batch)):
                commune = communes[i % len(communes)]
                name = f"{FIRST_NAMES[i % len(FIRST_NAMES)]} {LAST_NAMES[(i // 7) % len(LAST_NAMES)]}"
                records.append((petition, name, keys.cnie_hmac(f"BK{i:06d}" if i < 1_000_000 else f"BL{i:06d}"),
                                pool[i % POOL], commune["code"], commune["province_code"], True, now,
                                "online" if i % 10 else "paper", now + timedelta(microseconds=i), False))
            await conn.copy_records_to_table("signatures", records=records, columns=columns)
            print(f"\r  inserted {min(rows, first + batch):,} / {rows:,}", end="", flush=True)
        await conn.execute("ANALYZE signatures")
        print(f"\n{rows:,} signatures inserted in {time.perf_counter() - started:.0f} s")
        return int(petition)
    finally:
        await conn.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``civic serve`` in a subprocess on a free port, with the benchmark's database and key."""

    def __init__(self, url: str) -> None:
        self.port = _free_port()
        env = {**os.environ, "CIVIC_DATABASE_URL": url, "CIVIC_SECRET_KEY": SECRET_KEY, "CIVIC_ENV": "development"}
        self.process = subprocess.Popen(
            [str(ROOT / ".venv/bin/civic"), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("the server stopped: " + (self.process.stderr.read().decode() if
                                                              self.process.stderr else ""))
            try:
                if httpx.get(self.base + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the server did not answer /healthz within 60 s")

    def rss_mb(self) -> float:
        """Resident memory of the server process (and any children), in MB."""
        proc = psutil.Process(self.process.pid)
        total = proc.memory_info().rss
        for child in proc.children(recursive=True):
            total += child.memory_info().rss
        return total / 1024 / 1024

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def sign_in(client: httpx.Client) -> None:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, "no CSRF token on /login"
    r = client.post("/login", data={"csrf_token": token.group(1), "email": STAFF_EMAIL, "password": PASSWORD})
    assert r.status_code == 303, f"sign-in failed: HTTP {r.status_code}"


def download(server: Server, client: httpx.Client, petition: int, fmt: str, rows: int) -> Run:
    """One export, streamed and dropped, while a thread samples the server's RSS every 50 ms."""
    samples: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append(server.rss_mb())
            stop.wait(SAMPLE_SECONDS)

    before = server.rss_mb()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    size = lines = 0
    with TemporaryDirectory() as tmp:
        keep = Path(tmp) / f"export.{fmt}"
        with client.stream("GET", f"/staff/exports/signatures.{fmt}", params={"petition_id": petition}) as r, \
                keep.open("wb") as out:
            assert r.status_code == 200, f"HTTP {r.status_code}"
            for chunk in r.iter_bytes():
                size += len(chunk)
                if fmt == "csv":
                    lines += chunk.count(b"\n")
                else:
                    out.write(chunk)  # on disk, to check the workbook below
        seconds = time.perf_counter() - started
        stop.set()
        sampler.join()
        if fmt == "csv":
            assert lines == rows + 1, f"{lines} CSV lines for {rows} rows"
        else:
            with zipfile.ZipFile(keep) as z:
                assert "xl/worksheets/sheet1.xml" in z.namelist()
                with z.open("xl/worksheets/sheet1.xml") as sheet:
                    head = sheet.read(4096)
                assert b'rightToLeft="1"' in head, "the sheet is not right to left"
    return Run(fmt, rows, seconds, size, before, max([*samples, before]))


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = psutil.virtual_memory().total / 1024 ** 3
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{psutil.cpu_count(logical=True)} × {cpu}, {ram:.0f} GiB RAM, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}, load average at the end {load}")


def pg_version(url: str) -> str:
    import asyncpg

    async def ask() -> str:
        conn = await asyncpg.connect(_plain(url))
        try:
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()

    return asyncio.run(ask())


def report(runs: list[Run], command: str, url: str) -> str:
    lines = [
        SECTION,
        "",
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Machine: {machine()}. PostgreSQL {pg_version(url)}.",
        "",
        f"Command: `{command}`",
        "",
        "The staff export of one petition's signatures (`/staff/exports/signatures.<fmt>?petition_id=…`: number, "
        "date, name, decrypted CNIE, commune, province, channel, declaration), downloaded through the real server "
        "(`civic serve`, one process, a fresh one per format) by a signed-in council staff user; RSS of the "
        "server process sampled with psutil every 50 ms; sizes are of the file (gzip on the wire, as a browser "
        "asks). Target: peak RSS under 150 MB.",
        "",
        "| format | rows | run | seconds | rows/s | size (MB) | RSS before (MB) | peak RSS (MB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for fmt in dict.fromkeys(r.fmt for r in runs):
        mine = [r for r in runs if r.fmt == fmt]
        for i, r in enumerate(mine, 1):
            lines.append(f"| {fmt} | {r.rows:,} | {i} | {r.seconds:.1f} | {r.rows_per_second:,.0f} | "
                         f"{r.size / 1e6:.1f} | {r.rss_before:.0f} | {r.rss_peak:.0f} |")
        lines.append(f"| **{fmt}** | {mine[0].rows:,} | **median** | "
                     f"{statistics.median(r.seconds for r in mine):.1f} | "
                     f"**{statistics.median(r.rows_per_second for r in mine):,.0f}** | "
                     f"{statistics.median(r.size for r in mine) / 1e6:.1f} | "
                     f"{statistics.median(r.rss_before for r in mine):.0f} | "
                     f"**{statistics.median(r.rss_peak for r in mine):.0f}** |")
    worst = max(r.rss_peak for r in runs)
    lines += ["", f"Highest peak RSS of all runs: {worst:.0f} MB ({'under' if worst < 150 else 'OVER'} the 150 MB "
              "target).", ""]
    return "\n".join(lines)


def write_section(path: Path, text: str) -> None:
    """Replace this benchmark's section of ``path`` (from its heading to the next ``## `` heading), or append it."""
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    start = old.find(SECTION)
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        end = old.find("\n## ", start + len(SECTION))
        new = old[:start] + text + (old[end + 1:] if end >= 0 else "")
    path.write_text(new.rstrip("\n") + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="signatures in the CSV (and XLSX) export")
    parser.add_argument("--xlsx-rows", type=int, default=None,
                        help="signatures in the XLSX export, when smaller than --rows (a second petition)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--formats", default="csv,xlsx")
    parser.add_argument("--results", type=Path, default=None, help="write the section into this Markdown file")
    args = parser.parse_args()
    url = os.environ.get("CIVIC_BENCH_DATABASE_URL", DEFAULT_URL)
    # The command as a person would type it: `make bench` writes the section through a temporary file.
    shown = [a for a in sys.argv[1:] if a not in {"--results", str(args.results)}]
    command = "python bench/export_memory.py " + " ".join(shown)

    from civic.migrations import upgrade

    asyncio.run(ensure_database(url))
    upgrade(_settings(url))
    sizes = {"csv": args.rows, "xlsx": args.xlsx_rows or args.rows}
    formats = [f for f in args.formats.split(",") if f]
    petitions = {n: asyncio.run(prepare(url, n, f"{TITLE_PREFIX} ({n:,} signatures)"))
                 for n in sorted({sizes[f] for f in formats})}
    runs: list[Run] = []
    for fmt in formats:
        server = Server(url)
        try:
            with httpx.Client(base_url=server.base, timeout=httpx.Timeout(30, read=None),
                              follow_redirects=False) as client:
                sign_in(client)
                assert client.get("/staff/exports").status_code == 200
                for i in range(args.runs):
                    run = download(server, client, petitions[sizes[fmt]], fmt, sizes[fmt])
                    runs.append(run)
                    print(f"{fmt} run {i + 1}: {run.rows:,} rows in {run.seconds:.1f} s "
                          f"({run.rows_per_second:,.0f} rows/s), {run.size / 1e6:.1f} MB, RSS {run.rss_before:.0f} "
                          f"→ peak {run.rss_peak:.0f} MB", flush=True)
        finally:
            server.stop()
    text = report(runs, command, url)
    print("\n" + text)
    if args.results:
        write_section(args.results, text)
        print(f"written to {args.results}")
    return 0 if max(r.rss_peak for r in runs) < 150 else 1


if __name__ == "__main__":
    raise SystemExit(main())
