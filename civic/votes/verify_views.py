"""Verification pages (issue #5, item 9): the public receipt check, publication by the consultation's managers,
and the downloads of the anonymised ballots file and of the receipt list (civic.votes.verify)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from civic.db import utcnow
from civic.errors import Conflict
from civic.votes import verify
from civic.web.requests import field, open_session, path_for, path_id, read_form, render, resolve_actor, scope

FLASH_KEY = "publish_flash"
CODE_MAX = 40  # a receipt code is 11 characters with its dash; room for spaces typed around it


async def receipt_check(request: Request) -> Response:
    """GET: the receipt check form (and, for the consultation's managers, the publish button). POST
    (CSRF-checked, so the code never goes into a URL): answer "counted" or "not found" for the typed code."""
    ballot_id = path_id(request, "ballot_id")
    answer: str | None = None
    code = ""
    async with scope(request) as (db, actor):
        if request.method == "POST":
            code = field(await read_form(request), "code", CODE_MAX).strip()
            answer = await verify.check_receipt(db, ballot_id, code, utcnow())
        state = await verify.public_ballot(db, actor, ballot_id, utcnow())
    flash = request.session.pop(FLASH_KEY, None) if request.method == "GET" else None
    status = 422 if answer == verify.RECEIPT_MALFORMED else 200
    return render(request, "votes/receipt_check.html", status_code=status, state=state, answer=answer, code=code,
                  flash=flash == "published", message=None)


async def publish(request: Request) -> Response:
    """POST /ballots/{ballot_id}/publish: publish the receipt digests and the tally (consultation managers), then
    back to the receipt check page."""
    ballot_id = path_id(request, "ballot_id")
    async with scope(request) as (db, actor):
        await read_form(request)
        try:
            await verify.publish(db, actor, ballot_id, utcnow())
        except Conflict as exc:
            state = await verify.public_ballot(db, actor, ballot_id, utcnow())
            return render(request, "votes/receipt_check.html", status_code=409, state=state, answer=None, code="",
                          flash=False, message=exc.message)
    request.session[FLASH_KEY] = "published"
    return RedirectResponse(path_for(request, "receipt_check", ballot_id=ballot_id), 303)


async def _download(request: Request, lines: str) -> Response:
    ballot_id = path_id(request, "ballot_id")
    db = open_session(request)
    try:
        await resolve_actor(request, db)
        await verify.require_files(db, ballot_id, utcnow())
        source = verify.anonymised_file(db, ballot_id) if lines == "ballots" else verify.receipt_lines(db, ballot_id)
        first = await anext(source, "")  # errors (an unknown or unpublished ballot) surface before the response starts
    except BaseException:
        await db.close()
        raise

    async def body() -> AsyncIterator[bytes]:
        try:
            yield first.encode("utf-8")
            async for chunk in source:
                yield chunk.encode("utf-8")
        finally:
            await source.aclose()
            await db.close()

    if lines == "ballots":
        return StreamingResponse(body(), media_type="application/x-ndjson; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="civic-ballot-{ballot_id}-ballots.jsonl"'})
    return StreamingResponse(body(), media_type="text/plain; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="civic-ballot-{ballot_id}-receipts.txt"'})


async def ballot_file(request: Request) -> Response:
    """GET /ballots/{ballot_id}/ballots.jsonl: the anonymised ballots file, streamed; 404 until the ballot is
    published and while its results are hidden."""
    return await _download(request, "ballots")


async def receipts(request: Request) -> Response:
    """GET /ballots/{ballot_id}/receipts.txt: the published receipt digests, sorted, one per line; 404 until
    the ballot is published and while its results are hidden."""
    return await _download(request, "receipts")
