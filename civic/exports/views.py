"""Export downloads: the exports centre (every staff list as CSV, XLSX or JSON, streamed), the staff signature
CSV, the petition dossier (public and personal), the receipt; and open data: its page, the bundle and the
OpenAPI description of the API (issue #6, items 7 and 8)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from civic import i18n, opendata
from civic.db import utcnow
from civic.errors import NotFound
from civic.exports import centre, formats, service, streaming
from civic.exports import dossier as dossiers
from civic.web.requests import closing_stream, keys, open_session, path_id, render, resolve_actor, scope

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

    return StreamingResponse(closing_stream(db, body), media_type=formats.CSV_MEDIA_TYPE,
                             headers=_attachment(filename, True))


async def signatures_csv(request: Request) -> Response:
    """GET /staff/petitions/{id}/signatures.csv: the signatures of a petition as CSV (council staff; audited).
    The exports centre's ``signatures`` list under its first address and file name."""
    petition_id = path_id(request, "petition_id")
    return await _export_response(request, "signatures", "csv", {"petition_id": str(petition_id)},
                                  f"petition-{petition_id}-signatures.csv")


# --- the exports centre ------------------------------------------------------------------------------------


async def exports_centre(request: Request) -> Response:
    """GET /staff/exports: every list the staff member may export, with CSV, XLSX and JSON links."""
    settings = request.app.state.settings
    async with scope(request) as (db, actor):
        catalogue = await centre.catalogue(db, actor, settings.region, utcnow())
    return render(request, "exports/centre.html", catalogue=catalogue, formats=streaming.FORMATS)


async def _export_response(request: Request, dataset: str, fmt: str, params: Mapping[str, str],
                           filename: str | None = None) -> Response:
    """Check and audit the export before the response starts, then stream it; the database session lives as
    long as the stream (closed when it ends or the client goes away)."""
    settings = request.app.state.settings
    db = open_session(request)
    try:
        actor = await resolve_actor(request, db)
        export = await centre.open_export(db, actor, keys(request), dataset, fmt, params, settings.region, utcnow())
    except BaseException:
        await db.close()
        raise

    async def body() -> AsyncIterator[bytes]:
        stream = streaming.encode(export.fmt, export.columns, export.rows, sheet_title=export.dataset.name)
        try:
            async for chunk in stream:
                yield chunk
        finally:
            await stream.aclose()
            await export.rows.aclose()
            await db.close()

    return StreamingResponse(body(), media_type=streaming.MEDIA_TYPES[export.fmt],
                             headers=_attachment(filename or export.filename, True))


async def export_dataset(request: Request) -> Response:
    """GET /staff/exports/{dataset}.{fmt}?petition_id=|consultation_id=|meeting_id=: one list as CSV, XLSX or
    JSON, streamed (staff; lists with personal data need exports:personal; every export audited)."""
    return await _export_response(request, str(request.path_params["dataset"]), str(request.path_params["fmt"]),
                                  request.query_params)


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


# --- open data ---------------------------------------------------------------------------------------------


async def open_data(request: Request) -> Response:
    """GET /open-data: what is published, under which licence, each column, and the links (public)."""
    settings = request.app.state.settings
    async with scope(request) as (db, _actor):
        summary = await opendata.summary(db, settings.region)
    doc_lang = "ar" if i18n.current_language().code == "ar" else "fr"  # column texts exist in Arabic and French
    return render(request, "opendata/index.html", summary=summary, files=opendata.FILES, doc_lang=doc_lang,
                  licence_name=opendata.LICENCE_NAME, licence_url=opendata.LICENCE_URL,
                  census_licence=opendata.CENSUS_LICENCE)


async def open_data_bundle(request: Request) -> Response:
    """GET /open-data/civic-open-data.zip: the open-data bundle, built now and streamed (public; no personal
    data)."""
    settings = request.app.state.settings
    async with scope(request) as (db, _actor):
        bundle = await opendata.build_bundle(db, settings.region, utcnow())

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in iterate_in_threadpool(bundle.stream()):
                yield chunk
        finally:
            bundle.close()

    return StreamingResponse(body(), media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{opendata.BUNDLE_NAME}"', "Cache-Control": "no-cache"})


async def openapi(request: Request) -> Response:
    """GET /api/v1/openapi.json: the OpenAPI 3.1 description of every /api/v1 route of the table (public)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        civic_version = version("civic")
    except PackageNotFoundError:
        civic_version = "0"
    return JSONResponse(opendata.openapi_document(request.app.routes, civic_version))
