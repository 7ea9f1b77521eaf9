"""Results pages of a ballot: the page, its fragment (swapped in by htmx when the live stream says the results
changed), the JSON API, the live stream (Server-Sent Events) and the exports (issue #5, items 5, 6, 7, 8, 10).

Every route asks civic.votes.results for what it may show at ``now``: while the results are hidden the page and
the fragment say when they will be shown and show no count, the API answers ``{"results_visible": false}``, the
stream does not exist (404) and the exports are refused (409 with a message). Responses are
``Cache-Control: no-cache``: a cache must ask again, since results change and may be hidden again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from civic import i18n
from civic.db import utcnow
from civic.errors import Conflict, NotFound
from civic.i18n import N_
from civic.votes import exports, live, results
from civic.web.requests import is_htmx, path_id, render, scope

NO_CACHE = {"Cache-Control": "no-cache"}
EXPORT_FORMATS = ("csv", "xlsx", "pdf")
HIDDEN_EXPORT = N_("The results of this ballot are not shown in the current phase of the consultation, so "
                           "they cannot be downloaded.")


class StreamHidden(NotFound):
    """The live stream asked for while the results are hidden: it does not exist (404)."""

    message = results.HIDDEN_MESSAGE


class ExportHidden(Conflict):
    """An export asked for while the results are hidden (409, with its message)."""

    message = HIDDEN_EXPORT


def _helpers() -> dict[str, Any]:
    """Formatting helpers of the results templates (civic.votes.results)."""
    return {"pct": results.format_percent, "count": results.format_count, "money": results.format_money,
            "group_name": results.group_name, "dimension_name": results.dimension_name,
            "comparison": results.comparison, "outcome_text": results.outcome_text, "chart": results.chart,
            "option_name": results.option_name, "is_winner": results.is_winner, "winner_word": results.winner_word,
            "census_credit": results.CENSUS_CREDIT, "suppression_note": results.SUPPRESSION_NOTE,
            "paper_note": results.PAPER_NOTE, "hidden_message": results.HIDDEN_MESSAGE}


async def page(request: Request) -> Response:
    """GET /ballots/{id}/results: the results page (public). Visible: every question's figures, chart, data
    table and breakdown, with the live stream when JavaScript runs and a Refresh link when it does not.
    Hidden: when they will be shown, and no count. For htmx requests the fragment alone."""
    ballot_id = path_id(request, "ballot_id")
    async with scope(request) as (db, _actor):
        data = await results.ballot_results(db, ballot_id, utcnow())
    template = "votes/_results.html" if is_htmx(request) else "votes/results.html"
    return _with_headers(render(request, template, data=data, announce=False, **_helpers()))


def _with_headers(response: Response) -> Response:
    response.headers.update(NO_CACHE)
    return response


async def fragment(request: Request) -> Response:
    """GET /ballots/{id}/results/fragment: the results region alone, with a polite "Results updated" status
    (swapped out of band) — what the page fetches when the stream announces a change."""
    ballot_id = path_id(request, "ballot_id")
    async with scope(request) as (db, _actor):
        data = await results.ballot_results(db, ballot_id, utcnow())
    return _with_headers(render(request, "votes/_results.html", data=data, announce=True, **_helpers()))


async def api(request: Request) -> Response:
    """GET /api/v1/ballots/{id}/results: the results as JSON (public). Hidden: 200 with
    ``{"results_visible": false, "shown_from": …}`` and no count. Unknown ballot: 404."""
    ballot_id = path_id(request, "ballot_id")
    async with scope(request) as (db, _actor):
        data = await results.ballot_results(db, ballot_id, utcnow())
    return JSONResponse(results.api_document(data), headers=NO_CACHE)


async def stream(request: Request) -> Response:
    """GET /ballots/{id}/results/stream: Server-Sent Events announcing that the results changed (no count;
    civic.votes.live). 404 while the results are hidden; 406 to a client that does not ask for
    ``text/event-stream``. The database session is closed before streaming."""
    ballot_id = path_id(request, "ballot_id")
    async with scope(request) as (db, _actor):
        try:
            until = await results.stream_window(db, ballot_id, utcnow())
        except NotFound:
            raise StreamHidden() from None
    if "text/event-stream" not in request.headers.get("accept", ""):
        # not an EventSource (which always asks for text/event-stream): a crawler or a route walker, which
        # would otherwise wait up to MAX_STREAM seconds
        return PlainTextResponse("text/event-stream only (Server-Sent Events)", status_code=406, headers=NO_CACHE)
    settings = request.app.state.settings
    body: AsyncIterator[str] = live.event_stream(request.app.state, settings.database_url, ballot_id, until)
    return StreamingResponse(body, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def export(request: Request) -> Response:
    """GET /ballots/{id}/results.{csv,xlsx,pdf}: the results as CSV (UTF-8 with a BOM), XLSX (right to left in
    Arabic) or a PDF report with the charts (public). 409 with a message while the results are hidden."""
    ballot_id = path_id(request, "ballot_id")
    fmt = str(request.path_params["fmt"])
    if fmt not in EXPORT_FORMATS:
        raise NotFound()
    async with scope(request) as (db, _actor):
        data = await results.ballot_results(db, ballot_id, utcnow())
    if not data.visible:
        raise ExportHidden()
    filename = f"ballot-{ballot_id}-results-{i18n.current_language().code}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"', **NO_CACHE}
    if fmt == "csv":
        return Response(exports.results_csv(data), media_type=exports.CSV_MEDIA_TYPE, headers=headers)
    if fmt == "xlsx":
        body = await run_in_threadpool(exports.results_xlsx, data)
        return Response(body, media_type=exports.XLSX_MEDIA_TYPE, headers=headers)
    env = request.app.state.templates.env
    body = await run_in_threadpool(exports.results_pdf, env, data)
    return Response(body, media_type=exports.PDF_MEDIA_TYPE, headers=headers)
