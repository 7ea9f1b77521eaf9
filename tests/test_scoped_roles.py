"""Scoped roles and blocks at the call sites (issue #6, items 1 and 3): a youth-body secretary manages the youth
body's consultations, their meetings and answers their proposals, and is refused for the gender-equality body's;
a blocked citizen is refused every participation with BLOCKED_MESSAGE; an ``organisation:<id>`` cso_member
enters paper signatures only for the petitions that organisation collects for; the Staff link and the dashboard
through HTTP. Grants and blocks are loaded from the database (accounts.service.actor_for_session).
Made-up identities."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update

from civic import dashboard
from civic.accounts import roles
from civic.accounts import service as accounts
from civic.accounts.models import User
from civic.consultations import meetings
from civic.consultations import service as consultations
from civic.consultations.models import Consultation, MeetingRegistration, Phase
from civic.errors import Conflict, Forbidden
from civic.moderation.models import UserBlock
from civic.organisations import service as orgs
from civic.organisations.models import Organisation, OrganisationMember, PetitionCollector, PetitionOrganisation
from civic.permissions import BLOCKED_MESSAGE, Actor
from civic.petitions import paper
from civic.petitions import service as petitions
from civic.petitions.models import ADDRESSEES, Petition
from civic.petitions.paper import PaperOutcome, PaperSignatureInput
from civic.proposals import comments, supports
from civic.proposals import service as proposals
from civic.proposals.models import Comment, Proposal, Support
from tests.conftest import NOW, csrf_from, make_user
from tests.test_meetings import meeting_input
from tests.test_petitions_service import BODY, TITLE, open_petition

PASSWORD = "a long password"
FLAGS = ("proposals_enabled", "supports_enabled", "comments_enabled")
BLOCK_END = NOW + timedelta(days=1)
ANSWER = "يدرس المجلس هذا المقترح في دورته المقبلة."


async def load(session, actor: Actor, now: datetime = NOW) -> Actor:  # type: ignore[no-untyped-def]
    """The actor as a request would load it: base role, active grants and block in force at ``now``."""
    nonce = await session.scalar(select(User.session_nonce).where(User.id == actor.user_id))
    await session.commit()
    return await accounts.actor_for_session(session, actor.user_id, nonce, now)


async def consultation(session, creator: Actor, addressed_to: str) -> int:  # type: ignore[no-untyped-def]
    """A consultation addressed to ``addressed_to`` with a current proposals phase (proposals, supports and
    comments allowed), inserted directly."""
    cid = int((await session.execute(insert(Consultation).values(
        title=f"استشارة حول {addressed_to}", summary="", body="نص الاستشارة " * 5, scope="region",
        territory_code="05", addressed_to=addressed_to, support_limit=3, created_by=creator.user_id,
        created_at=NOW - timedelta(days=30), updated_at=NOW - timedelta(days=30)).returning(Consultation.id)))
        .scalar_one())
    await session.execute(insert(Phase).values(
        consultation_id=cid, kind="proposals", starts_at=NOW - timedelta(days=5), ends_at=NOW + timedelta(days=5),
        **dict.fromkeys(FLAGS, True)))
    await session.commit()
    return cid


async def proposal(session, cid: int, author: Actor) -> int:  # type: ignore[no-untyped-def]
    pid = int((await session.execute(insert(Proposal).values(
        consultation_id=cid, author_id=author.user_id, title="حافلة مدرسية للدواوير البعيدة",
        body="نقترح توفير حافلة مدرسية يومية تربط الدواوير البعيدة بالمؤسسات التعليمية.", category="transport",
        territory_code="05.091.01.01", status="published", created_at=NOW - timedelta(days=1),
        updated_at=NOW - timedelta(days=1)).returning(Proposal.id))).scalar_one())
    await session.commit()
    return pid


def consultation_input(addressed_to: str) -> consultations.ConsultationInput:
    return consultations.ConsultationInput(
        title="استشارة الشباب حول التشغيل", summary="ملخص قصير", body="نص الاستشارة المفصل حول تشغيل الشباب " * 3,
        easy_read="", scope="region", territory_code="", addressed_to=addressed_to, support_limit="3")


async def youth_secretary(session, n: int = 3) -> tuple[Actor, Actor]:  # type: ignore[no-untyped-def]
    """An admin and a citizen granted ``body_secretary`` for the youth body, loaded from the database."""
    admin, secretary = await make_user(session, n, role="admin"), await make_user(session, n + 1)
    await roles.grant(session, admin, secretary.user_id, "body_secretary", "body:body_youth", NOW)
    return admin, await load(session, secretary)


# --- a youth-body secretary ------------------------------------------------------------------------------------


async def test_a_youth_body_secretary_manages_only_youth_body_consultations(session) -> None:  # type: ignore[no-untyped-def]
    staff, citizen = await make_user(session, 1, role="council_staff"), await make_user(session, 2)
    _admin, secretary = await youth_secretary(session)
    assert secretary.grants == {("body_secretary", "body:body_youth")} and secretary.role == "citizen"

    # the form offers only their body; staff get every body; a citizen none
    assert consultations.manageable_addressees(secretary, NOW) == ("body_youth",)
    assert consultations.manageable_addressees(staff, NOW) == ADDRESSEES
    with pytest.raises(Forbidden):
        consultations.manageable_addressees(citizen, NOW)

    youth = await consultations.create_consultation(session, secretary, consultation_input("body_youth"), "05", NOW)
    assert (await session.get(Consultation, youth)).addressed_to == "body_youth"
    await session.commit()
    for actor in (secretary, citizen):
        with pytest.raises(Forbidden):
            await consultations.create_consultation(session, actor, consultation_input("body_equality"), "05", NOW)
    equality = await consultations.create_consultation(session, staff, consultation_input("body_equality"), "05",
                                                       NOW)
    assert await session.scalar(select(func.count()).select_from(Consultation)) == 2
    await session.commit()

    # editing and phases: their body's consultation only, and it stays addressed to their body
    await consultations.update_consultation(session, secretary, youth, consultation_input("body_youth"), "05", NOW)
    with pytest.raises(Forbidden):
        await consultations.update_consultation(session, secretary, youth, consultation_input("body_equality"), "05",
                                                NOW)
    with pytest.raises(Forbidden):
        await consultations.update_consultation(session, secretary, equality, consultation_input("body_youth"),
                                                "05", NOW)
    phase = consultations.PhaseInput.defaults("proposals", "2026-11-01T09:00", "2026-12-01T09:00")
    assert await consultations.add_phase(session, secretary, youth, phase, NOW)
    with pytest.raises(Forbidden):
        await consultations.add_phase(session, secretary, equality, phase, NOW)
    assert (await consultations.consultation_page(session, secretary, youth, NOW)).can_manage
    assert not (await consultations.consultation_page(session, secretary, equality, NOW)).can_manage

    # meetings of their body's consultation
    assert (await meetings.consultation_for_new_meeting(session, secretary, youth, NOW)).id == youth
    with pytest.raises(Forbidden):
        await meetings.consultation_for_new_meeting(session, secretary, equality, NOW)
    youth_meeting = await meetings.create_meeting(session, secretary, youth, meeting_input(), "05", NOW)
    with pytest.raises(Forbidden):
        await meetings.create_meeting(session, secretary, equality, meeting_input(), "05", NOW)
    equality_meeting = await meetings.create_meeting(session, staff, equality, meeting_input(), "05", NOW)
    await meetings.edit_meeting(session, secretary, youth_meeting, meeting_input(capacity="5"), "05", NOW)
    assert (await meetings.meeting_for_edit(session, secretary, youth_meeting, NOW))[0].capacity == 5
    assert (await meetings.registrations(session, secretary, youth_meeting, NOW)).registered == []
    assert (await meetings.meeting_page(session, secretary, youth_meeting, NOW)).can_manage
    assert not (await meetings.meeting_page(session, secretary, equality_meeting, NOW)).can_manage
    with pytest.raises(Conflict):  # allowed, but the meeting has not started yet
        await meetings.record_attendance(session, secretary, youth_meeting, [], NOW)
    with pytest.raises(Conflict):  # allowed, but the meeting has not ended yet
        await meetings.publish_minutes(session, secretary, youth_meeting, "محضر اللقاء التشاوري " * 3, NOW)
    with pytest.raises(Forbidden):
        await meetings.meeting_for_edit(session, secretary, equality_meeting, NOW)
    with pytest.raises(Forbidden):
        await meetings.edit_meeting(session, secretary, equality_meeting, meeting_input(capacity="5"), "05", NOW)
    with pytest.raises(Forbidden):
        await meetings.registrations(session, secretary, equality_meeting, NOW)
    with pytest.raises(Forbidden):
        await meetings.record_attendance(session, secretary, equality_meeting, [], NOW)
    with pytest.raises(Forbidden):
        await meetings.publish_minutes(session, secretary, equality_meeting, "محضر اللقاء التشاوري " * 3, NOW)

    # answers and follow-up of their body's proposals
    youth_pid, equality_pid = await proposal(session, youth, citizen), await proposal(session, equality, citizen)
    assert (await proposals.proposal_page(session, secretary, youth_pid, NOW)).can_answer
    assert not (await proposals.proposal_page(session, secretary, equality_pid, NOW)).can_answer
    assert await proposals.answer(session, secretary, youth_pid, "accepted", ANSWER, NOW)
    assert await proposals.add_update(session, secretary, youth_pid, "بدأت الأشغال في الجماعة.", NOW)
    with pytest.raises(Forbidden):
        await proposals.answer(session, secretary, equality_pid, "accepted", ANSWER, NOW)
    await proposals.answer(session, staff, equality_pid, "accepted", ANSWER, NOW)  # staff: everywhere, unchanged
    with pytest.raises(Forbidden):
        await proposals.add_update(session, secretary, equality_pid, "بدأت الأشغال في الجماعة.", NOW)
    statuses = {i: status for i, status in await session.execute(select(Proposal.id, Proposal.status))}
    await session.commit()
    assert statuses == {youth_pid: "accepted", equality_pid: "accepted"}
    with pytest.raises(Forbidden):  # a citizen still answers nothing
        await proposals.answer(session, citizen, youth_pid, "rejected", ANSWER, NOW)


# --- a blocked citizen -----------------------------------------------------------------------------------------


async def test_a_blocked_citizen_is_refused_participation_with_the_block_message(session) -> None:  # type: ignore[no-untyped-def]
    staff, author, person = (await make_user(session, 1, role="council_staff"), await make_user(session, 2),
                             await make_user(session, 3))
    cid = await consultation(session, staff, "council")
    pid = await proposal(session, cid, author)
    mid = await meetings.create_meeting(session, staff, cid, meeting_input(), "05", NOW)
    await session.execute(insert(UserBlock).values(
        user_id=person.user_id, blocked_by=staff.user_id, reason="Spam", starts_at=NOW - timedelta(hours=1),
        ends_at=BLOCK_END, lifted_at=None))
    await session.commit()
    blocked = await load(session, person)
    assert blocked.blocked(NOW)

    refused: list[Any] = [
        meetings.register(session, blocked, mid, meetings.Needs(), NOW),
        meetings.cancel(session, blocked, mid, NOW),
        proposals.submit(session, blocked, cid, proposals.ProposalInput(
            "مقترح من شخص محظور", "نص مقترح من شخص محظور مؤقتا.", "transport"), "05", NOW),
        supports.support(session, blocked, pid, NOW),
        supports.withdraw(session, blocked, pid, NOW),
        comments.comment_on_proposal(session, blocked, pid, comments.CommentInput("تعليق", "for"), NOW),
        comments.comment_on_consultation(session, blocked, cid, comments.CommentInput("تعليق", "for"), NOW),
    ]
    for call in refused:
        with pytest.raises(Forbidden) as error:
            await call
        assert error.value.message == BLOCKED_MESSAGE
    counts = [await session.scalar(select(func.count()).select_from(model))
              for model in (MeetingRegistration, Support, Comment)]
    assert counts == [0, 0, 0]
    assert await session.scalar(select(func.count()).select_from(Proposal)) == 1
    await session.commit()
    # the proposal page still reads, and others are not affected
    assert (await proposals.proposal_page(session, blocked, pid, NOW)).proposal.id == pid
    assert (await meetings.register(session, author, mid, meetings.Needs(), NOW)).status == "registered"

    later = BLOCK_END + timedelta(minutes=1)  # once the block has ended
    free = await load(session, person, later)
    assert not free.blocked(later)
    assert (await meetings.register(session, free, mid, meetings.Needs(), later)).status == "registered"
    assert (await supports.support(session, free, pid, later)).outcome is supports.Outcome.SUPPORTED


# --- an organisation's cso_member ------------------------------------------------------------------------------


async def _organisation(session, representative: Actor, ref: str) -> int:  # type: ignore[no-untyped-def]
    return int((await session.execute(insert(Organisation).values(
        name_ar="جمعية تجريبية", name_fr=f"Association test {ref}", registration_ref=f"REC-{ref}",
        founded_on=date(2015, 3, 21), seat_commune_code="05.301.01.01", activity="Activités de test.",
        legal_representative_id=representative.user_id, status="verified", created_at=NOW,
    ).returning(Organisation.id))).scalar_one())


async def _collects(session, member: Actor, organisation_id: int, petition_id: int) -> None:  # type: ignore[no-untyped-def]
    """The organisation is allowed to collect for the petition and links ``member`` to it (direct inserts)."""
    await session.execute(insert(PetitionOrganisation).values(
        petition_id=petition_id, organisation_id=organisation_id, authorised_by_id=member.user_id,
        authorised_at=NOW))
    await session.execute(insert(PetitionCollector).values(
        petition_id=petition_id, user_id=member.user_id, organisation_id=organisation_id,
        added_by_id=member.user_id, added_at=NOW))
    await session.commit()


def paper_entry(cnie: str) -> PaperSignatureInput:
    return PaperSignatureInput(full_name="Fatima Exemple", cnie=cnie, commune_code="05.081.01.01",
                               sheet_ref="F-001", consent=True, electoral_declaration=True, channel="paper")


async def test_an_organisation_scoped_member_collects_only_for_that_organisations_petitions(session, keys) -> None:  # type: ignore[no-untyped-def]
    admin = await make_user(session, 1, role="admin")
    ours, theirs = await open_petition(session, await make_user(session, 2)), await open_petition(
        session, await make_user(session, 3))
    person, veteran = await make_user(session, 4), await make_user(session, 5, role="cso_member")
    org_a, org_b = await _organisation(session, person, "A"), await _organisation(session, person, "B")
    for member in (person, veteran):
        await session.execute(insert(OrganisationMember), [
            {"organisation_id": org, "user_id": member.user_id, "role": "member", "joined_at": NOW}
            for org in (org_a, org_b)])
    await session.commit()
    await _collects(session, person, org_a, ours)
    await _collects(session, person, org_b, theirs)  # linked to the other petition through association B
    await session.execute(insert(PetitionCollector), [
        {"petition_id": p, "user_id": veteran.user_id, "organisation_id": org, "added_by_id": person.user_id,
         "added_at": NOW} for p, org in ((ours, org_a), (theirs, org_b))])
    await session.commit()

    ungranted = await load(session, person)  # a citizen, linked, but without the role
    with pytest.raises(Forbidden):
        await paper.enter_signature(session, ungranted, keys, ours, paper_entry("PA100001"), NOW)

    await roles.grant(session, admin, person.user_id, "cso_member", f"organisation:{org_a}", NOW)
    member = await load(session, person)
    assert orgs.collecting_scope(member) == {org_a}
    assert await orgs.is_collector(session, member, ours, NOW)
    assert not await orgs.is_collector(session, member, theirs, NOW)
    assert await paper.enter_signature(session, member, keys, ours, paper_entry("PA100002"), NOW) \
        is PaperOutcome.ACCEPTED
    with pytest.raises(Forbidden):
        await paper.enter_signature(session, member, keys, theirs, paper_entry("PA100003"), NOW)
    with pytest.raises(Forbidden):
        await paper.collector_page(session, member, theirs, NOW)
    assert (await paper.collector_page(session, member, ours, NOW)).entered_count == 1

    # the base role cso_member keeps collecting for every petition it is linked to (unchanged)
    assert orgs.collecting_scope(veteran) is None
    for petition_id, cnie in ((ours, "PA100004"), (theirs, "PA100005")):
        assert await paper.enter_signature(session, veteran, keys, petition_id, paper_entry(cnie), NOW) \
            is PaperOutcome.ACCEPTED


# --- dashboard, Staff link and forms through HTTP --------------------------------------------------------------


async def _submitted(session, author: Actor, addressed_to: str) -> int:  # type: ignore[no-untyped-def]
    pid = await petitions.create_petition(session, author, petitions.PetitionDraft(TITLE, BODY, addressed_to), "05",
                                          NOW)
    await session.execute(update(Petition).where(Petition.id == pid).values(
        status="submitted", published_at=NOW, submitted_at=NOW, examination_due_at=NOW + timedelta(days=61)))
    await session.commit()
    return pid


async def test_a_body_secretary_sees_only_their_bodys_petitions_on_the_dashboard(session) -> None:  # type: ignore[no-untyped-def]
    author, moderator = await make_user(session, 1), await make_user(session, 2, role="moderator")
    youth, _equality = await _submitted(session, author, "body_youth"), await _submitted(session, author,
                                                                                         "body_equality")
    _admin, secretary = await youth_secretary(session)
    board = await dashboard.dashboard(session, secretary, NOW)
    assert (board.full, board.petitions, board.moderation) == (False, True, None)
    assert [p.id for p in board.awaiting] == [youth]
    assert board.pending_organisations == [] and board.participation == []
    moderated = await dashboard.dashboard(session, moderator, NOW)  # moderators keep their part only
    assert (moderated.full, moderated.petitions, moderated.awaiting) == (False, False, [])
    assert moderated.moderation is not None


async def log_in(client, session, email: str, role: str = "citizen") -> Actor:  # type: ignore[no-untyped-def]
    """Create an account through the service and sign in through the login form."""
    user_id = await accounts.create_user(session, display_name=f"Person {role}", email=email, password=PASSWORD,
                                         role=role, commune_code="05.091.01.01", now=NOW, region_code="05")
    page = await client.get("/login")
    r = await client.post("/login", data={"csrf_token": csrf_from(page.text), "email": email, "password": PASSWORD})
    assert r.status_code == 303, r.text
    return Actor(user_id, role, f"Person {role}")


async def test_the_staff_link_and_the_consultation_form_through_http(client, session) -> None:  # type: ignore[no-untyped-def]
    await log_in(client, session, "citizen@test.invalid")
    page = await client.get("/consultations")
    assert page.status_code == 200 and 'href="/staff"' not in page.text
    assert 'href="/consultations/new"' not in page.text
    assert (await client.get("/staff")).status_code == 403

    await log_in(client, session, "moderator@test.invalid", role="moderator")
    page = await client.get("/consultations")
    assert 'href="/staff"' in page.text
    staff_page = await client.get("/staff")
    assert staff_page.status_code == 200 and 'id="moderation-heading"' in staff_page.text
    assert 'id="exam-heading"' not in staff_page.text

    admin = await make_user(session, 1, role="admin")
    secretary = await log_in(client, session, "secretary@test.invalid")
    await roles.grant(session, admin, secretary.user_id, "body_secretary", "body:body_youth", NOW)
    page = await client.get("/consultations")
    assert 'href="/staff"' in page.text and 'href="/consultations/new"' in page.text
    staff_page = await client.get("/staff")
    assert staff_page.status_code == 200 and 'id="exam-heading"' in staff_page.text
    assert 'id="moderation-heading"' not in staff_page.text
    form = await client.get("/consultations/new")
    assert form.status_code == 200
    assert 'value="body_youth"' in form.text and 'value="body_equality"' not in form.text
    assert 'value="council"' not in form.text
