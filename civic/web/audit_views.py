"""The admin audit log page (filters, keyset pages, chain check on demand) and its streamed exports
(issue #6, item 5)."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from civic import audit_log
from civic.db import utcnow
from civic.errors import Invalid
from civic.exports.streaming import MEDIA_TYPES
from civic.web.requests import closing_stream, open_session, path_for, render, resolve_actor, scope


async def audit_page(request: Request) -> Response:
    """GET /admin/audit: the log, newest first, 50 a page (``before``/``after`` cursors), filtered by the query
    string (action prefix, subject type and id, actor, local dates); ``verify=1`` also checks the whole chain.
    Admins only; the viewing is audited."""
    params = request.query_params
    query = audit_log.AuditQuery.from_params(params)
    errors: dict[str, list[str]] = {}
    page = None
    async with scope(request) as (db, actor):
        try:
            page = await audit_log.browse(db, actor, query, utcnow(), before=params.get("before"),
                                          after=params.get("after"), verify=params.get("verify") == "1")
        except Invalid as exc:
            errors = exc.field_errors
    filters = query.params()
    base = path_for(request, "audit_log")

    def link(**extra: str) -> str:
        values = {**filters, **extra}
        return base + ("?" + urlencode(values) if values else "")

    return render(request, "admin/audit.html", status_code=422 if errors else 200, query=query, errors=errors,
                  page=page, link=link, filters=filters,
                  export_query=urlencode(filters), paged="before" in params or "after" in params)


async def audit_export(request: Request) -> Response:
    """GET /admin/audit.{csv,xlsx,json}: the filtered log, oldest first, streamed (admins with ``exports:personal``;
    audited before the first byte). The database session lives as long as the stream."""
    fmt = str(request.path_params["fmt"])
    query = audit_log.AuditQuery.from_params(request.query_params)
    db = open_session(request)
    try:
        actor = await resolve_actor(request, db)
        body = await audit_log.export(db, actor, query, fmt, utcnow())
    except BaseException:
        await db.close()
        raise

    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    return StreamingResponse(
        closing_stream(db, body), media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="civic-audit-{stamp}.{fmt}"',
                 "Cache-Control": "no-store"})
