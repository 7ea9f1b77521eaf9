"""Proposal pages: a consultation's list, submitting and editing, the proposal page with its support button (full
page or htmx fragment), comments and replies, the consultation's discussion, staff answers and follow-up, and
the JSON API (issue #4, items 3–6 and 8)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import NoMatchFound

from civic import listing
from civic.accounts import service as accounts
from civic.db import utcnow
from civic.errors import Conflict, Invalid
from civic.proposals import comments, service, supports
from civic.proposals.forms import AnswerForm, CommentForm, ProposalForm, UpdateForm
from civic.proposals.models import ANSWER_STATUSES, CATEGORIES
from civic.territories import service as territories
from civic.web.requests import field, is_htmx, login_path, path_for, path_id, read_form, render, scope

# Notes shown once after a redirect (session key "proposal_note"): code → what the page says.
NOTES = ("created", "edited", "withdrawn", "commented", "answered", "updated")
SUPPORT_NOTES = tuple(o.value for o in supports.Outcome)


def _render(request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
    """render() with the label maps every proposal template uses."""
    return render(request, template, status_code=status_code, category_labels=service.CATEGORY_LABELS,
                  status_labels_p=service.STATUS_LABELS, stance_labels=service.STANCE_LABELS, **values)


def _consultation_path(request: Request, consultation_id: int) -> str | None:
    """The consultation's page (route ``consultation``, written with the consultation pages), if it exists."""
    try:
        return path_for(request, "consultation", consultation_id=consultation_id)
    except NoMatchFound:
        return None


def _filters(request: Request) -> service.ListFilters:
    q = request.query_params
    sort = q.get("sort", "newest")
    return service.ListFilters(status=q.get("status", "")[:30], province=q.get("province", "")[:20],
                               category=q.get("category", "")[:30], q=q.get("q", "")[:200].strip(),
                               sort=sort if sort in service.SORTS else "newest")


def _query(filters: service.ListFilters) -> str:
    """The list's filters as a query string, for page links that keep them."""
    pairs = {"status": filters.status, "province": filters.province, "category": filters.category, "q": filters.q,
             "sort": filters.sort if filters.sort != "newest" else ""}
    return urlencode({k: v for k, v in pairs.items() if v})


async def index(request: Request) -> Response:
    """GET /consultations/{id}/proposals: filters, sort orders and pages (no JavaScript needed)."""
    consultation_id = path_id(request, "consultation_id")
    settings = request.app.state.settings
    seed = listing.seed_from(request.session.get("seed"))
    request.session["seed"] = seed
    filters = _filters(request)
    async with scope(request) as (db, actor):
        consultation, refusal, _orgs = await service.new_proposal_context(db, actor, consultation_id, utcnow())
        page = await service.list_proposals(db, consultation_id, filters, listing.page_number(
            request.query_params.get("page")), seed)
        provinces = await territories.provinces(db, settings.region)
    return _render(request, "proposals/index.html", consultation=consultation, page=page, filters=filters,
                   query=_query(filters), provinces=provinces, categories=CATEGORIES,
                   statuses=service.LIST_STATUSES, sorts=service.SORTS, proposals_refusal=refusal,
                   consultation_path=_consultation_path(request, consultation_id))


async def _form_page(request: Request, db: Any, actor: Any, consultation_id: int, form: ProposalForm,
                     errors: dict[str, list[str]], status_code: int = 200, proposal_id: int | None = None,
                     message: str | None = None) -> Response:
    settings = request.app.state.settings
    consultation, refusal, organisations = await service.new_proposal_context(db, actor, consultation_id, utcnow())
    groups = await territories.communes_by_province(db, settings.region)
    return _render(request, "proposals/form.html", status_code=status_code, consultation=consultation, form=form,
                   errors=errors, groups=groups, organisations=organisations, categories=CATEGORIES,
                   refusal=None if proposal_id else refusal, proposal_id=proposal_id, message=message)


async def new(request: Request) -> Response:
    """GET/POST /consultations/{id}/proposals/new: submit a proposal while the phase allows it."""
    consultation_id = path_id(request, "consultation_id")
    settings = request.app.state.settings
    async with scope(request) as (db, actor):
        if not actor.signed_in:
            return RedirectResponse(login_path(request), 303)
        form = ProposalForm()
        if request.method == "GET":
            me = await accounts.profile(db, actor)
            form.territory_code.data = me.commune_code if me else ""
            return await _form_page(request, db, actor, consultation_id, form, {})
        form = ProposalForm(formdata=await read_form(request))
        try:
            proposal_id = await service.submit(db, actor, consultation_id, form.to_input(), settings.region,
                                               utcnow())
        except Invalid as exc:
            return await _form_page(request, db, actor, consultation_id, form, exc.field_errors, 422)
        except Conflict as exc:
            return await _form_page(request, db, actor, consultation_id, form, {}, 409, message=exc.message)
    request.session["proposal_note"] = "created"
    return RedirectResponse(path_for(request, "proposal", proposal_id=proposal_id), 303)


