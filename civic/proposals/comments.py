"""Comments on proposals and on a consultation itself: a stance (for, against, neutral), replies one level deep,
while the consultation's current phase has ``comments_enabled`` (shared/domain.md §4; issue #4 item 5).

Hidden comments (moderation) are never shown or counted: every read goes through
civic.proposals.service.visible_comments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from civic import audit
from civic.accounts.models import User
from civic.consultations import service as consultations
from civic.consultations.models import Consultation
from civic.db import reading
from civic.errors import Conflict, Invalid, NotFound, NotSignedIn
from civic.i18n import N_
from civic.permissions import Action, Actor
from civic.proposals.models import STANCES, Comment, Proposal
from civic.proposals.service import WITHDRAWN_MESSAGE, phase_refusal, require, visible_comments
from civic.text import clean_text

BODY_MIN, BODY_MAX = 2, 5000  # characters, after cleaning (issue #4 brief, item 3)


@dataclass(frozen=True)
class CommentInput:
    """A comment as typed. stance: one of STANCES; parent_id: the comment replied to, or None."""

    body: str
    stance: str
    parent_id: int | None = None


@dataclass(frozen=True)
class CommentView:
    """A visible comment with its visible replies (oldest first). orphan: a reply whose parent was hidden by
    moderation (shown at the top level, the parent never)."""

    id: int
    author_name: str
    stance: str
    body: str
    created_at: datetime
    replies: list[CommentView] = field(default_factory=list)
    orphan: bool = False
    author_id: int = 0


@dataclass(frozen=True)
class Thread:
    """The visible discussion of a proposal or a consultation. stances: visible comments and replies by stance."""

    comments: list[CommentView]
    stances: dict[str, int]

    @property
    def total(self) -> int:
        """Visible comments and replies."""
        return sum(self.stances.values())


def _where(consultation_id: int, proposal_id: int | None) -> list[ColumnElement[bool]]:
    target: ColumnElement[bool] = (Comment.proposal_id.is_(None) if proposal_id is None
                                   else Comment.proposal_id == proposal_id)
    return [Comment.consultation_id == consultation_id, target, visible_comments()]


async def stance_counts(session: AsyncSession, consultation_id: int, proposal_id: int | None) -> dict[str, int]:
    """Visible comments and replies by stance (every stance present, 0 when none)."""
    async with reading(session):
        rows = await session.execute(select(Comment.stance, func.count()).where(*_where(
            consultation_id, proposal_id)).group_by(Comment.stance))
        found = {str(stance): int(n) for stance, n in rows}
    return {stance: found.get(stance, 0) for stance in STANCES}


async def thread(session: AsyncSession, consultation_id: int, proposal_id: int | None) -> Thread:
    """The visible comments of a proposal (or, with ``proposal_id`` None, of the consultation itself), oldest
    first, each with its replies."""
    async with reading(session):
        rows = (await session.execute(
            select(Comment.id, Comment.parent_id, User.display_name, Comment.stance, Comment.body, Comment.created_at,
                   Comment.author_id)
            .join(User, User.id == Comment.author_id)
            .where(*_where(consultation_id, proposal_id))
            .order_by(Comment.created_at, Comment.id))).all()
    top: dict[int, CommentView] = {}
    replies: list[tuple[int, CommentView]] = []
    for cid, parent_id, name, stance, body, created_at, author_id in rows:
        view = CommentView(int(cid), str(name), str(stance), str(body), created_at, author_id=int(author_id))
        if parent_id is None:
            top[view.id] = view
        else:
            replies.append((int(parent_id), view))
    orphans = []
    for parent_id, view in replies:
        if parent_id in top:
            top[parent_id].replies.append(view)
        else:
            orphans.append(CommentView(view.id, view.author_name, view.stance, view.body, view.created_at,
                                       orphan=True, author_id=view.author_id))
    comments = sorted([*top.values(), *orphans], key=lambda c: (c.created_at, c.id))
    stances = {stance: 0 for stance in STANCES}
    for *_ids, stance, _body, _at, _author in rows:
        stances[str(stance)] = stances.get(str(stance), 0) + 1
    return Thread(comments, stances)


def _validate(data: CommentInput) -> str:
    body = clean_text(data.body).strip()
    errors: dict[str, list[str]] = {}
    if len(body) < BODY_MIN:
        errors["body"] = [N_("Write a comment of at least 2 characters.")]
    elif len(body) > BODY_MAX:
        errors["body"] = [N_("A comment can have at most 5,000 characters.")]
    if data.stance not in STANCES:
        errors["stance"] = [N_("Please say whether you are for, against or neutral.")]
    if errors:
        raise Invalid(errors)
    return body


async def _add(session: AsyncSession, actor: Actor, consultation_id: int, proposal_id: int | None,
               data: CommentInput, now: datetime) -> int:
    """Inside the caller's transaction: check the phase, the text and the parent; insert; audit."""
    require(actor, Action.COMMENT_CREATE, await consultations.current_phase(session, consultation_id, now), now)
    body = _validate(data)
    parent_id = None
    if data.parent_id is not None:
        parent = await session.get(Comment, data.parent_id, populate_existing=True)
        if (parent is None or parent.hidden_at is not None or parent.consultation_id != consultation_id
                or parent.proposal_id != proposal_id):
            raise NotFound()
        parent_id = parent.parent_id or parent.id  # a reply to a reply joins the top-level comment's replies
    comment_id = int((await session.execute(insert(Comment).values(
        consultation_id=consultation_id, proposal_id=proposal_id, parent_id=parent_id, author_id=actor.user_id,
        stance=data.stance, body=body, created_at=now).returning(Comment.id))).scalar_one())
    await audit.record(session, actor_id=actor.user_id, action="comments:create", subject_type="comment",
                       subject_id=comment_id, now=now,
                       detail={"consultation_id": consultation_id, "proposal_id": proposal_id})
    return comment_id


