"""Email verification, registration that reveals nothing, pending signatures (issue #8, item 4), on the real
database; the parallel verification runs on real parallel connections on PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select, text

from civic import i18n
from civic.accounts import verification
from civic.app import create_app
from civic.errors import Invalid, RateLimited
from civic.permissions import ANONYMOUS
from civic.petitions import pending, service
from civic.petitions.models import PendingSignature, Petition, Signature, SignatureFlag
from tests.conftest import NOW, csrf_from, mailed_code, make_user
from tests.test_petitions_service import open_petition, signature
from tests.test_views import PASSWORD, register, sign_form

BASE = "http://civic.test"


def client_from(app, address: str = "192.0.2.10") -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    """A fresh browser (no cookies) whose requests come from ``address``."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 40000)),
                             base_url="http://testserver")


async def post_register(client, email: str, **over: str) -> httpx.Response:  # type: ignore[no-untyped-def]
    page = await client.get("/register")
    data = {"csrf_token": csrf_from(page.text), "display_name": "Karima", "email": email, "password": PASSWORD,
            "commune_code": "05.091.01.01"}
    data.update(over)
    return await client.post("/register", data=data)


async def mails(session, purpose: str) -> int:  # type: ignore[no-untyped-def]
    count = await session.scalar(text("SELECT count(*) FROM outbox WHERE purpose = :p"), {"p": purpose})
    await session.rollback()
    return int(count)


async def code_for(session, user_id: int) -> str:  # type: ignore[no-untyped-def]
    """The code in the latest verification mail of an account (the outbox is what the person receives)."""
    body = await session.scalar(text(
        "SELECT body FROM outbox WHERE user_id = :u AND purpose = 'accounts:verify_email' ORDER BY id DESC LIMIT 1"),
        {"u": user_id})
    await session.rollback()
    match = re.search(r"\b(\d{8})\b", body or "")
    assert match
    return match.group(1)


async def started(session, keys, user_id: int, now=NOW) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """Make a verification for an account as registration does; returns (handle, mailed code)."""
    handle = verification.new_handle()
    async with session.begin():
        await verification.start(session, keys, user_id, handle, BASE, now)
    return handle, await code_for(session, user_id)


async def counted(session, pid: int) -> int:  # type: ignore[no-untyped-def]
    n = await session.scalar(select(func.count()).select_from(Signature).where(Signature.petition_id == pid))
    await session.rollback()
    return int(n)


def without_csrf(html: str) -> str:
    return re.sub(r'name="csrf_token" value="[^"]+"', 'name="csrf_token" value=""', html)


# --- registration reveals nothing -----------------------------------------------------------------------------


async def test_new_and_existing_addresses_get_identical_answers(app, session) -> None:  # type: ignore[no-untyped-def]
    async with client_from(app, "192.0.2.11") as first:
        assert (await post_register(first, "taken@test.invalid")).status_code == 303
    # The address's owner has confirmed it (an unverified one would be taken over: see the squatting test below).
    await session.execute(text("UPDATE users SET email_verified_at = created_at"))
    await session.commit()
    answers = []
    for email in ("fresh@test.invalid", "Taken@Test.invalid"):
        async with client_from(app, "192.0.2.12") as browser:
            r = await post_register(browser, email)
            page = await browser.get(r.headers["location"])
            home = await browser.get("/")
            answers.append((r.status_code, r.headers["location"], r.text, page.status_code,
                            without_csrf(page.text), without_csrf(home.text)))
    assert answers[0] == answers[1]
    status, location, _body, page_status, page, home = answers[0]
    assert (status, location, page_status) == (303, "/account/verify", 200)
    assert 'name="code"' in page and "/account/verify/new-code" in page
    assert "/logout" not in home  # nobody is signed in by registering
    # one account per address; the new one got a code, the taken one's owner a warning
    assert await session.scalar(text("SELECT count(*) FROM users")) == 2
    await session.rollback()
    assert await mails(session, "accounts:verify_email") == 2
    assert await mails(session, "accounts:register_taken") == 1
    body = await session.scalar(text("SELECT body FROM outbox WHERE purpose = 'accounts:register_taken'"))
    await session.rollback()
    assert not re.search(r"\b\d{8}\b", body) and "/login" in body


