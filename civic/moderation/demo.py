"""Demo reports for ``civic demo`` (issue #6, item 2): made-up reports, sent through the service, so the
moderation queue has something to show. They never reach the hiding threshold: the demo petition stays
visible (the other demo journeys count on it).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from civic.moderation import service
from civic.permissions import Actor
from civic.settings import Settings

REPORTS = (
    ("off_topic", "هذه العريضة تتحدث عن النقل بينما أرى أن الأولوية للماء في دوارنا."),
    ("other", "Le titre pourrait être plus précis sur les lignes de bus concernées."),
)


async def load(session: AsyncSession, settings: Settings, petition_id: int, reporters: list[Actor],
               now: datetime) -> int:
    """Report the demo petition once per reporter (at most len(REPORTS), and always fewer than the hiding
    threshold); returns how many reports were made. Not idempotent: the caller guards it (a second run meets
    "You have already reported this")."""
    count = min(len(reporters), len(REPORTS), settings.report_hide_threshold - 1)
    for actor, (reason, details) in zip(reporters[:count], REPORTS, strict=False):
        await service.report(session, actor, service.ReportInput("petition", petition_id, reason, details),
                             settings.report_hide_threshold, now, settings.base_url)
    return count
