"""Forum meetings of a consultation: creation by council staff, registration with a capacity and a waiting list,
accessibility needs, attendance and minutes (shared/domain.md §4; issue #4, item 2).

"Council staff" below means whoever may manage the consultation's meetings (Action.MEETING_MANAGE, decided by
``civic.permissions.can`` on the meeting's consultation): council staff and admins, and a consultative body's
secretary for the consultations addressed to their body (issue #6, item 1).

Seats: a registration holding a place has a seat number 1..capacity; the unique index ``(meeting_id, seat)``
keeps parallel registrations from ever exceeding the capacity (design.md, "Constraints live in the database").
A registration takes the lowest free seat; when a parallel registration took it first, the database refuses the
second one (IntegrityError), which is rolled back and tried again, a bounded number of times. With no free seat,
the person goes on the waiting list (seat NULL). Cancelling frees the seat and gives it, in the same
transaction, to the first person of the waiting list (registered_at, then id).

Locks: a registration reads the meeting ``FOR SHARE`` (registrations run side by side, their seats decided by the
unique index); cancelling and editing take it ``FOR UPDATE``, so a seat freed by a cancellation, or added by a
larger capacity, is never missed by a registration that would then wait with a seat free. On SQLite every
writing transaction is serialised anyway (civic.db, BEGIN IMMEDIATE).

The online link is shown only to people holding a seat and to council staff (not to the waiting list, not to
visitors), at any time before or after the meeting: a public link invites intruders, and a link given only
"shortly before" (as Decidim does) would need a scheduler to tell people; this is the simpler rule (issue #4,
item 2 asks us to decide and document).

Registering and cancelling are the person's own acts and are not audited (like signing a petition); the rows
and the outbox keep their trace. Staff actions and every view of the list of names are audited.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from civic import audit
from civic.accounts.models import User
from civic.consultations.models import ACCESSIBILITY_NEEDS, MEETING_MODES, Consultation, Meeting, MeetingRegistration
from civic.db import reading
from civic.errors import Conflict, Forbidden, Invalid, NotFound, NotSignedIn
from civic.i18n import N_, TIMEZONE
from civic.notifications import service as notifications
from civic.permissions import BLOCKED_MESSAGE, Action, Actor, can, can_somewhere
from civic.settings import Settings
from civic.territories.models import Territory
from civic.text import clean_text

MAX_CAPACITY = 10_000  # issue #4, item 2: capacity 1–10000
# Tries of one registration when parallel ones take the seat it chose. Each lost try means someone else got a
# seat, so a burst of up to this many people on one meeting never turns anyone away (measured on PostgreSQL:
# 80 parallel registrations for 40 seats, at most 33 lost tries for one person).
MAX_SEAT_ATTEMPTS = 100
MINUTES_MIN_CHARS = 20  # issue #4, item 4
MINUTES_MAX_CHARS = 50_000
TITLE_MAX_CHARS = 200
ADDRESS_MAX_CHARS = 500
URL_MAX_CHARS = 500  # the column's length
PLACE_MODES = frozenset({"in_person", "hybrid"})  # need a commune and an address
LINK_MODES = frozenset({"online", "hybrid"})  # need an online link
ACTIVE = ("registered", "waiting")
_LOCAL = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2})?")
_CAPACITY = re.compile(r"\d{1,6}")  # any script's digits (int() reads Arabic-Indic digits too)

REQUIRED = N_("This field is required.")
TOO_LONG = N_("This text is too long.")
REGISTRATION_CLOSED = N_("Registration is closed: this meeting has already started.")


# --- inputs and views ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MeetingInput:
    """A meeting as staff type it. starts_at/ends_at: local Africa/Casablanca time as ``YYYY-MM-DDTHH:MM`` (an
    ``<input type="datetime-local">``); capacity: the typed number. mode: one of MEETING_MODES."""

    title: str
    mode: str
    commune_code: str = ""
    address: str = ""
    online_url: str = ""
    starts_at: str = ""
    ends_at: str = ""
    capacity: str = ""


@dataclass(frozen=True)
class Needs:
    """Accessibility needs declared at registration (consultations.models.ACCESSIBILITY_NEEDS)."""

    sign_language: bool = False
    wheelchair: bool = False
    easy_read: bool = False
    companion: bool = False

    def declared(self) -> list[str]:
        """The names of the needs ticked, in ACCESSIBILITY_NEEDS order."""
        return [name for name in ACCESSIBILITY_NEEDS if getattr(self, name)]


@dataclass(frozen=True)
class RegistrationState:
    """A person's registration. status: ``registered`` | ``waiting``; position: 1-based place on the waiting list
    (None when holding a seat); changed: False when the request found the person already registered or waiting."""

    status: str
    position: int | None
    needs: Needs
    changed: bool = True


@dataclass(frozen=True)
class MeetingPage:
    """What the public meeting page shows. own: the actor's active registration, or None. show_link: the online
    link may be shown to this actor (a seat holder or staff). seats_taken/waiting: counts of active rows."""

    meeting: Meeting
    consultation: Consultation
    commune: Territory | None
    seats_taken: int
    waiting: int
    own: RegistrationState | None
    show_link: bool
    can_manage: bool
    now: datetime

    @property
    def seats_left(self) -> int:
        """Free seats (never below 0)."""
        return max(self.meeting.capacity - self.seats_taken, 0)

    @property
    def registration_open(self) -> bool:
        """People may register or cancel until the meeting starts (issue #4, item 2)."""
        return self.now < self.meeting.starts_at

    @property
    def ended(self) -> bool:
        """The meeting has ended: staff may publish its minutes."""
        return self.now >= self.meeting.ends_at


@dataclass(frozen=True)
class Attendee:
    """One active registration on the organisers' page (personal data: staff only, each view audited)."""

    registration_id: int
    display_name: str
    status: str
    seat: int | None
    needs: Needs
    registered_at: datetime
    attended: bool | None


@dataclass(frozen=True)
class NeedsSummary:
    """How many people declared each need: the figures organisers plan interpreters, rooms, documents and seats
    with (issue #4, item 2)."""

    sign_language: int = 0
    wheelchair: int = 0
    easy_read: int = 0
    companion: int = 0

    @classmethod
    def of(cls, people: Sequence[Attendee]) -> NeedsSummary:
        """Counts over ``people``."""
        return cls(*(sum(1 for p in people if getattr(p.needs, name)) for name in ACCESSIBILITY_NEEDS))


@dataclass(frozen=True)
class RegistrationsPage:
    """The organisers' page: the people holding a seat (seat order), the waiting list (its order), the needs
    of each group, and the attendance once taken."""

    meeting: Meeting
    consultation: Consultation
    registered: list[Attendee]
    waiting: list[Attendee]
    now: datetime
    needs_registered: NeedsSummary = field(default_factory=NeedsSummary)
    needs_waiting: NeedsSummary = field(default_factory=NeedsSummary)

    @property
    def attendance_open(self) -> bool:
        """Attendance is taken once the meeting has started (issue #4, item 2)."""
        return self.now >= self.meeting.starts_at

    @property
    def attended_count(self) -> int | None:
        """How many registered people attended; None until attendance was taken."""
        if all(a.attended is None for a in self.registered):
            return None
        return sum(1 for a in self.registered if a.attended)


# --- validation ------------------------------------------------------------------------------------------------


def local_to_utc(value: str) -> datetime:
    """A local Africa/Casablanca ``YYYY-MM-DDTHH:MM`` (or with a space, or seconds) as an aware UTC datetime.

    Raises ValueError(msgid) when the text is not such a date-time (years 2000–2100), or names a time that does
    not exist in Morocco because the clocks jump forward then (shared/domain.md §4, time zone).
    """
    text = value.strip()
    if not _LOCAL.fullmatch(text):
        raise ValueError(N_("Give the date and time as year-month-day and hours:minutes, e.g. 2026-12-05 10:00."))
    try:
        naive = datetime.fromisoformat(text.replace(" ", "T"))
    except ValueError:
        raise ValueError(
            N_("Give the date and time as year-month-day and hours:minutes, e.g. 2026-12-05 10:00.")) from None
    if not 2000 <= naive.year <= 2100:
        raise ValueError(N_("Give the date and time as year-month-day and hours:minutes, e.g. 2026-12-05 10:00."))
    moment = naive.replace(tzinfo=TIMEZONE).astimezone(UTC)
    if moment.astimezone(TIMEZONE).replace(tzinfo=None) != naive:
        raise ValueError(N_("This time does not exist in Morocco: the clocks change then. Choose another time."))
    return moment


def utc_to_local_input(moment: datetime) -> str:
    """The value of a ``datetime-local`` input for a UTC moment: local Morocco time, ``YYYY-MM-DDTHH:MM``."""
    return moment.astimezone(TIMEZONE).strftime("%Y-%m-%dT%H:%M")


def https_url(raw: str) -> str | None:
    """The link when it is a web address starting with ``https://`` with a host, no spaces and no user name or
    password in it (issue #4, item 2: only https links are accepted); else None."""
    url = raw.strip()
    if not url or len(url) > URL_MAX_CHARS or any(ch.isspace() for ch in url) or not url.isprintable():
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme != "https" or not host or parts.username is not None or parts.password is not None:
        return None
    return url


def _one_line(value: str) -> str:
    return " ".join(clean_text(value).split())


def _validate(data: MeetingInput, region_code: str, commune: Territory | None) -> dict[str, Any]:
    """The meeting's column values from ``data``, or Invalid with a msgid per field (issue #4, item 2)."""
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    title = _one_line(data.title)
    if not title:
        errors["title"] = [REQUIRED]
    elif len(title) > TITLE_MAX_CHARS:
        errors["title"] = [TOO_LONG]
    values["title"] = title
    mode = data.mode.strip()
    if mode not in MEETING_MODES:
        errors["mode"] = [N_("Choose how the meeting is held: in person, online or hybrid.")]
    values["mode"] = mode
    address = clean_text(data.address).strip()
    values["commune_code"], values["address"], values["online_url"] = None, "", ""
    if mode in PLACE_MODES:
        if not data.commune_code.strip():
            errors["commune_code"] = [N_("Choose the commune where the meeting takes place.")]
        elif commune is None or commune.kind != "commune" or commune.region_code != region_code:
            errors["commune_code"] = [N_("Please choose a commune of this region.")]
        else:
            values["commune_code"] = commune.code
        if not address:
            errors["address"] = [N_("Give the address of the meeting place.")]
        elif len(address) > ADDRESS_MAX_CHARS:
            errors["address"] = [TOO_LONG]
        values["address"] = address
    if mode in LINK_MODES:
        url = https_url(clean_text(data.online_url))
        if not data.online_url.strip():
            errors["online_url"] = [N_("Give the link of the online meeting.")]
        elif url is None:
            errors["online_url"] = [N_("The link must be a secure web address starting with https://.")]
        values["online_url"] = url or ""
    for name in ("starts_at", "ends_at"):
        try:
            values[name] = local_to_utc(getattr(data, name))
        except ValueError as exc:
            errors[name] = [str(exc)]
    starts, ends = values.get("starts_at"), values.get("ends_at")
    if starts is not None and ends is not None and ends <= starts:
        errors["ends_at"] = [N_("The meeting must end after it starts.")]
    raw = data.capacity.strip()
    capacity = int(raw) if _CAPACITY.fullmatch(raw) else 0
    if not 1 <= capacity <= MAX_CAPACITY:
        errors["capacity"] = [N_("Give the number of seats, a whole number from 1 to 10000.")]
    values["capacity"] = capacity
    if errors:
        raise Invalid(errors)
    return values


# --- helpers ---------------------------------------------------------------------------------------------------


def _require_manager_somewhere(actor: Actor, now: datetime) -> None:
    """The check made before the meeting's consultation is read: raise NotSignedIn (anonymous) or Forbidden
    unless the actor may manage the meetings of at least some consultations (``can_somewhere``)."""
    if not actor.signed_in:
        raise NotSignedIn()
    if not can_somewhere(actor, Action.MEETING_MANAGE, now):
        raise Forbidden()


def require_manager(actor: Actor, consultation: Consultation, now: datetime) -> None:
    """Raise NotSignedIn (anonymous) or Forbidden unless the actor may manage the meetings of ``consultation``
    (Action.MEETING_MANAGE: council_staff and admin everywhere, a consultative body's secretary only for the
    consultations addressed to their body; civic.permissions.MATRIX, issue #6, item 1)."""
    if not actor.signed_in:
        raise NotSignedIn()
    if not can(actor, Action.MEETING_MANAGE, consultation, now):
        raise Forbidden()


def _require_participant(actor: Actor, now: datetime) -> None:
    """Raise NotSignedIn (anonymous), Forbidden(BLOCKED_MESSAGE) while a moderator's block is in force (issue #6,
    item 3), or Forbidden unless the actor may register for meetings (Action.MEETING_REGISTER)."""
    if not actor.signed_in:
        raise NotSignedIn()
    if actor.blocked(now):
        raise Forbidden(BLOCKED_MESSAGE)
    if not can(actor, Action.MEETING_REGISTER, None, now):
        raise Forbidden()


async def _require_manager_of(session: AsyncSession, actor: Actor, meeting: Meeting, now: datetime) -> None:
    """Inside the caller's transaction: ``require_manager`` for the meeting's consultation. Raises NotFound,
    Forbidden."""
    consultation = await session.get(Consultation, meeting.consultation_id)
    if consultation is None:
        raise NotFound()
    require_manager(actor, consultation, now)


async def _meeting(session: AsyncSession, meeting_id: int, lock: str | None = None) -> Meeting:
    """The meeting row, fresh from the database; lock: None, ``share`` or ``update``. Raises NotFound."""
    stmt = select(Meeting).where(Meeting.id == meeting_id).execution_options(populate_existing=True)
    if lock is not None:
        stmt = stmt.with_for_update(read=lock == "share")
    meeting = await session.scalar(stmt)
    if meeting is None:
        raise NotFound()
    return meeting


def _needs_of(row: MeetingRegistration) -> Needs:
    return Needs(row.sign_language, row.wheelchair, row.easy_read, row.companion)


async def _own_row(session: AsyncSession, meeting_id: int, user_id: int) -> MeetingRegistration | None:
    return await session.scalar(
        select(MeetingRegistration).where(MeetingRegistration.meeting_id == meeting_id,
                                          MeetingRegistration.user_id == user_id)
        .execution_options(populate_existing=True))


async def _position(session: AsyncSession, row: MeetingRegistration) -> int:
    """1-based place of a waiting row on its meeting's waiting list (registered_at, then id)."""
    ahead = await session.scalar(select(func.count()).select_from(MeetingRegistration).where(
        MeetingRegistration.meeting_id == row.meeting_id, MeetingRegistration.status == "waiting",
        or_(MeetingRegistration.registered_at < row.registered_at,
            and_(MeetingRegistration.registered_at == row.registered_at, MeetingRegistration.id < row.id))))
    return int(ahead or 0) + 1


async def _state(session: AsyncSession, row: MeetingRegistration, changed: bool) -> RegistrationState:
    position = await _position(session, row) if row.status == "waiting" else None
    return RegistrationState(row.status, position, _needs_of(row), changed)


def _when(meeting: Meeting) -> str:
    """The start in local time for emails, in a form both languages read: ``2026-11-27 10:00``."""
    return meeting.starts_at.astimezone(TIMEZONE).strftime("%Y-%m-%d %H:%M")


def _link(base_url: str, meeting_id: int) -> str:
    return f"{base_url}/meetings/{meeting_id}"


async def _first_waiting(session: AsyncSession, meeting_id: int) -> MeetingRegistration | None:
    return await session.scalar(
        select(MeetingRegistration).where(MeetingRegistration.meeting_id == meeting_id,
                                          MeetingRegistration.status == "waiting")
        .order_by(MeetingRegistration.registered_at, MeetingRegistration.id).limit(1)
        .execution_options(populate_existing=True))


async def _promote(session: AsyncSession, meeting: Meeting, seat: int, base_url: str, now: datetime) -> bool:
    """Inside the caller's transaction: give ``seat`` to the first person of the waiting list and notify them
    (outbox). Returns False when nobody waits."""
    first = await _first_waiting(session, meeting.id)
    if first is None:
        return False
    await session.execute(update(MeetingRegistration).where(MeetingRegistration.id == first.id)
                          .values(seat=seat, status="registered"))
    await notifications.enqueue(
        session, [first.user_id], N_("Forum meeting: %(title)s"),
        N_("A seat is now free for you at the meeting “%(title)s” on %(date)s (Morocco time): you are registered. "
           "If you can no longer come, please cancel your registration: %(link)s"),
        {"title": meeting.title, "date": _when(meeting), "link": _link(base_url, meeting.id)},
        purpose="meetings:promoted", now=now)
    return True


async def _seats(session: AsyncSession, meeting_id: int) -> list[int]:
    rows = await session.scalars(select(MeetingRegistration.seat).where(
        MeetingRegistration.meeting_id == meeting_id, MeetingRegistration.seat.is_not(None))
        .order_by(MeetingRegistration.seat))
    return [s for s in rows if s is not None]


# --- staff: create, edit, attendance, minutes -------------------------------------------------------------------


async def consultation_for_new_meeting(session: AsyncSession, actor: Actor, consultation_id: int,
                                       now: datetime) -> Consultation:
    """The consultation a new meeting would belong to, for the form. Raises NotSignedIn, Forbidden, NotFound."""
    _require_manager_somewhere(actor, now)
    async with reading(session):
        consultation = await session.get(Consultation, consultation_id)
    if consultation is None:
        raise NotFound()
    require_manager(actor, consultation, now)
    return consultation


async def create_meeting(session: AsyncSession, actor: Actor, consultation_id: int, data: MeetingInput,
                         region_code: str, now: datetime) -> int:
    """Create a forum meeting of a consultation (council staff; issue #4, item 2); returns its id.

    Past dates are accepted (a meeting held before it was entered can still get its minutes). Audited
    ``meetings:create``. Raises NotSignedIn, Forbidden, NotFound (no such consultation), Invalid (per field).
    """
    _require_manager_somewhere(actor, now)
    async with session.begin():
        consultation = await session.get(Consultation, consultation_id)
        if consultation is None:
            raise NotFound()
        require_manager(actor, consultation, now)
        code = data.commune_code.strip()
        commune = await session.get(Territory, code) if code and len(code) <= 20 else None
        values = _validate(data, region_code, commune)
        meeting_id = int((await session.execute(insert(Meeting).values(
            consultation_id=consultation_id, created_at=now, **values).returning(Meeting.id))).scalar_one())
        await audit.record(session, actor_id=actor.user_id, action="meetings:create", subject_type="meeting",
                           subject_id=meeting_id, now=now, detail={"consultation_id": consultation_id,
                                                                   "mode": values["mode"]})
    return meeting_id


async def meeting_for_edit(session: AsyncSession, actor: Actor, meeting_id: int,
                           now: datetime) -> tuple[Meeting, Consultation]:
    """The meeting and its consultation, for the edit form. Raises NotSignedIn, Forbidden, NotFound."""
    _require_manager_somewhere(actor, now)
    async with reading(session):
        meeting = await _meeting(session, meeting_id)
        consultation = await session.get(Consultation, meeting.consultation_id)
    if consultation is None:
        raise NotFound()
    require_manager(actor, consultation, now)
    return meeting, consultation


async def edit_meeting(session: AsyncSession, actor: Actor, meeting_id: int, data: MeetingInput, region_code: str,
                       now: datetime, base_url: str = "") -> None:
    """Change a meeting (council staff). Validation as ``create_meeting``; besides:

    - the capacity may not go below the number of people holding a seat (Invalid on ``capacity``); seats are
      renumbered 1..n when some would lie beyond the new capacity;
    - seats a larger capacity adds go to the waiting list, in its order, each promoted person notified;
    - when the date, place or link of a meeting not yet ended changes, the people registered or waiting are
      notified (outbox).

    Audited ``meetings:edit``. Raises NotSignedIn, Forbidden, NotFound, Invalid.
    """
    _require_manager_somewhere(actor, now)
    async with session.begin():
        meeting = await _meeting(session, meeting_id, lock="update")
        await _require_manager_of(session, actor, meeting, now)
        code = data.commune_code.strip()
        commune = await session.get(Territory, code) if code and len(code) <= 20 else None
        values = _validate(data, region_code, commune)
        seat_rows = list((await session.execute(
            select(MeetingRegistration.id, MeetingRegistration.seat).where(
                MeetingRegistration.meeting_id == meeting_id, MeetingRegistration.seat.is_not(None))
            .order_by(MeetingRegistration.seat))).all())
        if values["capacity"] < len(seat_rows):
            raise Invalid({"capacity": [
                N_("The capacity cannot be lower than the number of people already holding a seat.")]})
        if seat_rows and seat_rows[-1][1] > values["capacity"]:
            # In seat order, the k-th row's seat is >= k and seat k is free or its own: no unique clash.
            for k, (reg_id, seat) in enumerate(seat_rows, start=1):
                if seat != k:
                    await session.execute(update(MeetingRegistration).where(MeetingRegistration.id == reg_id)
                                          .values(seat=k))
        watched = ("starts_at", "ends_at", "mode", "commune_code", "address", "online_url")
        changed = [name for name in watched if getattr(meeting, name) != values[name]]
        await session.execute(update(Meeting).where(Meeting.id == meeting_id).values(**values))
        meeting = await _meeting(session, meeting_id)
        taken = set(await _seats(session, meeting_id))
        promoted = 0
        for seat in range(1, meeting.capacity + 1):
            if seat not in taken:
                if not await _promote(session, meeting, seat, base_url, now):
                    break
                promoted += 1
        if changed and now < meeting.ends_at:
            people = await session.scalars(select(MeetingRegistration.user_id).where(
                MeetingRegistration.meeting_id == meeting_id, MeetingRegistration.status.in_(ACTIVE)))
            await notifications.enqueue(
                session, list(people), N_("Forum meeting: %(title)s"),
                N_("The meeting “%(title)s” has changed. It now starts on %(date)s (Morocco time). "
                   "See the place, the link and your registration: %(link)s"),
                {"title": meeting.title, "date": _when(meeting), "link": _link(base_url, meeting_id)},
                purpose="meetings:changed", now=now)
        await audit.record(session, actor_id=actor.user_id, action="meetings:edit", subject_type="meeting",
                           subject_id=meeting_id, now=now, detail={"changed": changed, "promoted": promoted})


async def registrations(session: AsyncSession, actor: Actor, meeting_id: int, now: datetime) -> RegistrationsPage:
    """The organisers' page: names, needs, seats, waiting list and attendance (council staff).

    Names are personal data: each view is audited ``meetings:view_registrations`` (shared/domain.md §3).
    Raises NotSignedIn, Forbidden, NotFound.
    """
    _require_manager_somewhere(actor, now)
    async with session.begin():
        meeting = await _meeting(session, meeting_id)
        consultation = await session.get(Consultation, meeting.consultation_id)
        if consultation is None:
            raise NotFound()
        require_manager(actor, consultation, now)
        rows = await session.execute(
            select(MeetingRegistration, User.display_name).join(User, User.id == MeetingRegistration.user_id)
            .where(MeetingRegistration.meeting_id == meeting_id, MeetingRegistration.status.in_(ACTIVE))
            .order_by(MeetingRegistration.registered_at, MeetingRegistration.id)
            .execution_options(populate_existing=True))
        people = [Attendee(r.id, str(name), r.status, r.seat, _needs_of(r), r.registered_at, r.attended)
                  for r, name in rows]
        registered = sorted((p for p in people if p.status == "registered"), key=lambda p: p.seat or 0)
        waiting = [p for p in people if p.status == "waiting"]
        await audit.record(session, actor_id=actor.user_id, action="meetings:view_registrations",
                           subject_type="meeting", subject_id=meeting_id, now=now,
                           detail={"registered": len(registered), "waiting": len(waiting)})
    return RegistrationsPage(meeting, consultation, registered, waiting, now, NeedsSummary.of(registered),
                             NeedsSummary.of(waiting))


async def record_attendance(session: AsyncSession, actor: Actor, meeting_id: int, attended_ids: Collection[int],
                            now: datetime) -> int:
    """Save who attended (council staff, once the meeting has started): every person holding a seat gets
    attended True when their registration id is in ``attended_ids``, else False; other ids are ignored.

    Returns how many attended. Audited ``meetings:record_attendance`` (counts only).
    Raises NotSignedIn, Forbidden, NotFound, Conflict (the meeting has not started).
    """
    _require_manager_somewhere(actor, now)
    async with session.begin():
        meeting = await _meeting(session, meeting_id, lock="update")
        await _require_manager_of(session, actor, meeting, now)
        if now < meeting.starts_at:
            raise Conflict(N_("Attendance can be taken once the meeting has started."))
        ids = set(await session.scalars(select(MeetingRegistration.id).where(
            MeetingRegistration.meeting_id == meeting_id, MeetingRegistration.status == "registered")))
        present = sorted(ids & set(attended_ids))
        await session.execute(update(MeetingRegistration).where(
            MeetingRegistration.meeting_id == meeting_id, MeetingRegistration.status == "registered")
            .values(attended=False))
        for start in range(0, len(present), 1000):
            await session.execute(update(MeetingRegistration).where(
                MeetingRegistration.id.in_(present[start:start + 1000])).values(attended=True))
        await audit.record(session, actor_id=actor.user_id, action="meetings:record_attendance",
                           subject_type="meeting", subject_id=meeting_id, now=now,
                           detail={"registered": len(ids), "attended": len(present)})
    return len(present)


async def publish_minutes(session: AsyncSession, actor: Actor, meeting_id: int, minutes: str, now: datetime,
                          base_url: str = "") -> None:
    """Publish (or correct) the minutes of a meeting that has ended (council staff; issue #4, item 4).

    ``minutes_published_at`` becomes ``now``. On the first publication the people who held a seat are told
    (outbox). Audited ``meetings:publish_minutes``. Raises NotSignedIn, Forbidden, NotFound, Conflict (the
    meeting has not ended), Invalid (``minutes``: fewer than 20 characters, or too long).
    """
    _require_manager_somewhere(actor, now)
    text = clean_text(minutes).strip()
    async with session.begin():
        meeting = await _meeting(session, meeting_id, lock="update")
        await _require_manager_of(session, actor, meeting, now)
        if now < meeting.ends_at:
            raise Conflict(N_("Minutes can be published only after the meeting has ended."))
        if len(text) < MINUTES_MIN_CHARS:
            raise Invalid({"minutes": [N_("Write the minutes in at least 20 characters.")]})
        if len(text) > MINUTES_MAX_CHARS:
            raise Invalid({"minutes": [TOO_LONG]})
        first = meeting.minutes_published_at is None
        await session.execute(update(Meeting).where(Meeting.id == meeting_id)
                              .values(minutes=text, minutes_published_at=now))
        if first:
            people = await session.scalars(select(MeetingRegistration.user_id).where(
                MeetingRegistration.meeting_id == meeting_id, MeetingRegistration.status == "registered"))
            await notifications.enqueue(
                session, list(people), N_("Forum meeting: %(title)s"),
                N_("The minutes of the meeting “%(title)s” are published: %(link)s"),
                {"title": meeting.title, "link": _link(base_url, meeting_id)}, purpose="meetings:minutes", now=now)
        await audit.record(session, actor_id=actor.user_id, action="meetings:publish_minutes",
                           subject_type="meeting", subject_id=meeting_id, now=now, detail={"first": first})


# --- participants: register and cancel --------------------------------------------------------------------------


async def register(session: AsyncSession, actor: Actor, meeting_id: int, needs: Needs, now: datetime,
                   base_url: str = "") -> RegistrationState:
    """Register the actor for a meeting before it starts (Action.MEETING_REGISTER: any signed-in user).

    Takes the lowest free seat 1..capacity, or puts the person on the waiting list when none is free. A seat
    taken meanwhile by a parallel registration makes the database refuse this one (unique (meeting_id, seat));
    it is rolled back and tried again, at most MAX_SEAT_ATTEMPTS times. A person already registered or waiting
    gets their current state back, unchanged (``changed`` False; unique (meeting_id, user_id)); a person who had
    cancelled registers again on the same row, at the end of the queue. A confirmation is queued (outbox).

    Raises NotSignedIn, Forbidden (BLOCKED_MESSAGE while a moderator's block is in force; issue #6, item 3),
    NotFound, Conflict (the meeting has started; or, after every attempt, too many people registering at that
    very moment).
    """
    _require_participant(actor, now)
    assert actor.user_id is not None
    for _attempt in range(MAX_SEAT_ATTEMPTS):
        try:
            return await _register_once(session, actor.user_id, meeting_id, needs, now, base_url)
        except IntegrityError:
            continue  # session.begin() rolled the attempt back; the seat went to someone else
    raise Conflict(N_("Many people are registering at this moment. Please try again."))


async def _register_once(session: AsyncSession, user_id: int, meeting_id: int, needs: Needs, now: datetime,
                         base_url: str) -> RegistrationState:
    async with session.begin():
        meeting = await _meeting(session, meeting_id, lock="share")
        row = await _own_row(session, meeting_id, user_id)
        if row is not None and row.status in ACTIVE:
            return await _state(session, row, changed=False)
        if now >= meeting.starts_at:
            raise Conflict(REGISTRATION_CLOSED)
        taken = set(await _seats(session, meeting_id))
        seat = next((s for s in range(1, meeting.capacity + 1) if s not in taken), None)
        values = {"seat": seat, "status": "registered" if seat is not None else "waiting", "attended": None,
                  "registered_at": now, **{name: getattr(needs, name) for name in ACCESSIBILITY_NEEDS}}
        if row is None:
            await session.execute(insert(MeetingRegistration).values(
                meeting_id=meeting_id, user_id=user_id, **values))
        else:
            await session.execute(update(MeetingRegistration).where(MeetingRegistration.id == row.id)
                                  .values(**values))
        row = await _own_row(session, meeting_id, user_id)
        assert row is not None
        state = await _state(session, row, changed=True)
        params = {"title": meeting.title, "date": _when(meeting), "link": _link(base_url, meeting_id),
                  "position": state.position}
        if state.status == "registered":
            body = N_("You are registered for the meeting “%(title)s” on %(date)s (Morocco time). "
                      "If you can no longer come, please cancel your registration: %(link)s")
        else:
            body = N_("You are number %(position)s on the waiting list for the meeting “%(title)s” on %(date)s "
                      "(Morocco time). We will write to you if a seat becomes free. To cancel: %(link)s")
        await notifications.enqueue(session, [user_id], N_("Forum meeting: %(title)s"), body, params,
                                    purpose=f"meetings:{state.status}", now=now)
        return state


async def cancel(session: AsyncSession, actor: Actor, meeting_id: int, now: datetime, base_url: str = "") -> bool:
    """Cancel the actor's registration before the meeting starts; returns False when there was none to cancel.

    A freed seat goes, in the same transaction, to the first person of the waiting list (registered_at, then id),
    who is notified (outbox). Raises NotSignedIn, Forbidden, NotFound, Conflict (the meeting has started).
    """
    _require_participant(actor, now)
    assert actor.user_id is not None
    async with session.begin():
        meeting = await _meeting(session, meeting_id, lock="update")
        row = await _own_row(session, meeting_id, actor.user_id)
        if row is None or row.status not in ACTIVE:
            return False
        if now >= meeting.starts_at:
            raise Conflict(N_("This meeting has already started: registrations can no longer be changed."))
        seat = row.seat
        await session.execute(update(MeetingRegistration).where(MeetingRegistration.id == row.id)
                              .values(status="cancelled", seat=None, attended=None))
        if seat is not None:
            await _promote(session, meeting, seat, base_url, now)
    return True


# --- reading ---------------------------------------------------------------------------------------------------


async def meeting_page(session: AsyncSession, actor: Actor, meeting_id: int, now: datetime) -> MeetingPage:
    """Everything the public meeting page shows, for this actor. Raises NotFound."""
    async with reading(session):
        meeting = await _meeting(session, meeting_id)
        consultation = await session.get(Consultation, meeting.consultation_id)
        if consultation is None:
            raise NotFound()
        commune = await session.get(Territory, meeting.commune_code) if meeting.commune_code else None
        rows = await session.execute(
            select(MeetingRegistration.status, func.count()).where(
                MeetingRegistration.meeting_id == meeting_id, MeetingRegistration.status.in_(ACTIVE))
            .group_by(MeetingRegistration.status))
        counts = {str(status): int(n) for status, n in rows}
        own = None
        if actor.user_id is not None:
            row = await _own_row(session, meeting_id, actor.user_id)
            if row is not None and row.status in ACTIVE:
                own = await _state(session, row, changed=False)
    can_manage = can(actor, Action.MEETING_MANAGE, consultation, now)
    show_link = meeting.mode in LINK_MODES and (can_manage or (own is not None and own.status == "registered"))
    return MeetingPage(meeting, consultation, commune, int(counts.get("registered", 0)),
                       int(counts.get("waiting", 0)), own, show_link, can_manage, now)


async def meetings_of(session: AsyncSession, consultation_id: int) -> list[Meeting]:
    """A consultation's meetings in date order (starts_at, then id), for other pages (issue #4, item 2)."""
    async with reading(session):
        return list(await session.scalars(select(Meeting).where(Meeting.consultation_id == consultation_id)
                                          .order_by(Meeting.starts_at, Meeting.id)))


# --- demo ------------------------------------------------------------------------------------------------------

DEMO_TITLE = "لقاء تشاوري: النقل العمومي الميسر بجهة بني ملال-خنيفرة"
DEMO_PAST_TITLE = "Atelier du forum régional : accessibilité des services publics"
DEMO_ADDRESS = "قاعة الاجتماعات، مقر مجلس الجهة، شارع محمد الخامس، بني ملال"
DEMO_URL = "https://visio.example.org/forum-beni-mellal"
DEMO_MINUTES = (
    "حضر اللقاء ممثلو جمعيات الأشخاص في وضعية إعاقة ومصالح الجهة. تمت مناقشة ولوجية الإدارات العمومية، "
    "واقترح المشاركون تعميم المنحدرات ولوحات الإرشاد بلغة مبسطة، وتوفير الترجمة بلغة الإشارة في الشبابيك الكبرى. "
    "التزمت مصالح المجلس بنشر تقرير مفصل قبل نهاية الشهر المقبل."
)


def _demo_local(day: datetime, hour: int, minute: int = 0) -> str:
    """``YYYY-MM-DDTHH:MM`` for ``hour:minute`` local time on ``day``'s local date."""
    local_day = day.astimezone(TIMEZONE).date()
    return datetime.combine(local_day, time(hour, minute)).strftime("%Y-%m-%dT%H:%M")


async def load_demo(session: AsyncSession, settings: Settings, consultation_id: int, staff: Actor,
                    people: list[Actor], now: datetime) -> int:
    """Demo meetings for a consultation; returns the upcoming meeting's id. Idempotent (by title).

    Creates, through the services: a hybrid meeting in Béni Mellal (commune 05.091.01.01 when loaded, else the
    region's first commune) a week after ``now``, 10:00–12:30 local time, 3 seats; then a past in-person
    meeting with published minutes. The first four of ``people`` register for the upcoming one, the first with a
    sign-language need, so that it has three seats taken and a waiting list of one.
    """
    existing = await session.scalar(select(Meeting.id).where(Meeting.consultation_id == consultation_id,
                                                             Meeting.title == DEMO_TITLE))
    commune = await session.get(Territory, "05.091.01.01")
    if commune is None or commune.region_code != settings.region:
        commune = await session.scalar(select(Territory).where(
            Territory.region_code == settings.region, Territory.kind == "commune").order_by(Territory.code).limit(1))
    code = commune.code if commune is not None else ""
    await session.rollback()
    if existing is not None:
        return int(existing)
    week = now + timedelta(days=7)
    upcoming = await create_meeting(session, staff, consultation_id, MeetingInput(
        DEMO_TITLE, "hybrid", code, DEMO_ADDRESS, DEMO_URL, _demo_local(week, 10), _demo_local(week, 12, 30), "3",
    ), settings.region, now)
    past_day = now - timedelta(days=30)
    past = await create_meeting(session, staff, consultation_id, MeetingInput(
        DEMO_PAST_TITLE, "in_person", code, DEMO_ADDRESS, "", _demo_local(past_day, 15), _demo_local(past_day, 17),
        "40"), settings.region, now)
    await publish_minutes(session, staff, past, DEMO_MINUTES, now, settings.base_url)
    for i, person in enumerate(people[:4]):
        await register(session, person, upcoming, Needs(sign_language=i == 0, wheelchair=i == 2),
                       now - timedelta(minutes=len(people[:4]) - i), settings.base_url)
    return upcoming
