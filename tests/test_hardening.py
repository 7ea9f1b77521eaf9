"""Defects found by a review that tried to break Civic, each kept from coming back."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import update

from civic.errors import Conflict, NotFound
from civic.permissions import ANONYMOUS
from civic.petitions import lifecycle, rights, service
from civic.petitions.models import Petition
from civic.settings import PetitionRules
from tests.conftest import NOW, csrf_from, make_user
from tests.test_lifecycle import FULL
from tests.test_petitions_service import BODY, TITLE, open_petition, signature

RULES = PetitionRules()


async def test_a_draft_withdrawn_before_publication_stays_private(session) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    pid = await service.create_petition(session, author, service.PetitionDraft(TITLE, BODY, "council"), "05", NOW)
    await lifecycle.transition(session, author, pid, "withdrawn", lifecycle.TransitionInput(), RULES, NOW)
    with pytest.raises(NotFound):
        await service.get_petition(session, ANONYMOUS, pid, RULES)
    assert await service.list_public(session, "05", RULES) == []
    assert (await service.get_petition(session, author, pid, RULES)).status == "withdrawn"


async def test_a_cnie_used_elsewhere_looks_like_a_signature_to_its_account(session, keys) -> None:  # type: ignore[no-untyped-def]
    """The account that reused a CNIE sees, exports and withdraws its 'signature' exactly like a real one, so
    none of the signatory-rights pages tells whether that CNIE had signed (design.md)."""
    agent, first, second = await make_user(session, 1), await make_user(session, 2), await make_user(session, 3)
    pid = await open_petition(session, agent)
    await service.sign(session, first, keys, pid, signature("HX1", public_name=True), NOW)
    await service.sign(session, second, keys, pid, signature("hx 1", full_name="Other Name", public_name=True), NOW)
    mine = await rights.my_signatures(session, second)
    assert [(m.petition_id, m.withdrawable) for m in mine] == [(pid, True)]
    data = await rights.my_data(session, second, keys, NOW)
    assert [(s["petition_id"], s["cnie"], s["full_name"]) for s in data["signatures"]] == [(pid, "HX1", "Other Name")]
    names, total = await rights.public_names(session, pid)
    assert sorted(names) == ["Amina Test", "Other Name"] and total == 2
    await rights.withdraw(session, second, pid, NOW)  # same answer as for a real signature
    assert await rights.my_signatures(session, second) == []
    view = await service.get_petition(session, agent, pid, RULES)
    assert (await service.tally(session, view, "05")).total == 1  # never counted twice


async def test_two_simultaneous_decisions_cannot_both_win(sessionmaker) -> None:  # type: ignore[no-untyped-def]
    async with sessionmaker() as s:
        agent, staff = await make_user(s, 1), await make_user(s, 2, role="council_staff")
        pid = await open_petition(s, agent)
        await s.execute(update(Petition).where(Petition.id == pid).values(status="under_examination"))
        await s.commit()

    async def decide(to: str) -> str:
        async with sessionmaker() as s:
            try:
                await lifecycle.transition(s, staff, pid, to, FULL, RULES, NOW)
            except Conflict:
                return "refused"
            return "ok"

    results = await asyncio.gather(decide("admissible"), decide("inadmissible"))
    assert sorted(results) == ["ok", "refused"]
    async with sessionmaker() as s:
        assert len(await lifecycle.timeline(s, pid)) == 2  # collecting + one decision


async def test_odd_ids_in_forms_are_4xx(client, session) -> None:  # type: ignore[no-untyped-def]
    from tests.test_views import register

    await register(client, "odd@test.invalid")
    page = await client.get("/petitions/new")
    r = await client.post("/petitions/new", data={"csrf_token": csrf_from(page.text), "title": TITLE, "body": BODY,
                                                  "addressed_to": "council", "organisation_id": "²"})
    assert r.status_code == 303  # not an id: a citizens' petition
    for petition_id in ("2147483648", "x", "²"):
        r = await client.post("/organisations/1/collectors", data={
            "csrf_token": csrf_from(page.text), "petition_id": petition_id, "user_id": "1"})
        assert r.status_code == 404, petition_id
    r = await client.post("/petitions/1/organisations/other", data={"csrf_token": csrf_from(page.text),
                                                                   "organisation_id": "1"})
    assert r.status_code == 404
