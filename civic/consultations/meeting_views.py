"""Forum meeting pages: the public meeting page with registration (full page without JavaScript, fragment with
htmx), the staff forms to create and edit a meeting, the organisers' page with needs and attendance, and the
minutes (issue #4, item 2)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import NoMatchFound

from civic.consultations import meetings
from civic.consultations.meeting_forms import MeetingForm, MinutesForm, RegistrationForm
from civic.db import utcnow
from civic.errors import Conflict, Invalid
from civic.permissions import Actor
from civic.territories import service as territories
from civic.web.requests import is_htmx, path_for, path_id, read_form, render, scope

FLASH = "flash_meeting"
MODES = ("in_person", "online", "hybrid")


def consultation_path(request: Request, consultation_id: int) -> str:
    """The consultation's page (route ``consultation``, /consultations/{id}, owned by the consultations views)."""
    try:
        return path_for(request, "consultation", consultation_id=consultation_id)
    except NoMatchFound:  # the route is not in the table yet: the URL scheme of the brief
        return str(request.scope.get("root_path", "")) + f"/consultations/{consultation_id}"


def _login_to(request: Request, meeting_id: int) -> RedirectResponse:
    """The sign-in page, coming back to the meeting page (not to a POST-only address)."""
    target = path_for(request, "meeting", meeting_id=meeting_id)
    return RedirectResponse(path_for(request, "login") + "?" + urlencode({"next": target}), 303)


def _form_ids(values: list[Any]) -> set[int]:
    """Registration ids posted as checkboxes; anything that is not a plausible id is ignored."""
    ids = set()
    for value in values:
        if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 12:
            ids.add(int(value))
    return ids


async def _meeting_page(request: Request, db: Any, actor: Actor, meeting_id: int, status_code: int = 200,
                        template: str = "consultations/meeting.html", **extra: Any) -> Response:
    page = await meetings.meeting_page(db, actor, meeting_id, utcnow())
    values: dict[str, Any] = {"page": page, "rform": RegistrationForm(), "mform": MinutesForm(), "errors": {},
                              "message": None, "minutes_message": None, "flash": None, "focus": False,
                              "consultation_url": consultation_path(request, page.meeting.consultation_id), **extra}
    return render(request, template, status_code=status_code, **values)


async def detail(request: Request) -> Response:
    """GET /meetings/{id}: the public meeting page (registration form for signed-in people)."""
    meeting_id = path_id(request, "meeting_id")
    flash = request.session.pop(FLASH, None)
    async with scope(request) as (db, actor):
        return await _meeting_page(request, db, actor, meeting_id, flash=flash)


async def _form_page(request: Request, consultation_id: int, meeting_id: int | None) -> Response:
    """GET/POST of the create (``meeting_id`` None) and edit forms."""
    settings = request.app.state.settings
    editing = meeting_id
    async with scope(request) as (db, actor):
        now = utcnow()
        if meeting_id is None:
            consultation = await meetings.consultation_for_new_meeting(db, actor, consultation_id, now)
            form = MeetingForm(data={"mode": "in_person"})
        else:
            meeting, consultation = await meetings.meeting_for_edit(db, actor, meeting_id, now)
            form = MeetingForm.of(meeting)
        # Plain values: a refused save rolls back, which expires the rows loaded above.
        shown: dict[str, Any] = {"id": consultation.id, "title": consultation.title}
        groups = await territories.communes_by_province(db, settings.region)
        errors: dict[str, list[str]] = {}
        if request.method == "POST":
            form = MeetingForm(formdata=await read_form(request))
            try:
                if meeting_id is None:
                    meeting_id = await meetings.create_meeting(db, actor, consultation_id, form.to_input(),
                                                               settings.region, utcnow())
                    request.session[FLASH] = "created"
                else:
                    await meetings.edit_meeting(db, actor, meeting_id, form.to_input(), settings.region, utcnow(),
                                                settings.base_url)
                    request.session[FLASH] = "saved"
            except Invalid as exc:
                errors = exc.field_errors
            else:
                return RedirectResponse(path_for(request, "meeting", meeting_id=meeting_id), 303)
    return render(request, "consultations/meeting_form.html", status_code=422 if errors else 200, form=form,
                  errors=errors, groups=groups, consultation=shown, meeting_id=editing, modes=MODES,
                  consultation_url=consultation_path(request, int(shown["id"])))


async def new(request: Request) -> Response:
    """GET/POST /consultations/{id}/meetings/new: council staff create a forum meeting."""
    return await _form_page(request, path_id(request, "consultation_id"), None)


