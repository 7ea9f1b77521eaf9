"""The outbox page for admins (development: read the mails Civic would send)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from civic.db import utcnow
from civic.notifications import service
from civic.web.requests import render, scope


async def outbox(request: Request) -> Response:
    """GET /admin/outbox."""
    async with scope(request) as (db, actor):
        messages = await service.outbox(db, actor, utcnow())
    return render(request, "staff/outbox.html", messages=messages,
                  smtp_configured=bool(request.app.state.settings.smtp_url))
