"""Paper tally sheet pages for meeting organisers: the sheets of a ballot with the entry form, entering a sheet,
and correcting one by a new sheet (civic.votes.sheets; issue #5, item 3)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from civic.db import utcnow
from civic.errors import Conflict, Invalid
from civic.votes import sheets
from civic.votes.sheet_forms import SheetForm
from civic.web.requests import path_for, path_id, read_form, render, scope

FLASH_KEY = "sheet_flash"


def _query_id(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name, "")
    return sheets.parse_id(raw)


def _page(request: Request, page: sheets.SheetsPage, *, status_code: int = 200, form: SheetForm | None = None,
          question_id: int | None = None, correcting: int | None = None, errors: dict[str, list[str]] | None = None,
          message: str | None = None, flash: str | None = None) -> Response:
    """Render the sheets page: the lists, and one form — a correction of ``correcting`` (an in-force sheet), or
    a new sheet for ``question_id`` (default: the first question)."""
    corrected = page.sheet(correcting) if correcting else None
    if corrected is not None and not corrected.in_force:
        corrected = None
    if corrected is not None:
        question = page.question(corrected.question_id)
    else:
        question = page.question(question_id) if question_id else None
        question = question or (page.questions[0] if page.questions else None)
    if form is None:
        if corrected is not None:
            form = SheetForm.of(corrected)
        else:
            only = str(page.meetings[0].id) if len(page.meetings) == 1 else ""
            form = SheetForm(data={"question_id": str(question.question.id) if question else "", "meeting_id": only})
    values: dict[str, Any] = {"page": page, "form": form, "question": question, "corrected": corrected,
                              "errors": errors or {}, "message": message, "flash": flash}
    return render(request, "votes/sheets.html", status_code=status_code, **values)


async def index(request: Request) -> Response:
    """GET /ballots/{ballot_id}/sheets[?question=ID|?correct=SHEET_ID]: the ballot's paper tally sheets, and the
    form to enter one for a question, or to correct an in-force sheet (meeting organisers)."""
    ballot_id = path_id(request, "ballot_id")
    flash = request.session.pop(FLASH_KEY, None)
    async with scope(request) as (db, actor):
        page = await sheets.sheets_page(db, actor, ballot_id, utcnow())
    return _page(request, page, question_id=_query_id(request, "question"), correcting=_query_id(request, "correct"),
                 flash=flash if flash in ("entered", "corrected") else None)


async def new(request: Request) -> Response:
    """POST /ballots/{ballot_id}/sheets/new: record a sheet, then back to the list (Post/Redirect/Get)."""
    ballot_id = path_id(request, "ballot_id")
    async with scope(request) as (db, actor):
        form = SheetForm.posted(await read_form(request))
        data = form.to_input()
        try:
            await sheets.enter_sheet(db, actor, ballot_id, data, utcnow())
        except (Invalid, Conflict) as exc:
            page = await sheets.sheets_page(db, actor, ballot_id, utcnow())
            invalid = isinstance(exc, Invalid)
            return _page(request, page, status_code=422 if invalid else 409, form=form,
                         question_id=sheets.parse_id(data.question_id),
                         errors=exc.field_errors if isinstance(exc, Invalid) else None, message=exc.message)
    request.session[FLASH_KEY] = "entered"
    query = f"?question={sheets.parse_id(data.question_id)}#sheets-heading"
    return RedirectResponse(path_for(request, "tally_sheets", ballot_id=ballot_id) + query, 303)


async def correct(request: Request) -> Response:
    """POST /sheets/{sheet_id}/correct: record a new sheet superseding this one, then back to the list."""
    sheet_id = path_id(request, "sheet_id")
    async with scope(request) as (db, actor):
        form = SheetForm.posted(await read_form(request))
        try:
            await sheets.correct_sheet(db, actor, sheet_id, form.to_input(), utcnow())
        except (Invalid, Conflict) as exc:
            ballot_id = await sheets.ballot_of_sheet(db, sheet_id)
            page = await sheets.sheets_page(db, actor, ballot_id, utcnow())
            invalid = isinstance(exc, Invalid)
            return _page(request, page, status_code=422 if invalid else 409, form=form if invalid else None,
                         correcting=sheet_id, errors=exc.field_errors if isinstance(exc, Invalid) else None,
                         message=exc.message)
        ballot_id = await sheets.ballot_of_sheet(db, sheet_id)
    request.session[FLASH_KEY] = "corrected"
    return RedirectResponse(path_for(request, "tally_sheets", ballot_id=ballot_id) + "#sheets-heading", 303)
