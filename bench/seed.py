"""What the benchmark stores before it measures (issue #8, item 1), straight into PostgreSQL with asyncpg.

- a pool of signer accounts (``bench-signer-N@bench.invalid``), bulk-inserted with COPY, one argon2 hash reused,
  email verified when the column ``users.email_verified_at`` exists; their session cookies are forged the way
  Starlette's SessionMiddleware signs them and their CSRF tokens made with ``civic.security.make_csrf_token``;
- fresh collecting petitions for each signing run (``Bench sign …``), removed again at the next start;
- 10,000 collecting petitions for the read scenario (``Bench read petition #N``), kept between runs;
- the 1,000,000-ballot question of the tally scenario (the seeding of tests/test_tally_million.py), kept.

Made-up identities only; the password hash below is of a made-up password and is never used to sign in.
"""

from __future__ import annotations

import json
import sys
import time
from base64 import b64encode
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import itsdangerous

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.export_memory import AUTHOR_EMAIL  # noqa: E402
from civic.security import Keys, make_csrf_token  # noqa: E402

SIGN_TITLE = "Bench sign"
READ_TITLE = "Bench read petition #"
SIGNER_DOMAIN = "@bench.invalid"
TALLY_BASE = 10_000_000  # tests/test_tally_million.py's ID_BASE


def plain(url: str) -> str:
    """The asyncpg form of a SQLAlchemy URL."""
    return url.replace("postgresql+asyncpg://", "postgresql://")


@dataclass(frozen=True)
class Signer:
    """A signer account: its id, its CNIE (distinct per account), its Cookie header and CSRF token."""

    user_id: int
    cnie: str
    cookie: str
    csrf: str


def forge_cookie(secret_key: str, session: dict[str, object]) -> str:
    """The ``civic_session`` cookie Starlette's SessionMiddleware would set for ``session``
    (itsdangerous TimestampSigner over base64 JSON; starlette/middleware/sessions.py)."""
    signer = itsdangerous.TimestampSigner(str(secret_key))
    data = b64encode(json.dumps(session).encode("utf-8"))
    return "civic_session=" + signer.sign(data).decode("utf-8")


async def has_column(conn: asyncpg.Connection, table: str, column: str) -> bool:
    return bool(await conn.fetchval(
        "SELECT 1 FROM information_schema.columns WHERE table_name = $1 AND column_name = $2", table, column))


async def signers(conn: asyncpg.Connection, n: int, secret_key: str) -> list[Signer]:
    """``n`` signer accounts (created when missing, email verified), with forged cookies and CSRF tokens."""
    from argon2 import PasswordHasher

    have = await conn.fetchval("SELECT count(*) FROM users WHERE email LIKE 'bench-signer-%'")
    now = datetime.now(UTC)
    if have < n:
        password_hash = PasswordHasher().hash("bench-signer-password")  # one hash for every account
        records = [(f"Bench signer {i}", f"bench-signer-{i}{SIGNER_DOMAIN}", password_hash, "citizen",
                    "05.091.01.01", f"bench-nonce-{i}", now, "") for i in range(have, n)]
        await conn.copy_records_to_table("users", records=records, columns=(
            "display_name", "email", "password_hash", "role", "commune_code", "session_nonce", "created_at",
            "preferences"))
    if await has_column(conn, "users", "email_verified_at"):
        await conn.execute("UPDATE users SET email_verified_at = $1 WHERE email LIKE 'bench-signer-%' "
                           "AND email_verified_at IS NULL", now)
    rows = await conn.fetch("SELECT id, email, session_nonce FROM users WHERE email LIKE 'bench-signer-%' "
                            "ORDER BY id LIMIT $1", n)
    keys = Keys(secret_key)
    out = []
    for k, row in enumerate(rows):
        seed = f"bench-csrf-{row['id']}"
        cookie = forge_cookie(secret_key, {"uid": row["id"], "nonce": row["session_nonce"], "csrf": seed})
        out.append(Signer(row["id"], f"B{chr(ord('A') + k // 1_000_000)}{k % 1_000_000:06d}", cookie,
                          make_csrf_token(keys, seed)))
    return out