async def edit(request: Request) -> Response:
    """GET/POST /proposals/{id}/edit: the author changes the proposal before its first support or comment."""
    proposal_id = path_id(request, "proposal_id")
    settings = request.app.state.settings
    async with scope(request) as (db, actor):
        if not actor.signed_in:
            return RedirectResponse(login_path(request), 303)
        proposal = await service.editable(db, actor, proposal_id, utcnow())
        if request.method == "GET":
            form = ProposalForm(data={"title": proposal.title, "body": proposal.body, "category": proposal.category,
                                      "territory_code": proposal.territory_code,
                                      "organisation_id": str(proposal.organisation_id or "")})
            return await _form_page(request, db, actor, proposal.consultation_id, form, {}, proposal_id=proposal_id)
        form = ProposalForm(formdata=await read_form(request))
        try:
            await service.edit(db, actor, proposal_id, form.to_input(), settings.region, utcnow())
        except Invalid as exc:
            return await _form_page(request, db, actor, proposal.consultation_id, form, exc.field_errors, 422,
                                    proposal_id=proposal_id)
    request.session["proposal_note"] = "edited"
    return RedirectResponse(path_for(request, "proposal", proposal_id=proposal_id), 303)


async def _page(request: Request, db: Any, actor: Any, proposal_id: int, status_code: int = 200,
                **extra: Any) -> Response:
    """The proposal page; ``extra`` overrides the forms, their errors and messages after a refused POST."""
    page = await service.proposal_page(db, actor, proposal_id, utcnow())
    values: dict[str, Any] = {
        "comment_form": CommentForm(data={"stance": "neutral"}), "blank_comment_form": CommentForm(data={
            "stance": "neutral"}), "comment_errors": {}, "comment_parent": None,
        "comment_message": None, "answer_form": AnswerForm(), "answer_errors": {}, "update_form": UpdateForm(),
        "update_errors": {}, "support_message": None, "support_note": None, "note": None,
        "answer_statuses": ANSWER_STATUSES,
        "consultation_path": _consultation_path(request, page.proposal.consultation_id),
        **extra,
    }
    return _render(request, "proposals/detail.html", status_code=status_code, page=page, p=page.proposal,
                   s=page.support, **values)


async def detail(request: Request) -> Response:
    """GET /proposals/{id}: the proposal, its supports, official answers, follow-up and discussion."""
    note = request.session.pop("proposal_note", None)
    async with scope(request) as (db, actor):
        return await _page(request, db, actor, path_id(request, "proposal_id"),
                           note=note if note in NOTES else None,
                           support_note=note if note in SUPPORT_NOTES else None)


async def withdraw(request: Request) -> Response:
    """POST /proposals/{id}/withdraw: the author withdraws the proposal (before any official answer)."""
    proposal_id = path_id(request, "proposal_id")
    async with scope(request) as (db, actor):
        await read_form(request)
        await service.withdraw(db, actor, proposal_id, utcnow())
    request.session["proposal_note"] = "withdrawn"
    return RedirectResponse(path_for(request, "proposal", proposal_id=proposal_id), 303)


async def support(request: Request) -> Response:
    """POST /proposals/{id}/support (``action`` = support | withdraw). Without JavaScript: back to the page with a
    status message; with htmx: the support area and the announcement (aria-live). A refusal (closed phase,
    all supports used) answers 409 with its message, in the fragment or on the page."""
    proposal_id = path_id(request, "proposal_id")
    async with scope(request) as (db, actor):
        form = await read_form(request)
        act = supports.withdraw if field(form, "action", 20) == "withdraw" else supports.support
        try:
            result = await act(db, actor, proposal_id, utcnow())
        except Conflict as exc:
            if is_htmx(request):
                state = await supports.state(db, actor, proposal_id, utcnow())
                return _render(request, "proposals/_support_response.html", status_code=409, s=state,
                               support_note=None, support_message=exc.message, p=None)
            return await _page(request, db, actor, proposal_id, 409, support_message=exc.message)
    if is_htmx(request):
        return _render(request, "proposals/_support_response.html", s=result.state,
                       support_note=result.outcome.value, support_message=None, p=None)
    request.session["proposal_note"] = result.outcome.value
    return RedirectResponse(path_for(request, "proposal", proposal_id=proposal_id) + "#support", 303)


