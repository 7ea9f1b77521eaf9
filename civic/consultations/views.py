"""Consultation pages: the public list (filters, sort, pages; htmx swaps the results), a consultation's page,
staff forms (create, edit, phases, documents), the PDF download, and the JSON API (issue #4, items 1, 4–8)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import NoMatchFound

from civic import listing
from civic.consultations import documents, service
from civic.consultations.forms import ConsultationForm, DocumentForm, PhaseForm
from civic.consultations.models import PHASE_FLAGS, PHASE_KINDS, SCOPES, Phase
from civic.db import utcnow
from civic.errors import CsrfFailed, Invalid
from civic.permissions import ANONYMOUS, Action, can_somewhere
from civic.petitions.models import ADDRESSEES
from civic.security import check_csrf_token
from civic.territories import service as territories
from civic.web.requests import (
    CSRF_FIELD,
    CSRF_HEADER,
    is_htmx,
    keys,
    open_session,
    path_for,
    path_id,
    read_form,
    render,
    scope,
)

FLASH = "consultation_flash"
FIELD_PART_BYTES = 64 * 1024


# --- helpers ------------------------------------------------------------------------------------------------


def optional_path(request: Request, name: str, **params: Any) -> str | None:
    """The path of a named route, or None when the route table has no such route (yet): pages hide the link."""
    try:
        return path_for(request, name, **params)
    except NoMatchFound:
        return None


def meeting_path(request: Request, meeting_id: int) -> str:
    """The page of a forum meeting: the ``meeting`` route, or its documented path ``/meetings/{id}``."""
    found = optional_path(request, "meeting", meeting_id=meeting_id)
    return found or f"{request.scope.get('root_path', '')}/meetings/{meeting_id}"


async def read_upload_form(request: Request) -> FormData:
    """Read a multipart upload with exactly one file at most and a few short fields, and check its CSRF token
    (field ``csrf_token`` or header ``X-CSRF-Token``), like ``read_form``.

    The body limit of the upload route is ``max_upload_bytes`` plus a margin (civic.app); the file itself is
    checked by civic.consultations.documents. Raises CsrfFailed; Starlette answers 400 for a second file.
    """
    form = await request.form(max_files=1, max_fields=10, max_part_size=FIELD_PART_BYTES)
    token = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    if not check_csrf_token(keys(request), request.session.get("csrf"), token if isinstance(token, str) else None):
        await form.close()
        raise CsrfFailed()
    return form


def _pagination(request: Request, filters: service.ConsultationFilters, page: listing.Page[Any]) -> dict[str, Any]:
    """Page links keeping the filters: ``links`` to pages 1, the last, and two either side of the current one
    (a gap is ``{"gap": True}``), and the ``previous`` and ``next`` URLs (None at either end)."""
    base = path_for(request, "consultations")

    def url(number: int) -> str:
        return base + _query_string({**filters.query(), "page": str(number)} if number > 1 else filters.query())

    wanted = sorted({1, page.pages, *range(max(1, page.number - 2), min(page.pages, page.number + 2) + 1)})
    links: list[dict[str, Any]] = []
    previous = 0
    for number in wanted:
        if number > previous + 1:
            links.append({"gap": True})
        links.append({"number": number, "url": url(number), "current": number == page.number})
        previous = number
    return {"links": links, "previous": url(page.number - 1) if page.has_previous else None,
            "next": url(page.number + 1) if page.has_next else None}


def _query_string(values: dict[str, str]) -> str:
    return "?" + urlencode(values) if values else ""


def _next_kind(phases: list[Phase]) -> str:
    """The kind usually following the consultation's last phase (the first kind when there is none)."""
    if not phases:
        return PHASE_KINDS[0]
    index = PHASE_KINDS.index(phases[-1].kind) if phases[-1].kind in PHASE_KINDS else -1
    return PHASE_KINDS[min(index + 1, len(PHASE_KINDS) - 1)]


