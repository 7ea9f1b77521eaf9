"""Rate limits counted in the database (issue #8, item 4): shared by every app process, fixed windows that
reset, keys that never hold a raw identifier. Real database, two app instances with their own engines."""

from __future__ import annotations

import asyncio
import dataclasses

import httpx
from sqlalchemy import func, select

from civic.app import create_app
from civic.ratelimits import RateLimitCounter, RateLimiter, purge_expired
from tests.conftest import csrf_from

HOUR = 3600
T0 = 1_800_000_000 - 1_800_000_000 % HOUR  # the start of an hour window, epoch seconds


async def _counters(sessionmaker) -> list[RateLimitCounter]:  # type: ignore[no-untyped-def]
    async with sessionmaker() as s:
        rows = list(await s.scalars(select(RateLimitCounter)))
        await s.commit()
    return rows


async def test_two_app_instances_share_one_limit(settings, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    """Two ``create_app`` objects, each with its own engine (two processes), count into the same rows."""
    s = dataclasses.replace(settings, sign_rate_limit="3/hour")
    first, second = create_app(s), create_app(s)
    try:
        assert first.state.engine is not second.state.engine
        a, b = first.state.sign_limiter, second.state.sign_limiter
        assert await a.hit("account", "7", now=T0 + 1)
        assert await b.hit("account", "7", now=T0 + 2)
        assert await a.hit("account", "7", now=T0 + 3)
        assert not await b.hit("account", "7", now=T0 + 4)  # the 4th, whichever process sees it
        assert not await a.allows("account", "7", now=T0 + 5)
        assert await b.hit("account", "8", now=T0 + 5)  # another account has its own counter (no hot row)
    finally:
        await first.state.engine.dispose()
        await second.state.engine.dispose()


async def test_concurrent_hits_from_two_engines_allow_exactly_the_limit(settings, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    s = dataclasses.replace(settings, verify_code_rate_limit="10/hour")
    first, second = create_app(s), create_app(s)
    try:
        limiters = [first.state.verify_code_limiter, second.state.verify_code_limiter]
        results = await asyncio.gather(*(limiters[i % 2].hit("account", "42", now=T0 + 10) for i in range(30)))
        assert results.count(True) == 10
        assert [c.hits for c in await _counters(sessionmaker)] == [30]
    finally:
        await first.state.engine.dispose()
        await second.state.engine.dispose()


async def test_the_window_resets(app) -> None:  # type: ignore[no-untyped-def]
    limiter = RateLimiter("test", "2/hour", app.state.engine, app.state.keys, purge_every=0)
    assert await limiter.hit("x", now=T0)
    assert await limiter.hit("x", now=T0 + HOUR - 1)
    assert not await limiter.hit("x", now=T0 + HOUR - 1)
    assert not await limiter.allows("x", now=T0 + HOUR - 1)
    assert await limiter.allows("x", now=T0 + HOUR)  # a new window
    assert await limiter.hit("x", now=T0 + HOUR)


async def test_allows_counts_nothing(app, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    limiter = RateLimiter("test", "1/hour", app.state.engine, app.state.keys, purge_every=0)
    for _ in range(5):
        assert await limiter.allows("y", now=T0)
    assert await _counters(sessionmaker) == []
    assert await limiter.hit("y", now=T0)
    assert not await limiter.allows("y", now=T0)


async def test_limiters_with_other_names_do_not_share_counters(app) -> None:  # type: ignore[no-untyped-def]
    login = RateLimiter("login", "1/hour", app.state.engine, app.state.keys, purge_every=0)
    register = RateLimiter("register", "1/hour", app.state.engine, app.state.keys, purge_every=0)
    assert await login.hit("client", "198.51.100.1", now=T0)
    assert await register.hit("client", "198.51.100.1", now=T0)
    assert not await login.hit("client", "198.51.100.1", now=T0)


async def test_keys_hold_no_raw_identifier(app, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    identifiers = [("client", "203.0.113.77"), ("email", "someone@test.invalid"), ("cnie", "ZZ123456")]
    for limiter in (app.state.register_limiter, app.state.verify_mail_limiter, app.state.sign_cnie_limiter):
        for ident in identifiers:
            await limiter.hit(*ident, now=T0)
    rows = await _counters(sessionmaker)
    assert len(rows) == 9
    for row in rows:
        assert len(row.key) == 64 and all(c in "0123456789abcdef" for c in row.key)
        for _kind, raw in identifiers:
            assert raw not in row.key
            assert raw.lower() not in row.key
    assert rows[0].key == app.state.register_limiter.key_for("client", "203.0.113.77")


async def test_expired_windows_are_purged(app, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    limiter = RateLimiter("test", "5/hour", app.state.engine, app.state.keys, purge_every=0)
    await limiter.hit("old", now=T0)
    await limiter.hit("new", now=T0 + HOUR)
    assert await purge_expired(app.state.engine, T0 + HOUR) == 1  # the first window ended at T0 + HOUR
    rows = await _counters(sessionmaker)
    assert [(r.window_start, r.expires_at) for r in rows] == [(T0 + HOUR, T0 + 2 * HOUR)]


async def test_hits_purge_now_and_then(app, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    """With purge_every=1 every hit also deletes the expired windows (the default is one hit in 1,000)."""
    limiter = RateLimiter("test", "5/hour", app.state.engine, app.state.keys, purge_every=1)
    await limiter.hit("old", now=T0)
    await limiter.hit("new", now=T0 + 2 * HOUR)
    assert [r.window_start for r in await _counters(sessionmaker)] == [T0 + 2 * HOUR]


async def test_failed_sign_ins_are_limited_across_two_processes(settings, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    """The login view through two app instances: failures on one count on the other (same client address)."""
    s = dataclasses.replace(settings, login_rate_limit="3/5minutes")
    apps = [create_app(s), create_app(s)]
    try:
        clients = [httpx.AsyncClient(transport=httpx.ASGITransport(app=a), base_url="http://testserver") for a in apps]
        statuses = []
        for i in range(5):
            c = clients[i % 2]
            token = csrf_from((await c.get("/login")).text)
            r = await c.post("/login", data={"csrf_token": token, "email": "nobody@test.invalid",
                                             "password": "not the password"})
            statuses.append(r.status_code)
        assert statuses == [422, 422, 422, 429, 429]
        for c in clients:
            await c.aclose()
    finally:
        for a in apps:
            await a.state.engine.dispose()


async def test_counter_table_is_keyed_by_key_and_window(app, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    limiter = RateLimiter("test", "100/minute", app.state.engine, app.state.keys, purge_every=0)
    for second in range(0, 180, 30):  # three one-minute windows, two hits each
        await limiter.hit("z", now=T0 + second)
    async with sessionmaker() as session:
        windows = (await session.execute(select(RateLimitCounter.window_start, func.sum(RateLimitCounter.hits))
                                         .group_by(RateLimitCounter.window_start)
                                         .order_by(RateLimitCounter.window_start))).all()
        await session.commit()
    assert [(w - T0, int(n)) for w, n in windows] == [(0, 2), (60, 2), (120, 2)]
