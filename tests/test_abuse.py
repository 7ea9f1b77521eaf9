"""Staff burst tools and batch invalidation (issue #8, item 4): groups by address label and email domain, quiet
flags, one-transaction invalidation with a reason, audit, and who may do it. Real database, real HTTP."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select, text, update

from civic import audit
from civic.accounts import service as accounts
from civic.db import utcnow
from civic.errors import Conflict, Forbidden, Invalid
from civic.permissions import Actor
from civic.petitions import abuse, service
from civic.petitions.abuse_models import InvalidatedSignature, SignatureInvalidationBatch
from civic.petitions.models import Petition, Signature
from tests.conftest import BACKEND, NOW, csrf_from, make_user
from tests.test_petitions_service import RULES, open_petition

PASSWORD = "a long password for tests"
ADDRESS_A, ADDRESS_B = "203.0.113.10", "198.51.100.20"


async def user_at(session, n: int, domain: str) -> int:  # type: ignore[no-untyped-def]
    """A made-up citizen whose email is at ``domain`` (no argon2)."""
    result = await session.execute(text(
        "INSERT INTO users (display_name, email, password_hash, role, commune_code, session_nonce, created_at) "
        "VALUES (:n, :e, 'x', 'citizen', '05.091.01.01', :nonce, :t) RETURNING id"
    ), {"n": f"User {n}", "e": f"u{n}-{secrets.token_hex(3)}@{domain}", "nonce": secrets.token_hex(8),
        "t": NOW.replace(tzinfo=None) if BACKEND == "sqlite" else NOW})
    user_id = int(result.scalar_one())
    await session.commit()
    return user_id


async def add_signatures(session, keys, pid: int, rows: list[tuple[int, str | None, datetime]]) -> list[int]:  # type: ignore[no-untyped-def]
    """Insert online signatures (user id, client address or None, signed at) directly; returns their ids."""
    ids = []
    for user_id, address, at in rows:
        cnie = f"ZZ{user_id:06d}"
        sid = await session.scalar(insert(Signature).values(
            petition_id=pid, user_id=user_id, full_name="Test Signer", cnie_hmac=keys.cnie_hmac(cnie),
            cnie_encrypted=keys.encrypt_cnie(cnie), commune_code="05.091.01.01", province_code="05.091",
            electoral_declaration=True, consent_at=at, channel="online", created_at=at,
            client_hash=keys.keyed_hash("client", address) if address else None,
        ).returning(Signature.id))
        ids.append(int(sid))
    await session.commit()
    return ids


async def scenario(session, keys, base: datetime) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """A collecting petition with: address A, 20 signatures 30 s apart (9.5 minutes: a burst), from accounts at
    burst.invalid, plus 80 more burst.invalid accounts without an address within 5 minutes (100: a domain burst);
    address B, 20 signatures 40 s apart (12.7 minutes: no burst) from mail.invalid accounts; and 3 signatures from
    mail.invalid two days earlier."""
    author = await make_user(session, 1)
    pid = await open_petition(session, author)
    a_users = [await user_at(session, 100 + i, "burst.invalid") for i in range(100)]
    b_users = [await user_at(session, 300 + i, "Mail.Invalid") for i in range(23)]
    start = base - timedelta(minutes=30)
    a_times = [start + timedelta(seconds=30 * i) for i in range(20)]
    a_ids = await add_signatures(
        session, keys, pid, [(u, ADDRESS_A, t) for u, t in zip(a_users[:20], a_times, strict=True)])
    others = await add_signatures(session, keys, pid, [(u, None, start + timedelta(seconds=3 * i))
                                                       for i, u in enumerate(a_users[20:])])
    b_times = [start + timedelta(seconds=40 * i) for i in range(20)]
    b_ids = await add_signatures(
        session, keys, pid, [(u, ADDRESS_B, t) for u, t in zip(b_users[:20], b_times, strict=True)])
    old_ids = await add_signatures(session, keys, pid, [(u, None, base - timedelta(days=2)) for u in b_users[20:]])
    return {"author": author, "pid": pid, "a_ids": a_ids, "b_ids": b_ids, "others": others, "old_ids": old_ids,
            "a_times": a_times, "b_times": b_times}


def peak(times: list[datetime]) -> int:
    minutes: dict[int, int] = {}
    for t in times:
        key = int(t.timestamp()) // 60
        minutes[key] = minutes.get(key, 0) + 1
    return max(minutes.values())


async def staff_actor(session) -> Actor:  # type: ignore[no-untyped-def]
    return await make_user(session, 2, role="council_staff")


async def count(session, pid: int) -> int:  # type: ignore[no-untyped-def]
    n = await session.scalar(select(func.count()).select_from(Signature).where(Signature.petition_id == pid))
    await session.commit()
    return int(n or 0)


async def test_groups_by_address_label_and_domain_with_flags(session, keys) -> None:  # type: ignore[no-untyped-def]
    data = await scenario(session, keys, NOW)
    staff = await staff_actor(session)
    report = await abuse.burst_report(session, staff, data["pid"], "all", NOW)
    hash_a, hash_b = keys.keyed_hash("client", ADDRESS_A), keys.keyed_hash("client", ADDRESS_B)
    by_value = {g.value: g for g in report.clients}
    assert set(by_value) == {hash_a, hash_b}
    a, b = by_value[hash_a], by_value[hash_b]
    assert (a.count, a.flagged, a.label) == (20, True, "c-" + hash_a[:8])
    assert (b.count, b.flagged) == (20, False)  # 20 signatures, but over more than 10 minutes
    assert report.clients[0] == a  # flagged first
    assert a.first_at == data["a_times"][0] and a.last_at == data["a_times"][-1]
    assert a.peak_per_minute == peak(data["a_times"]) and b.peak_per_minute == peak(data["b_times"])
    domains = {g.value: g for g in report.domains}
    assert {d: (g.count, g.flagged) for d, g in domains.items()} == {
        "burst.invalid": (100, True), "mail.invalid": (23, False)}
    assert report.flagged_count == 2
    # The last hour leaves out the two-day-old signatures.
    hour = await abuse.burst_report(session, staff, data["pid"], "hour", NOW)
    assert {g.value: g.count for g in hour.domains} == {"burst.invalid": 100, "mail.invalid": 20}
    assert hour.since == NOW - timedelta(hours=1) and hour.until == NOW


async def test_only_staff_who_see_personal_signatures_get_the_report(session, keys) -> None:  # type: ignore[no-untyped-def]
    data = await scenario(session, keys, NOW)
    for role in ("citizen", "moderator", "cso_member"):
        actor = await make_user(session, 50 + len(role), role=role)
        with pytest.raises(Forbidden):
            await abuse.burst_report(session, actor, data["pid"], "all", NOW)
        with pytest.raises(Forbidden):
            await abuse.invalidate(session, actor, data["pid"], abuse.InvalidationForm(
                "client:" + keys.keyed_hash("client", ADDRESS_A), "", str(int(NOW.timestamp())),
                "A scripted burst from one address"), NOW)
    assert await count(session, data["pid"]) == 123


async def test_invalidation_moves_exactly_the_group_in_one_batch(session, keys) -> None:  # type: ignore[no-untyped-def]
    data = await scenario(session, keys, NOW)
    staff = await staff_actor(session)
    pid = data["pid"]
    view = await service.get_petition(session, staff, pid, RULES)
    assert (await service.tally(session, view, "05")).total == 123
    form = abuse.InvalidationForm("client:" + keys.keyed_hash("client", ADDRESS_A), "",
                                  str(int(NOW.timestamp())), "  Twenty signatures from one address in 9 minutes  ")
    batch = await abuse.invalidate(session, staff, pid, form, NOW)
    assert batch.count == 20 and batch.reason == "Twenty signatures from one address in 9 minutes"
    assert (await service.tally(session, view, "05")).total == 103  # the count drops at once
    moved = sorted((await session.execute(select(InvalidatedSignature.signature_id, InvalidatedSignature.batch_id)
                                          .where(InvalidatedSignature.petition_id == pid))).all())
    assert [tuple(m) for m in moved] == sorted((sid, batch.id) for sid in data["a_ids"])
    left = set(await session.scalars(select(Signature.id).where(Signature.petition_id == pid)))
    assert left == set(data["b_ids"]) | set(data["others"]) | set(data["old_ids"])
    stored = await session.get(SignatureInvalidationBatch, batch.id)
    assert stored is not None and (stored.count, stored.actor_id, stored.petition_id) == (20, staff.user_id, pid)
    assert stored.criterion.startswith("client=c-") and ADDRESS_A not in stored.criterion
    events = (await session.execute(select(audit.AuditEvent.action, audit.AuditEvent.subject_id,
                                           audit.AuditEvent.detail).where(
        audit.AuditEvent.action == "signatures:invalidate"))).all()
    await session.commit()
    assert len(events) == 1 and events[0][1] == str(pid)
    assert f'"batch": {batch.id}' in events[0][2] and '"count": 20' in events[0][2]
    # Nothing is left of that group: a second attempt is refused with a field error, and writes nothing.
    with pytest.raises(Invalid) as refused:
        await abuse.invalidate(session, staff, pid, form, NOW)
    assert "group" in refused.value.field_errors
    assert await session.scalar(select(func.count()).select_from(SignatureInvalidationBatch)) == 1
    await session.commit()


async def test_a_domain_within_a_window(session, keys) -> None:  # type: ignore[no-untyped-def]
    data = await scenario(session, keys, NOW)
    staff = await staff_actor(session)
    since = NOW - timedelta(hours=1)
    form = abuse.InvalidationForm("domain:mail.invalid", str(int(since.timestamp())), str(int(NOW.timestamp())),
                                  "Accounts made in bulk at one provider")
    batch = await abuse.invalidate(session, staff, data["pid"], form, NOW)
    assert batch.count == 20  # the three signatures of two days ago are outside the window
    left = set(await session.scalars(select(Signature.id).where(Signature.petition_id == data["pid"])))
    await session.commit()
    assert set(data["old_ids"]) <= left and not set(data["b_ids"]) & left
    assert batch.criterion.startswith("domain=mail.invalid since=")


@pytest.mark.parametrize(("reason", "message"), [
    ("", "Please write the reason for invalidating these signatures."),
    ("   ", "Please write the reason for invalidating these signatures."),
    ("too short", "The reason must be between 10 and 500 characters long."),
    ("x" * 501, "The reason must be between 10 and 500 characters long."),
])
async def test_a_reason_is_required(session, keys, reason, message) -> None:  # type: ignore[no-untyped-def]
    data = await scenario(session, keys, NOW)
    staff = await staff_actor(session)
    with pytest.raises(Invalid) as refused:
        await abuse.invalidate(session, staff, data["pid"], abuse.InvalidationForm(
            "client:" + keys.keyed_hash("client", ADDRESS_A), "", str(int(NOW.timestamp())), reason), NOW)
    assert refused.value.field_errors == {"reason": [message]}
    assert await count(session, data["pid"]) == 123


@pytest.mark.parametrize("group", ["", "client:", "client:abc", "client:" + "g" * 64, "domain:", "domain:a@b",
                                   "other:x", "client:" + "a" * 65])
async def test_a_malformed_group_is_a_field_error(session, keys, group) -> None:  # type: ignore[no-untyped-def]
    data = await scenario(session, keys, NOW)
    staff = await staff_actor(session)
    with pytest.raises(Invalid) as refused:
        await abuse.invalidate(session, staff, data["pid"], abuse.InvalidationForm(
            group, "", "not a number" if group == "" else str(int(NOW.timestamp())), "A long enough reason"), NOW)
    assert set(refused.value.field_errors) == {"group"}


async def test_a_submitted_petition_is_frozen(session, keys) -> None:  # type: ignore[no-untyped-def]
    data = await scenario(session, keys, NOW)
    staff = await staff_actor(session)
    await session.execute(update(Petition).where(Petition.id == data["pid"]).values(status="submitted"))
    await session.commit()
    with pytest.raises(Conflict):
        await abuse.invalidate(session, staff, data["pid"], abuse.InvalidationForm(
            "client:" + keys.keyed_hash("client", ADDRESS_A), "", str(int(NOW.timestamp())),
            "A scripted burst from one address"), NOW)
    assert await count(session, data["pid"]) == 123
    assert await session.scalar(select(func.count()).select_from(SignatureInvalidationBatch)) == 0
    await session.commit()


# --- through HTTP ---------------------------------------------------------------------------------------------


async def sign_in(client, session, role: str, n: int) -> Actor:  # type: ignore[no-untyped-def]
    email = f"abuse-{role}{n}@test.invalid"
    user_id = await accounts.create_user(session, display_name=f"{role} {n}", email=email, password=PASSWORD,
                                         role=role, commune_code="05.091.01.01", now=NOW, region_code="05")
    page = await client.get("/login")
    r = await client.post("/login", data={"csrf_token": csrf_from(page.text), "email": email, "password": PASSWORD})
    assert r.status_code == 303, r.text
    return Actor(user_id, role, f"{role} {n}")


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden field {name}"
    return match.group(1)


async def test_the_page_shows_labels_never_addresses_and_invalidates(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    data = await scenario(session, keys, utcnow().replace(microsecond=0))
    pid = data["pid"]
    await sign_in(client, session, "council_staff", 1)
    page = await client.get(f"/staff/petitions/{pid}/bursts?window=hour")
    assert page.status_code == 200
    hash_a = keys.keyed_hash("client", ADDRESS_A)
    assert "c-" + hash_a[:8] in page.text and "burst.invalid" in page.text
    assert ADDRESS_A not in page.text and ADDRESS_B not in page.text and "@burst.invalid" not in page.text
    assert '<legend>' in page.text and 'for="reason"' in page.text
    form = {"csrf_token": csrf_from(page.text), "window": "hour", "since": hidden(page.text, "since"),
            "until": hidden(page.text, "until"), "group": f"client:{hash_a}", "reason": ""}
    # Reason missing: the page again, with the error summary and the field error; nothing moved.
    r = await client.post(f"/staff/petitions/{pid}/bursts/invalidate", data=form)
    assert r.status_code == 422 and 'role="alert"' in r.text and 'id="reason-error"' in r.text
    assert 'aria-invalid="true"' in r.text
    assert await count(session, pid) == 123
    # Without the CSRF token: refused, nothing moved.
    r = await client.post(f"/staff/petitions/{pid}/bursts/invalidate",
                          data={**form, "csrf_token": "", "reason": "A scripted burst from one address"})
    assert r.status_code == 403
    assert await count(session, pid) == 123
    r = await client.post(f"/staff/petitions/{pid}/bursts/invalidate",
                          data={**form, "reason": "A scripted burst from one address"})
    assert r.status_code == 303 and r.headers["location"].endswith(f"/staff/petitions/{pid}/bursts?window=hour")
    assert await count(session, pid) == 103
    after = await client.get(r.headers["location"])
    assert "A scripted burst from one address" in after.text  # the list of past batches
    assert 'role="status"' in after.text


async def test_strangers_are_refused_the_page_and_the_form(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    data = await scenario(session, keys, NOW)
    pid = data["pid"]
    r = await client.get(f"/staff/petitions/{pid}/bursts")
    assert r.status_code == 303 and "/login" in r.headers["location"]  # anonymous: sign in first
    await sign_in(client, session, "moderator", 1)
    assert (await client.get(f"/staff/petitions/{pid}/bursts")).status_code == 403
    token = csrf_from((await client.get("/")).text)
    r = await client.post(f"/staff/petitions/{pid}/bursts/invalidate", data={
        "csrf_token": token, "window": "all", "since": "", "until": str(int(NOW.timestamp())),
        "group": "client:" + keys.keyed_hash("client", ADDRESS_A), "reason": "A scripted burst from one address"})
    assert r.status_code == 403
    assert await count(session, pid) == 123


async def test_unknown_petition_is_404_and_an_unknown_window_means_a_day(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    data = await scenario(session, keys, NOW)
    await sign_in(client, session, "council_staff", 1)
    assert (await client.get("/staff/petitions/999999/bursts")).status_code == 404
    assert (await client.get("/staff/petitions/99999999999/bursts")).status_code == 404
    page = await client.get(f"/staff/petitions/{data['pid']}/bursts?window=%00bad")
    assert page.status_code == 200
    assert 'bursts?window=day" aria-current="page"' in page.text


async def test_submitted_petition_page_has_no_form_and_post_is_409(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    data = await scenario(session, keys, NOW)
    pid = data["pid"]
    await session.execute(update(Petition).where(Petition.id == pid).values(status="submitted"))
    await session.commit()
    await sign_in(client, session, "council_staff", 1)
    page = await client.get(f"/staff/petitions/{pid}/bursts?window=all")
    assert page.status_code == 200 and 'name="reason"' not in page.text
    r = await client.post(f"/staff/petitions/{pid}/bursts/invalidate", data={
        "csrf_token": csrf_from(page.text), "window": "all", "since": "", "until": str(int(NOW.timestamp())),
        "group": "client:" + keys.keyed_hash("client", ADDRESS_A), "reason": "A scripted burst from one address"})
    assert r.status_code == 409
    assert await count(session, pid) == 123


async def test_the_dashboard_counts_flagged_groups(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    data = await scenario(session, keys, utcnow().replace(microsecond=0))
    staff = await staff_actor(session)
    flagged = await abuse.flagged_petitions(session, staff, utcnow())
    assert flagged == [abuse.FlaggedPetition(data["pid"], "Un titre de pétition assez long", 2)]
    assert await abuse.flagged_petitions(session, Actor(None), utcnow()) is None
    await sign_in(client, session, "council_staff", 1)
    page = await client.get("/staff")
    assert page.status_code == 200 and f'/staff/petitions/{data["pid"]}/bursts' in page.text


async def test_nothing_flagged_for_an_old_burst(session, keys) -> None:  # type: ignore[no-untyped-def]
    await scenario(session, keys, NOW)
    staff = await staff_actor(session)
    assert await abuse.flagged_petitions(session, staff, NOW + timedelta(days=2)) == []
    assert datetime.now(UTC) > NOW  # the scenario is in the past of the real clock used by the pages


async def test_quiet_flags_are_listed_for_staff_by_reason(session, keys) -> None:  # type: ignore[no-untyped-def]
    """Attempts answered like signatures but not counted (a reused CNIE, a CNIE over its limit) are shown to staff
    by reason; the signers got SIGNED (issue #8, item 4)."""
    from tests.test_petitions_service import signature

    author = await make_user(session, 900)
    pid = await open_petition(session, author)
    first, second, third = (await make_user(session, 901), await make_user(session, 902),
                            await make_user(session, 903))
    assert await service.sign(session, first, keys, pid, signature("QF1234"), NOW) is service.SignOutcome.SIGNED
    assert await service.sign(session, second, keys, pid, signature("QF1234"), NOW) is service.SignOutcome.SIGNED
    assert await service.sign(session, third, keys, pid, signature("QF9999"), NOW + timedelta(minutes=1),
                              cnie_over_limit=True) is service.SignOutcome.SIGNED
    staff = await staff_actor(session)
    report = await abuse.burst_report(session, staff, pid, "all", NOW + timedelta(minutes=2))
    assert {(f.reason, f.count, f.accounts) for f in report.quiet_flags} == {
        ("cnie_used_by_other_account", 1, 1), ("cnie_rate_limited", 1, 1)}
    async with session.begin():
        assert await session.scalar(select(func.count()).select_from(Signature).where(
            Signature.petition_id == pid)) == 1


async def test_a_petition_hidden_by_moderation_cannot_be_signed(session, keys) -> None:  # type: ignore[no-untyped-def]
    """The thin signing view no longer loads the petition first, so the service itself refuses a hidden one."""
    from civic.errors import NotFound
    from tests.test_petitions_service import signature

    author = await make_user(session, 910)
    pid = await open_petition(session, author)
    async with session.begin():
        await session.execute(update(Petition).where(Petition.id == pid).values(hidden_at=NOW, hidden_reason="x"))
    with pytest.raises(NotFound):
        await service.sign(session, await make_user(session, 911), keys, pid, signature("HD1234"), NOW)


async def test_an_invalidated_signature_cannot_come_back(session, keys) -> None:  # type: ignore[no-untyped-def]
    """Red-team finding (issue #8 review): after staff invalidate a group, the same CNIE or account signing again is
    answered like a signature, not counted, and flagged ``previously_invalidated``."""
    from civic.petitions.models import SignatureFlag
    from tests.test_petitions_service import signature

    data = await scenario(session, keys, NOW)
    staff = await staff_actor(session)
    pid = data["pid"]
    async with session.begin():
        row = (await session.execute(select(Signature.user_id, Signature.client_hash)
                                     .where(Signature.petition_id == pid, Signature.user_id.is_not(None))
                                     .limit(1))).one()
    await abuse.invalidate(session, staff, pid, abuse.InvalidationForm(
        "client:" + row.client_hash, "", str(int((NOW + timedelta(hours=2)).timestamp())),
        "A scripted burst seen in the server logs."), NOW + timedelta(hours=2))
    async with session.begin():
        before = await session.scalar(select(func.count()).select_from(Signature).where(Signature.petition_id == pid))
    again = Actor(row.user_id, "citizen", "Again")
    outcome = await service.sign(session, again, keys, pid, signature("RB1234"), NOW + timedelta(hours=3))
    assert outcome is service.SignOutcome.SIGNED
    async with session.begin():
        after = await session.scalar(select(func.count()).select_from(Signature).where(Signature.petition_id == pid))
        reasons = list(await session.scalars(select(SignatureFlag.reason).where(SignatureFlag.petition_id == pid)))
    assert after == before and reasons == ["previously_invalidated"]


async def test_a_stale_unverified_actor_signs_for_real_once_the_email_is_verified(session, keys) -> None:  # type: ignore[no-untyped-def]
    """Red-team finding (issue #8 review): a signature racing the email confirmation was left pending for ever.
    sign() re-reads the account (row locked) when the loaded actor says "unverified"."""
    from civic.petitions.models import PendingSignature
    from tests.test_petitions_service import signature

    author = await make_user(session, 920)
    pid = await open_petition(session, author)
    verified_now = await make_user(session, 921, verified=True)
    stale = Actor(verified_now.user_id, "citizen", "Stale", email_verified=False)
    assert await service.sign(session, stale, keys, pid, signature("SV1234"), NOW) is service.SignOutcome.SIGNED
    async with session.begin():
        assert await session.scalar(select(func.count()).select_from(Signature).where(
            Signature.petition_id == pid)) == 1
        assert await session.scalar(select(func.count()).select_from(PendingSignature)) == 0


def test_cnie_digits_typed_on_an_arabic_keyboard_are_read() -> None:
    from civic.security import normalise_cnie

    assert normalise_cnie("zz١٠٠٠٠٢") == "ZZ100002"
    assert normalise_cnie("ＡＢ１２３") == "AB123"
    assert normalise_cnie("AB۱۲۳") == "AB123"
