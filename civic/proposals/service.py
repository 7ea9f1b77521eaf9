"""Proposal rules: visibility, counts (shared/domain.md §4; issue #4).

Visibility: ``visible_proposals`` and ``visible_comments`` are the one filter every public list, count, search,
feed, API route and export applies: hidden (moderated) content appears nowhere; withdrawn proposals leave public
lists but keep their page, marked withdrawn.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from civic.db import reading
from civic.proposals.models import Comment, Proposal


def visible_proposals(include_withdrawn: bool = False) -> ColumnElement[bool]:
    """WHERE clause for proposals anyone may see: not hidden by moderation (and not withdrawn unless asked)."""
    condition: ColumnElement[bool] = Proposal.hidden_at.is_(None)
    if not include_withdrawn:
        condition = and_(condition, Proposal.status != "withdrawn")
    return condition


def visible_comments() -> ColumnElement[bool]:
    """WHERE clause for comments anyone may see: not hidden, and not on a hidden proposal."""
    hidden_proposal = select(Proposal.id).where(Proposal.hidden_at.is_not(None))
    return and_(
        Comment.hidden_at.is_(None),
        Comment.proposal_id.is_(None) | Comment.proposal_id.not_in(hidden_proposal),
    )


@dataclass(frozen=True)
class ConsultationCounts:
    """Visible proposals (not withdrawn) and visible comments (on the consultation and its proposals)."""

    proposals: int
    comments: int


async def counts(session: AsyncSession, consultation_id: int) -> ConsultationCounts:
    """Counts shown on a consultation's page and in lists, hidden content excluded."""
    async with reading(session):
        proposals = await session.scalar(
            select(func.count()).select_from(Proposal)
            .where(Proposal.consultation_id == consultation_id, visible_proposals())
        )
        comments = await session.scalar(
            select(func.count()).select_from(Comment)
            .where(Comment.consultation_id == consultation_id, visible_comments())
        )
    return ConsultationCounts(int(proposals or 0), int(comments or 0))