async def author_id(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT id FROM users WHERE email = $1", AUTHOR_EMAIL))


async def new_petitions(conn: asyncpg.Connection, count: int, title: str) -> list[int]:
    """``count`` new collecting petitions titled ``title #i`` (like a published one), their ids in order."""
    now = datetime.now(UTC)
    rows = await conn.fetch(
        "INSERT INTO petitions (kind, title, body, addressed_to, status, region_code, author_id, created_at, "
        "published_at, collection_ends_at, threshold, province_minimum, require_electoral_registration, "
        "hidden_reason) SELECT 'citizen', $1 || ' #' || i, $2, 'council', 'collecting', '05', $3, $4, "
        "$4::timestamptz - make_interval(secs => i), $5, 400, 20, true, '' FROM generate_series(1, $6) AS s(i) "
        "ORDER BY i RETURNING id",
        title, "عريضة لقياس الأداء: نص قصير يصف الطلب الموجه إلى مجلس الجهة. " * 4, await author_id(conn), now,
        now + timedelta(days=365), count)
    return [int(r["id"]) for r in rows]


async def remove_sign_petitions(conn: asyncpg.Connection) -> int:
    """Delete the petitions an earlier benchmark run signed, with the rows that point at them. Returns how many
    petitions were removed (rows other helpers' tables keep pointing at are left, with their petitions)."""
    ids = [r["id"] for r in await conn.fetch("SELECT id FROM petitions WHERE title LIKE $1", SIGN_TITLE + "%")]
    if not ids:
        return 0
    refs = await conn.fetch(
        "SELECT c.conrelid::regclass::text AS tbl, a.attname AS col FROM pg_constraint c "
        "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey) "
        "WHERE c.confrelid = 'petitions'::regclass AND c.contype = 'f'")
    for ref in refs:
        try:
            # table and column names come from the catalog, not from input
            await conn.execute(f"DELETE FROM {ref['tbl']} WHERE {ref['col']} = ANY($1::int[])", ids)  # noqa: S608
        except asyncpg.PostgresError as exc:
            print(f"  (could not clear {ref['tbl']}: {exc.__class__.__name__})")
    try:
        await conn.execute("DELETE FROM petitions WHERE id = ANY($1::int[])", ids)
    except asyncpg.PostgresError as exc:
        print(f"  (old benchmark petitions kept: {exc.__class__.__name__})")
        return 0
    return len(ids)


async def read_petitions(conn: asyncpg.Connection, count: int) -> None:
    """Make sure ``count`` read-scenario petitions exist (10,000 by default)."""
    have = await conn.fetchval("SELECT count(*) FROM petitions WHERE title LIKE $1", READ_TITLE + "%")
    if have < count:
        started = time.perf_counter()
        await new_petitions(conn, count - have, READ_TITLE.rstrip(" #"))
        print(f"  {count - have:,} read petitions inserted in {time.perf_counter() - started:.1f} s")


async def communes(conn: asyncpg.Connection) -> list[str]:
    """Commune codes of region 05, one province after another, so signatures spread over the provinces."""
    rows = await conn.fetch("SELECT code, province_code FROM territories WHERE region_code = '05' "
                            "AND kind = 'commune' ORDER BY code")
    by_province: dict[str, list[str]] = {}
    for r in rows:
        by_province.setdefault(r["province_code"], []).append(r["code"])
    mixed = []
    for i in range(max(len(v) for v in by_province.values())):
        mixed += [v[i] for v in by_province.values() if i < len(v)]
    return mixed


async def tally_question(url: str, n: int) -> tuple[int, dict[str, float]]:
    """The question with ``n`` seeded ballots (seeded now with tests/test_tally_million.py's statements when
    missing; those take ids from TALLY_BASE). Returns (question id, seconds per seeding step)."""
    conn = await asyncpg.connect(plain(url))
    try:
        found = await conn.fetchval("SELECT question_id FROM cast_ballots WHERE id = $1", TALLY_BASE + n)
        count = await conn.fetchval("SELECT count(*) FROM cast_ballots WHERE id > $1", TALLY_BASE) if found else 0
        if found and count == n and not await conn.fetchval(
                "SELECT 1 FROM cast_ballots WHERE id = $1", TALLY_BASE + n + 1):
            return int(found), {}
        if await conn.fetchval("SELECT 1 FROM users WHERE id > $1 LIMIT 1", TALLY_BASE):
            print("  removing an incomplete tally seed")
            await conn.execute("DELETE FROM ballot_choices WHERE id > $1", TALLY_BASE)
            await conn.execute("DELETE FROM cast_ballots WHERE id > $1", TALLY_BASE)
            await conn.execute("DELETE FROM users WHERE id > $1", TALLY_BASE)
    finally:
        await conn.close()
    return await _seed_tally(url, n)


async def _seed_tally(url: str, n: int) -> tuple[int, dict[str, float]]:
    from sqlalchemy import text

    from civic.db import make_engine, make_sessionmaker
    from civic.votes import tally as t
    from tests.conftest import NOW, make_user
    from tests.test_tally_db import new_ballot, new_consultation, new_meeting
    from tests.test_tally_million import _seed_statements

    engine = make_engine(url)
    steps: dict[str, float] = {}
    try:
        async with make_sessionmaker(engine)() as session:
            staff = await make_user(session, 1, role="council_staff")
            cid = await new_consultation(session, staff)
            await new_meeting(session, cid)
            _bid, (q,), (opts,) = await new_ballot(session, cid, staff, [
                {"method": t.SINGLE_CHOICE, "options": ["الطريق الجهوية", "المستشفى", "الماء الصالح للشرب", "الملعب"]}])
            params = {"n": n, "base": TALLY_BASE, "q": q, "a": opts[0], "b": opts[1], "c": opts[2], "d": opts[3],
                      "at": NOW - timedelta(days=1)}
            for name, statement in zip(("users", "cast ballots", "choices"), _seed_statements("postgresql"),
                                       strict=True):
                started = time.perf_counter()
                await session.execute(text(statement), params)
                await session.commit()
                steps[f"seed {n:,} {name}"] = time.perf_counter() - started
                print(f"  tally seed: {name} in {steps[f'seed {n:,} {name}']:.1f} s", flush=True)
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            started = time.perf_counter()
            await conn.execute(text("VACUUM ANALYZE users, cast_ballots, ballot_choices"))
            steps["VACUUM ANALYZE"] = time.perf_counter() - started
    finally:
        await engine.dispose()
    return int(q), steps
