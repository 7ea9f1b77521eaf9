"""Reports, the moderation queue, hiding and restoring, blocks and appeals (issue #6, items 2 and 3).

Proposals and comments are inserted as rows (consultation, phase, proposal, comment) so these tests do not
depend on the proposals services; petitions go through their services.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from civic import i18n
from civic.accounts import service as accounts
from civic.audit import AuditEvent
from civic.consultations.models import Consultation, Phase
from civic.errors import Conflict, Forbidden, Invalid, NotFound, NotSignedIn
from civic.moderation import service as moderation
from civic.moderation.models import REASONS, Moderation, Report, UserBlock
from civic.notifications.models import OutboxMessage
from civic.permissions import ANONYMOUS, BLOCKED_MESSAGE, Actor
from civic.petitions import service as petitions
from civic.petitions.models import Petition
from civic.proposals.models import Comment, Proposal
from civic.search import service as search
from civic.settings import PetitionRules, load_settings
from tests.conftest import NOW, csrf_from, make_user
from tests.test_petitions_service import open_petition

PASSWORD = "a long password"
BASE = "https://civic.example"
RULES = PetitionRules()


def ar(msgid: str) -> str:
    """``msgid`` as the pages show it in Arabic, the default language, from the catalogue."""
    return i18n.translations("ar").gettext(msgid)


async def consultation_with_proposal(session, author: Actor) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    """A consultation with an open phase, a proposal and a comment on it by ``author``: (consultation, proposal,
    comment) ids."""
    consultation = Consultation(title="Transport régional", summary="", body="Consultation sur le transport.",
                                scope="region", territory_code="05", addressed_to="council", support_limit=3,
                                created_by=author.user_id, created_at=NOW, updated_at=NOW)
    session.add(consultation)
    await session.flush()
    session.add(Phase(consultation_id=consultation.id, kind="proposals", starts_at=NOW - timedelta(days=1),
                      ends_at=NOW + timedelta(days=30), proposals_enabled=True, comments_enabled=True))
    proposal = Proposal(consultation_id=consultation.id, author_id=author.user_id, title="Plus de bus le soir",
                        body="Des bus jusqu'à minuit entre Béni Mellal et Fquih Ben Salah.", category="transport",
                        territory_code="05", status="published", created_at=NOW, updated_at=NOW)
    session.add(proposal)
    await session.flush()
    comment = Comment(consultation_id=consultation.id, proposal_id=proposal.id, author_id=author.user_id,
                      stance="for", body="Je soutiens cette idée.", created_at=NOW)
    session.add(comment)
    await session.commit()
    return consultation.id, proposal.id, comment.id


def a_report(subject_type: str, subject_id: int, reason: str = "spam", details: str = "") -> moderation.ReportInput:
    return moderation.ReportInput(subject_type, subject_id, reason, details)


async def moderation_of(session, subject_type: str, subject_id: int) -> Moderation:  # type: ignore[no-untyped-def]
    row = (await session.scalars(select(Moderation).where(
        Moderation.subject_type == subject_type, Moderation.subject_id == subject_id))).one()
    await session.commit()
    session.expunge(row)  # a snapshot: later rollbacks in the services do not expire it
    return row


async def outbox(session, purpose: str) -> list[OutboxMessage]:  # type: ignore[no-untyped-def]
    rows = list((await session.scalars(select(OutboxMessage).where(OutboxMessage.purpose == purpose)
                                       .order_by(OutboxMessage.id))).all())
    await session.commit()
    return rows


async def audit_actions(session) -> list[str]:  # type: ignore[no-untyped-def]
    actions = list((await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id))).all())
    await session.commit()
    return actions


# --- services ----------------------------------------------------------------------------------------------


async def test_report_creates_one_moderation_record_and_counts(session) -> None:  # type: ignore[no-untyped-def]
    author, r1, r2 = await make_user(session, 1), await make_user(session, 2), await make_user(session, 3)
    _c, proposal_id, comment_id = await consultation_with_proposal(session, author)
    outcome = await moderation.report(session, r1, a_report("proposal", proposal_id, "offensive", "Insulte"), 3, NOW)
    assert outcome is moderation.ReportOutcome.REPORTED
    later = NOW + timedelta(minutes=5)
    await moderation.report(session, r2, a_report("proposal", proposal_id, "spam"), 3, later)
    await moderation.report(session, r1, a_report("comment", comment_id, "off_topic"), 3, NOW)
    m = await moderation_of(session, "proposal", proposal_id)
    assert (m.report_count, m.state, m.author_id, m.last_reported_at) == (2, "open", author.user_id, later)
    assert (await moderation_of(session, "comment", comment_id)).report_count == 1
    details = (await session.scalars(select(Report.details).where(Report.reason == "offensive"))).one()
    assert details == "Insulte"
    assert (await session.get(Proposal, proposal_id)).hidden_at is None
    await session.commit()
    assert (await audit_actions(session)).count("reports:create") == 3


async def test_duplicate_own_content_and_bad_reports_are_refused(session) -> None:  # type: ignore[no-untyped-def]
    author, reporter = await make_user(session, 1), await make_user(session, 2)
    _c, proposal_id, comment_id = await consultation_with_proposal(session, author)
    await moderation.report(session, reporter, a_report("proposal", proposal_id), 3, NOW)
    with pytest.raises(Conflict) as exc:
        await moderation.report(session, reporter, a_report("proposal", proposal_id, "other"), 3, NOW)
    assert exc.value.message == "You have already reported this."
    with pytest.raises(Forbidden) as refused:
        await moderation.report(session, author, a_report("comment", comment_id), 3, NOW)
    assert refused.value.message == "You cannot report your own content."
    with pytest.raises(Invalid) as invalid:
        await moderation.report(session, reporter, a_report("comment", comment_id, "boring", "x" * 1001), 3, NOW)
    assert set(invalid.value.field_errors) == {"reason", "details"}
    with pytest.raises(NotFound):
        await moderation.report(session, reporter, a_report("proposal", 999_999), 3, NOW)
    with pytest.raises(NotFound):
        await moderation.report(session, reporter, a_report("meeting", proposal_id), 3, NOW)
    with pytest.raises(NotSignedIn):
        await moderation.report(session, ANONYMOUS, a_report("proposal", proposal_id), 3, NOW)
    draft = await petitions.create_petition(session, author, petitions.PetitionDraft(
        "Un brouillon de pétition", "Un texte de pétition assez long pour être accepté par le service ici.",
        "council"), "05", NOW)
    with pytest.raises(NotFound):  # a draft is private: nobody can report it
        await moderation.report(session, reporter, a_report("petition", draft), 3, NOW)
    assert await session.scalar(select(func.count()).select_from(Report)) == 1
    m = await moderation_of(session, "proposal", proposal_id)
    assert m.report_count == 1


async def test_the_threshold_hides_the_item_and_tells_the_author(session) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    reporters = [await make_user(session, n) for n in (2, 3, 4)]
    _c, proposal_id, _comment = await consultation_with_proposal(session, author)
    outcomes = [await moderation.report(session, r, a_report("proposal", proposal_id), 3, NOW, BASE)
                for r in reporters]
    assert outcomes == [moderation.ReportOutcome.REPORTED] * 2 + [moderation.ReportOutcome.HIDDEN]
    proposal = await session.get(Proposal, proposal_id)
    assert proposal.hidden_at == NOW
    assert proposal.hidden_reason == "automatically hidden after 3 reports, pending review"
    await session.commit()
    m = await moderation_of(session, "proposal", proposal_id)
    assert (m.state, m.decided_at, m.report_count) == ("hidden", None, 3)
    [mail] = await outbox(session, "moderation:hidden")
    assert mail.user_id == author.user_id and f"{BASE}/me/appeals/{m.id}" in mail.body
    assert "Plus de bus le soir" in mail.body
    late = await make_user(session, 5)
    with pytest.raises(Conflict):  # already hidden: nothing more to report
        await moderation.report(session, late, a_report("proposal", proposal_id), 3, NOW)
    actions = await audit_actions(session)
    assert actions[-2:] == ["reports:create", "moderation:auto_hide"]


async def test_the_threshold_is_a_setting(session) -> None:  # type: ignore[no-untyped-def]
    assert load_settings({"CIVIC_SECRET_KEY": "k" * 40}).report_hide_threshold == 3
    assert load_settings({"CIVIC_SECRET_KEY": "k" * 40, "CIVIC_REPORT_HIDE_THRESHOLD": "1"}).report_hide_threshold == 1
    from civic.errors import ConfigError
    for bad in ("0", "101", "three"):
        with pytest.raises(ConfigError, match="CIVIC_REPORT_HIDE_THRESHOLD"):
            load_settings({"CIVIC_SECRET_KEY": "k" * 40, "CIVIC_REPORT_HIDE_THRESHOLD": bad})
    author, reporter = await make_user(session, 1), await make_user(session, 2)
    _c, _p, comment_id = await consultation_with_proposal(session, author)
    assert await moderation.report(session, reporter, a_report("comment", comment_id), 1, NOW) \
        is moderation.ReportOutcome.HIDDEN
    assert (await session.get(Comment, comment_id)).hidden_at == NOW
    await session.commit()


async def test_moderator_hides_and_restores_with_notifications(session) -> None:  # type: ignore[no-untyped-def]
    author, reporter = await make_user(session, 1), await make_user(session, 2)
    mod = await make_user(session, 3, role="moderator")
    _c, _proposal_id, comment_id = await consultation_with_proposal(session, author)
    await moderation.report(session, reporter, a_report("comment", comment_id, "offensive"), 3, NOW)
    m = await moderation_of(session, "comment", comment_id)
    with pytest.raises(Forbidden):
        await moderation.decide(session, reporter, m.id, "hide", "Propos insultants", NOW)
    with pytest.raises(Invalid) as exc:
        await moderation.decide(session, mod, m.id, "hide", "   ", NOW)
    assert "reason" in exc.value.field_errors
    with pytest.raises(Invalid):
        await moderation.decide(session, mod, m.id, "delete", "Propos insultants", NOW)
    with pytest.raises(NotFound):
        await moderation.decide(session, mod, m.id + 1000, "hide", "Propos insultants", NOW)
    item = await moderation.decide(session, mod, m.id, "hide", "Propos insultants", NOW, BASE)
    assert (item.state, item.decision_reason, item.decider_name) == ("hidden", "Propos insultants", "User 3")
    comment = await session.get(Comment, comment_id)
    assert (comment.hidden_at, comment.hidden_reason) == (NOW, "Propos insultants")
    await session.commit()
    [hidden_mail] = await outbox(session, "moderation:hide")
    assert hidden_mail.user_id == author.user_id
    assert "Propos insultants" in hidden_mail.body and f"{BASE}/me/appeals/{m.id}" in hidden_mail.body
    later = NOW + timedelta(hours=1)
    item = await moderation.decide(session, mod, m.id, "restore", "Après relecture, c'est acceptable", later, BASE)
    assert item.state == "restored" and item.decided_at == later
    comment = await session.get(Comment, comment_id)
    assert (comment.hidden_at, comment.hidden_reason) == (None, "")
    await session.commit()
    [restored_mail] = await outbox(session, "moderation:restore")
    assert "Après relecture" in restored_mail.body
    actions = await audit_actions(session)
    assert actions[-2:] == ["moderation:hide", "moderation:restore"]
    # after a decision, new reports re-open the item but never hide it automatically again
    for n in (4, 5, 6):
        await moderation.report(session, await make_user(session, n), a_report("comment", comment_id), 3, later)
    m = await moderation_of(session, "comment", comment_id)
    assert (m.state, m.report_count) == ("open", 4)
    assert (await session.get(Comment, comment_id)).hidden_at is None
    await session.commit()
    assert (await outbox(session, "moderation:hidden")) == []


async def test_block_a_user_for_a_period(session) -> None:  # type: ignore[no-untyped-def]
    author, staff = await make_user(session, 1), await make_user(session, 2, role="moderator")
    other_staff = await make_user(session, 3, role="council_staff")
    with pytest.raises(Forbidden):
        await moderation.block(session, author, staff.user_id, 7, "Spam répété", NOW)
    with pytest.raises(Forbidden):  # council staff hide and restore; blocking is for moderators and admins
        await moderation.block(session, other_staff, author.user_id, 7, "Spam répété", NOW)
    with pytest.raises(Invalid) as exc:
        await moderation.block(session, staff, author.user_id, 3, "", NOW)
    assert set(exc.value.field_errors) == {"days"}
    with pytest.raises(Invalid) as exc:
        await moderation.block(session, staff, author.user_id, 7, "", NOW)
    assert set(exc.value.field_errors) == {"reason"}
    with pytest.raises(Conflict):
        await moderation.block(session, staff, staff.user_id, 7, "Test", NOW)
    with pytest.raises(Forbidden):
        await moderation.block(session, staff, other_staff.user_id, 7, "Test", NOW)
    with pytest.raises(NotFound):
        await moderation.block(session, staff, 999_999, 7, "Test", NOW)
    block_id = await moderation.block(session, staff, author.user_id, 7, "Spam répété", NOW)
    row = await session.get(UserBlock, block_id)
    assert (row.user_id, row.blocked_by, row.reason) == (author.user_id, staff.user_id, "Spam répété")
    assert (row.starts_at, row.ends_at, row.lifted_at) == (NOW, NOW + timedelta(days=7), None)
    await session.commit()
    assert await moderation.active_block(session, author.user_id, NOW + timedelta(days=6)) == NOW + timedelta(days=7)
    assert await moderation.active_block(session, author.user_id, NOW + timedelta(days=7)) is None
    [mail] = await outbox(session, "moderation:block")
    assert mail.user_id == author.user_id and "Spam répété" in mail.body
    assert (await audit_actions(session))[-1] == "moderation:block"
    # the roles helper loads the block into the actor; a blocked actor's report is refused with the message
    _c, proposal_id, _comment = await consultation_with_proposal(session, other_staff)
    blocked = Actor(author.user_id, "citizen", "User 1", blocked_until=NOW + timedelta(days=7))
    with pytest.raises(Forbidden) as refused:
        await moderation.report(session, blocked, a_report("proposal", proposal_id), 3, NOW)
    assert refused.value.message == BLOCKED_MESSAGE


async def test_appeal_once_and_the_moderator_answers(session) -> None:  # type: ignore[no-untyped-def]
    author, stranger = await make_user(session, 1), await make_user(session, 2)
    mod = await make_user(session, 3, role="moderator")
    _c, proposal_id, _comment = await consultation_with_proposal(session, author)
    await moderation.report(session, stranger, a_report("proposal", proposal_id), 1, NOW)
    m = await moderation_of(session, "proposal", proposal_id)
    with pytest.raises(NotFound):  # nobody else learns about it
        await moderation.appeal_page(session, stranger, m.id)
    with pytest.raises(NotFound):
        await moderation.appeal(session, stranger, m.id, "Ce n'est pas mon texte mais…", NOW)
    with pytest.raises(Invalid) as exc:
        await moderation.appeal(session, author, m.id, "Trop bref", NOW)
    assert "appeal_text" in exc.value.field_errors
    view = await moderation.appeal_page(session, author, m.id)
    assert view.can_appeal and view.auto_hidden
    notice = await moderation.hidden_notice(session, author, "proposal", proposal_id, "x")
    assert notice is not None and notice.can_appeal and notice.moderation_id == m.id
    assert await moderation.hidden_notice(session, stranger, "proposal", proposal_id, "x") is None
    await moderation.appeal(session, author, m.id, "Ma proposition respecte les règles du débat.", NOW)
    with pytest.raises(Conflict) as again:
        await moderation.appeal(session, author, m.id, "Je fais appel une deuxième fois.", NOW)
    assert again.value.message == "You have already appealed this decision."
    page = await moderation.queue(session, mod, "appealed", 1, NOW)
    assert [i.moderation_id for i in page.items] == [m.id] and page.items[0].appeal_pending
    assert page.items[0].appeal_text == "Ma proposition respecte les règles du débat."
    later = NOW + timedelta(days=1)
    item = await moderation.decide(session, mod, m.id, "hide", "Hors sujet pour cette consultation", later, BASE)
    assert item.appeal_decided_at == later and not item.appeal_pending and item.state == "hidden"
    assert (await moderation.queue(session, mod, "appealed", 1, NOW)).items == []
    [mail] = await outbox(session, "moderation:hide")
    assert mail.user_id == author.user_id and "Hors sujet" in mail.body and "/me/appeals/" not in mail.body
    notice = await moderation.hidden_notice(session, author, "proposal", proposal_id, "x")
    assert notice is not None and not notice.can_appeal and notice.appealed
    assert "moderation:appeal" in await audit_actions(session)


async def test_only_hidden_content_can_be_appealed(session) -> None:  # type: ignore[no-untyped-def]
    author, reporter = await make_user(session, 1), await make_user(session, 2)
    _c, proposal_id, _comment = await consultation_with_proposal(session, author)
    await moderation.report(session, reporter, a_report("proposal", proposal_id), 3, NOW)
    m = await moderation_of(session, "proposal", proposal_id)
    with pytest.raises(Conflict) as exc:
        await moderation.appeal(session, author, m.id, "Rien n'est caché pourtant.", NOW)
    assert exc.value.message == "Only hidden content can be appealed."
    assert not (await moderation.appeal_page(session, author, m.id)).can_appeal


async def test_queue_filters_order_and_no_reporter_names(session) -> None:  # type: ignore[no-untyped-def]
    author, r1, r2 = await make_user(session, 1), await make_user(session, 2), await make_user(session, 3)
    mod = await make_user(session, 4, role="moderator")
    _c, proposal_id, comment_id = await consultation_with_proposal(session, author)
    pid = await open_petition(session, author)
    await moderation.report(session, r1, a_report("proposal", proposal_id, "spam", "Publicité"), 3, NOW)
    await moderation.report(session, r2, a_report("proposal", proposal_id, "spam"), 3, NOW + timedelta(minutes=1))
    await moderation.report(session, r1, a_report("petition", pid, "personal_data"), 3, NOW + timedelta(minutes=2))
    await moderation.report(session, r1, a_report("comment", comment_id, "other"), 2, NOW + timedelta(minutes=3))
    await moderation.report(session, r2, a_report("comment", comment_id, "offensive"), 2, NOW + timedelta(minutes=4))
    with pytest.raises(Forbidden):
        await moderation.queue(session, author, "open", 1, NOW)
    with pytest.raises(NotSignedIn):
        await moderation.queue(session, ANONYMOUS, "open", 1, NOW)
    page = await moderation.queue(session, mod, "open", 1, NOW)
    assert [(i.subject_type, i.subject_id) for i in page.items] == [
        ("comment", comment_id), ("petition", pid), ("proposal", proposal_id)]  # newest report first
    comment_item, petition_item, proposal_item = page.items
    assert comment_item.auto_hidden and comment_item.state == "hidden"
    assert proposal_item.reason_counts == [("spam", 2)] and proposal_item.report_count == 2
    assert {r.details for r in proposal_item.reports} == {"Publicité", ""}
    assert not any(hasattr(r, "reporter_id") for r in proposal_item.reports)
    assert proposal_item.author_name == "User 1" and proposal_item.subject.title == "Plus de bus le soir"
    assert petition_item.subject.path == f"/petitions/{pid}"
    assert comment_item.subject.path == f"/proposals/{proposal_id}#comment-{comment_id}"
    assert comment_item.reason_counts == [("offensive", 1), ("other", 1)]  # in REASONS order
    assert [i.subject_type for i in (await moderation.queue(session, mod, "hidden", 1, NOW)).items] == ["comment"]
    await moderation.decide(session, mod, proposal_item.moderation_id, "restore", "Pas de publicité", NOW)
    assert [i.subject_type for i in (await moderation.queue(session, mod, "open", 1, NOW)).items] == [
        "comment", "petition"]
    assert (await moderation.queue(session, mod, "all", 1, NOW)).total == 3
    assert (await moderation.queue(session, mod, "nonsense", 1, NOW)).total == 2  # unknown filter: open
    assert await moderation.open_count(session) == 2
    assert set(REASONS) == {"spam", "offensive", "personal_data", "off_topic", "other"}


async def test_parallel_first_reports_make_one_record(sessionmaker) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    async with sessionmaker() as session:
        author = await make_user(session, 1)
        reporters = [await make_user(session, n) for n in range(2, 8)]
        _c, proposal_id, _comment = await consultation_with_proposal(session, author)

    async def one(actor: Actor) -> moderation.ReportOutcome:
        async with sessionmaker() as s:
            return await moderation.report(s, actor, a_report("proposal", proposal_id), 3, NOW)

    outcomes = await asyncio.gather(*(one(r) for r in reporters), return_exceptions=True)
    assert outcomes.count(moderation.ReportOutcome.HIDDEN) == 1  # the threshold is crossed exactly once
    late = [o for o in outcomes if isinstance(o, Exception)]
    assert all(isinstance(o, Conflict) for o in late)  # reports arriving once it is hidden are refused
    async with sessionmaker() as session:
        m = await moderation_of(session, "proposal", proposal_id)
        assert (m.report_count, m.state) == (len(reporters) - len(late), "hidden")
        assert m.report_count >= 3
        assert await session.scalar(select(func.count()).select_from(Moderation)) == 1
        assert await session.scalar(select(func.count()).select_from(Report)) == m.report_count


# --- hidden petitions --------------------------------------------------------------------------------------


async def hide_petition(session, author: Actor) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """A collecting petition hidden by three reports: (petition id, moderation id)."""
    pid = await open_petition(session, author)
    for n in (21, 22, 23):
        await moderation.report(session, await make_user(session, n), a_report("petition", pid), 3, NOW)
    return pid, (await moderation_of(session, "petition", pid)).id


async def test_hidden_petition_leaves_lists_and_the_api(session) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    visible = await open_petition(session, await make_user(session, 2))
    pid, _mid = await hide_petition(session, author)
    listed = [p.id for p, _n in await petitions.list_public(session, "05", RULES)]
    assert listed == [visible]
    found = await search.search_all(session, ANONYMOUS, "pétition", "petition", 1, NOW)  # both titles match
    assert [r.id for r in found.page.items] == [visible]
    assert (await session.get(Petition, pid)).hidden_at == NOW
    await session.commit()
    stranger = await make_user(session, 3)
    with pytest.raises(NotFound):
        await petitions.get_petition(session, stranger, pid, RULES)
    with pytest.raises(NotFound):
        await petitions.get_petition(session, ANONYMOUS, pid, RULES)
    assert (await petitions.get_petition(session, author, pid, RULES)).hidden_at == NOW
    mod = await make_user(session, 4, role="moderator")
    assert (await petitions.get_petition(session, mod, pid, RULES)).id == pid


# --- HTTP --------------------------------------------------------------------------------------------------


@pytest.fixture
async def other_client(app) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    """A second browser."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        yield c


