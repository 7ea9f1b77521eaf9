"""Petition pages, the signing form (full page or htmx fragment), staff signature list, and the JSON API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from civic.accounts import service as accounts
from civic.db import utcnow
from civic.errors import Conflict, Invalid, NotFound, RateLimited
from civic.moderation import service as moderation
from civic.organisations import service as organisations
from civic.petitions import counts, lifecycle, rights, service
from civic.petitions.forms import PetitionForm, SignForm
from civic.petitions.models import ADDRESSEES
from civic.security import normalise_cnie
from civic.territories import service as territories
from civic.text import clean_text
from civic.web.requests import (
    MAX_ID,
    field,
    is_htmx,
    keys,
    login_path,
    path_for,
    path_id,
    read_form,
    render,
    scope,
)


def _petition_id(request: Request) -> int:
    return path_id(request, "petition_id")


async def home(request: Request) -> Response:
    """The home page: what Civic is, and the petitions collecting or done."""
    settings = request.app.state.settings
    async with scope(request) as (db, actor):
        views = await service.list_public_views(db, settings.region, settings.petition_rules)
        totals = await counts.cache_for(request.app).get_many(v.id for v in views)  # displayed, briefly cached
        petitions = [(v, sum(totals[v.id].values())) for v in views]
        drafts = await service.list_own_drafts(db, actor, settings.petition_rules)
        region = await territories.region(db, settings.region)
        rules = service.current_rule_set(region.population_2024, settings.petition_rules)
    return render(request, "home.html", petitions=petitions, drafts=drafts, region=region, rules=rules)


async def _detail_context(request: Request, db: Any, actor: Any, petition_id: int,
                          fresh_after: float | None = None) -> dict[str, Any]:
    settings = request.app.state.settings
    petition = await service.get_petition(db, actor, petition_id, settings.petition_rules)
    tally = await counts.displayed_tally(counts.cache_for(request.app), db, petition, settings.region, fresh_after)
    signed = await service.has_signed(db, actor, petition_id)
    groups = await territories.communes_by_province(db, settings.region)
    profile_commune = None
    if actor.signed_in:
        me = await accounts.profile(db, actor)
        profile_commune = me.commune_code if me else None
    proc = await lifecycle.procedure(db, petition_id)
    names, names_total = await counts.names_cache_for(request.app).get(petition_id, fresh_after)
    now = utcnow()
    hidden = petition.hidden_at is not None  # only its author and moderators get this far (issue #6)
    return {"petition": petition, "tally": tally, "signed": signed, "groups": groups,
            "profile_commune": profile_commune, "addressees": ADDRESSEES, "proc": proc,
            "timeline": await lifecycle.timeline(db, petition_id),
            "actions": lifecycle.actions_for(actor, petition.status, proc, petition.author_id, now),
            "overdue": proc.overdue(petition.status, now), "public_names": names, "public_names_total": names_total,
            "collecting_organisations": await organisations.collecting_organisations(db, petition_id),
            "is_collector": await organisations.is_collector(db, actor, petition_id, now),
            "verified_organisations": (await organisations.list_all(db, status="verified")
                                       if actor.user_id in {proc.agent_id, proc.deputy_id} else []),
            "action_errors": {}, "action_message": None,
            "hidden_notice": (await moderation.hidden_notice(db, actor, "petition", petition_id,
                                                             petition.hidden_reason) if hidden else None),
            "can_report": (actor.signed_in and actor.user_id != petition.author_id and not hidden
                           and petition.published_at is not None)}


async def detail(request: Request) -> Response:
    """A petition: text, rules in force, progress, and the signing form."""
    flash = request.session.pop("flash", None)
    outcome = service.SignOutcome(flash) if flash in {o.value for o in service.SignOutcome} else None
    flash_note = request.session.pop("flash_note", None)
    signed_at = request.session.pop("signed_at", None)  # the signer's own page shows their signature
    fresh_after = float(signed_at) if outcome is service.SignOutcome.SIGNED and isinstance(signed_at, float) else None
    async with scope(request) as (db, actor):
        ctx = await _detail_context(request, db, actor, _petition_id(request), fresh_after)
    return render(request, "petitions/detail.html", form=SignForm(), errors={}, outcome=outcome, message=None,
                  flash_note=flash_note, **ctx)


async def _sign_context(request: Request, db: Any, actor: Any, petition_id: int,
                        fresh_after: float | None = None, with_form: bool = True) -> dict[str, Any]:
    """What the signing page and fragments need, and nothing more (issue #8, item 1): the petition, its
    displayed tally and, to show the form again, whether the actor signed and the communes."""
    settings = request.app.state.settings
    petition = await service.get_petition(db, actor, petition_id, settings.petition_rules)
    tally = await counts.displayed_tally(counts.cache_for(request.app), db, petition, settings.region, fresh_after)
    ctx: dict[str, Any] = {"petition": petition, "tally": tally}
    if with_form:
        ctx["signed"] = await service.has_signed(db, actor, petition_id)
        ctx["groups"] = await territories.communes_by_province(db, settings.region)
        ctx["profile_commune"] = None
        if actor.signed_in:
            me = await accounts.profile(db, actor)
            ctx["profile_commune"] = me.commune_code if me else None
    return ctx


async def _limit_signing(request: Request, actor: Any, cnie: str) -> tuple[bool, Callable[[], Awaitable[object]]]:
    """Per-account and per-CNIE signing limits (issue #8, item 4). Raises RateLimited when the account is over its
    limit (every attempt counts). Returns (cnie_over_limit, charge_cnie): the CNIE's limit is only tested here, and
    ``charge_cnie`` is what the service awaits once a signature was really stored, so attempts that store nothing
    (another petition, a bad form) cannot spend a person's CNIE budget. A CNIE over its limit is answered like a
    signature and flagged for staff quietly (identical answers whatever a CNIE has done).

    No per-client-address limit: 50 people behind one carrier NAT must not lock one another out, and bursts by
    address are flagged for staff instead. A malformed CNIE is not counted (the service answers the field
    error)."""
    state = request.app.state
    if not await state.sign_limiter.hit("account", str(actor.user_id)):
        raise RateLimited()
    normalised = normalise_cnie(clean_text(cnie))
    key = keys(request).keyed_hash("ratelimit-cnie", normalised or "")

    async def charge_cnie() -> object:
        return await state.sign_cnie_limiter.hit("cnie", key)

    if normalised is None:
        return False, charge_cnie
    return not await state.sign_cnie_limiter.allows("cnie", key), charge_cnie


async def sign(request: Request) -> Response:
    """GET: the signing page. POST: record a signature (issue #8, item 1: a thin hot path).

    A successful POST without htmx is answered 303 to the petition page without reading anything else; htmx
    gets the sign area and the progress (out-of-band swap), with a figure that includes the signature. Only
    errors render the signing page. SIGNED and a CNIE already used from another account are answered alike.
    """
    petition_id = _petition_id(request)
    if request.method == "GET":
        async with scope(request) as (db, actor):
            ctx = await _detail_context(request, db, actor, petition_id)
        return render(request, "petitions/sign.html", form=SignForm(), errors={}, outcome=None, message=None, **ctx)
    async with scope(request) as (db, actor):
        form = SignForm(formdata=await read_form(request))
        data = form.to_input()
        cnie_over_limit, charge_cnie = (await _limit_signing(request, actor, data.cnie) if actor.signed_in
                                        else (False, None))
        errors: dict[str, list[str]] = {}
        message = None
        outcome = None
        try:
            outcome = await service.sign(db, actor, keys(request), petition_id, data, utcnow(),
                                         client_address=request.client.host if request.client else None,
                                         cnie_over_limit=cnie_over_limit, on_stored=charge_cnie)
        except Invalid as exc:
            errors = exc.field_errors
            message = exc.message
        except Conflict as exc:
            message = exc.message
        # After the commit: the figure the signer sees next includes their signature (SIGNED only; a reused CNIE
        # is answered SIGNED too, and then shows the same stored figure).
        fresh_after = counts.cache_for(request.app).clock() if outcome is service.SignOutcome.SIGNED else None
        if outcome is not None and not is_htmx(request):
            request.session["flash"] = outcome.value
            if fresh_after is not None:
                request.session["signed_at"] = fresh_after
            return RedirectResponse(path_for(request, "petition", petition_id=petition_id), status_code=303)
        ctx = await _sign_context(request, db, actor, petition_id, fresh_after, with_form=outcome is None)
    status = 422 if errors else (409 if message else 200)
    template = "petitions/_sign_result.html" if is_htmx(request) else "petitions/sign.html"
    return render(request, template, status_code=status, form=form, errors=errors, outcome=outcome, message=message,
                  **ctx)


async def progress(request: Request) -> Response:
    """The progress fragment alone (for htmx refreshes): the displayed, briefly cached figure."""
    async with scope(request) as (db, actor):
        ctx = await _sign_context(request, db, actor, _petition_id(request), with_form=False)
    return render(request, "petitions/_progress.html", **ctx)


async def new(request: Request) -> Response:
    """GET: the new petition form. POST: create a draft and show it."""
    settings = request.app.state.settings
    async with scope(request) as (db, actor):
        if not actor.signed_in:
            return RedirectResponse(login_path(request), 303)
        form = PetitionForm()
        errors: dict[str, list[str]] = {}
        if request.method == "POST":
            form = PetitionForm(formdata=await read_form(request))
            try:
                petition_id = await service.create_petition(db, actor, form.to_draft(), settings.region, utcnow())
            except Invalid as exc:
                errors = exc.field_errors
            else:
                return RedirectResponse(path_for(request, "petition", petition_id=petition_id), status_code=303)
        region = await territories.region(db, settings.region)
        rules = service.current_rule_set(region.population_2024, settings.petition_rules)
        mine = [o for o in await organisations.represented_by(db, actor) if o.status == "verified"]
    if request.method == "GET" and request.query_params.get("organisation_id", "").isdigit():
        form.organisation_id.data = request.query_params["organisation_id"]
    return render(request, "petitions/new.html", status_code=422 if errors else 200, form=form, errors=errors,
                  addressees=ADDRESSEES, rules=rules, organisations=mine)


async def transition(request: Request) -> Response:
    """POST: move the petition to another status (agent or staff actions); errors re-render the page."""
    petition_id = _petition_id(request)
    to = request.path_params["to"]
    settings = request.app.state.settings
    async with scope(request) as (db, actor):
        form = await read_form(request)
        data = lifecycle.TransitionInput(
            note=field(form, "note"), reasons=field(form, "reasons"), session_label=field(form, "session_label"),
            committee=field(form, "committee"), answer=field(form, "answer"))
        try:
            await lifecycle.transition(db, actor, petition_id, to, data, settings.petition_rules, utcnow(),
                                       settings.base_url)
        except (Invalid, Conflict) as exc:
            ctx = await _detail_context(request, db, actor, petition_id)
            ctx["action_errors"] = getattr(exc, "field_errors", {})
            ctx["action_message"] = exc.message
            ctx["action_data"] = data
            return render(request, "petitions/detail.html", status_code=exc.status_code, form=SignForm(),
                          errors={}, outcome=None, message=None, **ctx)
    return RedirectResponse(path_for(request, "petition", petition_id=petition_id) + "#timeline", status_code=303)


async def collecting_organisation(request: Request) -> Response:
    """POST: the agent or deputy allows (``allow``) or stops (``revoke``) an association collecting paper
    signatures for the petition."""
    petition_id = _petition_id(request)
    async with scope(request) as (db, actor):
        form = await read_form(request)
        raw = field(form, "organisation_id", 12)
        organisation_id = int(raw) if raw.isascii() and raw.isdigit() else 0
        if not 1 <= organisation_id <= MAX_ID:
            raise NotFound()
        action = request.path_params["action"]
        if action not in ("allow", "revoke"):
            raise NotFound()
        if action == "allow":
            await organisations.authorise_organisation(db, actor, petition_id, organisation_id, utcnow())
        else:
            await organisations.revoke_organisation(db, actor, petition_id, organisation_id, utcnow())
    return RedirectResponse(path_for(request, "petition", petition_id=petition_id) + "#collectors-heading", 303)


async def invite_deputy(request: Request) -> Response:
    """POST: the agent invites a deputy agent by email (a link is mailed through the outbox)."""
    petition_id = _petition_id(request)
    settings = request.app.state.settings
    async with scope(request) as (db, actor):
        form = await read_form(request)
        try:
            await organisations.invite(db, actor, keys(request), "petition_deputy", petition_id,
                                       field(form, "email", 300), utcnow(), settings.base_url)
        except Invalid as exc:
            ctx = await _detail_context(request, db, actor, petition_id)
            ctx["action_errors"] = exc.field_errors
            ctx["action_message"] = exc.message
            return render(request, "petitions/detail.html", status_code=422, form=SignForm(), errors={},
                          outcome=None, message=None, **ctx)
    request.session["flash_note"] = "invitation_sent"
    return RedirectResponse(path_for(request, "petition", petition_id=petition_id), status_code=303)


async def staff_signatures(request: Request) -> Response:
    """Council staff: the signatures of a petition with CNIEs (the access is audited)."""
    petition_id = _petition_id(request)
    settings = request.app.state.settings
    async with scope(request) as (db, actor):
        petition = await service.get_petition(db, actor, petition_id, settings.petition_rules)
        rows = [r async for r in await service.open_signatures(db, actor, keys(request), petition_id, utcnow())]
    return render(request, "staff/signatures.html", petition=petition, rows=rows)


# --- JSON API (open data: no personal data, ever) ---------------------------------------------------------


def petition_json(petition: service.PetitionView, tally: service.Tally) -> dict[str, Any]:
    """The public JSON shape of a petition: counts only."""
    return {
        "id": petition.id,
        "title": petition.title,
        "status": petition.status,
        "addressed_to": petition.addressed_to,
        "signature_count": tally.total,
        "threshold": tally.threshold,
        "province_minimum": petition.rules.province_minimum,
        "signatures_by_province": {p.code: p.count for p in tally.provinces},
        "created_at": petition.created_at.isoformat(),
        "published_at": petition.published_at.isoformat() if petition.published_at else None,
    }


async def api_petitions(request: Request) -> Response:
    """GET /api/v1/petitions: public petitions of the region with their counts."""
    settings = request.app.state.settings
    async with scope(request) as (db, _actor):
        views = await service.list_public_views(db, settings.region, settings.petition_rules, limit=500)
        by_petition = await service.province_counts(db, [v.id for v in views])  # exact, one query for the page
        provinces = await territories.provinces(db, settings.region)
        items = [petition_json(v, service.make_tally(v, by_petition.get(v.id, {}), provinces)) for v in views]
    return JSONResponse({"petitions": items})


async def api_petition(request: Request) -> Response:
    """GET /api/v1/petitions/{id}: one public petition with its counts."""
    settings = request.app.state.settings
    async with scope(request) as (db, _actor):
        petition = await service.get_petition(db, _actor, _petition_id(request), settings.petition_rules)
        if petition.hidden_at is not None:  # hidden content is in no API response, whoever asks (issue #6)
            raise NotFound()
        tally = await service.tally(db, petition, settings.region)
    return JSONResponse(petition_json(petition, tally))


async def my_signatures(request: Request) -> Response:
    """GET /me/signatures: the signatures I gave, with withdrawal while collecting."""
    flash = request.session.pop("flash_note", None)
    async with scope(request) as (db, actor):
        if not actor.signed_in:
            return RedirectResponse(login_path(request), 303)
        items = await rights.my_signatures(db, actor)
    return render(request, "me/signatures.html", items=items, flash=flash)


async def withdraw_signature(request: Request) -> Response:
    """POST /me/signatures/{id}/withdraw. A withdrawal counts against the account's signing limit, so that
    withdrawing and signing again cannot be used to probe, through the public count, whether a CNIE has signed
    (issue #8, item 4)."""
    petition_id = _petition_id(request)
    async with scope(request) as (db, actor):
        await read_form(request)
        if actor.signed_in and not await request.app.state.sign_limiter.hit("account", str(actor.user_id)):
            raise RateLimited()
        await rights.withdraw(db, actor, petition_id, utcnow())
    request.session["flash_note"] = "withdrawn"
    return RedirectResponse(path_for(request, "my_signatures"), 303)


async def my_data(request: Request) -> Response:
    """GET /me/data.json: everything Civic holds about me (Law 09-08 right of access)."""
    async with scope(request) as (db, actor):
        if not actor.signed_in:
            return RedirectResponse(login_path(request), 303)
        data = await rights.my_data(db, actor, keys(request), utcnow())
    return JSONResponse(data, headers={"Content-Disposition": 'attachment; filename="civic-my-data.json"',
                                       "Cache-Control": "no-store"})
