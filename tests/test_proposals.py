"""Proposals, supports, comments, official answers and follow-up (issue #4, items 3–6 and 8), through the services
against the database and through HTTP: the role × phase grid, editing and withdrawing, the support limit,
hidden content, notifications, lists, the API, the htmx support fragment and the no-JavaScript form."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update

from civic import i18n
from civic.accounts import service as accounts
from civic.audit import AuditEvent
from civic.consultations.models import Consultation, Phase
from civic.errors import Conflict, Forbidden, Invalid, NotFound, NotSignedIn
from civic.notifications.models import OutboxMessage
from civic.organisations import service as orgs
from civic.permissions import ANONYMOUS, Actor
from civic.proposals import comments, service, supports
from civic.proposals.models import Comment, Proposal, ProposalAnswer, Support
from civic.search.service import matching_ids
from tests.conftest import NOW, csrf_from, make_user

PASSWORD = "a long password"
TITLE = "حافلة مدرسية للدواوير البعيدة"
BODY = "نقترح توفير حافلة مدرسية يومية تربط الدواوير البعيدة بالمؤسسات التعليمية في الجماعة."
ROLES = ("citizen", "cso_member", "moderator", "council_staff", "admin")
FLAGS = ("proposals_enabled", "supports_enabled", "comments_enabled")


async def new_consultation(session, author: Actor, phases: list[dict[str, Any]], limit: int = 3) -> int:  # type: ignore[no-untyped-def]
    """A consultation and its phases, inserted directly. Each phase: kind, start/end (days from NOW), flags."""
    cid = int((await session.execute(insert(Consultation).values(
        title="استشارة حول التنقل في العالم القروي", summary="", body="نص الاستشارة " * 5, scope="region",
        territory_code="05", addressed_to="council", support_limit=limit, created_by=author.user_id,
        created_at=NOW - timedelta(days=60), updated_at=NOW - timedelta(days=60)).returning(Consultation.id)))
        .scalar_one())
    for ph in phases:
        await session.execute(insert(Phase).values(
            consultation_id=cid, kind=ph.get("kind", "proposals"), starts_at=NOW + timedelta(days=ph["start"]),
            ends_at=NOW + timedelta(days=ph["end"]), **{flag: ph.get(flag, False) for flag in FLAGS}))
    await session.commit()
    return cid


def open_phase(**over: Any) -> dict[str, Any]:
    """The proposals phase, current at NOW, with proposals, supports and comments allowed."""
    return {"kind": "proposals", "start": -5, "end": 5, **dict.fromkeys(FLAGS, True), **over}


async def raw_proposal(session, cid: int, author: Actor, title: str = TITLE, **over: Any) -> int:  # type: ignore[no-untyped-def]
    """A proposal inserted directly (whatever the phase), indexed for search like the service does."""
    from civic.search.service import index_item

    values = {"consultation_id": cid, "author_id": author.user_id, "title": title, "body": BODY,
              "category": "transport", "territory_code": "05.091.01.01", "status": "published",
              "created_at": NOW - timedelta(days=1), "updated_at": NOW - timedelta(days=1), **over}
    pid = int((await session.execute(insert(Proposal).values(**values).returning(Proposal.id))).scalar_one())
    await index_item(session, "proposal", pid, values["title"], values["body"])
    await session.commit()
    return pid


def data(title: str = TITLE, **over: Any) -> service.ProposalInput:
    values = {"title": title, "body": BODY, "category": "transport", "territory_code": "", "organisation_id": None}
    values.update(over)
    return service.ProposalInput(**values)


async def count_supports(session, pid: int) -> int:  # type: ignore[no-untyped-def]
    n = await session.scalar(select(func.count()).select_from(Support).where(Support.proposal_id == pid))
    await session.commit()
    return int(n or 0)


# --- the role × phase grid --------------------------------------------------------------------------------------

PHASE_CASES = {
    **{f"{kind}:{'+'.join(f[:-8] for f, on in zip(FLAGS, bits, strict=True) if on) or 'none'}": (
        [{"kind": kind, "start": -5, "end": 5, **dict(zip(FLAGS, bits, strict=True))}], bits)
       for kind, bits in (
           ("information", (False, False, False)), ("proposals", (True, True, True)),
           ("proposals", (True, False, False)), ("proposals", (True, True, False)), ("proposals", (True, False, True)),
           ("deliberation", (False, False, True)), ("deliberation", (False, True, True)),
           ("voting", (False, True, False)), ("results", (False, False, False)),
       )},
    "before all phases": ([open_phase(start=1, end=10)], (False, False, False)),
    "after all phases": ([open_phase(start=-10, end=-1)], (False, False, False)),
    "between two phases": ([open_phase(start=-10, end=-1), open_phase(start=1, end=10)], (False, False, False)),
    "at the very end (excluded)": ([open_phase(start=-10, end=0)], (False, False, False)),
}


@pytest.mark.parametrize("case", list(PHASE_CASES))
async def test_role_by_phase_grid_for_participant_actions(session, case: str) -> None:  # type: ignore[no-untyped-def]
    phases, (proposals_on, supports_on, comments_on) = PHASE_CASES[case]
    author = await make_user(session, 1)
    cid = await new_consultation(session, author, phases)
    pid = await raw_proposal(session, cid, author)
    for n, role in enumerate(ROLES):
        actor = await make_user(session, 10 + n, role=role)
        # PROPOSAL_CREATE
        if proposals_on:
            assert await service.submit(session, actor, cid, data(f"{TITLE} {role}"), "05", NOW) > 0
        else:
            with pytest.raises(Conflict) as exc:
                await service.submit(session, actor, cid, data(), "05", NOW)
            assert exc.value.message == service.PHASE_REFUSALS[service.Action.PROPOSAL_CREATE]
        # PROPOSAL_SUPPORT
        if supports_on:
            assert (await supports.support(session, actor, pid, NOW)).outcome == supports.Outcome.SUPPORTED
        else:
            with pytest.raises(Conflict):
                await supports.support(session, actor, pid, NOW)
            await session.execute(insert(Support).values(proposal_id=pid, consultation_id=cid,
                                                         user_id=actor.user_id, slot=1, created_at=NOW))
            await session.commit()
        # SUPPORT_WITHDRAW (the person supports it either way now)
        if supports_on:
            assert (await supports.withdraw(session, actor, pid, NOW)).outcome == supports.Outcome.WITHDRAWN
        else:
            with pytest.raises(Conflict):
                await supports.withdraw(session, actor, pid, NOW)
        # COMMENT_CREATE, on the proposal and on the consultation
        if comments_on:
            assert await comments.comment_on_proposal(session, actor, pid, comments.CommentInput("رأيي", "for"),
                                                      NOW) > 0
            assert await comments.comment_on_consultation(session, actor, cid,
                                                          comments.CommentInput("ok", "neutral"), NOW) > 0
        else:
            for call in (comments.comment_on_proposal(session, actor, pid, comments.CommentInput("رأيي", "for"), NOW),
                         comments.comment_on_consultation(session, actor, cid, comments.CommentInput("ok", "for"),
                                                          NOW)):
                with pytest.raises(Conflict):
                    await call
    # nothing leaked through a refusal: what is stored matches the grid
    stored = await session.scalar(select(func.count()).select_from(Proposal).where(Proposal.consultation_id == cid))
    stored_comments = await session.scalar(select(func.count()).select_from(Comment)
                                           .where(Comment.consultation_id == cid))
    await session.commit()
    assert stored == 1 + (len(ROLES) if proposals_on else 0)
    assert stored_comments == (2 * len(ROLES) if comments_on else 0)
    assert await count_supports(session, pid) == (0 if supports_on else len(ROLES))
    # anonymous visitors may do none of it, whatever the phase
    for call in (service.submit(session, ANONYMOUS, cid, data(), "05", NOW),
                 supports.support(session, ANONYMOUS, pid, NOW), supports.withdraw(session, ANONYMOUS, pid, NOW),
                 comments.comment_on_proposal(session, ANONYMOUS, pid, comments.CommentInput("xx", "for"), NOW),
                 comments.comment_on_consultation(session, ANONYMOUS, cid, comments.CommentInput("xx", "for"), NOW)):
        with pytest.raises(NotSignedIn):
            await call


@pytest.mark.parametrize("role", ROLES)
async def test_author_only_edit_and_withdraw_and_staff_only_answers(session, role: str) -> None:  # type: ignore[no-untyped-def]
    owner = await make_user(session, 1, role=role)
    other = await make_user(session, 2, role=role)
    cid = await new_consultation(session, owner, [open_phase()])
    pid = await service.submit(session, owner, cid, data(), "05", NOW)
    with pytest.raises(Forbidden):
        await service.edit(session, other, pid, data("عنوان آخر للمقترح"), "05", NOW)
    with pytest.raises(Forbidden):
        await service.withdraw(session, other, pid, NOW)
    with pytest.raises(NotSignedIn):
        await service.edit(session, ANONYMOUS, pid, data(), "05", NOW)
    await service.edit(session, owner, pid, data("عنوان جديد للمقترح"), "05", NOW)
    assert (await service.get_proposal(session, pid)).title == "عنوان جديد للمقترح"
    staff = role in ("council_staff", "admin")
    if staff:
        assert await service.answer(session, other, pid, "under_evaluation", "الملف قيد الدراسة لدى المصالح.", NOW)
        assert (await service.get_proposal(session, pid)).status == "under_evaluation"
    else:
        with pytest.raises(Forbidden):
            await service.answer(session, other, pid, "accepted", "Réponse officielle du conseil.", NOW)
        with pytest.raises(Forbidden):
            await service.add_update(session, other, pid, "Les travaux ont commencé.", NOW)
        await service.withdraw(session, owner, pid, NOW)
        assert (await service.get_proposal(session, pid)).status == "withdrawn"
    with pytest.raises(NotSignedIn):
        await service.answer(session, ANONYMOUS, pid, "accepted", "Réponse officielle du conseil.", NOW)


async def test_author_rules_do_not_depend_on_the_phase(session) -> None:  # type: ignore[no-untyped-def]
    owner = await make_user(session, 1)
    cid = await new_consultation(session, owner, [open_phase(start=-10, end=-1)])  # every phase is over
    pid = await raw_proposal(session, cid, owner)
    await service.edit(session, owner, pid, data("عنوان بعد انتهاء المرحلة"), "05", NOW)
    await service.withdraw(session, owner, pid, NOW)
    assert (await service.get_proposal(session, pid)).withdrawn


# --- proposals ---------------------------------------------------------------------------------------------------


async def test_submit_validates_and_defaults_to_the_authors_commune(session) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1, commune="05.301.01.01")
    cid = await new_consultation(session, author, [open_phase()])
    with pytest.raises(Invalid) as exc:
        await service.submit(session, author, cid, service.ProposalInput("abc", "short", "nope", "01.511.01.01", 99),
                             "05", NOW)
    assert set(exc.value.field_errors) == {"title", "body", "category", "territory_code", "organisation_id"}
    with pytest.raises(Invalid) as exc:
        await service.submit(session, author, cid, data("x" * 201, body="ب" * 10_001), "05", NOW)
    assert set(exc.value.field_errors) == {"title", "body"}
    with pytest.raises(NotFound):
        await service.submit(session, author, 999_999, data(), "05", NOW)
    pid = await service.submit(session, author, cid, data("  عنوان \u202e مقترح  ", body=BODY + "\n\n<b>سطر</b>"),
                               "05", NOW)
    view = await service.get_proposal(session, pid)
    assert view.title == "عنوان مقترح" and view.body.endswith("<b>سطر</b>")  # cleaned, stored as typed
    assert view.territory.id == "05.301.01.01" and view.author_name == "User 1"
    pid2 = await service.submit(session, author, cid, data(territory_code="05.081"), "05", NOW)  # a province
    assert (await service.get_proposal(session, pid2)).territory.id == "05.081"
    actions = (await session.scalars(select(AuditEvent.action).where(AuditEvent.subject_type == "proposal"))).all()
    await session.commit()
    assert actions == ["proposals:create", "proposals:create"]


async def test_on_behalf_of_a_verified_organisation_only(session) -> None:  # type: ignore[no-untyped-def]
    rep, staff = await make_user(session, 1), await make_user(session, 2, role="council_staff")
    org_id = await orgs.register(session, rep, orgs.OrganisationInput(
        "جمعية الأمل", "Association Al Amal", "REC-1", "2015-03-21", "05.301.01.01",
        "Accompagnement des jeunes dans la recherche d'emploi."), "05", NOW)
    rep = Actor(rep.user_id, "cso_member", rep.display_name)
    cid = await new_consultation(session, rep, [open_phase()])
    assert await service.member_organisations(session, rep) == []
    with pytest.raises(Invalid) as exc:
        await service.submit(session, rep, cid, data(organisation_id=org_id), "05", NOW)
    assert list(exc.value.field_errors) == ["organisation_id"]
    await orgs.verify(session, staff, org_id, orgs.VerificationInput(True, True, True, True, "Statuts"), NOW)
    assert [o.id for o in await service.member_organisations(session, rep)] == [org_id]
    pid = await service.submit(session, rep, cid, data(organisation_id=org_id), "05", NOW)
    view = await service.get_proposal(session, pid)
    assert view.organisation is not None and view.organisation.name_fr == "Association Al Amal"
    stranger = await make_user(session, 3)
    with pytest.raises(Invalid):
        await service.submit(session, stranger, cid, data(organisation_id=org_id), "05", NOW)


async def test_edit_is_refused_after_the_first_support_or_comment(session) -> None:  # type: ignore[no-untyped-def]
    author, fan = await make_user(session, 1), await make_user(session, 2)
    cid = await new_consultation(session, author, [open_phase()])
    supported = await service.submit(session, author, cid, data("مقترح أول للدعم"), "05", NOW)
    commented = await service.submit(session, author, cid, data("مقترح ثان للتعليق"), "05", NOW)
    assert (await service.proposal_page(session, author, supported, NOW)).can_edit
    await supports.support(session, fan, supported, NOW)
    await comments.comment_on_proposal(session, fan, commented, comments.CommentInput("فكرة جيدة", "for"), NOW)
    for pid in (supported, commented):
        with pytest.raises(Conflict) as exc:
            await service.edit(session, author, pid, data("عنوان معدل للمقترح"), "05", NOW)
        assert exc.value.message == service.NOT_EDITABLE
        with pytest.raises(Conflict):
            await service.editable(session, author, pid, NOW)
        page = await service.proposal_page(session, author, pid, NOW)
        assert not page.can_edit and page.can_withdraw
    # a support withdrawn again, or a comment hidden by moderation, no longer blocks the edit
    await supports.withdraw(session, fan, supported, NOW)
    await service.edit(session, author, supported, data("عنوان معدل للمقترح"), "05", NOW)
    await session.execute(update(Comment).where(Comment.proposal_id == commented).values(hidden_at=NOW))
    await session.commit()
    await service.edit(session, author, commented, data("عنوان معدل آخر"), "05", NOW)


async def test_withdraw_releases_supports_and_leaves_lists_counts_and_search(session) -> None:  # type: ignore[no-untyped-def]
    author, fan = await make_user(session, 1), await make_user(session, 2)
    cid = await new_consultation(session, author, [open_phase()], limit=1)
    pid = await service.submit(session, author, cid, data("مدرسة جماعاتية جديدة"), "05", NOW)
    other = await service.submit(session, author, cid, data("مقترح آخر للدعم"), "05", NOW)
    await supports.support(session, fan, pid, NOW)
    assert (await service.counts(session, cid)).proposals == 2
    await service.withdraw(session, author, pid, NOW)
    with pytest.raises(Conflict):
        await service.withdraw(session, author, pid, NOW)
    assert (await service.counts(session, cid)).proposals == 1
    listed = await service.list_proposals(session, cid, service.ListFilters(), 1, 7)
    assert [i.id for i in listed.items] == [other]
    ids = matching_ids(session, "proposal", "مدرسه")
    assert ids is not None and pid not in (await session.scalars(ids)).all()
    await session.commit()
    page = await service.proposal_page(session, fan, pid, NOW)
    assert page.proposal.withdrawn and page.support.refusal == service.WITHDRAWN_MESSAGE
    assert page.comment_refusal == service.WITHDRAWN_MESSAGE
    with pytest.raises(Conflict):
        await supports.support(session, fan, pid, NOW)
    with pytest.raises(Conflict):
        await comments.comment_on_proposal(session, fan, pid, comments.CommentInput("متأخر", "for"), NOW)
    # the support it had is released: the limit of 1 lets the fan support the other proposal
    assert (await supports.support(session, fan, other, NOW)).outcome == supports.Outcome.SUPPORTED
    detail = (await session.scalars(select(AuditEvent.detail).where(AuditEvent.action == "proposals:withdraw"))).one()
    await session.commit()
    assert '"supports_released": 1' in detail


async def test_an_answered_proposal_cannot_be_withdrawn(session) -> None:  # type: ignore[no-untyped-def]
    author, staff = await make_user(session, 1), await make_user(session, 2, role="council_staff")
    cid = await new_consultation(session, author, [open_phase()])
    pid = await service.submit(session, author, cid, data(), "05", NOW)
    await service.answer(session, staff, pid, "under_evaluation", "Le dossier est à l'étude.", NOW)
    with pytest.raises(Conflict):
        await service.withdraw(session, author, pid, NOW)
    assert not (await service.proposal_page(session, author, pid, NOW)).can_withdraw


# --- supports -------------------------------------------------------------------------------------------------------


async def test_support_limit_slots_and_double_support(session) -> None:  # type: ignore[no-untyped-def]
    author, fan = await make_user(session, 1), await make_user(session, 2)
    cid = await new_consultation(session, author, [open_phase()], limit=2)
    other_cid = await new_consultation(session, author, [open_phase()], limit=1)
    pids = [await raw_proposal(session, cid, author, f"مقترح رقم {i}") for i in range(3)]
    elsewhere = await raw_proposal(session, other_cid, author)
    first = await supports.support(session, fan, pids[0], NOW)
    assert first.outcome == supports.Outcome.SUPPORTED and (first.state.count, first.state.used) == (1, 1)
    again = await supports.support(session, fan, pids[0], NOW)
    assert again.outcome == supports.Outcome.ALREADY_SUPPORTED and again.state.count == 1
    await supports.support(session, author, pids[0], NOW)  # authors may support their own proposal
    second = await supports.support(session, fan, pids[1], NOW)
    assert (second.state.used, second.state.limit, second.state.remaining) == (2, 2, 0)
    with pytest.raises(Conflict) as exc:
        await supports.support(session, fan, pids[2], NOW)
    assert exc.value.message == supports.LIMIT_REACHED
    state = await supports.state(session, fan, pids[2], NOW)
    assert state.refusal == supports.LIMIT_REACHED and not state.supported
    # the limit is per consultation
    assert (await supports.support(session, fan, elsewhere, NOW)).outcome == supports.Outcome.SUPPORTED
    # withdrawing frees the lowest slot, which the next support takes
    assert (await supports.withdraw(session, fan, pids[0], NOW)).state.count == 1
    assert (await supports.withdraw(session, fan, pids[0], NOW)).outcome == supports.Outcome.NOT_SUPPORTED
    await supports.support(session, fan, pids[2], NOW)
    slots = dict((await session.execute(select(Support.proposal_id, Support.slot).where(
        Support.user_id == fan.user_id, Support.consultation_id == cid))).all())
    await session.commit()
    assert slots == {pids[1]: 2, pids[2]: 1}


async def test_a_support_beyond_the_limit_is_refused_by_the_database(session) -> None:  # type: ignore[no-untyped-def]
    author, fan = await make_user(session, 1), await make_user(session, 2)
    cid = await new_consultation(session, author, [open_phase()], limit=1)
    a, b = await raw_proposal(session, cid, author, "مقترح أ"), await raw_proposal(session, cid, author, "مقترح ب")
    await supports.support(session, fan, a, NOW)
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):  # the same slot again: the unique index, not Python, says no
        await session.execute(insert(Support).values(proposal_id=b, consultation_id=cid, user_id=fan.user_id,
                                                     slot=1, created_at=NOW))
    await session.rollback()


# --- comments --------------------------------------------------------------------------------------------------------


async def test_comments_replies_one_level_and_stance_counts(session) -> None:  # type: ignore[no-untyped-def]
    author, a, b = await make_user(session, 1), await make_user(session, 2), await make_user(session, 3)
    cid = await new_consultation(session, author, [open_phase(proposals_enabled=False, supports_enabled=False)])
    pid = await raw_proposal(session, cid, author)
    top = await comments.comment_on_proposal(session, a, pid, comments.CommentInput("أنا مع هذا المقترح", "for"), NOW)
    reply = await comments.comment_on_proposal(session, b, pid, comments.CommentInput("لا أوافق", "against", top),
                                               NOW + timedelta(minutes=1))
    nested = await comments.comment_on_proposal(session, a, pid, comments.CommentInput("لماذا؟", "neutral", reply),
                                                NOW + timedelta(minutes=2))
    parents = dict((await session.execute(select(Comment.id, Comment.parent_id).where(
        Comment.id.in_([reply, nested])))).all())
    await session.commit()
    assert parents == {reply: top, nested: top}  # a reply to a reply joins the top-level comment
    thread = await comments.thread(session, cid, pid)
    assert [c.id for c in thread.comments] == [top]
    assert [r.id for r in thread.comments[0].replies] == [reply, nested]
    assert thread.stances == {"for": 1, "against": 1, "neutral": 1} and thread.total == 3
    with pytest.raises(Invalid) as exc:
        await comments.comment_on_proposal(session, a, pid, comments.CommentInput(" x ", "maybe"), NOW)
    assert set(exc.value.field_errors) == {"body", "stance"}
    with pytest.raises(Invalid):
        await comments.comment_on_proposal(session, a, pid, comments.CommentInput("x" * 5001, "for"), NOW)
    # a reply must stay in its own discussion
    other = await raw_proposal(session, cid, author, "مقترح آخر")
    with pytest.raises(NotFound):
        await comments.comment_on_proposal(session, a, other, comments.CommentInput("رد", "for", top), NOW)
    with pytest.raises(NotFound):
        await comments.comment_on_consultation(session, a, cid, comments.CommentInput("رد", "for", top), NOW)
    # the consultation's own discussion is separate
    own = await comments.comment_on_consultation(session, b, cid, comments.CommentInput("سؤال عام", "neutral"), NOW)
    discussion = await comments.consultation_discussion(session, cid, NOW)
    assert [c.id for c in discussion.thread.comments] == [own] and discussion.refusal is None
    assert (await service.counts(session, cid)).comments == 4
    # hidden comments are never shown or counted; a reply to a hidden comment stays, shown as such
    await session.execute(update(Comment).where(Comment.id == top).values(hidden_at=NOW))
    await session.commit()
    thread = await comments.thread(session, cid, pid)
    assert [c.id for c in thread.comments] == [reply, nested] and all(c.orphan for c in thread.comments)
    assert thread.stances == {"for": 0, "against": 1, "neutral": 1}
    assert (await service.counts(session, cid)).comments == 3
    with pytest.raises(NotFound):  # no reply to a hidden comment
        await comments.comment_on_proposal(session, a, pid, comments.CommentInput("رد", "for", top), NOW)
    listed = await service.list_proposals(session, cid, service.ListFilters(), 1, 1)
    assert {i.id: i.comment_count for i in listed.items}[pid] == 2


# --- official answers and follow-up -----------------------------------------------------------------------------


async def test_official_answers_history_follow_up_and_notifications(session) -> None:  # type: ignore[no-untyped-def]
    author, staff = await make_user(session, 1), await make_user(session, 2, role="council_staff")
    cid = await new_consultation(session, author, [open_phase()])
    pid = await service.submit(session, author, cid, data(), "05", NOW)
    with pytest.raises(Invalid) as exc:
        await service.answer(session, staff, pid, "maybe", "court", NOW)
    assert set(exc.value.field_errors) == {"status", "body"}
    with pytest.raises(Conflict):  # implemented only after accepted
        await service.answer(session, staff, pid, "implemented", "Le projet est réalisé.", NOW)
    with pytest.raises(Conflict):  # follow-up only for accepted proposals
        await service.add_update(session, staff, pid, "Les travaux avancent bien.", NOW)
    await service.answer(session, staff, pid, "under_evaluation", "المقترح قيد الدراسة.", NOW, "https://civic.test")
    await service.answer(session, staff, pid, "accepted", "Le conseil retient la proposition.",
                         NOW + timedelta(days=1), "https://civic.test")
    await service.add_update(session, staff, pid, "Les études techniques ont commencé.", NOW + timedelta(days=2))
    view = await service.get_proposal(session, pid)
    assert view.status == "accepted" and [a.status for a in view.answers] == ["accepted", "under_evaluation"]
    assert [u.body for u in view.updates] == ["Les études techniques ont commencé."]
    stored = (await session.scalars(select(ProposalAnswer.status).where(ProposalAnswer.proposal_id == pid)
                                    .order_by(ProposalAnswer.id))).all()
    mails = (await session.scalars(select(OutboxMessage).where(OutboxMessage.user_id == author.user_id)
                                   .order_by(OutboxMessage.id))).all()
    actions = (await session.scalars(select(AuditEvent.action).where(AuditEvent.subject_type == "proposal")
                                     .order_by(AuditEvent.id))).all()
    await session.commit()
    assert stored == ["under_evaluation", "accepted"]  # never edited: one row per answer
    assert [m.purpose for m in mails] == ["proposals:answer", "proposals:answer", "proposals:follow_up"]
    assert f"https://civic.test/proposals/{pid}" in mails[1].body and "Le conseil retient" in mails[1].body
    assert " / " in mails[1].subject or mails[1].subject  # bilingual subject (identical until translated)
    assert actions == ["proposals:create", "proposals:answer", "proposals:answer", "proposals:follow_up"]
    await service.answer(session, staff, pid, "implemented", "Le transport scolaire fonctionne.", NOW)
    assert (await service.get_proposal(session, pid)).status == "implemented"


# --- hidden content appears nowhere --------------------------------------------------------------------------------


async def test_hidden_proposal_is_absent_from_list_counts_search_page_and_api(session) -> None:  # type: ignore[no-untyped-def]
    author, fan = await make_user(session, 1), await make_user(session, 2)
    cid = await new_consultation(session, author, [open_phase()])
    shown = await raw_proposal(session, cid, author, "مقترح ظاهر حول النقل")
    hidden = await raw_proposal(session, cid, author, "مقترح مخفي حول النقل")
    await comments.comment_on_proposal(session, fan, hidden, comments.CommentInput("تعليق", "for"), NOW)
    await session.execute(update(Proposal).where(Proposal.id == hidden).values(hidden_at=NOW, hidden_reason="spam"))
    await session.commit()
    assert (await service.counts(session, cid)) == service.ConsultationCounts(1, 0)
    listed = await service.list_proposals(session, cid, service.ListFilters(q="النقل"), 1, 3)
    assert [i.id for i in listed.items] == [shown] and listed.total == 1
    api = await service.api_list(session, cid, service.ListFilters(), 1)
    assert [p["id"] for p in api["proposals"]] == [shown] and api["total"] == 1
    for call in (service.get_proposal(session, hidden), service.api_detail(session, hidden),
                 service.proposal_page(session, fan, hidden, NOW), supports.state(session, fan, hidden, NOW),
                 supports.support(session, fan, hidden, NOW),
                 comments.comment_on_proposal(session, fan, hidden, comments.CommentInput("xx", "for"), NOW),
                 service.answer(session, Actor(author.user_id, "admin", ""), hidden, "accepted", "Réponse.....", NOW)):
        with pytest.raises(NotFound):
            await call


# --- lists and the API ---------------------------------------------------------------------------------------------


async def test_list_filters_sorts_and_pages(session) -> None:  # type: ignore[no-untyped-def]
    author, staff = await make_user(session, 1), await make_user(session, 2, role="council_staff")
    cid = await new_consultation(session, author, [open_phase()], limit=100)
    pids = []
    for i in range(23):
        pids.append(await raw_proposal(
            session, cid, author, f"مقترح رقم {i}", category="health" if i % 2 else "transport",
            territory_code="05.301.01.01" if i % 3 == 0 else "05.091.01.01",
            created_at=NOW - timedelta(hours=100 - i)))
    fans = [await make_user(session, 10 + i) for i in range(3)]
    for n, fan in enumerate(fans):  # pids[5] gets 3 supports, pids[7] 2, pids[9] 1
        for pid in (pids[5], pids[7], pids[9])[: 3 - n]:
            await supports.support(session, fan, pid, NOW)
    await service.answer(session, staff, pids[4], "accepted", "Accepté par le conseil.", NOW)
    newest = await service.list_proposals(session, cid, service.ListFilters(), 1, 5)
    assert newest.total == 23 and newest.pages == 3 and [i.id for i in newest.items][:2] == [pids[22], pids[21]]
    top = await service.list_proposals(session, cid, service.ListFilters(sort="most_supported"), 1, 5)
    assert [(i.id, i.support_count) for i in top.items[:3]] == [(pids[5], 3), (pids[7], 2), (pids[9], 1)]
    seen = []
    for number in (1, 2, 3):
        page = await service.list_proposals(session, cid, service.ListFilters(sort="random"), number, 12345)
        seen += [i.id for i in page.items]
    assert sorted(seen) == sorted(pids) and seen != sorted(seen, reverse=True)
    again = await service.list_proposals(session, cid, service.ListFilters(sort="random"), 1, 12345)
    assert [i.id for i in again.items] == seen[:10]  # stable for the same seed
    health = await service.list_proposals(session, cid, service.ListFilters(category="health"), 1, 5)
    assert health.total == 11 and all(i.category == "health" for i in health.items)
    khenifra = await service.list_proposals(session, cid, service.ListFilters(province="05.301"), 1, 5)
    assert khenifra.total == 8 and all(i.territory.id == "05.301.01.01" for i in khenifra.items)
    accepted = await service.list_proposals(session, cid, service.ListFilters(status="accepted"), 1, 5)
    assert [i.id for i in accepted.items] == [pids[4]]
    found = await service.list_proposals(session, cid, service.ListFilters(q="رقم 17"), 1, 5)
    assert [i.id for i in found.items] == [pids[17]]
    ignored = await service.list_proposals(session, cid, service.ListFilters(status="withdrawn", category="x"), 1, 5)
    assert ignored.total == 23
    with pytest.raises(NotFound):
        await service.list_proposals(session, 999_999, service.ListFilters(), 1, 5)
    detail = await service.api_detail(session, pids[5])
    assert detail["support_count"] == 3 and detail["author"] == "User 1" and detail["territory"]["code"]
    assert "email" not in str(detail) and "staff" not in str(detail)


# --- HTTP -------------------------------------------------------------------------------------------------------


async def log_in(client, session, email: str, role: str = "citizen") -> Actor:  # type: ignore[no-untyped-def]
    """Create an account through the service and sign in through the login form."""
    user_id = await accounts.create_user(session, display_name=f"Person {role}", email=email, password=PASSWORD,
                                         role=role, commune_code="05.091.01.01", now=NOW, region_code="05")
    page = await client.get("/login")
    r = await client.post("/login", data={"csrf_token": csrf_from(page.text), "email": email, "password": PASSWORD})
    assert r.status_code == 303, r.text
    return Actor(user_id, role, f"Person {role}")


def live_phase() -> dict[str, Any]:
    """The proposals phase around the real clock (the web views use the current time)."""
    return open_phase(start=-4000, end=4000)


async def test_pages_for_visitors(client, session) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    cid = await new_consultation(session, author, [live_phase()])
    pid = await raw_proposal(session, cid, author, "Navette rurale <script>alert(1)</script>")
    r = await client.get(f"/consultations/{cid}/proposals")
    assert r.status_code == 200 and f'href="/proposals/{pid}"' in r.text
    assert "&lt;script&gt;" in r.text and "<script>alert" not in r.text
    assert len(re.findall(r"<h1[ >]", r.text)) == 1
    r = await client.get(f"/proposals/{pid}")
    assert r.status_code == 200 and 'data-count="0"' in r.text and 'aria-live="polite"' in r.text
    assert f"/login?next=/proposals/{pid}" in r.text  # sign in to support
    assert 'id="support-button"' not in r.text
    r = await client.get(f"/consultations/{cid}/comments")
    assert r.status_code == 200 and "<fieldset" not in r.text  # no form for visitors
    r = await client.get(f"/consultations/{cid}/proposals/new")
    assert r.status_code == 303 and "/login" in r.headers["location"]
    assert (await client.get("/proposals/999999")).status_code == 404
    assert (await client.get("/consultations/999999/proposals")).status_code == 404
    api = await client.get(f"/api/v1/consultations/{cid}/proposals")
    assert api.status_code == 200 and api.json()["proposals"][0]["id"] == pid
    assert (await client.get(f"/api/v1/proposals/{pid}")).json()["support_count"] == 0
    assert (await client.get("/api/v1/proposals/999999")).json()["status"] == 404
    assert (await client.get(f"/consultations/{cid}/proposals?page=abc&sort=zz&status=<x>")).status_code == 200


async def test_submit_support_with_htmx_and_without_javascript(client, session) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    cid = await new_consultation(session, author, [live_phase()], limit=2)
    other = await raw_proposal(session, cid, author, "مقترح آخر للدعم")
    third = await raw_proposal(session, cid, author, "مقترح ثالث للدعم")
    await log_in(client, session, "citizen@test.invalid")
    page = await client.get(f"/consultations/{cid}/proposals/new")
    assert page.status_code == 200 and 'value="05.091.01.01" selected' in page.text
    token = csrf_from(page.text)
    bad = await client.post(f"/consultations/{cid}/proposals/new", data={
        "csrf_token": token, "title": "abc", "body": "Un texte tapé", "category": "transport",
        "territory_code": "05.091.01.01"})
    assert bad.status_code == 422 and 'id="title-error"' in bad.text and "Un texte tapé" in bad.text
    r = await client.post(f"/consultations/{cid}/proposals/new", data={
        "csrf_token": token, "title": "Navette rurale vers Béni Mellal", "body": BODY + "\nسطر ثان",
        "category": "transport", "territory_code": "05.091.01.01"})
    assert r.status_code == 303
    path = r.headers["location"]
    page = await client.get(path)
    assert 'id="support-button"' in page.text and "Navette rurale vers Béni Mellal" in page.text
    assert f'href="{path}/edit"' in page.text  # editable until the first support or comment
    # htmx: the fragment with the button, the new count and the announcement
    token = csrf_from(page.text)
    frag = await client.post(f"{path}/support", data={"csrf_token": token, "action": "support"},
                             headers={"HX-Request": "true"})
    assert frag.status_code == 200 and "<html" not in frag.text
    assert 'data-count="1"' in frag.text and 'aria-live="polite"' in frag.text
    assert 'hx-swap-oob="innerHTML"' in frag.text and 'id="support-status"' in frag.text
    assert 'name="action" value="withdraw"' in frag.text  # the button now withdraws
    page = await client.get(path)
    assert f'href="{path}/edit"' not in page.text  # no edit link after the first support
    assert (await client.get(f"{path}/edit")).status_code == 409
    # without JavaScript: a real POST, redirected back with a status message
    r = await client.post(f"/proposals/{other}/support", data={"csrf_token": token, "action": "support"})
    assert r.status_code == 303 and r.headers["location"] == f"/proposals/{other}#support"
    page = await client.get(f"/proposals/{other}")
    assert 'data-count="1"' in page.text and 'name="action" value="withdraw"' in page.text
    assert re.search(r'id="support-status"[^>]*>[^<]+\S', page.text)  # the status message is shown once
    # the limit (2): the third proposal shows why there is no button, and a POST is refused with the message
    page = await client.get(f"/proposals/{third}")
    assert 'id="support-button"' not in page.text and 'class="notice"' in page.text
    r = await client.post(f"/proposals/{third}/support", data={"csrf_token": token, "action": "support"},
                          headers={"HX-Request": "true"})
    assert r.status_code == 409 and 'data-count="0"' in r.text
    r = await client.post(f"/proposals/{third}/support", data={"csrf_token": token, "action": "support"})
    assert r.status_code == 409 and "<h1" in r.text
    # withdrawing with htmx
    frag = await client.post(f"/proposals/{other}/support", data={"csrf_token": token, "action": "withdraw"},
                             headers={"HX-Request": "true"})
    assert frag.status_code == 200 and 'data-count="0"' in frag.text
    assert await count_supports(session, other) == 0


async def test_supports_are_refused_with_a_clear_message_once_the_phase_changes(client, session) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    cid = await new_consultation(session, author, [live_phase()])
    pid = await raw_proposal(session, cid, author)
    await log_in(client, session, "late@test.invalid")
    page = await client.get(f"/proposals/{pid}")
    token = csrf_from(page.text)
    await session.execute(update(Phase).where(Phase.consultation_id == cid).values(supports_enabled=False))
    await session.commit()
    await client.get("/lang/fr")
    for headers in ({"HX-Request": "true"}, {}):
        r = await client.post(f"/proposals/{pid}/support", data={"csrf_token": token, "action": "support"},
                              headers=headers)
        assert r.status_code == 409
        assert i18n.translations("fr").gettext(service.PHASE_REFUSALS[service.Action.PROPOSAL_SUPPORT]) in r.text
    page = await client.get(f"/proposals/{pid}")
    assert 'data-count="0"' in page.text and 'id="support-button"' not in page.text
    assert await count_supports(session, pid) == 0
    # a proposal typed while the phase closes is refused with the reason, and the text typed is kept
    form = await client.get(f"/consultations/{cid}/proposals/new")
    await session.execute(update(Phase).where(Phase.consultation_id == cid).values(proposals_enabled=False))
    await session.commit()
    r = await client.post(f"/consultations/{cid}/proposals/new", data={
        "csrf_token": csrf_from(form.text), "title": "Un titre tapé trop tard", "body": BODY,
        "category": "transport", "territory_code": "05.091.01.01"})
    assert r.status_code == 409 and "Un titre tapé trop tard" in r.text and 'role="alert"' in r.text
    assert 'id="title"' not in (await client.get(f"/consultations/{cid}/proposals/new")).text


async def test_comments_and_replies_through_the_forms(client, session) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    cid = await new_consultation(session, author, [live_phase()])
    pid = await raw_proposal(session, cid, author)
    await log_in(client, session, "commenter@test.invalid")
    page = await client.get(f"/proposals/{pid}")
    assert "<legend>" in page.text and 'id="comment-stance-for"' in page.text
    token = csrf_from(page.text)
    bad = await client.post(f"/proposals/{pid}/comments", data={"csrf_token": token, "stance": "for", "body": "x"})
    assert bad.status_code == 422 and 'id="comment-body-error"' in bad.text
    r = await client.post(f"/proposals/{pid}/comments", data={"csrf_token": token, "stance": "against",
                                                              "body": "لا أتفق مع هذا"})
    assert r.status_code == 303 and "#comment-" in r.headers["location"]
    top = int(r.headers["location"].split("#comment-")[1])
    r = await client.post(f"/proposals/{pid}/comments", data={"csrf_token": token, "stance": "for",
                                                              "body": "ردّ على التعليق", "parent_id": str(top)})
    assert r.status_code == 303
    page = await client.get(f"/proposals/{pid}")
    assert "لا أتفق مع هذا" in page.text and "ردّ على التعليق" in page.text
    assert 'class="comment-list replies"' in page.text and f'id="reply-{top}-body"' in page.text
    r = await client.post(f"/consultations/{cid}/comments", data={"csrf_token": token, "stance": "neutral",
                                                                  "body": "سؤال حول الاستشارة"})
    assert r.status_code == 303
    page = await client.get(f"/consultations/{cid}/comments")
    assert "سؤال حول الاستشارة" in page.text and "لا أتفق مع هذا" not in page.text


async def test_staff_answer_and_follow_up_through_the_forms(client, session) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    cid = await new_consultation(session, author, [live_phase()])
    pid = await raw_proposal(session, cid, author)
    page = await client.get(f"/proposals/{pid}")
    assert 'id="answer-status"' not in page.text
    await log_in(client, session, "staff@test.invalid", role="council_staff")
    page = await client.get(f"/proposals/{pid}")
    assert 'id="answer-status"' in page.text and 'id="update_body"' not in page.text
    token = csrf_from(page.text)
    bad = await client.post(f"/proposals/{pid}/answer", data={"csrf_token": token, "status": "accepted", "body": "ok"})
    assert bad.status_code == 422 and 'id="answer-body-error"' in bad.text
    r = await client.post(f"/proposals/{pid}/answer", data={"csrf_token": token, "status": "accepted",
                                                            "body": "Le conseil retient cette proposition."})
    assert r.status_code == 303
    r = await client.post(f"/proposals/{pid}/updates", data={"csrf_token": token,
                                                             "update_body": "Les études ont commencé."})
    assert r.status_code == 303
    await client.post("/logout", data={"csrf_token": token})
    page = await client.get(f"/proposals/{pid}")
    assert "Le conseil retient cette proposition." in page.text and "Les études ont commencé." in page.text
    assert "<time datetime=" in page.text
    mails = (await session.scalars(select(OutboxMessage.purpose).where(OutboxMessage.user_id == author.user_id))).all()
    await session.commit()
    assert sorted(mails) == ["proposals:answer", "proposals:follow_up"]


async def test_withdraw_and_edit_through_the_forms(client, session) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    cid = await new_consultation(session, author, [live_phase()])
    me = await log_in(client, session, "author@test.invalid")
    pid = await raw_proposal(session, cid, me)
    stranger_pid = await raw_proposal(session, cid, author)
    assert (await client.get(f"/proposals/{stranger_pid}/edit")).status_code == 403
    page = await client.get(f"/proposals/{pid}/edit")
    assert page.status_code == 200 and TITLE in page.text
    token = csrf_from(page.text)
    r = await client.post(f"/proposals/{pid}/edit", data={"csrf_token": token, "title": "عنوان معدل للمقترح",
                                                           "body": BODY, "category": "health",
                                                           "territory_code": "05.081"})
    assert r.status_code == 303
    page = await client.get(f"/proposals/{pid}")
    assert "عنوان معدل للمقترح" in page.text and f'action="/proposals/{pid}/withdraw"' in page.text
    r = await client.post(f"/proposals/{pid}/withdraw", data={"csrf_token": token})
    assert r.status_code == 303
    page = await client.get(f"/proposals/{pid}")
    assert page.status_code == 200 and f'action="/proposals/{pid}/withdraw"' not in page.text
    listing = await client.get(f"/consultations/{cid}/proposals")
    assert f'href="/proposals/{pid}"' not in listing.text and f'href="/proposals/{stranger_pid}"' in listing.text
    assert (await client.post(f"/proposals/{pid}/withdraw", data={"csrf_token": token})).status_code == 409


async def test_demo_proposals(session, settings) -> None:  # type: ignore[no-untyped-def]
    from civic.proposals import demo

    staff = await make_user(session, 4, role="council_staff")
    cso = await make_user(session, 3)
    org_id = await orgs.register(session, cso, orgs.OrganisationInput(
        "جمعية الأمل", "Association Al Amal", "REC-1", "2015-03-21", "05.301.01.01",
        "Accompagnement des jeunes dans la recherche d'emploi."), "05", NOW)
    await orgs.verify(session, staff, org_id, orgs.VerificationInput(True, True, True, True, "Statuts"), NOW)
    people = {"citizen": await make_user(session, 1), "citizen2": await make_user(session, 2),
              "cso": Actor(cso.user_id, "cso_member", "Jamila"), "staff": staff}
    closed = await new_consultation(session, staff, [open_phase(proposals_enabled=False)])
    assert await demo.load(session, settings, closed, people, NOW) == []
    cid = await new_consultation(session, staff, [open_phase()])
    ids = await demo.load(session, settings, cid, people, NOW)
    assert len(ids) == 4
    first = await service.proposal_page(session, people["citizen"], ids[0], NOW)
    assert first.proposal.author_id == people["citizen"].user_id and first.proposal.status == "under_evaluation"
    assert first.support.count == 2 and first.comments.total == 2 and first.comments.comments[0].replies
    assert (await service.get_proposal(session, ids[1])).organisation is not None
    assert (await service.proposal_page(session, people["citizen2"], ids[3], NOW)).can_edit
    assert (await service.counts(session, cid)) == service.ConsultationCounts(4, 4)