async def comment_on_proposal(session: AsyncSession, actor: Actor, proposal_id: int, data: CommentInput,
                              now: datetime) -> int:
    """Comment on (or reply in) a visible proposal's discussion; returns the comment's id. The first comment
    ends the author's right to edit the proposal (issue #4 item 3).
    Raises NotSignedIn, Forbidden (BLOCKED_MESSAGE while blocked; issue #6, item 3), NotFound (proposal or
    parent), Conflict (phase closed, withdrawn proposal), Invalid."""
    if not actor.signed_in:
        raise NotSignedIn()
    async with session.begin():
        proposal = await session.get(Proposal, proposal_id, populate_existing=True)
        if proposal is None or proposal.hidden_at is not None:
            raise NotFound()
        if proposal.status == "withdrawn":
            raise Conflict(WITHDRAWN_MESSAGE)
        return await _add(session, actor, proposal.consultation_id, proposal_id, data, now)


async def comment_on_consultation(session: AsyncSession, actor: Actor, consultation_id: int, data: CommentInput,
                                  now: datetime) -> int:
    """Comment on (or reply in) the consultation's own discussion; returns the comment's id.
    Raises NotSignedIn, Forbidden (BLOCKED_MESSAGE while blocked), NotFound (consultation or parent), Conflict
    (phase closed), Invalid."""
    if not actor.signed_in:
        raise NotSignedIn()
    async with session.begin():
        if await session.get(Consultation, consultation_id) is None:
            raise NotFound()
        return await _add(session, actor, consultation_id, None, data, now)


@dataclass(frozen=True)
class ConsultationDiscussion:
    """The consultation comments page: the consultation, its discussion, and the msgid saying why comments are
    closed now (None when open)."""

    consultation: Consultation
    thread: Thread
    refusal: str | None


async def consultation_discussion(session: AsyncSession, consultation_id: int, now: datetime) -> ConsultationDiscussion:
    """The consultation's own discussion (comments with no proposal). Raises NotFound."""
    async with reading(session):
        consultation = await session.get(Consultation, consultation_id)
        if consultation is None:
            raise NotFound()
        phase = await consultations.current_phase(session, consultation_id, now)
        return ConsultationDiscussion(consultation, await thread(session, consultation_id, None),
                                      phase_refusal(Action.COMMENT_CREATE, phase, now))
