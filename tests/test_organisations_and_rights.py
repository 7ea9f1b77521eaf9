"""Associations (registration, verification, invitations, collectors), association petitions, and
signatories' rights (withdrawal, own data, public names, retention)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from civic.audit import AuditEvent
from civic.errors import Conflict, Forbidden, Invalid, NotFound
from civic.notifications.models import OutboxMessage
from civic.organisations import service as orgs
from civic.organisations.models import Organisation
from civic.petitions import lifecycle, rights, service
from civic.petitions.models import Petition, Signature
from civic.settings import PetitionRules
from tests.conftest import NOW, csrf_from, make_user
from tests.test_petitions_service import BODY, TITLE, open_petition, signature

RULES = PetitionRules()
OLD = orgs.OrganisationInput("جمعية الأمل للتنمية", "Association Al Amal pour le développement", "REC-2015/88",
                             "2015-03-21", "05.301.01.01", "Accompagnement des personnes en situation de handicap.")
ALL_CHECKS = orgs.VerificationInput(True, True, True, True, "Statuts 2015; récépissé définitif n° 88")


async def registered(session, actor, data=OLD) -> int:  # type: ignore[no-untyped-def]
    return await orgs.register(session, actor, data, "05", NOW)


async def test_register_verify_and_file_an_association_petition(session) -> None:  # type: ignore[no-untyped-def]
    rep, staff = await make_user(session, 1), await make_user(session, 2, role="council_staff")
    org_id = await registered(session, rep)
    draft = service.PetitionDraft(TITLE, BODY, "body_equality", org_id)
    with pytest.raises(Conflict):  # not verified yet
        await service.create_petition(session, rep, draft, "05", NOW)
    with pytest.raises(Forbidden):
        await orgs.verify(session, rep, org_id, ALL_CHECKS, NOW)
    assert await orgs.verify(session, staff, org_id, ALL_CHECKS, NOW) == "verified"
    pid = await service.create_petition(session, rep, draft, "05", NOW)
    petition = await session.get(Petition, pid)
    assert (petition.kind, petition.organisation_id, petition.agent_id) == ("association", org_id, rep.user_id)
    await session.commit()
    other = await make_user(session, 3)
    with pytest.raises(Forbidden):  # only the legal representative files for the association
        await service.create_petition(session, other, draft, "05", NOW)
    view = await orgs.get(session, staff, org_id, NOW)
    assert [v.outcome for v in view.verifications] == ["verified"]
    assert view.verifications[0].document_refs.startswith("Statuts")


async def test_a_young_association_cannot_be_ticked_as_over_3_years(session) -> None:  # type: ignore[no-untyped-def]
    rep, staff = await make_user(session, 1), await make_user(session, 2, role="council_staff")
    young = orgs.OrganisationInput("جمعية", "Jeune association", "REC-1", "2025-01-10", "05.091.01.01",
                                   "Activités culturelles pour les jeunes du quartier.")
    org_id = await registered(session, rep, young)
    with pytest.raises(Invalid) as exc:
        await orgs.verify(session, staff, org_id, ALL_CHECKS, NOW)
    assert "constituted_over_3_years" in exc.value.field_errors
    partial = orgs.VerificationInput(False, True, True, True, "Statuts 2025")
    assert await orgs.verify(session, staff, org_id, partial, NOW) == "rejected"
    assert (await session.get(Organisation, org_id)).status == "rejected"
    await session.commit()


async def test_registration_errors(session) -> None:  # type: ignore[no-untyped-def]
    rep = await make_user(session, 1)
    bad = orgs.OrganisationInput("", "x", "", "next year", "01.511.01.0", "short")
    with pytest.raises(Invalid) as exc:
        await registered(session, rep, bad)
    assert set(exc.value.field_errors) == {"name_ar", "registration_ref", "founded_on", "seat_commune_code",
                                           "activity"}


async def test_invitations_members_and_collectors(session, keys) -> None:  # type: ignore[no-untyped-def]
    rep, member, stranger = await make_user(session, 1), await make_user(session, 2), await make_user(session, 3)
    org_id = await registered(session, rep)
    await orgs.invite(session, rep, keys, "organisation_member", org_id, "Member@Test.invalid", NOW, "http://x")
    mail = (await session.scalars(select(OutboxMessage).where(OutboxMessage.purpose.like("invitation:%")))).one()
    assert mail.to_address == "member@test.invalid" and "/invitations/" in mail.body
    token = mail.body.split("/invitations/")[1].split()[0]
    await session.commit()
    with pytest.raises(Forbidden):
        await orgs.invite(session, stranger, keys, "organisation_member", org_id, "x@test.invalid", NOW, "")
    assert await orgs.accept(session, member, keys, token, NOW) == ("organisation_member", org_id)
    with pytest.raises(Conflict):
        await orgs.accept(session, member, keys, token, NOW)
    with pytest.raises(NotFound):
        await orgs.accept(session, member, keys, token + "x", NOW)
    pid = await open_petition(session, stranger)
    with pytest.raises(Conflict):  # not verified yet
        await orgs.link_collector(session, rep, org_id, pid, member.user_id, NOW)
    staff = await make_user(session, 9, role="council_staff")
    await orgs.verify(session, staff, org_id, ALL_CHECKS, NOW)
    with pytest.raises(Conflict):  # the petition's agent (the stranger) has not allowed the association
        await orgs.link_collector(session, rep, org_id, pid, member.user_id, NOW)
    with pytest.raises(Forbidden):  # only the petition's agent or deputy allows associations
        await orgs.authorise_organisation(session, rep, pid, org_id, NOW)
    await orgs.authorise_organisation(session, stranger, pid, org_id, NOW)
    with pytest.raises(Conflict):  # the stranger is not a member
        await orgs.link_collector(session, rep, org_id, pid, stranger.user_id, NOW)
    await orgs.link_collector(session, rep, org_id, pid, member.user_id, NOW)
    member_now = member.__class__(member.user_id, "cso_member", member.display_name)
    assert await orgs.is_collector(session, member_now, pid, NOW)
    assert not await orgs.is_collector(session, rep.__class__(rep.user_id, "cso_member", ""), pid, NOW)
    assert [o.id for o in await orgs.collecting_organisations(session, pid)] == [org_id]
    await orgs.revoke_organisation(session, stranger, pid, org_id, NOW)
    assert not await orgs.is_collector(session, member_now, pid, NOW)
    assert await orgs.collecting_organisations(session, pid) == []


async def test_deputy_invitation(session, keys) -> None:  # type: ignore[no-untyped-def]
    agent, deputy = await make_user(session, 1), await make_user(session, 2)
    pid = await open_petition(session, agent)
    await orgs.invite(session, agent, keys, "petition_deputy", pid, "deputy@test.invalid", NOW, "")
    body = await session.scalar(select(OutboxMessage.body).where(OutboxMessage.purpose.like("invitation:%")))
    token = body.split("/invitations/")[1].split()[0]
    await session.commit()
    with pytest.raises(Conflict):  # the agent cannot be their own deputy
        await orgs.accept(session, agent, keys, token, NOW)
    await orgs.accept(session, deputy, keys, token, NOW)
    assert (await lifecycle.procedure(session, pid)).deputy_id == deputy.user_id


async def test_withdraw_my_signature_while_collecting(session, keys) -> None:  # type: ignore[no-untyped-def]
    agent, signer = await make_user(session, 1), await make_user(session, 2)
    pid = await open_petition(session, agent)
    await service.sign(session, signer, keys, pid, signature("WD1", public_name=True), NOW)
    assert (await rights.public_names(session, pid)) == (["Amina Test"], 1)
    mine = await rights.my_signatures(session, signer)
    assert [(m.petition_id, m.withdrawable) for m in mine] == [(pid, True)]
    data = await rights.my_data(session, signer, keys, NOW)
    assert data["signatures"][0]["cnie"] == "WD1"
    await rights.withdraw(session, signer, pid, NOW)
    assert await session.scalar(select(func.count()).select_from(Signature)) == 0
    await session.commit()
    with pytest.raises(NotFound):
        await rights.withdraw(session, signer, pid, NOW)
    await service.sign(session, signer, keys, pid, signature("WD1"), NOW)  # may sign again
    await lifecycle.transition(session, agent, pid, "withdrawn", lifecycle.TransitionInput(), RULES, NOW)
    with pytest.raises(Conflict):
        await rights.withdraw(session, signer, pid, NOW)
    actions = (await session.scalars(select(AuditEvent.action))).all()
    assert "signatures:withdraw" in actions and "accounts:export_own_data" in actions


async def test_retention_erases_names_and_cnies_but_keeps_counts(session, keys) -> None:  # type: ignore[no-untyped-def]
    agent, signer = await make_user(session, 1), await make_user(session, 2)
    pid = await open_petition(session, agent)
    await service.sign(session, signer, keys, pid, signature("RT9", "05.301.01.01", public_name=True), NOW)
    await lifecycle.transition(session, agent, pid, "withdrawn", lifecycle.TransitionInput(), RULES, NOW)
    assert await rights.anonymise_expired(session, 365, NOW + timedelta(days=364)) == []
    assert await rights.anonymise_expired(session, 365, NOW + timedelta(days=366)) == [pid]
    assert await rights.anonymise_expired(session, 365, NOW + timedelta(days=400)) == []  # idempotent
    s = (await session.scalars(select(Signature))).one()
    assert (s.full_name, s.cnie_encrypted, s.user_id, s.province_code) == ("", b"", None, "05.301")
    assert s.cnie_hmac.startswith("anon-") and s.cnie_hmac != keys.cnie_hmac("RT9")
    view = await service.get_petition(session, agent, pid, RULES)
    assert (await service.tally(session, view, "05")).total == 1


async def test_pages_for_organisations_dashboard_and_my_signatures(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    from tests.test_views import register

    await register(client, "rep@test.invalid", "Rachida")
    page = await client.get("/organisations/new")
    assert page.status_code == 200
    r = await client.post("/organisations/new", data={
        "csrf_token": csrf_from(page.text), "name_ar": OLD.name_ar, "name_fr": OLD.name_fr,
        "registration_ref": OLD.registration_ref, "founded_on": OLD.founded_on,
        "seat_commune_code": OLD.seat_commune_code, "activity": OLD.activity})
    assert r.status_code == 303
    detail = await client.get(r.headers["location"])
    assert OLD.name_fr in detail.text and "/invite" in detail.text
    bad = await client.post("/organisations/new", data={"csrf_token": csrf_from(page.text), "founded_on": "x"})
    assert bad.status_code == 422 and 'id="founded_on-error"' in bad.text
    assert (await client.get("/staff")).status_code == 403
    mine = await client.get("/me/signatures")
    assert mine.status_code == 200
    data = await client.get("/me/data.json")
    assert data.json()["account"]["display_name"] == "Rachida"
    assert (await client.get("/organisations")).status_code == 200
