"""The staff dashboard page (issue #6, item 6)."""

from __future__ import annotations

from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import NoMatchFound

from civic import dashboard as service
from civic.db import utcnow
from civic.permissions import Action, Actor, can_somewhere
from civic.petitions import abuse  # issue #8: limits
from civic.web.requests import path_for, render, scope

# The lists the dashboard's figures link to: key → (route name, query string, the action needed to see it or
# None). A link is shown only when its route is in the table (some are built by other parts of issue #6 and #4)
# and the actor may open it.
LIST_LINKS: dict[str, tuple[str, str, Action | None]] = {
    "moderation": ("moderation_queue", "", Action.MODERATION_HIDE),
    "petitions": ("staff_petitions", "", None),
    "consultations": ("consultations", "?status=open", None),
    "outbox": ("outbox", "", Action.OUTBOX_VIEW),
    "audit": ("audit_log", "", Action.AUDIT_VIEW),
    "exports": ("exports_centre", "", Action.EXPORTS_LISTS),
}


def _links(request: Request, actor: Actor, now: datetime) -> dict[str, str]:
    """The paths of LIST_LINKS whose route exists and which the actor may open."""
    links = {}
    for key, (name, query, action) in LIST_LINKS.items():
        if action is not None and not can_somewhere(actor, action, now):
            continue
        try:
            links[key] = path_for(request, name) + query
        except NoMatchFound:
            continue
    return links


async def dashboard(request: Request) -> Response:
    """GET /staff: moderation work, petitions awaiting the bureau (deadlines, overdue ones labelled), associations
    awaiting verification, consultations by phase and participation figures, each linking to its list."""
    now = utcnow()
    async with scope(request) as (db, actor):
        board = await service.dashboard(db, actor, now)
        flagged = await abuse.flagged_petitions(db, actor, now)  # issue #8: limits
    return render(request, "staff/dashboard.html", board=board, links=_links(request, actor, now),
                  flagged=flagged)
