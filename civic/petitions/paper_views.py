"""Pages for CSO members linked to a petition: enter one paper or assisted signature, import a sheet, and
download the sheet template (civic.petitions.paper, shared/domain.md §2)."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from civic.db import utcnow
from civic.errors import Conflict, CsrfFailed, Invalid
from civic.petitions import paper
from civic.petitions.paper_forms import PaperSignatureForm, SheetImportForm
from civic.petitions.sheets import BadSheet
from civic.security import check_csrf_token
from civic.web.requests import CSRF_FIELD, CSRF_HEADER, keys, path_for, path_id, read_form, render, scope

UPLOAD_MAX_BYTES = 2 * 1024 * 1024  # the body limit of the import route (BodyLimitMiddleware override)
FLASH_KEY = "paper_flash"


async def read_upload(request: Request) -> FormData:
    """Read a multipart upload (one file, a few fields) and check its CSRF token, like ``read_form``.

    Raises CsrfFailed when the token is missing or wrong; BodyTooLarge (middleware) past the route's limit.
    """
    form = await request.form(max_files=1, max_fields=10, max_part_size=UPLOAD_MAX_BYTES)
    token = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    if not check_csrf_token(keys(request), request.session.get("csrf"), token if isinstance(token, str) else None):
        await form.close()
        raise CsrfFailed()
    return form


async def enter(request: Request) -> Response:
    """GET: the entry form and the collector's recent entries. POST: record one signature, then come back
    to the form (Post/Redirect/Get) keeping the channel and sheet reference for the next entry."""
    petition_id = path_id(request, "petition_id")
    form = PaperSignatureForm()
    errors: dict[str, list[str]] = {}
    message: str | None = None
    outcome: paper.PaperOutcome | None = None
    async with scope(request) as (db, actor):
        if request.method == "POST":
            form = PaperSignatureForm(formdata=await read_form(request))
            data = form.to_input()
            try:
                outcome = await paper.enter_signature(db, actor, keys(request), petition_id, data, utcnow())
            except Invalid as exc:
                errors, message = exc.field_errors, exc.message
            except Conflict as exc:
                message = exc.message
            if outcome is not None:
                request.session[FLASH_KEY] = [outcome.value, data.channel, data.sheet_ref[:paper.SHEET_REF_MAX]]
                return RedirectResponse(path_for(request, "petition_paper", petition_id=petition_id), 303)
        else:
            flash = request.session.pop(FLASH_KEY, None)
            if isinstance(flash, list) and len(flash) == 3 and flash[0] in {o.value for o in paper.PaperOutcome}:
                outcome = paper.PaperOutcome(flash[0])
                form = PaperSignatureForm(data={"channel": flash[1], "sheet_ref": flash[2]})
        page = await paper.collector_page(db, actor, petition_id, utcnow())
    status = 422 if errors else (409 if message else 200)
    return render(request, "petitions/paper.html", status_code=status, page=page, petition=page.petition,
                  form=form, errors=errors, message=message, outcome=outcome)


async def import_sheet(request: Request) -> Response:
    """GET: the upload form. POST (multipart, CSRF-checked): import the sheet and show the row-by-row report."""
    petition_id = path_id(request, "petition_id")
    report: paper.ImportReport | None = None
    errors: dict[str, list[str]] = {}
    missing: tuple[str, ...] = ()
    message: str | None = None
    async with scope(request) as (db, actor):
        if request.method == "POST":
            formdata = await read_upload(request)
            try:
                upload = SheetImportForm(formdata=formdata).upload()
                filename = (upload.filename or "") if upload else ""
                content = await upload.read(UPLOAD_MAX_BYTES + 1) if upload else b""
            finally:
                await formdata.close()
            try:
                report = await paper.import_sheet(db, actor, keys(request), petition_id, filename, content, utcnow())
            except BadSheet as exc:
                errors, missing, message = exc.field_errors, exc.missing_columns, exc.message
            except Conflict as exc:
                message = exc.message
        petition = await paper.collector_petition(db, actor, petition_id, utcnow())
    status = 422 if errors else (409 if message else 200)
    return render(request, "petitions/paper_import.html", status_code=status, petition=petition, report=report,
                  errors=errors, missing_columns=missing, message=message,
                  required_columns=paper.REQUIRED_COLUMNS, electoral_column=paper.ELECTORAL_COLUMN)


async def template_csv(request: Request) -> Response:
    """GET: the CSV template (header and one made-up example row) for this petition's columns."""
    petition_id = path_id(request, "petition_id")
    async with scope(request) as (db, actor):
        petition = await paper.collector_petition(db, actor, petition_id, utcnow())
    return Response(paper.template_csv(petition.require_electoral_registration), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="civic-petition-{petition_id}-sheet.csv"'})
