"""The staff dashboard (issue #6, item 6): moderation work, petitions awaiting the bureau (overdue labelled in text
and red), consultations by phase, participation figures, who sees what. Real databases, made-up people."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import update

from civic import dashboard, i18n
from civic.consultations.models import Consultation, Meeting, MeetingRegistration, Phase
from civic.db import utcnow
from civic.errors import Forbidden, NotSignedIn
from civic.moderation.models import Moderation
from civic.permissions import ANONYMOUS
from civic.petitions import service as petitions
from civic.petitions.models import Petition, Signature
from civic.proposals.models import Comment, Proposal, Support
from tests.conftest import NOW, csrf_from, make_user
from tests.test_audit import sign_in
from tests.test_petitions_service import open_petition, signature

COMMUNE = "05.091.01.01"
DAY = timedelta(days=1)


async def awaiting_petition(session, author, due: datetime) -> int:  # type: ignore[no-untyped-def]
    """A petition submitted to the bureau, its deadline ``due`` (set straight in the database)."""
    pid = await open_petition(session, author)
    await session.execute(update(Petition).where(Petition.id == pid).values(
        status="submitted", receipt_number=f"05-2026-{pid:06d}", submitted_at=due - 61 * DAY, submitted_count=400,
        examination_due_at=due))
    await session.commit()
    return pid


def consultation(staff_id: int, title: str) -> Consultation:
    return Consultation(title=title, summary="", body="نص الاستشارة", scope="commune", territory_code=COMMUNE,
                        addressed_to="council", support_limit=3, created_by=staff_id, created_at=NOW - 20 * DAY,
                        updated_at=NOW - 20 * DAY)


def phase(cid: int, kind: str, starts: datetime, ends: datetime) -> Phase:
    return Phase(consultation_id=cid, kind=kind, starts_at=starts, ends_at=ends, proposals_enabled=True,
                 supports_enabled=True, comments_enabled=True)


def proposal(cid: int, author_id: int, at: datetime, **over: object) -> Proposal:
    return Proposal(consultation_id=cid, author_id=author_id, title="اقتراح", body="نص", category="transport",
                    territory_code=COMMUNE, status=over.pop("status", "published"), created_at=at, updated_at=at,
                    **over)


async def known_data(session, keys):  # type: ignore[no-untyped-def]
    """The dashboard's data, with known answers (see test_dashboard_counts_known_data)."""
    staff = await make_user(session, 1, role="council_staff")
    author = await make_user(session, 10)
    a, b, c, d, e, f = [await make_user(session, n) for n in range(2, 8)]
    # petitions: one collecting with two signatures (one older than 30 days), two awaiting the bureau
    collecting = await open_petition(session, author)
    await petitions.sign(session, a, keys, collecting, signature("AB111111"), NOW)
    await petitions.sign(session, b, keys, collecting, signature("AB222222"), NOW)
    await session.execute(update(Signature).where(Signature.user_id == b.user_id).values(created_at=NOW - 40 * DAY))
    await session.commit()
    later = await awaiting_petition(session, author, NOW + 20 * DAY)
    overdue = await awaiting_petition(session, author, NOW - DAY)
    # consultations: c1 in its proposals phase (after an information phase), c2 voting, c3 not started, c4 no phase
    c1, c2, c3, c4 = (consultation(staff.user_id, f"استشارة {i}") for i in range(1, 5))
    session.add_all([c1, c2, c3, c4])
    await session.flush()
    session.add_all([
        phase(c1.id, "information", NOW - 10 * DAY, NOW - 5 * DAY),
        phase(c1.id, "proposals", NOW - 5 * DAY, NOW + 5 * DAY),
        phase(c2.id, "voting", NOW - DAY, NOW + DAY), phase(c3.id, "information", NOW + DAY, NOW + 10 * DAY),
    ])
    p1 = proposal(c1.id, c.user_id, NOW - 2 * DAY)
    p2 = proposal(c1.id, c.user_id, NOW - 60 * DAY)
    p3 = proposal(c1.id, d.user_id, NOW - DAY, hidden_at=NOW)
    p4 = proposal(c1.id, e.user_id, NOW - DAY, status="withdrawn")
    session.add_all([p1, p2, p3, p4])
    await session.flush()
    session.add_all([
        Support(proposal_id=p1.id, consultation_id=c1.id, user_id=d.user_id, slot=1, created_at=NOW - DAY),
        Support(proposal_id=p2.id, consultation_id=c1.id, user_id=a.user_id, slot=1, created_at=NOW - 50 * DAY),
        Support(proposal_id=p3.id, consultation_id=c1.id, user_id=e.user_id, slot=1, created_at=NOW - DAY),
        Comment(consultation_id=c1.id, author_id=e.user_id, stance="for", body="تعليق", created_at=NOW - 3 * DAY),
        Comment(consultation_id=c1.id, author_id=f.user_id, stance="for", body="مخفي", created_at=NOW - 3 * DAY,
                hidden_at=NOW),
        Comment(consultation_id=c1.id, proposal_id=p3.id, author_id=c.user_id, stance="for", body="على مخفي",
                created_at=NOW - 3 * DAY),
    ])
    meeting = Meeting(consultation_id=c1.id, title="لقاء", mode="in_person", commune_code=COMMUNE, address="القاعة",
                      starts_at=NOW + 2 * DAY, ends_at=NOW + 2 * DAY + timedelta(hours=2), capacity=10,
                      created_at=NOW - 50 * DAY)
    session.add(meeting)
    await session.flush()
    session.add_all([
        MeetingRegistration(meeting_id=meeting.id, user_id=b.user_id, seat=1, status="registered",
                            registered_at=NOW - 45 * DAY),
        MeetingRegistration(meeting_id=meeting.id, user_id=c.user_id, seat=None, status="cancelled",
                            registered_at=NOW - 2 * DAY),
    ])
    # moderation: two open, one hidden at the threshold and not reviewed, one appeal waiting, two settled
    session.add_all([
        Moderation(subject_type="comment", subject_id=101, report_count=1, state="open", last_reported_at=NOW),
        Moderation(subject_type="proposal", subject_id=102, report_count=2, state="open", last_reported_at=NOW),
        Moderation(subject_type="proposal", subject_id=103, report_count=3, state="hidden", last_reported_at=NOW),
        Moderation(subject_type="comment", subject_id=104, report_count=3, state="hidden", last_reported_at=NOW,
                   decided_by=staff.user_id, decided_at=NOW - DAY, appealed_at=NOW),
        Moderation(subject_type="petition", subject_id=105, report_count=1, state="restored",
                   decided_by=staff.user_id, decided_at=NOW - DAY),
        Moderation(subject_type="proposal", subject_id=106, report_count=4, state="hidden", decided_by=staff.user_id,
                   decided_at=NOW - 3 * DAY, appealed_at=NOW - 2 * DAY, appeal_decided_at=NOW - DAY),
    ])
    await session.commit()
    return staff, overdue, later