async def edit(request: Request) -> Response:
    """GET/POST /meetings/{id}/edit: council staff change a meeting."""
    return await _form_page(request, 0, path_id(request, "meeting_id"))


async def _registration_answer(request: Request, db: Any, actor: Actor, meeting_id: int, flash: str | None,
                               message: str | None) -> Response:
    """After register/cancel: the fragment for htmx; without JavaScript a redirect with a status message, or the
    page with the error (409)."""
    status = 409 if message else 200
    if is_htmx(request):
        return await _meeting_page(request, db, actor, meeting_id, status, "consultations/_meeting_registration.html",
                                   message=message, flash=flash, focus=True)
    if message:
        return await _meeting_page(request, db, actor, meeting_id, status, message=message)
    request.session[FLASH] = flash
    return RedirectResponse(path_for(request, "meeting", meeting_id=meeting_id), 303)


async def register(request: Request) -> Response:
    """POST /meetings/{id}/register: register with the accessibility needs ticked (anonymous: to sign-in)."""
    meeting_id = path_id(request, "meeting_id")
    settings = request.app.state.settings
    async with scope(request) as (db, actor):
        if not actor.signed_in:
            return _login_to(request, meeting_id)
        form = RegistrationForm(formdata=await read_form(request))
        flash = message = None
        try:
            state = await meetings.register(db, actor, meeting_id, form.to_needs(), utcnow(), settings.base_url)
        except Conflict as exc:
            message = exc.message
        else:
            flash = state.status if state.changed else "already"
        return await _registration_answer(request, db, actor, meeting_id, flash, message)


async def cancel(request: Request) -> Response:
    """POST /meetings/{id}/cancel: cancel one's registration (the seat goes to the waiting list)."""
    meeting_id = path_id(request, "meeting_id")
    settings = request.app.state.settings
    async with scope(request) as (db, actor):
        if not actor.signed_in:
            return _login_to(request, meeting_id)
        await read_form(request)
        flash = message = None
        try:
            cancelled = await meetings.cancel(db, actor, meeting_id, utcnow(), settings.base_url)
        except Conflict as exc:
            message = exc.message
        else:
            flash = "cancelled" if cancelled else "not_registered"
        return await _registration_answer(request, db, actor, meeting_id, flash, message)


async def _registrations_page(request: Request, db: Any, actor: Actor, meeting_id: int, status_code: int = 200,
                              **extra: Any) -> Response:
    page = await meetings.registrations(db, actor, meeting_id, utcnow())
    values = {"page": page, "message": None, "flash": None, **extra}
    return render(request, "consultations/meeting_registrations.html", status_code=status_code, **values)


async def registrations(request: Request) -> Response:
    """GET /meetings/{id}/registrations: the organisers' page (council staff; each view audited)."""
    meeting_id = path_id(request, "meeting_id")
    flash = request.session.pop(FLASH, None)
    async with scope(request) as (db, actor):
        return await _registrations_page(request, db, actor, meeting_id, flash=flash)


async def attendance(request: Request) -> Response:
    """POST /meetings/{id}/attendance: council staff tick who attended (after the meeting has started)."""
    meeting_id = path_id(request, "meeting_id")
    async with scope(request) as (db, actor):
        form = await read_form(request)
        try:
            await meetings.record_attendance(db, actor, meeting_id, _form_ids(form.getlist("attended")), utcnow())
        except Conflict as exc:
            return await _registrations_page(request, db, actor, meeting_id, 409, message=exc.message)
    request.session[FLASH] = "attendance_saved"
    return RedirectResponse(path_for(request, "meeting_registrations", meeting_id=meeting_id), 303)


async def minutes(request: Request) -> Response:
    """POST /meetings/{id}/minutes: council staff publish the minutes (after the meeting has ended)."""
    meeting_id = path_id(request, "meeting_id")
    settings = request.app.state.settings
    async with scope(request) as (db, actor):
        mform = MinutesForm(formdata=await read_form(request))
        try:
            await meetings.publish_minutes(db, actor, meeting_id, mform.minutes.data or "", utcnow(),
                                           settings.base_url)
        except Invalid as exc:
            return await _meeting_page(request, db, actor, meeting_id, 422, mform=mform, errors=exc.field_errors)
        except Conflict as exc:
            return await _meeting_page(request, db, actor, meeting_id, 409, mform=mform,
                                       minutes_message=exc.message)
    request.session[FLASH] = "minutes_published"
    return RedirectResponse(path_for(request, "meeting", meeting_id=meeting_id), 303)
