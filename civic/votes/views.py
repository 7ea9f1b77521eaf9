"""Ballot pages: a consultation's ballots, staff forms (create a ballot, edit it, add and remove questions), the
public ballot page with the voting form, and casting, whose confirmation shows the receipt code once (issue #5,
items 1, 2, 7 and 9).

The confirmation is the response to the POST itself (never a redirect carrying the code), marked
``Cache-Control: no-store``; the code is in no URL, no log and no later page. The voting form is a plain POST
form (no htmx swap), so the receipt never lands in a page the browser keeps in its history.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import NoMatchFound

from civic.db import utcnow
from civic.errors import Conflict, CsrfFailed, Forbidden, Invalid, NotSignedIn
from civic.permissions import Actor
from civic.security import check_csrf_token
from civic.votes import service
from civic.votes.forms import BallotForm, QuestionForm, vote_input
from civic.votes.models import AGE_BANDS, GENDERS, METHODS
from civic.web.requests import CSRF_FIELD, CSRF_HEADER, keys, path_for, path_id, read_form, render, scope

FLASH = "ballot_flash"
FLASHES = ("created", "saved", "question_added", "question_deleted")
VOTE_FORM_FIELDS = service.MAX_QUESTIONS * service.OPTIONS_MAX + 10  # every box of every question ticked
NO_STORE = {"Cache-Control": "no-store"}


def _consultation_path(request: Request, consultation_id: int) -> str:
    """The consultation's page (route ``consultation`` of the consultations views, /consultations/{id})."""
    try:
        return path_for(request, "consultation", consultation_id=consultation_id)
    except NoMatchFound:
        return str(request.scope.get("root_path", "")) + f"/consultations/{consultation_id}"


def _links(request: Request, ballot_id: int) -> dict[str, str | None]:
    """Links to the other ballot pages (results, receipt check, paper tally sheets: civic.votes.results_views,
    verify_views and sheet_views), or None for a route the table does not have."""
    links: dict[str, str | None] = {}
    for key, name in (("results", "ballot_results"), ("receipt_check", "receipt_check"), ("sheets", "tally_sheets")):
        try:
            links[key] = path_for(request, name, ballot_id=ballot_id)
        except NoMatchFound:
            links[key] = None
    return links


def _login_to(request: Request, ballot_id: int) -> RedirectResponse:
    """The sign-in page, coming back to the ballot's page (not to the POST-only voting address)."""
    target = path_for(request, "ballot", ballot_id=ballot_id)
    return RedirectResponse(path_for(request, "login") + "?" + urlencode({"next": target}), 303)


def _labels() -> dict[str, Any]:
    return {"method_labels": service.METHOD_LABELS, "methods": METHODS, "genders": GENDERS, "age_bands": AGE_BANDS}


async def _read_vote_form(request: Request) -> FormData:
    """The voting form (one field per ticked box: more than ``read_form`` allows), CSRF-checked like it.
    Raises CsrfFailed."""
    form = await request.form(max_files=0, max_fields=VOTE_FORM_FIELDS, max_part_size=64 * 1024)
    token = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    if not check_csrf_token(keys(request), request.session.get("csrf"), token if isinstance(token, str) else None):
        raise CsrfFailed()
    return form


# --- public pages ----------------------------------------------------------------------------------------------


async def consultation_ballots(request: Request) -> Response:
    """GET /consultations/{id}/ballots: the consultation's ballots (and, for staff, the link to create one)."""
    consultation_id = path_id(request, "consultation_id")
    async with scope(request) as (db, actor):
        page = await service.consultation_ballots(db, actor, consultation_id, utcnow())
    return render(request, "votes/ballots.html", page=page,
                  consultation_url=_consultation_path(request, consultation_id))


def _selection(page: service.BallotPage, posted: service.VoteInput | None) -> dict[str, Any]:
    """What the voting form shows ticked: what was just posted (kept on a refused submission), else the
    person's counted vote."""
    if posted is not None:
        return {"selected": {q: set(ids) for q, ids in posted.choices.items()},
                "demographics": {"gender": posted.gender, "age_band": posted.age_band,
                                 "disability": posted.disability}}
    current = page.current
    if current is None:
        return {"selected": {}, "demographics": {"gender": "", "age_band": "", "disability": ""}}
    disability = "" if current.disability is None else ("yes" if current.disability else "no")
    return {"selected": {q: set(ids) for q, ids in current.choices.items()},
            "demographics": {"gender": current.gender or "", "age_band": current.age_band or "",
                             "disability": disability}}


async def _ballot_page(request: Request, db: Any, actor: Actor, ballot_id: int, status_code: int = 200,
                       posted: service.VoteInput | None = None, errors: Mapping[str, list[str]] | None = None,
                       over_budget: Mapping[int, tuple[int, int]] | None = None,
                       message: str | None = None) -> Response:
    page = await service.ballot_page(db, actor, ballot_id, utcnow())
    response = render(request, "votes/ballot.html", status_code=status_code, page=page, errors=errors or {},
                      over_budget=over_budget or {}, message=message, flash=request.session.pop(FLASH, None),
                      consultation_url=_consultation_path(request, page.consultation.id),
                      links=_links(request, ballot_id), **_selection(page, posted), **_labels())
    if actor.signed_in:
        response.headers.update(NO_STORE)  # the person's own vote is on it
    return response


async def detail(request: Request) -> Response:
    """GET /ballots/{id}: the ballot's questions; while voting is open and the person may vote, the voting form
    (with their current vote ticked). Never a count."""
    ballot_id = path_id(request, "ballot_id")
    async with scope(request) as (db, actor):
        return await _ballot_page(request, db, actor, ballot_id)