def _redirect(request: Request, name: str, flash: str, **params: Any) -> Response:
    request.session[FLASH] = flash
    return RedirectResponse(path_for(request, name, **params), 303)


# --- public pages -------------------------------------------------------------------------------------------


async def index(request: Request) -> Response:
    """GET /consultations: filters (status, province, body, words), sort (newest or random with the visitor's
    seed) and pages of 10; an htmx request gets the results region only."""
    settings = request.app.state.settings
    filters = service.ConsultationFilters.parse(request.query_params)
    seed = listing.seed_from(request.session.get("seed"))
    request.session["seed"] = seed
    number = listing.page_number(request.query_params.get("page"))
    now = utcnow()
    async with scope(request) as (db, actor):
        page = await service.list_consultations(db, filters, number, seed, now)
        provinces = await territories.provinces(db, settings.region)
    values: dict[str, Any] = {"page": page, "filters": filters, "provinces": provinces, "addressees": ADDRESSEES,
              "statuses": service.STATUSES, "pagination": _pagination(request, filters, page), "now": now,
              "can_manage": can_somewhere(actor, Action.CONSULTATION_MANAGE, now)}
    if is_htmx(request) and request.headers.get("hx-history-restore-request") != "true":
        return render(request, "consultations/_results.html", **values)
    return render(request, "consultations/index.html", **values)


async def detail(request: Request) -> Response:
    """GET /consultations/{id}: texts, phases timeline, what one can do now, documents, forum meetings."""
    consultation_id = path_id(request, "consultation_id")
    flash = request.session.pop(FLASH, None)
    now = utcnow()
    async with scope(request) as (db, actor):
        page = await service.consultation_page(db, actor, consultation_id, now)
    links = {"proposals": optional_path(request, "proposals", consultation_id=consultation_id),
             "comments": optional_path(request, "consultation_comments", consultation_id=consultation_id),
             "proposal_new": optional_path(request, "proposal_new", consultation_id=consultation_id),
             "meeting_new": optional_path(request, "meeting_new", consultation_id=consultation_id),
             "ballots": optional_path(request, "consultation_ballots", consultation_id=consultation_id)}
    meetings = [(meeting, meeting_path(request, meeting.id)) for meeting in page.meetings]
    return render(request, "consultations/detail.html", page=page, item=page.item, c=page.consultation,
                  meetings=meetings, links=links, flash=flash, now=now)


async def download(request: Request) -> Response:
    """GET /documents/{id}.pdf: the stored PDF as an attachment with a safe name; 404 when missing."""
    document_id = path_id(request, "document_id")
    async with open_session(request) as db:
        found = await documents.document_file(db, document_id, request.app.state.settings.upload_dir)
    return FileResponse(found.path, media_type="application/pdf", headers={
        "Content-Disposition": documents.content_disposition(found.download_name, document_id),
        "X-Content-Type-Options": "nosniff", "Cache-Control": "public, max-age=300"})


# --- staff forms --------------------------------------------------------------------------------------------


async def _consultation_form(request: Request, consultation_id: int | None) -> Response:
    """Create (``consultation_id`` None) or edit. The POST goes to the service first; what the page shows is
    read afterwards, so a refused save (its transaction rolled back) never renders stale rows."""
    settings = request.app.state.settings
    now = utcnow()
    errors: dict[str, list[str]] = {}
    form: ConsultationForm | None = None
    async with scope(request) as (db, actor):
        if request.method == "POST":
            form = ConsultationForm(formdata=await read_form(request))
            try:
                if consultation_id is None:
                    new_id = await service.create_consultation(db, actor, form.to_input(), settings.region, now)
                    return _redirect(request, "consultation", "created", consultation_id=new_id)
                await service.update_consultation(db, actor, consultation_id, form.to_input(), settings.region, now)
                return _redirect(request, "consultation", "updated", consultation_id=consultation_id)
            except Invalid as exc:
                errors = exc.field_errors
        item = None
        if consultation_id is not None:
            item = await service.editable(db, actor, consultation_id, now)
        addressees = service.manageable_addressees(actor, now)  # a body's secretary: only their bodies
        if form is None:
            form = (ConsultationForm.for_consultation(item.consultation) if item else ConsultationForm(data={
                "scope": "region", "addressed_to": addressees[0],
                "support_limit": str(service.SUPPORT_LIMIT_DEFAULT)}))
        groups = await territories.communes_by_province(db, settings.region)
    return render(request, "consultations/form.html", status_code=422 if errors else 200, form=form, errors=errors,
                  item=item, groups=groups, scopes=SCOPES, addressees=addressees)


