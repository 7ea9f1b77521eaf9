"""Forum meetings (issue #4, item 2): creating and editing, registration with a capacity and a waiting list held
by the database, accessibility needs, the organisers' page, attendance, minutes, and the pages through HTTP."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select

from civic.accounts import service as accounts
from civic.accounts.models import ROLES
from civic.audit import AuditEvent
from civic.consultations import meetings
from civic.consultations.meetings import MeetingInput, Needs
from civic.consultations.models import Consultation, Meeting, MeetingRegistration
from civic.db import utcnow
from civic.errors import Conflict, Forbidden, Invalid, NotSignedIn
from civic.notifications.models import OutboxMessage
from civic.permissions import ANONYMOUS, Action, Actor, can
from tests.conftest import NOW, csrf_from, make_user

PASSWORD = "a long password"
# NOW is 2026-11-20 10:00 UTC; Morocco is on UTC+1 then, so 10:00 local is 09:00 UTC.
START_LOCAL, END_LOCAL = "2026-11-27T10:00", "2026-11-27T12:30"
START = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
END = datetime(2026, 11, 27, 11, 30, tzinfo=UTC)


def meeting_input(**over: str) -> MeetingInput:
    values = {"title": "لقاء تشاوري حول النقل", "mode": "hybrid", "commune_code": "05.091.01.01",
              "address": "قاعة الاجتماعات، بني ملال", "online_url": "https://visio.example.org/forum",
              "starts_at": START_LOCAL, "ends_at": END_LOCAL, "capacity": "3"}
    values.update(over)
    return MeetingInput(**values)


def local(moment: datetime) -> str:
    return meetings.utc_to_local_input(moment)


async def new_consultation(session, staff: Actor) -> int:  # type: ignore[no-untyped-def]
    cid = (await session.execute(insert(Consultation).values(
        title="المنتدى الجهوي للديمقراطية التشاركية", summary="", body="استشارة عمومية", scope="region",
        territory_code="05", addressed_to="council", support_limit=3, created_by=staff.user_id, created_at=NOW,
        updated_at=NOW).returning(Consultation.id))).scalar_one()
    await session.commit()
    return int(cid)


async def setup(session, capacity: int = 3, **over: str):  # type: ignore[no-untyped-def]
    """A staff member, a consultation and one meeting (a week after NOW); returns (staff, consultation, meeting)."""
    staff = await make_user(session, 900, role="council_staff")
    cid = await new_consultation(session, staff)
    mid = await meetings.create_meeting(session, staff, cid, meeting_input(capacity=str(capacity), **over), "05", NOW)
    return staff, cid, mid


async def registrations_of(session, mid: int) -> list[MeetingRegistration]:  # type: ignore[no-untyped-def]
    rows = list(await session.scalars(select(MeetingRegistration).where(MeetingRegistration.meeting_id == mid)
                                      .order_by(MeetingRegistration.id)
                                      .execution_options(populate_existing=True)))
    await session.commit()
    return rows


async def outbox(session, purpose: str) -> list[int]:  # type: ignore[no-untyped-def]
    rows = list(await session.scalars(select(OutboxMessage.user_id).where(OutboxMessage.purpose == purpose)
                                      .order_by(OutboxMessage.id)))
    await session.commit()
    return [r for r in rows if r is not None]


async def audit_count(session, action: str) -> int:  # type: ignore[no-untyped-def]
    n = await session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action))
    await session.commit()
    return int(n or 0)


# --- create and edit ---------------------------------------------------------------------------------------------


async def test_create_stores_utc_and_only_what_the_mode_uses(session) -> None:  # type: ignore[no-untyped-def]
    staff, cid, mid = await setup(session)
    m = await session.get(Meeting, mid)
    assert (m.mode, m.commune_code, m.capacity, m.starts_at, m.ends_at) == ("hybrid", "05.091.01.01", 3, START, END)
    assert m.online_url == "https://visio.example.org/forum"
    await session.commit()
    online = await meetings.create_meeting(session, staff, cid, meeting_input(
        mode="online", commune_code="05.091.01.01", address="ignored"), "05", NOW)
    row = await session.get(Meeting, online)
    assert (row.commune_code, row.address, row.online_url) == (None, "", "https://visio.example.org/forum")
    await session.commit()
    in_person = await meetings.create_meeting(session, staff, cid, meeting_input(
        mode="in_person", online_url="http://not-kept.example.org"), "05", NOW)
    assert (await session.get(Meeting, in_person)).online_url == ""
    await session.commit()
    assert await audit_count(session, "meetings:create") == 3
    assert [x.id for x in await meetings.meetings_of(session, cid)] == [mid, online, in_person]


@pytest.mark.parametrize(("over", "field"), [
    ({"online_url": "http://visio.example.org/forum"}, "online_url"),
    ({"online_url": "javascript:alert(1)"}, "online_url"),
    ({"online_url": "https://user:secret@visio.example.org"}, "online_url"),
    ({"online_url": "https:///no-host"}, "online_url"),
    ({"online_url": "https://visio.example.org/a b"}, "online_url"),
    ({"online_url": ""}, "online_url"),
    ({"mode": "online", "online_url": ""}, "online_url"),
    ({"mode": "in_person", "commune_code": ""}, "commune_code"),
    ({"mode": "in_person", "address": "  "}, "address"),
    ({"commune_code": "01.511.01.0"}, "commune_code"),  # not a commune of the region
    ({"commune_code": "05.091"}, "commune_code"),  # a province
    ({"mode": "boat"}, "mode"),
    ({"title": "   "}, "title"),
    ({"title": "x" * 201}, "title"),
    ({"starts_at": "27/11/2026 10:00"}, "starts_at"),
    ({"starts_at": "2026-02-30T10:00"}, "starts_at"),
    ({"starts_at": "9999-11-27T10:00"}, "starts_at"),
    ({"ends_at": START_LOCAL}, "ends_at"),
    ({"ends_at": "2026-11-27T09:00"}, "ends_at"),
    ({"capacity": "0"}, "capacity"),
    ({"capacity": "10001"}, "capacity"),
    ({"capacity": "-3"}, "capacity"),
    ({"capacity": "trois"}, "capacity"),
])
async def test_meeting_field_errors(session, over: dict[str, str], field: str) -> None:  # type: ignore[no-untyped-def]
    staff = await make_user(session, 1, role="council_staff")
    cid = await new_consultation(session, staff)
    with pytest.raises(Invalid) as exc:
        await meetings.create_meeting(session, staff, cid, meeting_input(**over), "05", NOW)
    assert set(exc.value.field_errors) == {field}


async def test_local_time_rules() -> None:
    assert meetings.local_to_utc("2026-11-27 10:00") == START  # a space instead of T
    assert meetings.local_to_utc("2026-03-25T12:00") == datetime(2026, 3, 25, 11, 0, tzinfo=UTC)  # UTC+1
    assert meetings.local_to_utc("2026-02-20T12:00") == datetime(2026, 2, 20, 12, 0, tzinfo=UTC)  # Ramadan: UTC+0
    assert meetings.utc_to_local_input(START) == START_LOCAL
    with pytest.raises(ValueError, match="year-month-day"):
        meetings.local_to_utc("٢٠٢٦-١١-٢٧T10:00")  # the datetime-local input always sends Western digits
    assert meetings.https_url(" https://meet.example.org/x?y=1 ") == "https://meet.example.org/x?y=1"
    assert meetings.https_url("HTTPS://meet.example.org") == "HTTPS://meet.example.org"
    assert meetings.https_url("https://[::1") is None


async def test_capacity_accepts_arabic_indic_digits(session) -> None:  # type: ignore[no-untyped-def]
    staff, cid, _ = await setup(session)
    mid = await meetings.create_meeting(session, staff, cid, meeting_input(capacity="١٢"), "05", NOW)
    assert (await session.get(Meeting, mid)).capacity == 12
    await session.commit()


async def test_edit_changes_the_meeting_and_tells_registered_people(session) -> None:  # type: ignore[no-untyped-def]
    staff, _cid, mid = await setup(session)
    person = await make_user(session, 1)
    await meetings.register(session, person, mid, Needs(), NOW)
    await meetings.edit_meeting(session, staff, mid, meeting_input(
        mode="online", starts_at="2026-11-28T10:00", ends_at="2026-11-28T11:00"), "05", NOW, "http://civic.test")
    m = await session.get(Meeting, mid)
    assert (m.mode, m.commune_code, m.address) == ("online", None, "")
    assert m.starts_at == START + timedelta(days=1)
    await session.commit()
    assert await outbox(session, "meetings:changed") == [person.user_id]
    assert await audit_count(session, "meetings:edit") == 1
    before = await outbox(session, "meetings:changed")
    await meetings.edit_meeting(session, staff, mid, meeting_input(  # only the title: nobody is told
        title="عنوان جديد", mode="online", starts_at="2026-11-28T10:00", ends_at="2026-11-28T11:00"), "05", NOW)
    assert await outbox(session, "meetings:changed") == before
    with pytest.raises(Invalid):
        await meetings.edit_meeting(session, staff, mid, meeting_input(online_url="ftp://x.example.org"), "05", NOW)


async def test_edit_capacity_promotes_or_renumbers(session) -> None:  # type: ignore[no-untyped-def]
    staff, _cid, mid = await setup(session, capacity=3)
    people = [await make_user(session, i) for i in range(5)]
    for i, p in enumerate(people):
        await meetings.register(session, p, mid, Needs(), NOW + timedelta(seconds=i))
    await meetings.cancel(session, people[0], mid, NOW)  # seat 1 goes to people[3]
    await meetings.cancel(session, people[1], mid, NOW)  # seat 2 goes to people[4]
    await meetings.cancel(session, people[3], mid, NOW)  # seat 1 is free: seats 2 and 3 are taken
    with pytest.raises(Invalid) as exc:
        await meetings.edit_meeting(session, staff, mid, meeting_input(capacity="1"), "05", NOW)
    assert set(exc.value.field_errors) == {"capacity"}
    await meetings.edit_meeting(session, staff, mid, meeting_input(capacity="2"), "05", NOW)
    seats = {r.user_id: r.seat for r in await registrations_of(session, mid) if r.status == "registered"}
    assert seats == {people[4].user_id: 1, people[2].user_id: 2}  # renumbered in seat order
    late = [await make_user(session, 10 + i) for i in range(2)]
    for i, p in enumerate(late):
        await meetings.register(session, p, mid, Needs(), NOW + timedelta(minutes=1, seconds=i))
    await meetings.edit_meeting(session, staff, mid, meeting_input(capacity="3"), "05", NOW)
    rows = {r.user_id: (r.status, r.seat) for r in await registrations_of(session, mid)}
    assert rows[late[0].user_id] == ("registered", 3) and rows[late[1].user_id][0] == "waiting"
    assert late[0].user_id in await outbox(session, "meetings:promoted")


# --- permissions -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
async def test_role_grid(session, role: str) -> None:  # type: ignore[no-untyped-def]
    _staff, cid, mid = await setup(session)
    actor = await make_user(session, 1, role=role)
    manages = role in ("council_staff", "admin")
    assert can(actor, Action.MEETING_MANAGE, None, NOW) is manages
    assert can(actor, Action.MEETING_REGISTER, None, NOW)
    if manages:
        assert await meetings.create_meeting(session, actor, cid, meeting_input(), "05", NOW) > mid
        assert (await meetings.registrations(session, actor, mid, NOW)).registered == []
    else:
        with pytest.raises(Forbidden):
            await meetings.create_meeting(session, actor, cid, meeting_input(), "05", NOW)
        with pytest.raises(Forbidden):
            await meetings.edit_meeting(session, actor, mid, meeting_input(), "05", NOW)
        with pytest.raises(Forbidden):
            await meetings.registrations(session, actor, mid, NOW)
        with pytest.raises(Forbidden):
            await meetings.record_attendance(session, actor, mid, [], END)
        with pytest.raises(Forbidden):
            await meetings.publish_minutes(session, actor, mid, "x" * 40, END)
    state = await meetings.register(session, actor, mid, Needs(), NOW)
    assert state.status == "registered"


async def test_anonymous_may_do_nothing(session) -> None:  # type: ignore[no-untyped-def]
    _staff, cid, mid = await setup(session)
    assert not can(ANONYMOUS, Action.MEETING_MANAGE, None, NOW)
    assert not can(ANONYMOUS, Action.MEETING_REGISTER, None, NOW)
    for call in (meetings.register(session, ANONYMOUS, mid, Needs(), NOW),
                 meetings.cancel(session, ANONYMOUS, mid, NOW),
                 meetings.create_meeting(session, ANONYMOUS, cid, meeting_input(), "05", NOW),
                 meetings.registrations(session, ANONYMOUS, mid, NOW),
                 meetings.record_attendance(session, ANONYMOUS, mid, [], END),
                 meetings.publish_minutes(session, ANONYMOUS, mid, "x" * 40, END)):
        with pytest.raises(NotSignedIn):
            await call
    page = await meetings.meeting_page(session, ANONYMOUS, mid, NOW)
    assert page.own is None and not page.show_link and not page.can_manage


# --- registration, waiting list, cancellation --------------------------------------------------------------------


async def test_capacity_two_with_four_registrations(session) -> None:  # type: ignore[no-untyped-def]
    _staff, _cid, mid = await setup(session, capacity=2)
    people = [await make_user(session, i) for i in range(4)]
    states = [await meetings.register(session, p, mid, Needs(), NOW + timedelta(seconds=i))
              for i, p in enumerate(people)]
    assert [(s.status, s.position) for s in states] == [("registered", None), ("registered", None), ("waiting", 1),
                                                         ("waiting", 2)]
    rows = await registrations_of(session, mid)
    assert [(r.status, r.seat) for r in rows] == [("registered", 1), ("registered", 2), ("waiting", None),
                                                  ("waiting", None)]
    page = await meetings.meeting_page(session, people[3], mid, NOW)
    assert (page.seats_taken, page.seats_left, page.waiting) == (2, 0, 2)
    assert page.own is not None and (page.own.status, page.own.position) == ("waiting", 2)
    assert not page.show_link  # the online link: seat holders only
    assert (await meetings.meeting_page(session, people[0], mid, NOW)).show_link
    assert await outbox(session, "meetings:registered") == [people[0].user_id, people[1].user_id]
    assert await outbox(session, "meetings:waiting") == [people[2].user_id, people[3].user_id]


async def test_cancel_promotes_the_first_waiting_and_notifies_them(session) -> None:  # type: ignore[no-untyped-def]
    _staff, _cid, mid = await setup(session, capacity=2)
    people = [await make_user(session, i) for i in range(4)]
    for i, p in enumerate(people):
        await meetings.register(session, p, mid, Needs(), NOW + timedelta(seconds=i))
    assert await meetings.cancel(session, people[1], mid, NOW, "http://civic.test")
    rows = {r.user_id: (r.status, r.seat) for r in await registrations_of(session, mid)}
    assert rows == {people[0].user_id: ("registered", 1), people[1].user_id: ("cancelled", None),
                    people[2].user_id: ("registered", 2), people[3].user_id: ("waiting", None)}
    assert await outbox(session, "meetings:promoted") == [people[2].user_id]
    body = await session.scalar(select(OutboxMessage.body).where(OutboxMessage.purpose == "meetings:promoted"))
    await session.commit()
    assert f"http://civic.test/meetings/{mid}" in body
    assert (await meetings.meeting_page(session, people[3], mid, NOW)).own.position == 1
    # Cancelling a waiting place frees no seat: nobody is promoted.
    assert await meetings.cancel(session, people[3], mid, NOW)
    assert await outbox(session, "meetings:promoted") == [people[2].user_id]
    assert not await meetings.cancel(session, people[3], mid, NOW)  # nothing left to cancel
    # A cancelled person may register again, on the same row, at the end of the queue.
    old_id = next(r.id for r in await registrations_of(session, mid) if r.user_id == people[1].user_id)
    again = await meetings.register(session, people[1], mid, Needs(companion=True), NOW + timedelta(hours=1))
    assert (again.status, again.position, again.changed) == ("waiting", 1, True)
    rows = [r for r in await registrations_of(session, mid) if r.user_id == people[1].user_id]
    assert [(r.id, r.companion) for r in rows] == [(old_id, True)]


async def test_registering_twice_changes_nothing(session) -> None:  # type: ignore[no-untyped-def]
    _staff, _cid, mid = await setup(session)
    person = await make_user(session, 1)
    first = await meetings.register(session, person, mid, Needs(sign_language=True), NOW)
    second = await meetings.register(session, person, mid, Needs(wheelchair=True), NOW + timedelta(minutes=5))
    assert first.changed and not second.changed
    assert (second.status, second.needs) == ("registered", Needs(sign_language=True))
    rows = await registrations_of(session, mid)
    assert [(r.seat, r.sign_language, r.wheelchair, r.registered_at) for r in rows] == [(1, True, False, NOW)]
    assert await outbox(session, "meetings:registered") == [person.user_id]


async def test_no_registration_or_cancellation_once_started(session) -> None:  # type: ignore[no-untyped-def]
    _staff, _cid, mid = await setup(session)
    early, late = await make_user(session, 1), await make_user(session, 2)
    await meetings.register(session, early, mid, Needs(), NOW)
    with pytest.raises(Conflict):
        await meetings.register(session, late, mid, Needs(), START)
    with pytest.raises(Conflict):
        await meetings.cancel(session, early, mid, START + timedelta(minutes=5))
    assert (await meetings.register(session, early, mid, Needs(), START)).status == "registered"  # current state


# --- organisers' page, attendance, minutes -------------------------------------------------------------------------


async def test_needs_summary_and_every_view_is_audited(session) -> None:  # type: ignore[no-untyped-def]
    staff, _cid, mid = await setup(session, capacity=3)
    needs = [Needs(sign_language=True, companion=True), Needs(sign_language=True), Needs(wheelchair=True),
             Needs(easy_read=True, sign_language=True)]
    people = [await make_user(session, i) for i in range(4)]
    for i, (p, n) in enumerate(zip(people, needs, strict=True)):
        await meetings.register(session, p, mid, n, NOW + timedelta(seconds=i))
    page = await meetings.registrations(session, staff, mid, NOW)
    assert page.needs_registered == meetings.NeedsSummary(sign_language=2, wheelchair=1, easy_read=0, companion=1)
    assert page.needs_waiting == meetings.NeedsSummary(sign_language=1, wheelchair=0, easy_read=1, companion=0)
    assert [a.display_name for a in page.registered] == ["User 0", "User 1", "User 2"]
    assert [a.display_name for a in page.waiting] == ["User 3"]
    assert page.attended_count is None and not page.attendance_open
    await meetings.registrations(session, staff, mid, NOW)
    assert await audit_count(session, "meetings:view_registrations") == 2


async def test_attendance_refused_before_start_then_saved(session) -> None:  # type: ignore[no-untyped-def]
    staff, _cid, mid = await setup(session, capacity=3)
    people = [await make_user(session, i) for i in range(4)]
    for i, p in enumerate(people):
        await meetings.register(session, p, mid, Needs(), NOW + timedelta(seconds=i))
    rows = await registrations_of(session, mid)
    ids = [r.id for r in rows]
    with pytest.raises(Conflict) as exc:
        await meetings.record_attendance(session, staff, mid, ids[:1], START - timedelta(minutes=1))
    assert "started" in exc.value.message
    waiting_id = ids[3]
    assert await meetings.record_attendance(session, staff, mid, {ids[0], ids[2], waiting_id, 999_999},
                                            START + timedelta(minutes=30)) == 2
    assert [r.attended for r in await registrations_of(session, mid)] == [True, False, True, None]
    page = await meetings.registrations(session, staff, mid, END)
    assert page.attended_count == 2 and page.attendance_open
    assert await meetings.record_attendance(session, staff, mid, [ids[1]], END) == 1  # corrected later
    assert [r.attended for r in await registrations_of(session, mid)] == [False, True, False, None]
    assert await audit_count(session, "meetings:record_attendance") == 2


async def test_minutes_refused_before_the_end_then_published(session) -> None:  # type: ignore[no-untyped-def]
    staff, _cid, mid = await setup(session)
    person = await make_user(session, 1)
    await meetings.register(session, person, mid, Needs(), NOW)
    text = "محضر اللقاء: ناقش المشاركون ولوجية النقل العمومي."
    with pytest.raises(Conflict) as exc:
        await meetings.publish_minutes(session, staff, mid, text, END - timedelta(minutes=1))
    assert "ended" in exc.value.message
    with pytest.raises(Invalid) as invalid:
        await meetings.publish_minutes(session, staff, mid, "  trop court  ", END)
    assert set(invalid.value.field_errors) == {"minutes"}
    await meetings.publish_minutes(session, staff, mid, text, END + timedelta(hours=1))
    m = await session.get(Meeting, mid)
    assert (m.minutes, m.minutes_published_at) == (text, END + timedelta(hours=1))
    await session.commit()
    assert await outbox(session, "meetings:minutes") == [person.user_id]
    await meetings.publish_minutes(session, staff, mid, text + " تصحيح.", END + timedelta(hours=2))
    assert await outbox(session, "meetings:minutes") == [person.user_id]  # told once
    assert await audit_count(session, "meetings:publish_minutes") == 2


# --- concurrency -------------------------------------------------------------------------------------------------


async def test_20_parallel_registrations_for_5_seats(sessionmaker) -> None:  # type: ignore[no-untyped-def]
    """The unique index (meeting_id, seat) decides: exactly 5 seats taken, 15 people waiting in a clean order.

    Written for PostgreSQL, where the registrations run side by side (waits on the unique index, IntegrityError,
    retry); like tests/test_concurrency.py it also runs on SQLite (writers serialised), so no suite skips it.
    """
    async with sessionmaker() as s:
        _staff, _cid, mid = await setup(s, capacity=5)
        people = [await make_user(s, 100 + i) for i in range(20)]

    async def one(i: int) -> meetings.RegistrationState:
        async with sessionmaker() as s:
            return await meetings.register(s, people[i], mid, Needs(sign_language=i % 2 == 0), NOW)

    states = await asyncio.gather(*(one(i) for i in range(20)))
    assert [s.status for s in states].count("registered") == 5
    async with sessionmaker() as s:
        rows = await registrations_of(s, mid)
        page = await meetings.meeting_page(s, people[0], mid, NOW)
        positions = []
        for p in people:
            own = (await meetings.meeting_page(s, p, mid, NOW)).own
            if own is not None and own.status == "waiting":
                positions.append(own.position)
    assert len(rows) == 20
    assert sorted(r.seat for r in rows if r.seat is not None) == [1, 2, 3, 4, 5]
    assert [r.status for r in rows].count("waiting") == 15
    assert (page.seats_taken, page.waiting) == (5, 15)
    assert sorted(positions) == list(range(1, 16))


# --- demo --------------------------------------------------------------------------------------------------------


async def test_load_demo(session, settings) -> None:  # type: ignore[no-untyped-def]
    staff = await make_user(session, 900, role="council_staff")
    cid = await new_consultation(session, staff)
    people = [await make_user(session, i) for i in range(4)]
    mid = await meetings.load_demo(session, settings, cid, staff, people, NOW)
    assert await meetings.load_demo(session, settings, cid, staff, people, NOW) == mid  # idempotent
    listed = await meetings.meetings_of(session, cid)
    assert len(listed) == 2
    past, upcoming = listed
    assert upcoming.id == mid and upcoming.mode == "hybrid" and upcoming.capacity == 3
    assert upcoming.commune_code == "05.091.01.01" and upcoming.starts_at > NOW + timedelta(days=6)
    assert past.minutes_published_at is not None and past.ends_at < NOW
    page = await meetings.registrations(session, staff, mid, NOW)
    assert (len(page.registered), len(page.waiting)) == (3, 1)
    assert page.needs_registered.sign_language == 1
    first = next(a for a in page.registered if a.display_name == "User 0")
    assert first.needs.sign_language


# --- pages -------------------------------------------------------------------------------------------------------


async def sign_in(client, session, role: str, n: int) -> Actor:  # type: ignore[no-untyped-def]
    email = f"meeting-{role}{n}@test.invalid"
    user_id = await accounts.create_user(session, display_name=f"{role} {n}", email=email, password=PASSWORD,
                                         role=role, commune_code="05.091.01.01", now=NOW, region_code="05")
    page = await client.get("/login")
    r = await client.post("/login", data={"csrf_token": csrf_from(page.text), "email": email, "password": PASSWORD})
    assert r.status_code == 303
    return Actor(user_id, role, f"{role} {n}")


async def live_meeting(session, start: datetime, capacity: int = 3):  # type: ignore[no-untyped-def]
    """A meeting around the real clock (the views use it): ``start`` to an hour later."""
    staff = await make_user(session, 901, role="council_staff")
    cid = await new_consultation(session, staff)
    mid = await meetings.create_meeting(session, staff, cid, meeting_input(
        starts_at=local(start), ends_at=local(start + timedelta(hours=1)), capacity=str(capacity)), "05", NOW)
    return staff, cid, mid


async def test_meeting_page_and_registration_without_javascript(client, session) -> None:  # type: ignore[no-untyped-def]
    _staff, _cid, mid = await live_meeting(session, utcnow() + timedelta(days=3))
    anon = await client.get(f"/meetings/{mid}")
    assert anon.status_code == 200
    assert anon.text.count("<h1") == 1 and "لقاء تشاوري حول النقل" in anon.text
    assert 'id="meeting-registration" aria-live="polite"' in anon.text
    assert "visio.example.org" not in anon.text  # the link: seat holders only
    assert f"/login?next=/meetings/{mid}" in anon.text
    token = csrf_from((await client.get("/login")).text)
    r = await client.post(f"/meetings/{mid}/register", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == f"/login?next=%2Fmeetings%2F{mid}"

    await sign_in(client, session, "citizen", 1)
    page = await client.get(f"/meetings/{mid}")
    assert '<fieldset class="field meeting-needs-fieldset" aria-describedby="needs-why">' in page.text
    assert 'id="needs-why"' in page.text and 'name="sign_language"' in page.text and "<legend>" in page.text
    r = await client.post(f"/meetings/{mid}/register", data={"sign_language": "y"})
    assert r.status_code == 403  # no CSRF token
    r = await client.post(f"/meetings/{mid}/register", data={"csrf_token": csrf_from(page.text), "sign_language": "y"})
    assert r.status_code == 303 and r.headers["location"] == f"/meetings/{mid}"
    shown = await client.get(r.headers["location"])
    assert 'id="meeting-result"' in shown.text and 'role="status"' in shown.text
    assert 'class="notice meeting-own-status"' in shown.text and 'class="meeting-needs"' in shown.text
    assert 'href="https://visio.example.org/forum"' in shown.text
    assert f'action="/meetings/{mid}/cancel"' in shown.text
    rows = await registrations_of(session, mid)
    assert [(r.status, r.sign_language) for r in rows] == [("registered", True)]
    r = await client.post(f"/meetings/{mid}/cancel", data={"csrf_token": csrf_from(shown.text)})
    assert r.status_code == 303
    assert [r.status for r in await registrations_of(session, mid)] == ["cancelled"]


async def test_registration_with_htmx(client, session) -> None:  # type: ignore[no-untyped-def]
    _staff, _cid, mid = await live_meeting(session, utcnow() + timedelta(days=3), capacity=1)
    holder = await make_user(session, 5)
    await meetings.register(session, holder, mid, Needs(), utcnow())
    await sign_in(client, session, "cso_member", 1)
    page = await client.get(f"/meetings/{mid}")
    assert f'hx-post="/meetings/{mid}/register"' in page.text and 'hx-target="#meeting-registration"' in page.text
    token = csrf_from(page.text)
    r = await client.post(f"/meetings/{mid}/register", data={"csrf_token": token, "wheelchair": "y"},
                          headers={"HX-Request": "true"})
    assert r.status_code == 200 and "<html" not in r.text
    assert 'id="meeting-result"' in r.text and "autofocus" in r.text
    assert 'class="notice meeting-own-status"' in r.text
    assert "visio.example.org" not in r.text  # waiting: no link yet
    again = await client.post(f"/meetings/{mid}/register", data={"csrf_token": token},
                              headers={"HX-Request": "true"})
    assert again.status_code == 200 and len(await registrations_of(session, mid)) == 2
    r = await client.post(f"/meetings/{mid}/cancel", data={"csrf_token": token}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and "<html" not in r.text and 'name="wheelchair"' in r.text  # the form is back


async def test_registration_after_the_start_is_refused_with_a_message(client, session) -> None:  # type: ignore[no-untyped-def]
    _staff, _cid, mid = await live_meeting(session, utcnow() - timedelta(minutes=10))
    await sign_in(client, session, "citizen", 1)
    page = await client.get(f"/meetings/{mid}")
    assert 'name="sign_language"' not in page.text  # no form once started
    r = await client.post(f"/meetings/{mid}/register", data={"csrf_token": csrf_from(page.text)})
    assert r.status_code == 409 and 'role="alert"' in r.text
    r = await client.post(f"/meetings/{mid}/register", data={"csrf_token": csrf_from(page.text)},
                          headers={"HX-Request": "true"})
    assert r.status_code == 409 and "<html" not in r.text and 'id="meeting-result"' in r.text


async def test_staff_create_and_edit_pages(client, session) -> None:  # type: ignore[no-untyped-def]
    staff = await make_user(session, 900, role="council_staff")
    cid = await new_consultation(session, staff)
    r = await client.get(f"/consultations/{cid}/meetings/new")
    assert r.status_code == 303 and "/login" in r.headers["location"]
    await sign_in(client, session, "citizen", 2)
    assert (await client.get(f"/consultations/{cid}/meetings/new")).status_code == 403
    await client.post("/logout", data={"csrf_token": csrf_from((await client.get("/")).text)})
    await sign_in(client, session, "council_staff", 3)
    form = await client.get(f"/consultations/{cid}/meetings/new")
    assert form.status_code == 200 and form.text.count("<h1") == 1
    assert 'type="datetime-local"' in form.text and 'name="mode"' in form.text and "<optgroup" in form.text
    assert (await client.get("/consultations/999999/meetings/new")).status_code == 404
    data = {"csrf_token": csrf_from(form.text), "title": "Atelier en ligne", "mode": "online",
            "online_url": "http://insecure.example.org", "starts_at": "2026-12-05T10:00",
            "ends_at": "2026-12-05T09:00", "capacity": "25"}
    bad = await client.post(f"/consultations/{cid}/meetings/new", data=data)
    assert bad.status_code == 422
    assert 'id="online_url-error"' in bad.text and 'id="ends_at-error"' in bad.text
    assert 'value="Atelier en ligne"' in bad.text and 'value="http://insecure.example.org"' in bad.text
    assert 'value="online" checked' in bad.text
    no_csrf = await client.post(f"/consultations/{cid}/meetings/new", data={**data, "csrf_token": ""})
    assert no_csrf.status_code == 403
    data.update(online_url="https://visio.example.org/atelier", ends_at="2026-12-05T12:00")
    ok = await client.post(f"/consultations/{cid}/meetings/new", data=data)
    assert ok.status_code == 303
    mid = int(ok.headers["location"].rsplit("/", 1)[1])
    created = await client.get(ok.headers["location"])
    assert 'role="status"' in created.text and 'href="https://visio.example.org/atelier"' in created.text
    assert f'/meetings/{mid}/registrations"' in created.text and f'/meetings/{mid}/edit"' in created.text
    edit = await client.get(f"/meetings/{mid}/edit")
    assert edit.status_code == 200 and 'value="2026-12-05T10:00"' in edit.text and 'value="25"' in edit.text
    data["capacity"] = "30"
    saved = await client.post(f"/meetings/{mid}/edit", data=data)
    assert saved.status_code == 303
    assert (await session.get(Meeting, mid)).capacity == 30
    await session.commit()


async def test_organisers_page_attendance_and_minutes(client, session) -> None:  # type: ignore[no-untyped-def]
    _staff, _cid, upcoming = await live_meeting(session, utcnow() + timedelta(days=2))
    _staff2, _cid2, past = await live_meeting(session, utcnow() - timedelta(hours=3))
    people = [await make_user(session, i) for i in range(2)]
    # Registrations happened before the past meeting started (straight in the database: the clock moved on).
    for i, p in enumerate(people):
        await session.execute(insert(MeetingRegistration).values(
            meeting_id=past, user_id=p.user_id, seat=i + 1, status="registered", sign_language=i == 0,
            registered_at=utcnow() - timedelta(days=1)))
    await session.commit()
    assert (await client.get(f"/meetings/{past}/registrations")).status_code == 303  # anonymous: sign in
    await sign_in(client, session, "citizen", 4)
    assert (await client.get(f"/meetings/{past}/registrations")).status_code == 403
    await client.post("/logout", data={"csrf_token": csrf_from((await client.get("/")).text)})
    await sign_in(client, session, "council_staff", 5)
    before = await audit_count(session, "meetings:view_registrations")
    page = await client.get(f"/meetings/{past}/registrations")
    assert page.status_code == 200 and page.text.count("<h1") == 1
    assert await audit_count(session, "meetings:view_registrations") == before + 1
    assert '<tr data-need="sign_language">' in page.text and "User 0" in page.text
    rows = await registrations_of(session, past)
    assert f'name="attended" value="{rows[0].id}"' in page.text
    r = await client.post(f"/meetings/{past}/attendance",
                          data={"csrf_token": csrf_from(page.text), "attended": [str(rows[0].id), "junk"]})
    assert r.status_code == 303 and r.headers["location"] == f"/meetings/{past}/registrations"
    assert [x.attended for x in await registrations_of(session, past)] == [True, False]
    after = await client.get(r.headers["location"])
    assert 'class="meeting-attendance-count"' in after.text
    early = await client.get(f"/meetings/{upcoming}/registrations")
    assert 'name="attended"' not in early.text
    r = await client.post(f"/meetings/{upcoming}/attendance", data={"csrf_token": csrf_from(early.text)})
    assert r.status_code == 409 and 'role="alert"' in r.text
    # Minutes: refused before the end (the upcoming meeting), published after (the past one).
    upcoming_page = await client.get(f"/meetings/{upcoming}")
    assert 'name="minutes"' not in upcoming_page.text
    text = "Compte rendu : les participants ont discuté de l'accessibilité des transports."
    r = await client.post(f"/meetings/{upcoming}/minutes", data={"csrf_token": csrf_from(early.text),
                                                                 "minutes": text})
    assert r.status_code == 409 and 'role="alert"' in r.text and 'name="minutes"' not in r.text
    short = await client.post(f"/meetings/{past}/minutes", data={"csrf_token": csrf_from(early.text),
                                                                 "minutes": "court"})
    assert short.status_code == 422 and 'id="minutes-error"' in short.text and ">court</textarea>" in short.text
    r = await client.post(f"/meetings/{past}/minutes", data={"csrf_token": csrf_from(early.text), "minutes": text})
    assert r.status_code == 303
    await client.post("/logout", data={"csrf_token": csrf_from((await client.get("/")).text)})
    public = await client.get(f"/meetings/{past}")
    assert 'id="minutes-heading"' in public.text and "Compte rendu" in public.text
    assert 'name="minutes"' not in public.text
    assert (await client.get("/meetings/999999")).status_code == 404
    assert (await client.get("/meetings/999999/registrations")).status_code in (303, 404)


async def test_a_past_meeting_says_it_has_ended_and_a_started_one_that_it_has_started(client, session) -> None:  # type: ignore[no-untyped-def]
    from civic import i18n

    ar = i18n.translations("ar").gettext
    _staff, _cid, past = await live_meeting(session, utcnow() - timedelta(days=2))
    _staff2, _cid2, running = await live_meeting(session, utcnow() - timedelta(minutes=10))
    past_page = (await client.get(f"/meetings/{past}")).text
    running_page = (await client.get(f"/meetings/{running}")).text
    assert ar("This meeting has ended.") in past_page
    assert ar("Registration is closed: this meeting has already started.") not in past_page
    assert ar("Registration is closed: this meeting has already started.") in running_page
