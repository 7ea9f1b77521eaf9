"""Staff burst pages of a petition: groups by client address and email domain, and batch invalidation
(issue #8, item 4; the rules are in civic.petitions.abuse)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from civic.db import utcnow
from civic.errors import Invalid
from civic.petitions import abuse
from civic.web.requests import field, path_for, path_id, read_form, render, scope

FLASH_KEY = "bursts_flash"
# The flag rule, shown on the page (civic.petitions.abuse).
RULES: dict[str, Any] = {"burst_signatures": abuse.BURST_SIGNATURES, "burst_minutes": abuse.BURST_MINUTES,
         "domain_burst_signatures": abuse.DOMAIN_BURST_SIGNATURES, "groups_shown": abuse.GROUPS_SHOWN,
         "windows": abuse.WINDOW_LABELS}


def _window(value: str | None) -> str:
    return value if value in abuse.WINDOWS else "day"


async def bursts(request: Request) -> Response:
    """GET /staff/petitions/{id}/bursts?window=hour|day|all: the groups, flags, the invalidation form and past
    batches."""
    petition_id = path_id(request, "petition_id")
    flash = request.session.pop(FLASH_KEY, None)
    async with scope(request) as (db, actor):
        report = await abuse.burst_report(db, actor, petition_id, _window(request.query_params.get("window")),
                                          utcnow())
    return render(request, "staff/bursts.html", report=report, errors={}, values={},
                  invalidated=flash if isinstance(flash, int) else None, **RULES)


async def invalidate(request: Request) -> Response:
    """POST /staff/petitions/{id}/bursts/invalidate: invalidate one group over the window shown, with a reason;
    back to the burst page (303), or the page again with the errors (422)."""
    petition_id = path_id(request, "petition_id")
    now = utcnow()
    async with scope(request) as (db, actor):
        form = await read_form(request)
        window = _window(field(form, "window", 10))
        posted = abuse.InvalidationForm(group=field(form, "group", 400), since=field(form, "since", 30),
                                        until=field(form, "until", 30), reason=field(form, "reason", 2000))
        try:
            batch = await abuse.invalidate(db, actor, petition_id, posted, now)
        except Invalid as exc:
            report = await abuse.burst_report(db, actor, petition_id, window, now)
            return render(request, "staff/bursts.html", status_code=422, report=report, errors=exc.field_errors,
                          values={"group": posted.group, "reason": posted.reason}, invalidated=None, **RULES)
    request.session[FLASH_KEY] = batch.count
    target = path_for(request, "staff_bursts", petition_id=petition_id) + "?" + urlencode({"window": window})
    return RedirectResponse(target, status_code=303)