async def sign_in(client, session, n: int, role: str = "citizen") -> Actor:  # type: ignore[no-untyped-def]
    email = f"mod-{role}{n}@test.invalid"
    uid = await accounts.create_user(session, display_name=f"{role} {n}", email=email, password=PASSWORD,
                                     role=role, commune_code="05.091.01.01", now=NOW, region_code="05")
    page = await client.get("/login")
    r = await client.post("/login", data={"csrf_token": csrf_from(page.text), "email": email, "password": PASSWORD})
    assert r.status_code == 303
    return Actor(uid, role, f"{role} {n}")


async def test_report_form_on_the_petition_page_without_and_with_htmx(client, session) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    pid = await open_petition(session, author)
    anonymous_page = await client.get(f"/petitions/{pid}")
    assert 'id="report-petition-' not in anonymous_page.text
    await sign_in(client, session, 2)
    page = await client.get(f"/petitions/{pid}")
    assert f'id="report-petition-{pid}"' in page.text and "<details" in page.text
    for code in REASONS:  # one radio per reason, labelled
        assert f'id="report-petition-{pid}-reason-{code}" name="reason" value="{code}"' in page.text
        assert f'for="report-petition-{pid}-reason-{code}"' in page.text
    token = csrf_from(page.text)
    form = {"csrf_token": token, "subject_type": "petition", "subject_id": str(pid), "next": f"/petitions/{pid}"}
    bad = await client.post("/reports", data={**form, "details": "sans raison"})
    assert bad.status_code == 422 and ar("Please choose a reason.") in bad.text and "sans raison" in bad.text
    assert "<h1>" in bad.text
    r = await client.post("/reports", data={**form, "reason": "off_topic", "details": "Hors sujet"})
    assert r.status_code == 200 and ar("Thank you. Your report has been sent to the moderators.") in r.text
    assert f'href="/petitions/{pid}"' in r.text
    again = await client.post("/reports", data={**form, "reason": "spam"}, headers={"HX-Request": "true"})
    assert again.status_code == 409 and ar("You have already reported this.") in again.text
    assert "<html" not in again.text and f'id="report-petition-{pid}"' in again.text
    evil = await client.post("/reports", data={**form, "reason": "spam", "next": "//evil.example/x"})
    assert 'href="//evil.example' not in evil.text
    assert (await client.post("/reports", data={**form, "subject_id": "abc", "reason": "spam"})).status_code == 404
    m = await moderation_of(session, "petition", pid)
    assert m.report_count == 1