async def test_dashboard_counts_known_data(session, keys) -> None:  # type: ignore[no-untyped-def]
    staff, overdue, later = await known_data(session, keys)
    board = await dashboard.dashboard(session, staff, NOW)
    assert board.full
    assert board.moderation == dashboard.ModerationWork(open_reports=2, hidden_unreviewed=1, pending_appeals=1)
    assert [(p.id, p.overdue) for p in board.awaiting] == [(overdue, True), (later, False)]
    assert board.pending_organisations == []
    phases = {row.kind: row.consultations for row in board.phases}
    assert phases == {"information": 0, "proposals": 1, "deliberation": 0, "voting": 1, "results": 0,
                      "follow_up": 0, None: 2}
    assert [row.kind for row in board.phases][-1] is None
    figures = {f.name: (f.recent, f.total) for f in board.participation}
    assert figures == {
        "signatures": (1, 2),  # one of the two is 40 days old
        "proposals": (1, 2),  # the hidden and the withdrawn ones are not counted
        "supports": (1, 2),  # the support of the hidden proposal is not counted
        "comments": (1, 1),  # the hidden comment and the comment on the hidden proposal are not counted
        "registrations": (0, 1),  # the cancelled one is not counted; the other is 45 days old
        "participants": (4, 5),  # a, c, d, e lately; b too since the start; f only wrote a hidden comment
    }


async def test_moderators_see_only_the_moderation_part_and_citizens_nothing(session, keys) -> None:  # type: ignore[no-untyped-def]
    await known_data(session, keys)
    moderator = await make_user(session, 20, role="moderator")
    board = await dashboard.dashboard(session, moderator, NOW)
    assert not board.full and board.moderation.open_reports == 2
    assert board.awaiting == [] and board.phases == [] and board.participation == []
    citizen = await make_user(session, 21)
    with pytest.raises(Forbidden):
        await dashboard.dashboard(session, citizen, NOW)
    with pytest.raises(NotSignedIn):
        await dashboard.dashboard(session, ANONYMOUS, NOW)


async def test_dashboard_page_labels_overdue_petitions_and_links_existing_lists(app, client, session, keys) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 30)
    # the page uses the real clock: one deadline passed yesterday, one in ten days
    overdue = await awaiting_petition(session, author, utcnow() - DAY)
    await awaiting_petition(session, author, utcnow() + 10 * DAY)
    assert (await client.get("/staff")).status_code == 303  # anonymous: to the sign-in page
    await sign_in(client, session, "citizen", 1)
    assert (await client.get("/staff")).status_code == 403
    page = await client.get("/")
    await client.post("/logout", data={"csrf_token": csrf_from(page.text)})
    await sign_in(client, session, "council_staff", 2)
    r = await client.get("/staff")
    assert r.status_code == 200
    label = i18n.translations("ar").gettext("Overdue")
    rows = r.text.split('aria-labelledby="exam-heading"')[1].split("</section>")[0].split("<tr")[2:]
    assert len(rows) == 2
    assert f"/petitions/{overdue}" in rows[0] and 'class="overdue-row"' in rows[0]
    assert f'<strong class="overdue">{label}</strong>' in rows[0]  # text, not colour only
    assert label not in rows[1] and "overdue" not in rows[1]
    for heading in ("moderation-heading", "exam-heading", "orgs-heading", "phases-heading", "participation-heading"):
        assert f'id="{heading}"' in r.text
    assert r.text.count("<caption") == 4 and 'scope="row"' in r.text
    names = {route.name for route in app.routes}
    for name, href in (("moderation_queue", "/staff/moderation"),
                       ("moderation_queue", "/staff/moderation?state=appealed"),
                       ("consultations", "/consultations?status=open")):
        assert (f'href="{href}"' in r.text) == (name in names)
    assert 'href="/admin/audit"' not in r.text and 'href="/admin/outbox"' not in r.text  # admin links: admins only


async def test_moderator_page_and_admin_links(client, session) -> None:  # type: ignore[no-untyped-def]
    await sign_in(client, session, "moderator", 1)
    r = await client.get("/staff")
    assert r.status_code == 200 and 'id="moderation-heading"' in r.text
    assert 'id="exam-heading"' not in r.text and 'id="participation-heading"' not in r.text
    page = await client.get("/")
    await client.post("/logout", data={"csrf_token": csrf_from(page.text)})
    await sign_in(client, session, "admin", 2)
    r = await client.get("/staff")
    assert 'href="/admin/audit"' in r.text and 'href="/admin/outbox"' in r.text