async def comment(request: Request) -> Response:
    """POST /proposals/{id}/comments: a comment or a reply; errors keep what was typed."""
    proposal_id = path_id(request, "proposal_id")
    async with scope(request) as (db, actor):
        form = CommentForm(formdata=await read_form(request))
        data = form.to_input()
        try:
            comment_id = await comments.comment_on_proposal(db, actor, proposal_id, data, utcnow())
        except (Invalid, Conflict) as exc:
            return await _page(request, db, actor, proposal_id, exc.status_code, comment_form=form,
                               comment_errors=getattr(exc, "field_errors", {}), comment_parent=data.parent_id,
                               comment_message=exc.message)
    request.session["proposal_note"] = "commented"
    return RedirectResponse(path_for(request, "proposal", proposal_id=proposal_id) + f"#comment-{comment_id}", 303)


async def consultation_comments(request: Request) -> Response:
    """GET/POST /consultations/{id}/comments: the consultation's own discussion and its comment form."""
    consultation_id = path_id(request, "consultation_id")
    form = CommentForm(data={"stance": "neutral"})
    errors: dict[str, list[str]] = {}
    message = None
    parent = None
    status_code = 200
    note = request.session.pop("proposal_note", None) if request.method == "GET" else None
    async with scope(request) as (db, actor):
        if request.method == "POST":
            form = CommentForm(formdata=await read_form(request))
            data = form.to_input()
            try:
                comment_id = await comments.comment_on_consultation(db, actor, consultation_id, data, utcnow())
            except (Invalid, Conflict) as exc:
                errors, message, parent = getattr(exc, "field_errors", {}), exc.message, data.parent_id
                status_code = exc.status_code
            else:
                request.session["proposal_note"] = "commented"
                return RedirectResponse(path_for(request, "consultation_comments", consultation_id=consultation_id)
                                        + f"#comment-{comment_id}", 303)
        discussion = await comments.consultation_discussion(db, consultation_id, utcnow())
    return _render(request, "proposals/comments.html", status_code=status_code, discussion_data=discussion,
                   comment_form=form, blank_comment_form=CommentForm(data={"stance": "neutral"}),
                   comment_errors=errors, comment_parent=parent, comment_message=message,
                   note=note if note in NOTES else None,
                   consultation_path=_consultation_path(request, consultation_id))


async def answer(request: Request) -> Response:
    """POST /proposals/{id}/answer: council staff's official answer (status and public text)."""
    proposal_id = path_id(request, "proposal_id")
    settings = request.app.state.settings
    async with scope(request) as (db, actor):
        form = AnswerForm(formdata=await read_form(request))
        try:
            await service.answer(db, actor, proposal_id, form.status.data or "", form.body.data or "", utcnow(),
                                 settings.base_url)
        except Invalid as exc:
            return await _page(request, db, actor, proposal_id, 422, answer_form=form, answer_errors=exc.field_errors)
    request.session["proposal_note"] = "answered"
    return RedirectResponse(path_for(request, "proposal", proposal_id=proposal_id) + "#answers", 303)


async def updates(request: Request) -> Response:
    """POST /proposals/{id}/updates: council staff's follow-up on an accepted proposal."""
    proposal_id = path_id(request, "proposal_id")
    settings = request.app.state.settings
    async with scope(request) as (db, actor):
        form = UpdateForm(formdata=await read_form(request))
        try:
            await service.add_update(db, actor, proposal_id, form.update_body.data or "", utcnow(), settings.base_url)
        except Invalid as exc:
            return await _page(request, db, actor, proposal_id, 422, update_form=form, update_errors=exc.field_errors)
    request.session["proposal_note"] = "updated"
    return RedirectResponse(path_for(request, "proposal", proposal_id=proposal_id) + "#follow-up", 303)


# --- JSON API (open data: no personal data beyond the author's display name) ------------------------------------


async def api_proposals(request: Request) -> Response:
    """GET /api/v1/consultations/{id}/proposals?page=&status=&province=&category=&q=&sort=: visible proposals."""
    consultation_id = path_id(request, "consultation_id")
    filters = _filters(request)
    if filters.sort == "random":
        filters = service.ListFilters(filters.status, filters.province, filters.category, filters.q, "newest")
    async with scope(request) as (db, _actor):
        data = await service.api_list(db, consultation_id, filters, listing.page_number(
            request.query_params.get("page")))
    return JSONResponse(data)


async def api_proposal(request: Request) -> Response:
    """GET /api/v1/proposals/{id}: one proposal with its counts, answers and follow-up."""
    async with scope(request) as (db, _actor):
        data = await service.api_detail(db, path_id(request, "proposal_id"))
    return JSONResponse(data)