async def new(request: Request) -> Response:
    """GET/POST /consultations/new: staff create a consultation."""
    return await _consultation_form(request, None)


async def edit(request: Request) -> Response:
    """GET/POST /consultations/{id}/edit: staff edit a consultation."""
    return await _consultation_form(request, path_id(request, "consultation_id"))


async def _phases_page(request: Request, phase_id: int | None) -> Response:
    """The phases page, with the add form (``phase_id`` None) or the edit form of one phase."""
    consultation_id = path_id(request, "consultation_id")
    now = utcnow()
    errors: dict[str, list[str]] = {}
    form: PhaseForm | None = None
    async with scope(request) as (db, actor):
        if request.method == "POST":
            form = PhaseForm(formdata=await read_form(request))
            try:
                if phase_id is None:
                    await service.add_phase(db, actor, consultation_id, form.to_input(), now)
                    return _redirect(request, "consultation_phases", "phase_added", consultation_id=consultation_id)
                await service.update_phase(db, actor, consultation_id, phase_id, form.to_input(), now)
                return _redirect(request, "consultation_phases", "phase_updated", consultation_id=consultation_id)
            except Invalid as exc:
                errors = exc.field_errors
        item = await service.editable(db, actor, consultation_id, now)
        editing = await service.get_phase(db, actor, consultation_id, phase_id, now) if phase_id else None
        if form is None and editing is not None:
            form = PhaseForm.for_phase(editing)
        elif form is None:
            kind = request.query_params.get("kind", "")
            start = service.local_input_value(item.phases[-1].ends_at) if item.phases else ""
            form = PhaseForm.for_input(service.PhaseInput.defaults(
                kind if kind in PHASE_KINDS else _next_kind(item.phases), start))
    return render(request, "consultations/phases.html", status_code=422 if errors else 200, item=item,
                  c=item.consultation, form=form, errors=errors, editing=editing, kinds=PHASE_KINDS,
                  flags=PHASE_FLAGS, flash=request.session.pop(FLASH, None), now=now)


async def phases(request: Request) -> Response:
    """GET/POST /consultations/{id}/phases: staff see the phases and add one (``?kind=`` pre-fills the usual
    flags of that kind)."""
    return await _phases_page(request, None)


async def phase_edit(request: Request) -> Response:
    """GET/POST /consultations/{id}/phases/{phase_id}/edit: staff change a phase."""
    return await _phases_page(request, path_id(request, "phase_id"))


async def phase_delete(request: Request) -> Response:
    """POST /consultations/{id}/phases/{phase_id}/delete: staff remove a phase."""
    consultation_id, phase_id = path_id(request, "consultation_id"), path_id(request, "phase_id")
    async with scope(request) as (db, actor):
        await read_form(request)
        await service.delete_phase(db, actor, consultation_id, phase_id, utcnow())
    return _redirect(request, "consultation_phases", "phase_deleted", consultation_id=consultation_id)


