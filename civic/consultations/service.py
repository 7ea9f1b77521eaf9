"""Consultation rules: reading consultations and their current phase (shared/domain.md §4).

Other domains (proposals, meetings, votes) ask ``current_phase`` what the consultation allows at ``now`` and pass
the phase to ``civic.permissions.can``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from civic.consultations.models import Consultation, Phase
from civic.db import reading
from civic.errors import NotFound


async def get_consultation(session: AsyncSession, consultation_id: int) -> Consultation:
    """The consultation row. Raises NotFound when there is none."""
    async with reading(session):
        consultation = await session.get(Consultation, consultation_id)
    if consultation is None:
        raise NotFound()
    return consultation


async def phases_of(session: AsyncSession, consultation_id: int) -> list[Phase]:
    """The consultation's phases in date order."""
    async with reading(session):
        rows = await session.scalars(
            select(Phase).where(Phase.consultation_id == consultation_id).order_by(Phase.starts_at, Phase.id)
        )
        return list(rows)


async def current_phase(session: AsyncSession, consultation_id: int, now: datetime) -> Phase | None:
    """The phase whose ``[starts_at, ends_at)`` contains ``now``, or None (before, between or after phases)."""
    async with reading(session):
        return await session.scalar(
            select(Phase).where(Phase.consultation_id == consultation_id, Phase.starts_at <= now, Phase.ends_at > now)
            .order_by(Phase.starts_at.desc(), Phase.id.desc()).limit(1)
        )
