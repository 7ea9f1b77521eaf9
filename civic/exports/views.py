"""Export downloads: the staff signature CSV, the petition dossier (public and personal), and the receipt."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from civic.db import utcnow
from civic.errors import NotFound
from civic.exports import dossier as dossiers
from civic.exports import formats, service
from civic.web.requests import keys, open_session, path_id, resolve_actor, scope

DOSSIER_FORMATS = ("pdf", "xlsx", "csv")


def _attachment(filename: str, private: bool) -> dict[str, str]:
    """Download headers: an ASCII filename; staff exports (personal data) are never stored by a cache."""
    return {"Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store" if private else "no-cache"}


def _format(request: Request) -> str:
    fmt = str(request.path_params["fmt"])
    if fmt not in DOSSIER_FORMATS:
        raise NotFound()
    return fmt


async def _signatures_csv_response(request: Request, petition_id: int, filename: str) -> Response:
    """The signature list as streamed CSV (council staff; audited). Access is checked before the response
    starts; the database session lives as long as the stream."""
    db = open_session(request)
    try:
        actor = await resolve_actor(request, db)
        body = await service.signatures_csv(db, actor, keys(request), petition_id, utcnow())
    except BaseException:
        await db.close()
        raise

    async def stream() -> AsyncIterator[bytes]:
        try:
            async for chunk in body:
                yield chunk
        finally:
            await db.close()

    return StreamingResponse(stream(), media_type=formats.CSV_MEDIA_TYPE, headers=_attachment(filename, True))


async def signatures_csv(request: Request) -> Response:
    """GET: the signatures of a petition as CSV (council staff; audited)."""
    petition_id = path_id(request, "petition_id")
    return await _signatures_csv_response(request, petition_id, f"petition-{petition_id}-signatures.csv")


async def _dossier_response(request: Request, dossier: dossiers.Dossier, fmt: str, filename: str) -> Response:
    private = dossier.personal
    if fmt == "pdf":
        env = request.app.state.templates.env
        pdf = await run_in_threadpool(formats.dossier_pdf, env, dossier)
        return Response(pdf, media_type=formats.PDF_MEDIA_TYPE, headers=_attachment(filename, private))
    if fmt == "xlsx":
        xlsx = await run_in_threadpool(formats.dossier_xlsx, dossier)
        return Response(xlsx, media_type=formats.XLSX_MEDIA_TYPE, headers=_attachment(filename, private))
    return StreamingResponse(formats.provinces_csv(dossier), media_type=formats.CSV_MEDIA_TYPE,
                             headers=_attachment(filename, private))


async def public_dossier(request: Request) -> Response:
    """GET: the public dossier of a petition as PDF, XLSX or CSV (counts per province; no personal data)."""
    petition_id = path_id(request, "petition_id")
    fmt = _format(request)
    settings = request.app.state.settings
    async with scope(request) as (db, actor):
        dossier = await dossiers.dossier(db, actor, keys(request), petition_id, utcnow(), personal=False,
                                         rules=settings.petition_rules, region_code=settings.region)
    return await _dossier_response(request, dossier, fmt, f"petition-{petition_id}-dossier.{fmt}")


async def staff_dossier(request: Request) -> Response:
    """GET: the dossier with the signature list, as PDF, XLSX or CSV (council staff; every export audited).

    The CSV is the signature list itself, streamed (the counts per province are in the public CSV).
    """
    petition_id = path_id(request, "petition_id")
    fmt = _format(request)
    filename = f"petition-{petition_id}-dossier-personal.{fmt}"
    if fmt == "csv":
        return await _signatures_csv_response(request, petition_id, filename)
    settings = request.app.state.settings
    async with scope(request) as (db, actor):
        dossier = await dossiers.dossier(db, actor, keys(request), petition_id, utcnow(), personal=True,
                                         rules=settings.petition_rules, region_code=settings.region)
    return await _dossier_response(request, dossier, fmt, filename)


async def receipt_pdf(request: Request) -> Response:
    """GET: the receipt of a filed petition as PDF (public; 409 before the petition is submitted)."""
    petition_id = path_id(request, "petition_id")
    settings = request.app.state.settings
    async with scope(request) as (db, actor):
        receipt = await dossiers.receipt(db, actor, petition_id, settings.petition_rules)
    env = request.app.state.templates.env
    pdf = await run_in_threadpool(formats.receipt_pdf, env, receipt)
    return Response(pdf, media_type=formats.PDF_MEDIA_TYPE,
                    headers=_attachment(f"petition-{petition_id}-receipt.pdf", False))