async def vote(request: Request) -> Response:
    """POST /ballots/{id}/vote: cast or change one's ballot. Success: the confirmation page with the receipt
    code, rendered from this response (no redirect), ``Cache-Control: no-store``. Refused: the ballot page again
    with the message and the person's choices kept (422 invalid, 409 voting closed, 403 not eligible)."""
    ballot_id = path_id(request, "ballot_id")
    async with scope(request) as (db, actor):
        form = await _read_vote_form(request)
        if not actor.signed_in:
            return _login_to(request, ballot_id)
        data = vote_input(form)
        try:
            result = await service.cast(db, actor, ballot_id, data, utcnow())
        except NotSignedIn:
            return _login_to(request, ballot_id)
        except service.BallotInvalid as exc:
            return await _ballot_page(request, db, actor, ballot_id, 422, posted=data, errors=exc.field_errors,
                                      over_budget=exc.over_budget, message=service.VOTE_NOT_RECORDED)
        except (Conflict, Forbidden) as exc:
            return await _ballot_page(request, db, actor, ballot_id, exc.status_code, posted=data,
                                      message=exc.message)
        page = await service.ballot_page(db, actor, ballot_id, result.at)
    response = render(request, "votes/vote_receipt.html", page=page, result=result,
                      links=_links(request, ballot_id), **_labels())
    response.headers.update(NO_STORE)
    return response


# --- staff -----------------------------------------------------------------------------------------------------


async def new(request: Request) -> Response:
    """GET/POST /consultations/{id}/ballots/new: staff create a ballot, then add its questions."""
    consultation_id = path_id(request, "consultation_id")
    async with scope(request) as (db, actor):
        context = await service.new_ballot_context(db, actor, consultation_id, utcnow())
        shown = {"id": context.consultation_id, "title": context.consultation_title}
        form, errors, status_code = BallotForm(), {}, 200
        if request.method == "POST":
            form = BallotForm(formdata=await read_form(request))
            try:
                ballot_id = await service.create_ballot(db, actor, consultation_id, form.to_input(), utcnow())
            except Invalid as exc:
                errors, status_code = exc.field_errors, 422
            else:
                request.session[FLASH] = "created"
                return RedirectResponse(path_for(request, "ballot_edit", ballot_id=ballot_id), 303)
    return render(request, "votes/ballot_new.html", status_code=status_code, consultation=shown,
                  meetings=context.meetings, form=form, errors=errors,
                  consultation_url=_consultation_path(request, consultation_id))


async def _edit_page(request: Request, db: Any, actor: Actor, ballot_id: int, status_code: int = 200,
                     **values: Any) -> Response:
    page = await service.ballot_for_edit(db, actor, ballot_id, utcnow())
    context: dict[str, Any] = {"form": BallotForm.of(page.ballot), "errors": {}, "qform": QuestionForm(
        data={"method": "yes_no_abstain"}), "qerrors": {}, "message": None, "flash": None, **values}
    return render(request, "votes/ballot_edit.html", status_code=status_code, page=page,
                  consultation_url=_consultation_path(request, page.consultation.id), **context, **_labels())


async def edit(request: Request) -> Response:
    """GET/POST /ballots/{id}/edit: staff change the ballot's title, description and meeting restriction; the
    page also lists the questions and holds the form to add one."""
    ballot_id = path_id(request, "ballot_id")
    async with scope(request) as (db, actor):
        if request.method == "GET":
            return await _edit_page(request, db, actor, ballot_id, flash=request.session.pop(FLASH, None))
        form = BallotForm(formdata=await read_form(request))
        try:
            await service.update_ballot(db, actor, ballot_id, form.to_input(), utcnow())
        except Invalid as exc:
            return await _edit_page(request, db, actor, ballot_id, 422, form=form, errors=exc.field_errors)
        except Conflict as exc:
            return await _edit_page(request, db, actor, ballot_id, 409, form=form, message=exc.message)
    request.session[FLASH] = "saved"
    return RedirectResponse(path_for(request, "ballot_edit", ballot_id=ballot_id), 303)


async def add_question(request: Request) -> Response:
    """POST /ballots/{id}/questions: staff add a question (refused once votes were cast); errors keep what was
    typed."""
    ballot_id = path_id(request, "ballot_id")
    async with scope(request) as (db, actor):
        qform = QuestionForm(formdata=await read_form(request))
        try:
            await service.add_question(db, actor, ballot_id, qform.to_input(), utcnow())
        except Invalid as exc:
            return await _edit_page(request, db, actor, ballot_id, 422, qform=qform, qerrors=exc.field_errors)
        except Conflict as exc:
            return await _edit_page(request, db, actor, ballot_id, 409, qform=qform, message=exc.message)
    request.session[FLASH] = "question_added"
    return RedirectResponse(path_for(request, "ballot_edit", ballot_id=ballot_id) + "#questions", 303)


async def delete_question(request: Request) -> Response:
    """POST /ballots/{id}/questions/{question_id}/delete: staff remove a question before any vote."""
    ballot_id = path_id(request, "ballot_id")
    question_id = path_id(request, "question_id")
    async with scope(request) as (db, actor):
        await read_form(request)
        try:
            await service.delete_question(db, actor, ballot_id, question_id, utcnow())
        except Conflict as exc:
            return await _edit_page(request, db, actor, ballot_id, 409, message=exc.message)
    request.session[FLASH] = "question_deleted"
    return RedirectResponse(path_for(request, "ballot_edit", ballot_id=ballot_id) + "#questions", 303)
