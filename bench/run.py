"""``make bench``: every scenario of issue #8, item 1 against a real server, then bench/RESULTS.md is rewritten.

Steps, all on PostgreSQL database ``civic_bench`` (``CIVIC_BENCH_DATABASE_URL``; created, migrated and reset
here):
1. seed what is missing (bench/seed.py, bench/export_memory.py's ``prepare``): signer accounts, 10,000 read
   petitions, one petition with 10,000 and one with 1,000,000 signatures, the 1,000,000-ballot question;
   signatures of earlier signing runs are removed;
2. start ``uvicorn 'civic.app:create_app' --factory --workers 2`` (bench/server.py) and run sign (+ limit after
   each sign run), hot-row sweep, spread and read with the asyncio load generator (bench/load.py);
3. stop it; time the tally in-process; run bench/export_memory.py (its own server) for the export scenario;
4. write RESULTS.md (bench/report.py). The number of runs per scenario (3, or fewer) and the run lengths follow
   from ``--budget`` seconds (default 800: ``make bench`` must end within 15 minutes whatever the load).

``--quick`` runs tiny sizes for development (a few seconds per scenario; RESULTS.md is then not written unless
``--results`` is given). The made-up identities and keys here are for the benchmark database only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import export_memory, report, scenarios, seed  # noqa: E402
from bench.load import LoadResult  # noqa: E402
from bench.server import Uvicorn  # noqa: E402

SEED_TIMES = Path(__file__).resolve().parent / "seed-times.json"


@dataclass
class Plan:
    """Sizes and run counts for one benchmark."""

    runs: int = 3
    sign_seconds: float = 30
    sweep_levels: tuple[int, ...] = (1, 8, 32, 64, 128)
    sweep_seconds: float = 8
    spread_seconds: float = 20
    spread_petitions: int = 1_000
    read_seconds: float = 10
    read_petitions: int = 10_000
    big: int = 1_000_000
    small: int = 10_000
    ballots: int = 1_000_000
    signers: int = 50_000
    export_rows: int = 1_000_000
    xlsx_rows: int = 100_000
    export_runs: int = 3
    notes: list[str] = field(default_factory=list)

    def cost(self, runs: int) -> float:
        """Estimated seconds of the measuring part (without seeding) for ``runs`` runs per scenario."""
        sign = runs * (self.sign_seconds + 14)
        sweep = runs * len(self.sweep_levels) * (self.sweep_seconds + 4.5)
        spread = runs * (self.spread_seconds + 6)
        read = runs * 3 * (self.read_seconds + 1)
        export = 40 + self.export_runs * (self.export_rows / 14_000 + self.xlsx_rows / 2_500)
        return sign + sweep + spread + read + runs * 8 + export + 20


def quick_plan() -> Plan:
    return Plan(runs=1, sign_seconds=3, sweep_levels=(1, 8, 64), sweep_seconds=2, spread_seconds=3,
                spread_petitions=50, read_seconds=2, read_petitions=200, big=20_000, small=2_000,
                signers=3_000, export_rows=20_000, xlsx_rows=2_000, export_runs=1)


def fit(plan: Plan, remaining: float) -> None:
    """Choose the run count (3 → 2 → 1, the export counted with one run per format: run_export takes more
    when time is left), then shorten the runs, until the plan fits in ``remaining`` seconds."""
    plan.export_runs = 1
    for runs in (3, 2, 1):
        plan.runs = runs
        if plan.cost(runs) <= remaining:
            break
    if plan.cost(plan.runs) > remaining:
        plan.xlsx_rows = min(plan.xlsx_rows, 20_000)
    while plan.cost(plan.runs) > remaining and plan.sign_seconds > 8:
        plan.sign_seconds *= 0.8
        plan.spread_seconds *= 0.8
        plan.sweep_seconds = max(4, plan.sweep_seconds * 0.8)
        plan.read_seconds = max(4, plan.read_seconds * 0.8)
    plan.export_runs = 3
    if plan.runs < 3 or plan.sign_seconds < 30:
        plan.notes.append(f"The time budget allowed {plan.runs} run(s) per scenario and {plan.sign_seconds:.0f} s "
                          "sign runs on this run of `make bench`.")


async def prepare(url: str, plan: Plan, secret_key: str) -> dict[str, object]:
    """Everything stored before measuring; returns ids, signers, communes and the seeding times."""
    found: dict[str, object] = {}
    times: dict[str, float] = {}
    started = time.perf_counter()
    small = await export_memory.prepare(url, plan.small, f"{export_memory.TITLE_PREFIX} ({plan.small:,} signatures)")
    times["small petition"] = time.perf_counter() - started
    started = time.perf_counter()
    big = await export_memory.prepare(url, plan.big, f"{export_memory.TITLE_PREFIX} ({plan.big:,} signatures)")
    times["big petition"] = time.perf_counter() - started
    conn = await asyncpg.connect(seed.plain(url))
    try:
        removed = await seed.remove_sign_petitions(conn)
        if removed:
            print(f"  removed {removed:,} petitions of earlier signing runs")
        started = time.perf_counter()
        await seed.read_petitions(conn, plan.read_petitions)
        times["read petitions"] = time.perf_counter() - started
        started = time.perf_counter()
        found["signers"] = await seed.signers(conn, plan.signers, secret_key)
        times[f"{plan.signers:,} signer accounts with their forged cookies"] = time.perf_counter() - started
        found["communes"] = await seed.communes(conn)
        found["commune_provinces"] = [(r["code"], r["province_code"]) for r in await conn.fetch(
            "SELECT code, province_code FROM territories WHERE region_code = '05' AND kind = 'commune'")]
        await conn.execute("VACUUM ANALYZE petitions")
        await conn.execute("VACUUM ANALYZE signatures")
        found["signatures_stored"] = int(await conn.fetchval("SELECT count(*) FROM signatures"))
        found["petitions_stored"] = int(await conn.fetchval("SELECT count(*) FROM petitions"))
    finally:
        await conn.close()
    question, tally_steps = await seed.tally_question(url, plan.ballots)
    times.update(tally_steps)
    found.update(small=small, big=big, question=question, seed_times=times)
    return found


def run_export(plan: Plan, remaining: float) -> tuple[str | None, str]:
    """bench/export_memory.py in a subprocess writing its section into a scratch file; (section, note).
    Runs as many export runs (up to ``plan.export_runs``) as the time left allows; on a timeout its process
    group (it and the server it started) is ended."""
    per_run = plan.export_rows / 15_000 + plan.xlsx_rows / 3_000 + 8
    runs = max(1, min(plan.export_runs, int((remaining - 25) // per_run)))
    note = "" if runs == plan.export_runs else f"the time left allowed {runs} export run(s) per format."
    plan.export_runs = runs
    with TemporaryDirectory() as tmp:
        out = Path(tmp) / "export.md"
        command = [str(ROOT / ".venv/bin/python"), "bench/export_memory.py", "--rows", str(plan.export_rows),
                   "--xlsx-rows", str(plan.xlsx_rows), "--runs", str(runs), "--results", str(out)]
        child = subprocess.Popen(command, cwd=ROOT, start_new_session=True)
        try:
            code = child.wait(timeout=max(30.0, remaining + 45))  # make bench has ~90 s beyond the budget
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGTERM)
            child.wait()
            return None, f"the export scenario did not finish within the {remaining:.0f} s left of the budget"
        if not out.exists():
            return None, f"the export scenario failed (exit {code})"
        text = out.read_text(encoding="utf-8")
        start = text.find(export_memory.SECTION)
        return text[start:].strip() + "\n", note


async def measure(url: str, plan: Plan, data: dict[str, object], deadline: float) -> dict[str, object]:
    """Start the server and run sign (+ limit), sweep, spread and read; returns the figures."""
    signers = data["signers"]
    communes = data["communes"]
    assert isinstance(signers, list) and isinstance(communes, list)
    results: dict[str, object] = {"sign": [], "limit": [], "sweep": {}, "spread": [], "read": {}}
    server = Uvicorn(url, export_memory.SECRET_KEY)
    try:
        # warm-up: both workers open their pools and compile templates
        await scenarios.sign_run(server, url, signers[:400], communes, 16, 2, label="warm-up")
        for i in range(plan.runs):
            run = await scenarios.sign_run(server, url, signers, communes, 64, plan.sign_seconds)
            results["sign"].append(run)  # type: ignore[attr-defined]
            print(f"sign run {i + 1}: {run.load.rate:,.0f}/s p99 {run.load.percentile(99):.0f} ms "
                  f"stored {run.stored:,} ok {run.load.ok:,} displayed {run.displayed} {run.problems}", flush=True)
            # the same number of INSERTs as the sign run's successes (at least 5,000, so the run lasts long
            # enough to measure)
            lim = await scenarios.limit_run(url, min(len(signers), max(run.load.ok, 5000)), 64,
                                            data["commune_provinces"], [s.user_id for s in signers])  # type: ignore[arg-type]
            results["limit"].append(lim)  # type: ignore[attr-defined]
            print(f"limit run {i + 1}: {lim.inserts:,} inserts at {lim.rate:,.0f}/s", flush=True)
        for i in range(plan.runs):
            if i and time.monotonic() > deadline:
                plan.notes.append(f"hot-row sweep: {i} run(s) only (time budget)")
                break
            for level in plan.sweep_levels:
                run = await scenarios.sign_run(server, url, signers, communes, level, plan.sweep_seconds,
                                               label="sweep")
                results["sweep"].setdefault(level, []).append(run)  # type: ignore[attr-defined]
                print(f"sweep run {i + 1} c={level}: {run.load.rate:,.0f}/s p99 {run.load.percentile(99):.0f} ms "
                      f"{run.problems}", flush=True)
        for i in range(plan.runs):
            if i and time.monotonic() > deadline:
                plan.notes.append(f"spread: {i} run(s) only (time budget)")
                break
            run = await scenarios.sign_run(server, url, signers, communes, 64, plan.spread_seconds,
                                           petitions=plan.spread_petitions, label="spread")
            results["spread"].append(run)  # type: ignore[attr-defined]
            print(f"spread run {i + 1}: {run.load.rate:,.0f}/s p99 {run.load.percentile(99):.0f} ms "
                  f"{run.problems}", flush=True)
        targets = {"petition page, 10,000 signatures": f"/petitions/{data['small']}",
                   "petition page, 1,000,000 signatures": f"/petitions/{data['big']}",
                   "petitions list (home page)": "/"}
        for i in range(plan.runs):
            if i and time.monotonic() > deadline:
                plan.notes.append(f"read: {i} run(s) only (time budget)")
                break
            for name, path in targets.items():
                got: LoadResult = await scenarios.read_run(server, path, 64, plan.read_seconds)
                results["read"].setdefault(name, []).append(got)  # type: ignore[attr-defined]
                print(f"read run {i + 1} {name}: {got.rate:,.0f}/s p99 {got.percentile(99):.0f} ms "
                      f"{got.status_text()}", flush=True)
    finally:
        server.stop()
    tallies = []
    for _ in range(plan.runs):
        tallies.append(await scenarios.tally_run(url, int(data["question"])))  # type: ignore[call-overload]
        print(f"tally: {tallies[-1][0]:.2f} s, breakdown {tallies[-1][1]:.2f} s", flush=True)
    results["tally"] = tallies
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one short run each (development)")
    parser.add_argument("--budget", type=float, default=800, help="seconds the whole benchmark may take")
    parser.add_argument("--results", type=Path, default=None, help="the Markdown file to rewrite")
    args = parser.parse_args()
    begun = time.monotonic()
    load_before = os.getloadavg()
    url = os.environ.get("CIVIC_BENCH_DATABASE_URL", export_memory.DEFAULT_URL)
    plan = quick_plan() if args.quick else Plan()
    results_path = args.results or (None if args.quick else ROOT / "bench" / "RESULTS.md")
    command = "make bench" if os.environ.get("MAKELEVEL") else "python bench/run.py " + " ".join(sys.argv[1:])

    from civic.migrations import upgrade

    asyncio.run(export_memory.ensure_database(url))
    upgrade(export_memory._settings(url))
    data = asyncio.run(prepare(url, plan, export_memory.SECRET_KEY))
    seeded = data["seed_times"]
    assert isinstance(seeded, dict)
    if not args.quick:
        old = json.loads(SEED_TIMES.read_text()) if SEED_TIMES.exists() else {}
        old.update({k: v for k, v in seeded.items() if v > 1})
        SEED_TIMES.write_text(json.dumps(old, indent=1) + "\n")
    remaining = args.budget - (time.monotonic() - begun)
    if not args.quick:
        fit(plan, remaining)
    print(f"plan: {plan.runs} run(s); sign {plan.sign_seconds:.0f} s; {remaining:.0f} s left", flush=True)
    # past this point, scenarios stop after their current run: what is left is kept for the export
    deadline = begun + args.budget - 50 - plan.export_rows / 12_000 - plan.xlsx_rows / 2_200
    results = asyncio.run(measure(url, plan, data, deadline))
    left = args.budget - (time.monotonic() - begun) - 15
    export_section, export_note = run_export(plan, left)
    if export_note:
        plan.notes.append(export_note)
    text = report.render(plan=plan, data=data, results=results, export_section=export_section,
                         old_path=results_path, command=command, url=url, load_before=load_before,
                         seconds=time.monotonic() - begun, seed_times=SEED_TIMES)
    if results_path:
        results_path.write_text(text, encoding="utf-8")
        print(f"written to {results_path}")
    else:
        print(text)
    ok = all(r.exact for r in results["sign"] + results["spread"])  # type: ignore[operator]
    ok = ok and all(r.exact for runs in results["sweep"].values() for r in runs)  # type: ignore[attr-defined]
    print(f"benchmark finished in {time.monotonic() - begun:.0f} s; counts exact: {ok}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