async def test_the_session_holds_no_user_id_until_the_code_is_typed(app, session) -> None:  # type: ignore[no-untyped-def]
    async with client_from(app) as browser:
        await post_register(browser, "handle@test.invalid")
        assert (await browser.get("/petitions/new")).status_code in (303, 401)  # not signed in
        code = await mailed_code(app, "handle@test.invalid")
        page = await browser.get("/account/verify")
        r = await browser.post("/account/verify", data={"csrf_token": csrf_from(page.text), "code": code})
        assert r.status_code == 303 and r.headers["location"] == "/"
        done = await browser.get("/account/verify")
        assert 'id="verify-done"' in done.text and "/logout" in done.text and 'id="verify-banner"' not in done.text
    verified = await session.scalar(text("SELECT email_verified_at FROM users"))
    await session.rollback()
    assert verified is not None


async def test_field_errors_are_still_shown(client) -> None:  # type: ignore[no-untyped-def]
    r = await post_register(client, "not-an-email", password="short")
    assert r.status_code == 422 and 'id="email-error"' in r.text and 'id="password-error"' in r.text


# --- codes ---------------------------------------------------------------------------------------------------


async def test_a_wrong_code_gets_one_translated_message(app, session) -> None:  # type: ignore[no-untyped-def]
    async with client_from(app) as browser:
        await post_register(browser, "wrong@test.invalid")
        page = await browser.get("/account/verify")
        code = await mailed_code(app, "wrong@test.invalid")
        wrong = f"{(int(code) + 1) % 10 ** 8:08d}"
        message = i18n.translations("ar").gettext(verification.WRONG_CODE)
        for typed in (wrong, "abc", ""):
            r = await browser.post("/account/verify", data={"csrf_token": csrf_from(page.text), "code": typed})
            assert r.status_code == 422 and message in r.text and 'aria-invalid="true"' in r.text
        # Arabic-Indic digits and spaces are read as the same code
        arabic = " ".join("".join(chr(0x660 + int(d)) for d in code[i:i + 4]) for i in (0, 4))
        r = await browser.post("/account/verify", data={"csrf_token": csrf_from(page.text), "code": arabic})
        assert r.status_code == 303


async def test_expired_replaced_and_overtried_codes_fail(session, keys) -> None:  # type: ignore[no-untyped-def]
    user = await make_user(session, 1, verified=False)
    handle, code = await started(session, keys, user.user_id)
    with pytest.raises(Invalid):  # 24 h and one second later
        await verification.verify(session, keys, ANONYMOUS, handle, code, NOW + timedelta(hours=24, seconds=1))
    handle2, code2 = await started(session, keys, user.user_id)  # a new code replaces the old
    with pytest.raises(Invalid):
        await verification.verify(session, keys, ANONYMOUS, handle, code, NOW)
    if code != code2:
        with pytest.raises(Invalid):
            await verification.verify(session, keys, ANONYMOUS, handle2, code, NOW)
    wrong = f"{(int(code2) + 1) % 10 ** 8:08d}"
    for _ in range(verification.MAX_WRONG_ATTEMPTS):
        with pytest.raises(Invalid):
            await verification.verify(session, keys, ANONYMOUS, handle2, wrong, NOW)
    with pytest.raises(Invalid):  # too many wrong attempts: even the right code no longer works
        await verification.verify(session, keys, ANONYMOUS, handle2, code2, NOW)
    handle3, code3 = await started(session, keys, user.user_id)
    done = await verification.verify(session, keys, ANONYMOUS, handle3, code3, NOW)
    assert done.user_id == user.user_id


