"""Export downloads."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from civic.db import utcnow
from civic.exports import service
from civic.web.requests import keys, open_session, path_id, resolve_actor


async def signatures_csv(request: Request) -> Response:
    """GET: the signatures of a petition as CSV (council staff; audited).

    Access is checked before the response starts; the database session lives as long as the stream.
    """
    petition_id = path_id(request, "petition_id")
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

    filename = f"petition-{petition_id}-signatures.csv"
    return StreamingResponse(stream(), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{filename}"',
                                      "Cache-Control": "no-store"})