async def documents_page(request: Request) -> Response:
    """GET: the consultation's documents with the upload form (staff). POST (multipart, CSRF-checked): attach
    a PDF."""
    consultation_id = path_id(request, "consultation_id")
    settings = request.app.state.settings
    now = utcnow()
    errors: dict[str, list[str]] = {}
    title = ""
    async with scope(request) as (db, actor):
        if request.method == "POST":
            formdata = await read_upload_form(request)
            try:
                form = DocumentForm(formdata=formdata)
                title = form.title.data or ""
                await documents.store_document(db, actor, consultation_id, title, form.upload(),
                                               settings.upload_dir, settings.max_upload_bytes, now)
            except Invalid as exc:
                errors = exc.field_errors
            else:
                return _redirect(request, "consultation_documents", "document_added",
                                 consultation_id=consultation_id)
            finally:
                await formdata.close()
        item = await service.editable(db, actor, consultation_id, now)
        stored = await documents.documents_of(db, consultation_id)
    return render(request, "consultations/documents.html", status_code=422 if errors else 200, item=item,
                  c=item.consultation, documents=stored, title=title, errors=errors,
                  max_upload_bytes=settings.max_upload_bytes, flash=request.session.pop(FLASH, None))


async def document_delete(request: Request) -> Response:
    """POST /consultations/{id}/documents/{document_id}/delete: staff remove a document and its file."""
    consultation_id, document_id = path_id(request, "consultation_id"), path_id(request, "document_id")
    async with scope(request) as (db, actor):
        await read_form(request)
        await documents.delete_document(db, actor, consultation_id, document_id,
                                        request.app.state.settings.upload_dir, utcnow())
    return _redirect(request, "consultation_documents", "document_deleted", consultation_id=consultation_id)


# --- JSON API (no personal data) ----------------------------------------------------------------------------


def _phase_json(phase: Phase) -> dict[str, Any]:
    return {"kind": phase.kind, "starts_at": phase.starts_at.isoformat(), "ends_at": phase.ends_at.isoformat(),
            **{flag: bool(getattr(phase, flag)) for flag in PHASE_FLAGS}}


def consultation_json(item: service.ConsultationItem) -> dict[str, Any]:
    """A consultation for the open-data API: no personal data (no creator), dates in UTC ISO 8601."""
    c = item.consultation
    return {"id": c.id, "title": c.title, "summary": c.summary, "scope": c.scope, "territory_code": c.territory_code,
            "addressed_to": c.addressed_to, "support_limit": c.support_limit, "status": item.status,
            "current_phase": _phase_json(item.current) if item.current else None,
            "phases": [_phase_json(p) for p in item.phases],
            "counts": {"proposals": item.counts.proposals, "comments": item.counts.comments}}


async def api_consultations(request: Request) -> Response:
    """GET /api/v1/consultations: newest first, 10 a page (``?page=``), with the list's filters."""
    filters = service.ConsultationFilters.parse({**request.query_params, "sort": "newest"})
    number = listing.page_number(request.query_params.get("page"))
    async with open_session(request) as db:
        page = await service.list_consultations(db, filters, number, 0, utcnow())
    return JSONResponse({"consultations": [consultation_json(item) for item in page.items], "page": page.number,
                         "pages": page.pages, "per_page": page.per_page, "total": page.total})


async def api_consultation(request: Request) -> Response:
    """GET /api/v1/consultations/{id}: one consultation with its texts, phases, counts, documents, meetings."""
    consultation_id = path_id(request, "consultation_id")
    async with open_session(request) as db:
        page = await service.consultation_page(db, ANONYMOUS, consultation_id, utcnow())
    data = consultation_json(page.item)
    data.update({
        "body": page.consultation.body, "easy_read": page.consultation.easy_read,
        "documents": [{"id": d.id, "title": d.title, "size_bytes": d.size_bytes, "sha256": d.sha256,
                       "url": path_for(request, "consultation_document", document_id=d.id)} for d in page.documents],
        "meetings": [{"id": m.id, "title": m.title, "mode": m.mode, "starts_at": m.starts_at.isoformat(),
                      "ends_at": m.ends_at.isoformat()} for m in page.meetings],
    })
    return JSONResponse(data)