async def test_code_attempts_are_capped_per_account(settings, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    app = create_app(dataclasses.replace(settings, verify_code_rate_limit="3/hour"))
    try:
        async with client_from(app) as browser:
            await post_register(browser, "capped@test.invalid")
            page = await browser.get("/account/verify")
            statuses = [(await browser.post("/account/verify", data={"csrf_token": csrf_from(page.text),
                                                                    "code": "00000000"})).status_code
                        for _ in range(4)]
        assert statuses == [422, 422, 422, 429]
    finally:
        await app.state.engine.dispose()


# --- mail and account caps ------------------------------------------------------------------------------------


async def test_new_codes_are_capped_per_email_address(app, session) -> None:  # type: ignore[no-untyped-def]
    async with client_from(app, "192.0.2.20") as browser:
        await post_register(browser, "resend@test.invalid")  # mail 1 of 3 (verify_mail_rate_limit, 3/hour)
        statuses = []
        for _ in range(3):
            page = await browser.get("/account/verify")
            r = await browser.post("/account/verify/new-code", data={"csrf_token": csrf_from(page.text)})
            statuses.append(r.status_code)
        assert statuses == [303, 303, 429]
        assert r.status_code == 429 and i18n.translations("ar").gettext(RateLimited.message) in r.text
        sent = await browser.get("/account/verify?sent=1")
        assert 'id="verify-sent"' in sent.text
    assert await mails(session, "accounts:verify_email") == 3
    # the latest code is the one that works
    async with client_from(app, "192.0.2.20") as other:
        await register(other, "other@test.invalid")


async def test_new_codes_are_capped_per_client_address(settings, sessionmaker, session) -> None:  # type: ignore[no-untyped-def]
    """Per client address, new codes follow the new-accounts rate (here 3/hour), under their own counter."""
    app = create_app(dataclasses.replace(settings, register_rate_limit="3/hour"))
    statuses = []
    for n in range(2):
        async with client_from(app, "192.0.2.30") as browser:
            await post_register(browser, f"addr{n}@test.invalid")
            for _ in range(2):
                page = await browser.get("/account/verify")
                statuses.append((await browser.post("/account/verify/new-code",
                                                    data={"csrf_token": csrf_from(page.text)})).status_code)
    assert statuses == [303, 303, 303, 429]  # the 4th new code from one address, though that email had 2 mails
    await app.state.engine.dispose()


async def test_a_taken_address_gets_the_same_new_code_answer_and_no_code(app, session) -> None:  # type: ignore[no-untyped-def]
    await make_user(session, 1)
    existing = await session.scalar(text("SELECT email FROM users"))
    await session.rollback()
    async with client_from(app) as browser:
        await post_register(browser, existing)
        page = await browser.get("/account/verify")
        r = await browser.post("/account/verify/new-code", data={"csrf_token": csrf_from(page.text)})
        assert r.status_code == 303 and r.headers["location"] == "/account/verify?sent=1"
    assert await mails(session, "accounts:verify_email") == 0


async def test_new_accounts_are_capped_per_client_address(settings, sessionmaker, session) -> None:  # type: ignore[no-untyped-def]
    app = create_app(dataclasses.replace(settings, register_rate_limit="2/hour"))
    try:
        async with client_from(app, "198.51.100.7") as browser:
            statuses = [(await post_register(browser, f"many{n}@test.invalid")).status_code for n in range(3)]
            assert statuses == [303, 303, 429]
            r = await post_register(browser, "many9@test.invalid")
            assert r.status_code == 429 and i18n.translations("ar").gettext(RateLimited.message) in r.text
        async with client_from(app, "198.51.100.8") as elsewhere:
            assert (await post_register(elsewhere, "many3@test.invalid")).status_code == 303
    finally:
        await app.state.engine.dispose()
    assert await session.scalar(text("SELECT count(*) FROM users")) == 3


# --- pending signatures ---------------------------------------------------------------------------------------


async def test_an_unverified_signature_counts_only_once_the_email_is_verified(session, keys) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    pid = await open_petition(session, author)
    signer = await make_user(session, 2, verified=False)
    outcome = await service.sign(session, signer, keys, pid, signature("QA123456"), NOW, client_address="192.0.2.5")
    assert outcome is service.SignOutcome.SIGNED
    assert await counted(session, pid) == 0
    assert await service.has_signed(session, signer, pid)
    again = await service.sign(session, signer, keys, pid, signature("QA123456"), NOW)
    assert again is service.SignOutcome.ALREADY_SIGNED
    handle, code = await started(session, keys, signer.user_id)
    await verification.verify(session, keys, ANONYMOUS, handle, code, NOW + timedelta(minutes=5))
    assert await counted(session, pid) == 1
    row = (await session.execute(select(Signature.user_id, Signature.client_hash, Signature.cnie_hmac)
                                 .where(Signature.petition_id == pid))).one()
    assert row == (signer.user_id, keys.keyed_hash("client", "192.0.2.5"), keys.cnie_hmac("QA123456"))
    assert await session.scalar(select(func.count()).select_from(PendingSignature)) == 0
    await session.rollback()
    assert await service.has_signed(session, signer, pid)


async def test_a_verified_signature_stores_the_client_hash(session, keys) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    pid = await open_petition(session, author)
    signer = await make_user(session, 2)
    await service.sign(session, signer, keys, pid, signature("QB123456"), NOW, client_address="2001:db8::7")
    stored = await session.scalar(select(Signature.client_hash).where(Signature.petition_id == pid))
    await session.rollback()
    assert stored == keys.keyed_hash("client", "2001:db8::7") and "2001" not in stored


async def test_promotion_flags_a_cnie_used_by_another_account_and_skips_closed_petitions(session, keys) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    open_pid = await open_petition(session, author)
    closed_pid = await open_petition(session, author)
    other = await make_user(session, 2)
    await service.sign(session, other, keys, open_pid, signature("QC123456"), NOW)
    signer = await make_user(session, 3, verified=False)
    await service.sign(session, signer, keys, open_pid, signature("qc 123456"), NOW)
    await service.sign(session, signer, keys, closed_pid, signature("QC123456"), NOW)
    async with session.begin():
        await session.execute(Petition.__table__.update().where(Petition.id == closed_pid).values(status="withdrawn"))
    handle, code = await started(session, keys, signer.user_id)
    await verification.verify(session, keys, ANONYMOUS, handle, code, NOW)
    assert await counted(session, open_pid) == 1 and await counted(session, closed_pid) == 0
    flags = (await session.execute(select(SignatureFlag.user_id, SignatureFlag.reason)
                                   .where(SignatureFlag.petition_id == open_pid))).all()
    assert flags == [(signer.user_id, "cnie_used_by_other_account")]
    assert await session.scalar(select(func.count()).select_from(PendingSignature)) == 0
    await session.rollback()
    assert await service.has_signed(session, signer, open_pid)  # looks like a signature to its account


async def test_twenty_parallel_submissions_of_the_right_code_count_once(sessionmaker, keys) -> None:  # type: ignore[no-untyped-def]
    # Separate sessions, so on PostgreSQL 20 requests on their own connections race for the same account.
    async with sessionmaker() as s:
        author = await make_user(s, 1)
        pid = await open_petition(s, author)
        signer = await make_user(s, 2, verified=False)
        await service.sign(s, signer, keys, pid, signature("QD123456"), NOW)
        handle, code = await started(s, keys, signer.user_id)
        before = await counted(s, pid)
    gate = asyncio.Event()

    async def one() -> bool:
        async with sessionmaker() as s:
            await gate.wait()
            try:
                await verification.verify(s, keys, ANONYMOUS, handle, code, NOW + timedelta(minutes=1))
            except Invalid:
                return False
            return True

    tasks = [asyncio.create_task(one()) for _ in range(20)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*tasks)
    assert any(results)
    async with sessionmaker() as s:
        assert await counted(s, pid) == before + 1
        assert await s.scalar(select(func.count()).select_from(PendingSignature)) == 0
        assert await s.scalar(text("SELECT count(*) FROM audit_events WHERE action = 'accounts:verify_email'")) == 1


async def test_signing_before_verifying_through_the_pages(app, session, keys) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    pid = await open_petition(session, author)
    async with client_from(app) as browser:
        await post_register(browser, "early@test.invalid")
        page = await browser.get("/login")
        r = await browser.post("/login", data={"csrf_token": csrf_from(page.text), "email": "early@test.invalid",
                                               "password": PASSWORD})
        assert r.status_code == 303
        page = await browser.get(f"/petitions/{pid}/sign")
        r = await browser.post(f"/petitions/{pid}/sign", data=sign_form(csrf_from(page.text)))
        assert r.status_code == 303 and r.headers["location"] == f"/petitions/{pid}"
        shown = await browser.get(f"/petitions/{pid}")
        assert 'id="verify-banner"' in shown.text
        assert await counted(session, pid) == 0
        page = await browser.get("/account/verify")  # signed in: the same page, with "send me a new code"
        assert "/account/verify/new-code" in page.text
        code = await mailed_code(app, "early@test.invalid")
        r = await browser.post("/account/verify", data={"csrf_token": csrf_from(page.text), "code": code})
        assert r.status_code == 303
        assert await counted(session, pid) == 1
        assert 'id="verify-banner"' not in (await browser.get(f"/petitions/{pid}")).text


async def test_pending_signatures_that_cannot_count_are_discarded(session, keys) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    kept, ended = await open_petition(session, author), await open_petition(session, author)
    signer = await make_user(session, 2, verified=False)
    await service.sign(session, signer, keys, kept, signature("QE123456"), NOW)
    await service.sign(session, signer, keys, ended, signature("QE123456"), NOW)
    end = await session.scalar(select(Petition.collection_ends_at).where(Petition.id == ended))
    await session.rollback()
    async with session.begin():
        await session.execute(Petition.__table__.update().where(Petition.id == kept)
                              .values(collection_ends_at=end + timedelta(days=30)))
    assert await pending.discard_stale(session, end - timedelta(seconds=1)) == 0
    assert await pending.discard_stale(session, end + timedelta(seconds=1)) == 1
    left = (await session.execute(select(PendingSignature.petition_id))).scalars().all()
    await session.rollback()
    assert left == [kept]


async def test_a_pending_signature_is_listed_exported_and_withdrawable(session, keys) -> None:  # type: ignore[no-untyped-def]
    """Law 09-08 rights cover signatures still waiting for the email (issue #8): listed, exported, withdrawable."""
    from civic.petitions import rights

    author = await make_user(session, 70)
    pid = await open_petition(session, author)
    signer = await make_user(session, 71, verified=False)
    assert await service.sign(session, signer, keys, pid, signature("PW1234"), NOW) is service.SignOutcome.SIGNED
    assert [s.petition_id for s in await rights.my_signatures(session, signer)] == [pid]
    data = await rights.my_data(session, signer, keys, NOW)
    assert [(s["cnie"], s.get("waiting_for_email_confirmation")) for s in data["signatures"]] == [("PW1234", True)]
    await rights.withdraw(session, signer, pid, NOW)
    assert await rights.my_signatures(session, signer) == []
    async with session.begin():
        assert await session.scalar(select(func.count()).select_from(PendingSignature)) == 0


async def test_registering_someone_elses_address_first_does_not_lock_its_owner_out(app, session) -> None:  # type: ignore[no-untyped-def]
    """Red-team finding (issue #8 review): an unverified account is taken over by the next registration of its
    address; the squatter's password and sessions stop working and what it signed meanwhile is dropped."""
    author = await make_user(session, 80)
    pid = await open_petition(session, author)
    async with client_from(app, "192.0.2.21") as squatter:
        assert (await post_register(squatter, "owner@test.invalid", password="squatter password 1")).status_code == 303
        page = await squatter.get("/login")
        signed_in = await squatter.post("/login", data={
            "csrf_token": csrf_from(page.text), "email": "owner@test.invalid", "password": "squatter password 1"})
        assert signed_in.status_code == 303
        token = csrf_from((await squatter.get(f"/petitions/{pid}")).text)
        signed = await squatter.post(f"/petitions/{pid}/sign", data=sign_form(token, cnie="SQ1234"))
        assert signed.status_code == 303
        # The answer says the signature waits for the email (a link inside the result, not only the banner).
        result = re.search(r'id="sign-result"[^>]*>(.*?)</p>', (await squatter.get(signed.headers["location"])).text,
                           re.S)
        assert result is not None and 'href="/account/verify"' in result.group(1)
        assert await session.scalar(select(func.count()).select_from(PendingSignature)) == 1
        await session.rollback()
        async with client_from(app, "192.0.2.22") as owner:
            assert (await post_register(owner, "owner@test.invalid")).status_code == 303
            code = await mailed_code(app, "owner@test.invalid")
            page = await owner.get("/account/verify")
            done = await owner.post("/account/verify", data={"csrf_token": csrf_from(page.text), "code": code})
            assert done.status_code == 303
            assert "/logout" in (await owner.get("/")).text  # the owner is signed in, verified
        assert "/logout" not in (await squatter.get("/")).text  # the squatter's session is gone
        page = await squatter.get("/login")
        again = await squatter.post("/login", data={"csrf_token": csrf_from(page.text),
                                                    "email": "owner@test.invalid", "password": "squatter password 1"})
        assert again.status_code == 422
    assert await session.scalar(select(func.count()).select_from(PendingSignature)) == 0
    assert await session.scalar(select(func.count()).select_from(Signature)) == 0
    await session.rollback()