async def test_htmx_report_and_own_petition_has_no_form(client, session) -> None:  # type: ignore[no-untyped-def]
    author = await sign_in(client, session, 1)
    pid = await open_petition(session, author)
    page = await client.get(f"/petitions/{pid}")
    assert 'id="report-petition-' not in page.text  # authors do not report their own petition
    form = {"csrf_token": csrf_from(page.text), "subject_type": "petition", "subject_id": str(pid),
            "reason": "spam", "next": "/"}
    own = await client.post("/reports", data=form, headers={"HX-Request": "true"})
    assert own.status_code == 409 and ar("You cannot report your own content.") in own.text
    assert (await client.post("/reports", data=form)).status_code == 403


async def test_hidden_petition_page_api_and_home(client, other_client, session) -> None:  # type: ignore[no-untyped-def]
    author = await sign_in(client, session, 1)
    pid, mid = await hide_petition(session, author)
    assert (await other_client.get(f"/petitions/{pid}")).status_code == 404
    assert (await other_client.get(f"/api/v1/petitions/{pid}")).status_code == 404
    assert (await client.get(f"/api/v1/petitions/{pid}")).status_code == 404  # not even for its author
    assert pid not in [p["id"] for p in (await other_client.get("/api/v1/petitions")).json()["petitions"]]
    assert f"/petitions/{pid}" not in (await other_client.get("/")).text
    mine = await client.get(f"/petitions/{pid}")
    assert mine.status_code == 200 and ar("Hidden by moderation") in mine.text
    assert f'href="/me/appeals/{mid}"' in mine.text
    await sign_in(other_client, session, 2, role="moderator")
    seen = await other_client.get(f"/petitions/{pid}")
    assert seen.status_code == 200 and ar("The public cannot see this page.") in seen.text


