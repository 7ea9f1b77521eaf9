"""Petition services against the real database: create, publish, sign, deduplicate, count, staff access."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from civic.audit import AuditEvent, verify_chain
from civic.errors import Conflict, Forbidden, Invalid, NotFound, NotSignedIn
from civic.permissions import ANONYMOUS
from civic.petitions import lifecycle, service
from civic.petitions.models import Petition, Signature, SignatureFlag
from civic.settings import PetitionRules
from tests.conftest import NOW, make_user

RULES = PetitionRules()
TITLE = "Un titre de pétition assez long"
BODY = "Nous demandons au conseil régional d'inscrire ce point à l'ordre du jour de sa prochaine session."


async def open_petition(session, author) -> int:  # type: ignore[no-untyped-def]
    pid = await service.create_petition(session, author, service.PetitionDraft(TITLE, BODY, "council"), "05", NOW)
    await lifecycle.transition(session, author, pid, "collecting", lifecycle.TransitionInput(), RULES, NOW)
    return pid


def signature(cnie: str = "AB123456", commune: str = "05.091.01.01", **over: object) -> service.SignatureInput:
    data = {"full_name": "Amina Test", "cnie": cnie, "commune_code": commune, "electoral_declaration": True,
            "consent": True}
    data.update(over)
    return service.SignatureInput(**data)  # type: ignore[arg-type]


async def test_publish_stores_the_rule_set_for_beni_mellal_khenifra(session) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    pid = await open_petition(session, author)
    petition = await session.get(Petition, pid)
    assert (petition.status, petition.threshold, petition.province_minimum) == ("collecting", 400, 20)
    assert petition.require_electoral_registration is True
    # NOW is 2026-11-20 10:00 UTC (11:00 in Casablanca): the period ends 365 days later at 23:59:59 local time
    local_end = petition.collection_ends_at.astimezone(lifecycle.i18n.TIMEZONE)
    assert (local_end.date().isoformat(), local_end.hour, local_end.minute) == ("2027-11-20", 23, 59)
    assert (petition.collection_ends_at - petition.published_at).days == 365
    # A later change of settings does not change a published petition.
    view = await service.get_petition(session, author, pid, PetitionRules(thresholds=((None, 999),)))
    assert view.rules.threshold == 400


async def test_draft_validation_reports_each_field(session) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    with pytest.raises(Invalid) as exc:
        await service.create_petition(session, author, service.PetitionDraft("", "short", "nobody"), "05", NOW)
    assert set(exc.value.field_errors) == {"title", "body", "addressed_to"}
    with pytest.raises(Invalid) as exc:
        await service.create_petition(session, author, service.PetitionDraft("x" * 1_000_000, BODY, "council"),
                                      "05", NOW)
    assert "200" in exc.value.field_errors["title"][0]
    assert await session.scalar(select(func.count()).select_from(Petition)) == 0


async def test_only_the_author_publishes_and_only_once(session) -> None:  # type: ignore[no-untyped-def]
    author, other = await make_user(session, 1), await make_user(session, 2)
    pid = await service.create_petition(session, author, service.PetitionDraft(TITLE, BODY, "body_youth"), "05", NOW)
    with pytest.raises(NotFound):  # a draft is invisible to others
        await lifecycle.transition(session, other, pid, "collecting", lifecycle.TransitionInput(), RULES, NOW)
    await lifecycle.transition(session, author, pid, "collecting", lifecycle.TransitionInput(), RULES, NOW)
    with pytest.raises(Conflict):
        await lifecycle.transition(session, author, pid, "collecting", lifecycle.TransitionInput(), RULES, NOW)


async def test_drafts_are_hidden_from_others(session) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    pid = await service.create_petition(session, author, service.PetitionDraft(TITLE, BODY, "council"), "05", NOW)
    with pytest.raises(NotFound):
        await service.get_petition(session, ANONYMOUS, pid, RULES)
    assert (await service.get_petition(session, author, pid, RULES)).status == "draft"
    assert await service.list_public(session, "05", RULES) == []


async def test_sign_counts_by_province(session, keys) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    pid = await open_petition(session, author)
    communes = ["05.091.01.01", "05.081.01.01", "05.081.03.07", "05.301.01.01"]
    for i, commune in enumerate(communes):
        signer = await make_user(session, 10 + i)
        outcome = await service.sign(session, signer, keys, pid, signature(f"K{i:06d}", commune), NOW)
        assert outcome is service.SignOutcome.SIGNED
    view = await service.get_petition(session, author, pid, RULES)
    tally = await service.tally(session, view, "05")
    by_code = {p.code: p.count for p in tally.provinces}
    assert tally.total == 4 and tally.threshold == 400
    assert by_code == {"05.081": 2, "05.091": 1, "05.255": 0, "05.301": 1, "05.311": 0}
    assert not tally.threshold_met and not tally.spread_met


async def test_same_account_same_cnie_in_another_form_is_told_already_signed(session, keys) -> None:  # type: ignore[no-untyped-def]
    author, signer = await make_user(session, 1), await make_user(session, 2)
    pid = await open_petition(session, author)
    assert await service.sign(session, signer, keys, pid, signature("ab 123 456"), NOW) is service.SignOutcome.SIGNED
    again = await service.sign(session, signer, keys, pid, signature(" AB123456 "), NOW)
    assert again is service.SignOutcome.ALREADY_SIGNED
    assert await session.scalar(select(func.count()).select_from(Signature)) == 1
    stored = await session.scalar(select(Signature.cnie_encrypted))
    assert keys.decrypt_cnie(stored) == "AB123456"
    assert b"AB123456" not in stored  # encrypted at rest


async def test_cnie_reused_from_another_account_is_answered_alike_but_not_counted(session, keys) -> None:  # type: ignore[no-untyped-def]
    author, first, second = await make_user(session, 1), await make_user(session, 2), await make_user(session, 3)
    pid = await open_petition(session, author)
    a = await service.sign(session, first, keys, pid, signature("IA12345"), NOW)
    b = await service.sign(session, second, keys, pid, signature("ia 12345"), NOW)
    assert a is b is service.SignOutcome.SIGNED
    assert await session.scalar(select(func.count()).select_from(Signature)) == 1
    flags = (await session.scalars(select(SignatureFlag))).all()
    assert [(f.user_id, f.reason) for f in flags] == [(second.user_id, "cnie_used_by_other_account")]
    assert await service.has_signed(session, second, pid)


@pytest.mark.parametrize(("field", "value"), [
    ("cnie", "123"), ("cnie", ""), ("cnie", "ABC123"), ("cnie", "A1234567"), ("full_name", "   "),
    ("consent", False), ("electoral_declaration", False), ("commune_code", ""),
])
async def test_bad_signature_input_is_refused_per_field(session, keys, field, value) -> None:  # type: ignore[no-untyped-def]
    author, signer = await make_user(session, 1), await make_user(session, 2)
    pid = await open_petition(session, author)
    with pytest.raises(Invalid) as exc:
        await service.sign(session, signer, keys, pid, signature(**{field: value}), NOW)
    assert field in exc.value.field_errors
    assert await session.scalar(select(func.count()).select_from(Signature)) == 0


async def test_commune_outside_the_region_is_refused(session, keys) -> None:  # type: ignore[no-untyped-def]
    author, signer = await make_user(session, 1), await make_user(session, 2)
    pid = await open_petition(session, author)
    with pytest.raises(Invalid) as exc:
        await service.sign(session, signer, keys, pid, signature(commune="01.511.01.0"), NOW)
    assert "commune_code" in exc.value.field_errors


async def test_signing_needs_an_open_petition_and_a_signed_in_user(session, keys) -> None:  # type: ignore[no-untyped-def]
    author, signer = await make_user(session, 1), await make_user(session, 2)
    draft = await service.create_petition(session, author, service.PetitionDraft(TITLE, BODY, "council"), "05", NOW)
    with pytest.raises(Conflict):
        await service.sign(session, signer, keys, draft, signature(), NOW)
    with pytest.raises(NotSignedIn):
        await service.sign(session, ANONYMOUS, keys, draft, signature(), NOW)
    with pytest.raises(NotFound):
        await service.sign(session, signer, keys, 999_999, signature(), NOW)
    pid = await open_petition(session, author)
    with pytest.raises(Conflict):
        await service.sign(session, signer, keys, pid, signature(), NOW + timedelta(days=366))


async def test_staff_see_cnies_and_each_access_is_audited(session, keys) -> None:  # type: ignore[no-untyped-def]
    author, signer = await make_user(session, 1), await make_user(session, 2)
    staff, citizen = await make_user(session, 3, role="council_staff"), await make_user(session, 4)
    pid = await open_petition(session, author)
    await service.sign(session, signer, keys, pid, signature("jb 42"), NOW)
    rows = [r async for r in await service.open_signatures(session, staff, keys, pid, NOW)]
    assert [(r.cnie, r.commune_fr, r.province_fr) for r in rows] == [("JB42", "Béni Mellal", "Béni Mellal")]
    with pytest.raises(Forbidden):
        await service.open_signatures(session, citizen, keys, pid, NOW)
    with pytest.raises(NotSignedIn):
        await service.open_signatures(session, ANONYMOUS, keys, pid, NOW)
    actions = (await session.scalars(select(AuditEvent.action).where(AuditEvent.actor_id == staff.user_id))).all()
    assert actions == ["signatures:view_personal"]
    assert await verify_chain(session) is None
