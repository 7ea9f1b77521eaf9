"""Organisation pages: list, register, the organisation's page (members, invitations, collectors,
verification by staff), and accepting an invitation."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from civic.db import utcnow
from civic.errors import Conflict, Invalid, NotFound
from civic.organisations import service
from civic.organisations.forms import OrganisationForm, VerificationForm
from civic.permissions import Action, can
from civic.petitions import service as petitions
from civic.territories import service as territories
from civic.web.requests import MAX_ID, field, keys, login_path, path_for, path_id, read_form, render, scope

CHECKS = ("constituted_over_3_years", "democratic_statutes", "good_standing", "seat_in_region")


def _form_id(raw: str) -> int:
    """An id posted in a form; anything that cannot be a row id raises NotFound (404, never a 500 or 503)."""
    value = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 12 else 0
    if not 1 <= value <= MAX_ID:
        raise NotFound()
    return value


async def index(request: Request) -> Response:
    """GET /organisations: verified associations, and those awaiting verification."""
    async with scope(request) as (db, actor):
        organisations = await service.list_all(db)
        mine = await service.represented_by(db, actor)
    return render(request, "organisations/index.html", organisations=organisations, mine=mine)


async def new(request: Request) -> Response:
    """GET/POST /organisations/new: register an association (its legal representative does)."""
    settings = request.app.state.settings
    async with scope(request) as (db, actor):
        if not actor.signed_in:
            return RedirectResponse(login_path(request), 303)
        groups = await territories.communes_by_province(db, settings.region)
        form = OrganisationForm()
        errors: dict[str, list[str]] = {}
        if request.method == "POST":
            form = OrganisationForm(formdata=await read_form(request))
            try:
                org_id = await service.register(db, actor, form.to_input(), settings.region, utcnow())
            except Invalid as exc:
                errors = exc.field_errors
            else:
                return RedirectResponse(path_for(request, "organisation", organisation_id=org_id), 303)
    return render(request, "organisations/new.html", status_code=422 if errors else 200, form=form, errors=errors,
                  groups=groups)


async def _page(request: Request, db: Any, actor: Any, org_id: int, status_code: int = 200,
                **extra: Any) -> Response:
    settings = request.app.state.settings
    now = utcnow()
    org = await service.get(db, actor, org_id, now)
    collecting = []
    if actor.user_id == org.representative_id:
        collecting = [p for p, _n in await petitions.list_public(db, settings.region, settings.petition_rules)
                      if p.status == "collecting"]
    values = {"org": org, "collecting": collecting, "can_verify": can(actor, Action.ORGANISATION_VERIFY, None, now),
              "vform": VerificationForm(), "errors": {}, "message": None, "checks": CHECKS, **extra}
    return render(request, "organisations/detail.html", status_code=status_code, **values)


async def detail(request: Request) -> Response:
    """GET /organisations/{id}."""
    flash = request.session.pop("flash_note", None)
    async with scope(request) as (db, actor):
        return await _page(request, db, actor, path_id(request, "organisation_id"), flash=flash)


async def verify(request: Request) -> Response:
    """POST: council staff record their eligibility checks."""
    org_id = path_id(request, "organisation_id")
    async with scope(request) as (db, actor):
        vform = VerificationForm(formdata=await read_form(request))
        try:
            await service.verify(db, actor, org_id, vform.to_input(), utcnow())
        except Invalid as exc:
            return await _page(request, db, actor, org_id, 422, vform=vform, errors=exc.field_errors)
    request.session["flash_note"] = "verified"
    return RedirectResponse(path_for(request, "organisation", organisation_id=org_id), 303)


async def invite(request: Request) -> Response:
    """POST: the representative invites a member by email."""
    org_id = path_id(request, "organisation_id")
    settings = request.app.state.settings
    async with scope(request) as (db, actor):
        form = await read_form(request)
        try:
            await service.invite(db, actor, keys(request), "organisation_member", org_id, field(form, "email", 300),
                                 utcnow(), settings.base_url)
        except Invalid as exc:
            return await _page(request, db, actor, org_id, 422, errors=exc.field_errors)
    request.session["flash_note"] = "invitation_sent"
    return RedirectResponse(path_for(request, "organisation", organisation_id=org_id), 303)


async def link_collector(request: Request) -> Response:
    """POST: the representative lets a member collect paper signatures for a petition."""
    org_id = path_id(request, "organisation_id")
    async with scope(request) as (db, actor):
        form = await read_form(request)
        petition_id, user_id = (_form_id(field(form, name, 12)) for name in ("petition_id", "user_id"))
        try:
            await service.link_collector(db, actor, org_id, petition_id, user_id, utcnow())
        except Conflict as exc:
            return await _page(request, db, actor, org_id, 409, message=exc.message)
    request.session["flash_note"] = "collector_linked"
    return RedirectResponse(path_for(request, "organisation", organisation_id=org_id), 303)


async def invitation(request: Request) -> Response:
    """GET: the invitation page (sign in first); POST: accept it."""
    token = request.path_params["token"]
    async with scope(request) as (db, actor):
        if not actor.signed_in:
            return RedirectResponse(login_path(request), 303)
        if request.method == "GET":
            return render(request, "organisations/invitation.html", token=token)
        await read_form(request)
        purpose, subject_id = await service.accept(db, actor, keys(request), token, utcnow())
    if purpose == "organisation_member":
        return RedirectResponse(path_for(request, "organisation", organisation_id=subject_id), 303)
    return RedirectResponse(path_for(request, "petition", petition_id=subject_id), 303)