async def test_queue_access_by_role(app, client, session) -> None:  # type: ignore[no-untyped-def]
    assert (await client.get("/staff/moderation")).status_code == 303  # sign in first
    page = await client.get("/login")
    r = await client.post("/reports", data={"csrf_token": csrf_from(page.text), "subject_type": "petition",
                                            "subject_id": "1", "reason": "spam", "next": "/petitions/1"})
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fpetitions%2F1"
    await sign_in(client, session, 1)
    assert (await client.get("/staff/moderation")).status_code == 403
    await sign_in(client, session, 5, "cso_member")
    assert (await client.get("/staff/moderation")).status_code == 403
    for n, role in enumerate(("moderator", "council_staff", "admin"), start=2):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
            await sign_in(c, session, n, role)
            r = await c.get("/staff/moderation")
            assert r.status_code == 200 and f"<h1>{ar('Moderation queue')}</h1>" in r.text, role


async def test_queue_page_decide_without_and_with_htmx(client, session) -> None:  # type: ignore[no-untyped-def]
    author, reporter = await make_user(session, 1), await make_user(session, 2)
    _c, proposal_id, comment_id = await consultation_with_proposal(session, author)
    await moderation.report(session, reporter, a_report("proposal", proposal_id, "spam", "<script>x</script>"), 3, NOW)
    await moderation.report(session, reporter, a_report("comment", comment_id, "offensive"), 3, NOW)
    await sign_in(client, session, 3, "moderator")
    page = await client.get("/staff/moderation")
    assert page.status_code == 200
    assert "Plus de bus le soir" in page.text and "User 1" in page.text
    assert "<script>x</script>" not in page.text and "&lt;script&gt;x&lt;/script&gt;" in page.text
    assert "User 2" not in page.text  # reporters are never named
    assert 'aria-live="polite"' in page.text and 'role="status"' in page.text
    pm = await moderation_of(session, "proposal", proposal_id)
    cm = await moderation_of(session, "comment", comment_id)
    token = csrf_from(page.text)
    # without JavaScript: a missing reason shows the item again with the error, keeping the choice
    r = await client.post(f"/staff/moderation/{pm.id}", data={"csrf_token": token, "decision": "hide", "reason": ""})
    assert r.status_code == 422 and ar("Please give the reason for your decision.") in r.text
    assert f'id="m{pm.id}-hide" name="decision" value="hide" checked' in r.text
    r = await client.post(f"/staff/moderation/{pm.id}", data={"csrf_token": token, "decision": "hide",
                                                               "reason": "Publicité", "next": "/staff/moderation"})
    assert r.status_code == 303 and r.headers["location"] == "/staff/moderation"
    queue_page = await client.get("/staff/moderation")
    assert ar("Decision recorded: the content is hidden and its author has been told why.") in queue_page.text
    assert (await session.get(Proposal, proposal_id)).hidden_reason == "Publicité"
    await session.commit()
    # with htmx: the item comes back with the announcement for the live region
    r = await client.post(f"/staff/moderation/{cm.id}", data={"csrf_token": token, "decision": "restore",
                                                               "reason": "Acceptable"}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and "<html" not in r.text
    assert f'id="moderation-{cm.id}"' in r.text and 'hx-swap-oob="innerHTML"' in r.text
    assert ar("Decision recorded: the content is visible and its author has been told why.") in r.text
    r = await client.post(f"/staff/moderation/{cm.id}", data={"csrf_token": token, "decision": "hide"},
                          headers={"HX-Request": "true"})
    assert r.status_code == 422 and ar("Please give the reason for your decision.") in r.text
    # block the author, htmx and not
    r = await client.post(f"/staff/users/{author.user_id}/block", data={
        "csrf_token": token, "days": "30", "reason": "Spam répété", "moderation_id": str(cm.id)},
        headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert ar("The author's participation is paused; they have been told until when and why.") in r.text
    assert ar("participation paused until") in r.text
    r = await client.post(f"/staff/users/{author.user_id}/block", data={
        "csrf_token": token, "days": "2", "reason": "", "moderation_id": str(cm.id)})
    assert r.status_code == 422 and ar("Please choose 1, 7 or 30 days.") in r.text
    staff = await make_user(session, 9, role="council_staff")
    r = await client.post(f"/staff/users/{staff.user_id}/block", data={
        "csrf_token": token, "days": "1", "reason": "Essai", "moderation_id": str(cm.id)},
        headers={"HX-Request": "true"})
    assert r.status_code == 409 and f'id="moderation-{cm.id}"' in r.text
    assert ar("Moderators and council staff cannot be blocked; an admin can remove their role.") in r.text
    blocks = (await session.scalars(select(UserBlock))).all()
    assert [(b.user_id, (b.ends_at - b.starts_at).days) for b in blocks] == [(author.user_id, 30)]
    await session.commit()
    hidden = await client.get("/staff/moderation?state=hidden")
    assert "Plus de bus le soir" in hidden.text and "Je soutiens" not in hidden.text


async def test_every_moderation_post_needs_csrf(client, session) -> None:  # type: ignore[no-untyped-def]
    author, reporter = await make_user(session, 1), await make_user(session, 2)
    _c, proposal_id, _comment = await consultation_with_proposal(session, author)
    await moderation.report(session, reporter, a_report("proposal", proposal_id), 1, NOW)
    m = await moderation_of(session, "proposal", proposal_id)
    await sign_in(client, session, 3, "admin")
    for path, data in (("/reports", {"subject_type": "proposal", "subject_id": str(proposal_id), "reason": "spam"}),
                       (f"/staff/moderation/{m.id}", {"decision": "restore", "reason": "ok"}),
                       (f"/staff/users/{author.user_id}/block", {"days": "1", "reason": "x", "moderation_id": "1"}),
                       (f"/me/appeals/{m.id}", {"appeal_text": "Je conteste cette décision."})):
        r = await client.post(path, data=data)
        assert r.status_code == 403, path
    assert (await session.get(Proposal, proposal_id)).hidden_at == NOW
    assert await session.scalar(select(func.count()).select_from(UserBlock)) == 0
    await session.commit()


async def test_appeal_page(client, other_client, session) -> None:  # type: ignore[no-untyped-def]
    author = await sign_in(client, session, 1)
    pid, mid = await hide_petition(session, author)
    assert (await other_client.get(f"/me/appeals/{mid}")).status_code == 303  # sign in first
    await sign_in(other_client, session, 2)
    assert (await other_client.get(f"/me/appeals/{mid}")).status_code == 404
    page = await client.get(f"/me/appeals/{mid}")
    assert page.status_code == 200 and 'name="appeal_text"' in page.text
    assert ar("It was hidden automatically after several reports, until a moderator reviews it.") in page.text
    token = csrf_from(page.text)
    short = await client.post(f"/me/appeals/{mid}", data={"csrf_token": token, "appeal_text": "Non"})
    assert short.status_code == 422 and ">Non</textarea>" in short.text
    assert ar("Please explain your appeal in at least 10 characters.") in short.text
    r = await client.post(f"/me/appeals/{mid}", data={"csrf_token": token,
                                                       "appeal_text": "Cette pétition respecte la loi 44-14."})
    assert r.status_code == 303 and r.headers["location"] == f"/me/appeals/{mid}"
    done = await client.get(f"/me/appeals/{mid}")
    assert ar("Your appeal has been sent. A moderator will examine it and you will be told the outcome.") in done.text
    assert "Cette pétition respecte la loi 44-14." in done.text
    assert 'name="appeal_text"' not in done.text
    again = await client.post(f"/me/appeals/{mid}", data={"csrf_token": token, "appeal_text": "Encore une fois !"})
    assert again.status_code == 409 and ar("You have already appealed this decision.") in again.text
    m = await moderation_of(session, "petition", pid)
    assert m.appeal_text == "Cette pétition respecte la loi 44-14."
    assert (await client.get("/me/appeals/99999")).status_code == 404


async def test_demo_reports_never_hide_the_demo_petition(session, settings) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from civic.moderation import demo

    author = await make_user(session, 1)
    pid = await open_petition(session, author)
    reporters = [await make_user(session, n) for n in (2, 3, 4)]
    assert await demo.load(session, replace(settings, report_hide_threshold=1), pid, reporters, NOW) == 0
    assert await demo.load(session, settings, pid, reporters, NOW) == 2
    m = await moderation_of(session, "petition", pid)
    assert (m.report_count, m.state) == (2, "open")
    assert (await session.get(Petition, pid)).hidden_at is None
    await session.commit()
