"""Proposal rules: visibility, counts, submitting, editing, withdrawing, lists, official answers and follow-up
(shared/domain.md §4; issue #4, items 3, 6 and 8).

Visibility: ``visible_proposals`` and ``visible_comments`` are the one filter every public list, count, search,
feed, API route and export applies: hidden (moderated) content appears nowhere; withdrawn proposals leave public
lists but keep their page, marked withdrawn.

Supports live in ``civic.proposals.supports`` and comments in ``civic.proposals.comments``; both import the
helpers of this module (never the other way round at import time).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Select, and_, delete, exists, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from civic import audit, listing
from civic.accounts.models import User
from civic.consultations import service as consultations
from civic.consultations.models import Consultation, Phase
from civic.db import reading
from civic.errors import Conflict, Forbidden, Invalid, NotFound, NotSignedIn
from civic.i18n import N_
from civic.notifications import service as notifications
from civic.organisations.models import Organisation, OrganisationMember
from civic.permissions import (
    BLOCKED_MESSAGE,
    MATRIX,
    PARTICIPATION,
    PHASE_FLAGS,
    Action,
    Actor,
    can,
    can_somewhere,
    phase_allows,
)
from civic.proposals.models import (
    ANSWER_STATUSES,
    CATEGORIES,
    Comment,
    Proposal,
    ProposalAnswer,
    ProposalUpdate,
    Support,
)
from civic.search.service import index_item, matching_ids, remove_item
from civic.territories.models import Territory
from civic.text import clean_text

TITLE_MIN, TITLE_MAX = 5, 200  # issue #4 brief, item 1 (characters, after cleaning)
BODY_MIN, BODY_MAX = 20, 10_000
ANSWER_MIN, ANSWER_MAX = 10, 10_000
SORTS = ("newest", "most_supported", "random")
API_PER_PAGE = 50

# English msgids for the codes of civic.proposals.models (the codes stay in the database and the API).
CATEGORY_LABELS = {
    "education": N_("Education"), "health": N_("Health"), "transport": N_("Transport"),
    "water_environment": N_("Water and environment"), "employment": N_("Employment"),
    "culture_sport": N_("Culture and sport"), "agriculture": N_("Agriculture"),
    "social_inclusion": N_("Social inclusion"), "other": N_("Other"),
}
STATUS_LABELS = {
    "published": N_("Published"), "under_evaluation": N_("Under evaluation"), "accepted": N_("Accepted"),
    "rejected": N_("Rejected"), "implemented": N_("Implemented"), "withdrawn": N_("Withdrawn"),
}
STANCE_LABELS = {"for": N_("For"), "against": N_("Against"), "neutral": N_("Neutral")}
LIST_STATUSES = ("published", "under_evaluation", "accepted", "rejected", "implemented")  # withdrawn: never listed

# Why a participant action is refused when the role allows it but the consultation's current phase does not
# (shown on the pages and as the Conflict message; issue #4 e2e: "supports are refused with a clear message").
PHASE_REFUSALS: dict[Action, str] = {
    Action.PROPOSAL_CREATE: N_("New proposals are not accepted in the current phase of this consultation."),
    Action.PROPOSAL_SUPPORT: N_("Supports are not open in the current phase of this consultation."),
    Action.SUPPORT_WITHDRAW: N_("Supports cannot be withdrawn in the current phase of this consultation."),
    Action.COMMENT_CREATE: N_("Comments are not open in the current phase of this consultation."),
}
WITHDRAWN_MESSAGE = N_("This proposal was withdrawn by its author.")
NOT_EDITABLE = N_("This proposal can no longer be edited: it has already received supports or comments.")


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


# --- permissions ----------------------------------------------------------------------------------------------


def require(actor: Actor, action: Action, subject: Any, now: datetime) -> None:
    """Raise unless ``permissions.can(actor, action, subject, now)``.

    NotSignedIn for an anonymous visitor; Forbidden(BLOCKED_MESSAGE) for a participation action while a
    moderator's block is in force (permissions.PARTICIPATION; issue #6, item 3); Conflict with
    PHASE_REFUSALS[action] when the actor's roles allow a phase-gated action but the current phase (``subject``)
    does not allow it now; Forbidden otherwise. ``subject``: the phase for phase-gated actions, the proposal for
    author-only ones, the proposal's consultation for PROPOSAL_ANSWER (a body's secretary answers only for the
    consultations addressed to their body; issue #6, item 1).
    """
    if not actor.signed_in:
        raise NotSignedIn()
    if action in PARTICIPATION and actor.blocked(now):
        raise Forbidden(BLOCKED_MESSAGE)
    if can(actor, action, subject, now):
        return
    if action in PHASE_FLAGS and actor.holds(*MATRIX[action]):
        raise Conflict(PHASE_REFUSALS[action])
    raise Forbidden()


def _require_answerer_somewhere(actor: Actor, now: datetime) -> None:
    """The check made before the proposal is read: the actor may answer proposals of at least some
    consultations (``can_somewhere``). Raises NotSignedIn or Forbidden."""
    if not actor.signed_in:
        raise NotSignedIn()
    if not can_somewhere(actor, Action.PROPOSAL_ANSWER, now):
        raise Forbidden()


async def _consultation_of(session: AsyncSession, proposal: Proposal) -> Consultation:
    """The proposal's consultation (caller's transaction): the subject of PROPOSAL_ANSWER. Raises NotFound."""
    consultation = await session.get(Consultation, proposal.consultation_id)
    if consultation is None:
        raise NotFound()
    return consultation


def phase_refusal(action: Action, phase: Phase | None, now: datetime) -> str | None:
    """None when ``phase`` allows the phase-gated ``action`` at ``now``; else the msgid saying why not."""
    return None if phase_allows(phase, PHASE_FLAGS[action], now) else PHASE_REFUSALS[action]


# --- submitting, editing, withdrawing -------------------------------------------------------------------------


@dataclass(frozen=True)
class ProposalInput:
    """A proposal as typed. territory_code '' means the author's commune; organisation_id None: in one's own
    name, else an organisation the author belongs to (issue #4, item 3)."""

    title: str
    body: str
    category: str
    territory_code: str = ""
    organisation_id: int | None = None


@dataclass(frozen=True)
class Named:
    """A territory or organisation as pages show it, in Arabic and French."""

    id: int | str
    name_ar: str
    name_fr: str


async def member_organisations(session: AsyncSession, actor: Actor) -> list[Named]:
    """Verified organisations the actor belongs to (member or representative): those a proposal may be submitted
    on behalf of (issue #4, item 3; civic/organisations/models.py OrganisationMember)."""
    if not actor.signed_in:
        return []
    async with reading(session):
        rows = await session.execute(
            select(Organisation.id, Organisation.name_ar, Organisation.name_fr)
            .join(OrganisationMember, OrganisationMember.organisation_id == Organisation.id)
            .where(OrganisationMember.user_id == actor.user_id, Organisation.status == "verified")
            .order_by(Organisation.id))
        return [Named(int(i), str(a), str(f)) for i, a, f in rows]


async def _validate(session: AsyncSession, actor: Actor, data: ProposalInput, region_code: str) -> dict[str, Any]:
    """Clean and check a proposal inside the caller's transaction; the column values, or Invalid (msgids)."""
    errors: dict[str, list[str]] = {}
    title = " ".join(clean_text(data.title).split())
    body = clean_text(data.body).strip()
    if len(title) < TITLE_MIN:
        errors["title"] = [N_("Give your proposal a title of at least 5 characters.")]
    elif len(title) > TITLE_MAX:
        errors["title"] = [N_("The title can have at most 200 characters.")]
    if len(body) < BODY_MIN:
        errors["body"] = [N_("Describe your proposal in at least 20 characters.")]
    elif len(body) > BODY_MAX:
        errors["body"] = [N_("The description can have at most 10,000 characters.")]
    if data.category not in CATEGORIES:
        errors["category"] = [N_("Please choose a category.")]
    code = data.territory_code.strip()
    if not code:
        code = str(await session.scalar(select(User.commune_code).where(User.id == actor.user_id)) or "")
    place = await session.get(Territory, code) if code else None
    if place is None or place.region_code != region_code or place.kind not in ("commune", "province"):
        errors["territory_code"] = [N_("Please choose a commune or a province of this region.")]
    if data.organisation_id is not None:
        member = await session.scalar(select(exists().where(
            OrganisationMember.organisation_id == data.organisation_id, OrganisationMember.user_id == actor.user_id,
            Organisation.id == OrganisationMember.organisation_id, Organisation.status == "verified")))
        if not member:
            errors["organisation_id"] = [N_("You can only submit on behalf of a verified organisation you belong to.")]
    if errors:
        raise Invalid(errors)
    return {"title": title, "body": body, "category": data.category, "territory_code": code,
            "organisation_id": data.organisation_id}


async def submit(session: AsyncSession, actor: Actor, consultation_id: int, data: ProposalInput, region_code: str,
                 now: datetime) -> int:
    """Submit a proposal (status ``published``) while the consultation's current phase has ``proposals_enabled``;
    returns its id. Indexed for search and audited (``proposals:create``).

    Rules: issue #4 item 3 and its brief (title 5–200, body 20–10,000 characters after civic.text.clean_text;
    category one of CATEGORIES; territory a commune or province of ``region_code``, default the author's commune;
    optionally on behalf of a verified organisation the author belongs to).
    Raises NotSignedIn, NotFound (no such consultation), Conflict (the phase does not allow it), Forbidden, Invalid.
    """
    if not actor.signed_in:
        raise NotSignedIn()
    async with session.begin():
        if await session.get(Consultation, consultation_id) is None:
            raise NotFound()
        phase = await consultations.current_phase(session, consultation_id, now)
        require(actor, Action.PROPOSAL_CREATE, phase, now)
        values = await _validate(session, actor, data, region_code)
        proposal_id = int((await session.execute(insert(Proposal).values(
            consultation_id=consultation_id, author_id=actor.user_id, status="published", created_at=now,
            updated_at=now, **values).returning(Proposal.id))).scalar_one())
        await index_item(session, "proposal", proposal_id, values["title"], values["body"])
        await audit.record(session, actor_id=actor.user_id, action="proposals:create", subject_type="proposal",
                           subject_id=proposal_id, now=now, detail={"consultation_id": consultation_id})
    return proposal_id


async def _has_reactions(session: AsyncSession, proposal_id: int) -> bool:
    """True once the proposal has a support or a visible comment (the end of editing; issue #4 item 3)."""
    supported = await session.scalar(select(exists().where(Support.proposal_id == proposal_id)))
    commented = await session.scalar(select(exists().where(
        Comment.proposal_id == proposal_id, Comment.hidden_at.is_(None))))
    return bool(supported or commented)


async def _editable_row(session: AsyncSession, actor: Actor, proposal_id: int, now: datetime,
                        lock: bool) -> Proposal:
    """The proposal the actor may edit now (caller's transaction), or raise NotFound/Forbidden/Conflict."""
    if not actor.signed_in:
        raise NotSignedIn()
    proposal = await session.get(Proposal, proposal_id, with_for_update=lock, populate_existing=True)
    if proposal is None or proposal.hidden_at is not None:
        raise NotFound()
    require(actor, Action.PROPOSAL_EDIT, proposal, now)
    if proposal.status == "withdrawn":
        raise Conflict(WITHDRAWN_MESSAGE)
    if proposal.status != "published" or await _has_reactions(session, proposal_id):
        raise Conflict(NOT_EDITABLE)
    return proposal


async def editable(session: AsyncSession, actor: Actor, proposal_id: int, now: datetime) -> Proposal:
    """The proposal for its edit form, when the actor may edit it now (see ``edit``). Raises like ``edit``."""
    async with reading(session):
        return await _editable_row(session, actor, proposal_id, now, lock=False)


async def edit(session: AsyncSession, actor: Actor, proposal_id: int, data: ProposalInput, region_code: str,
               now: datetime) -> None:
    """Change a proposal: only its author, only until its first support or comment and before any official
    answer (issue #4 item 3). Validated like ``submit``; re-indexed; audited (``proposals:edit``).

    The proposal row is locked (FOR UPDATE) first: a support or comment being inserted at the same moment
    holds a key-share lock on it through its foreign key, so one waits for the other and the check sees it.
    Raises NotSignedIn, NotFound (none, or hidden), Forbidden (not the author), Conflict, Invalid.
    """
    async with session.begin():
        await _editable_row(session, actor, proposal_id, now, lock=True)
        values = await _validate(session, actor, data, region_code)
        await session.execute(update(Proposal).where(Proposal.id == proposal_id).values(updated_at=now, **values))
        await index_item(session, "proposal", proposal_id, values["title"], values["body"])
        await audit.record(session, actor_id=actor.user_id, action="proposals:edit", subject_type="proposal",
                           subject_id=proposal_id, now=now)


async def withdraw(session: AsyncSession, actor: Actor, proposal_id: int, now: datetime) -> None:
    """The author withdraws a proposal (status ``withdrawn``) while it has no official answer (issue #4 item 3).

    It leaves public lists, counts and the search index; its page stays, marked withdrawn. The supports it had
    are released (deleted, their number kept in the audit event) so its supporters may use them on other
    proposals of the consultation. Audited (``proposals:withdraw``).
    Raises NotSignedIn, NotFound, Forbidden (not the author), Conflict (already withdrawn, or answered).
    """
    if not actor.signed_in:
        raise NotSignedIn()
    async with session.begin():
        proposal = await session.get(Proposal, proposal_id, with_for_update=True, populate_existing=True)
        if proposal is None or proposal.hidden_at is not None:
            raise NotFound()
        require(actor, Action.PROPOSAL_WITHDRAW, proposal, now)
        if proposal.status == "withdrawn":
            raise Conflict(WITHDRAWN_MESSAGE)
        answered = await session.scalar(select(exists().where(ProposalAnswer.proposal_id == proposal_id)))
        if answered or proposal.status != "published":
            raise Conflict(N_("A proposal the council has answered can no longer be withdrawn."))
        released = cast(CursorResult[Any], await session.execute(
            delete(Support).where(Support.proposal_id == proposal_id))).rowcount
        proposal.status, proposal.updated_at = "withdrawn", now
        await remove_item(session, "proposal", proposal_id)
        await audit.record(session, actor_id=actor.user_id, action="proposals:withdraw", subject_type="proposal",
                           subject_id=proposal_id, now=now, detail={"supports_released": int(released or 0)})


# --- lists ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListFilters:
    """Filters and order of a consultation's proposal list (issue #4 item 8). Unknown values are ignored.

    status: one of LIST_STATUSES or ''; province: a province code or ''; category: one of CATEGORIES or '';
    q: search words; sort: one of SORTS.
    """

    status: str = ""
    province: str = ""
    category: str = ""
    q: str = ""
    sort: str = "newest"


@dataclass(frozen=True)
class ProposalItem:
    """One proposal in a list: counts are supports (COUNT of rows) and visible comments."""

    id: int
    title: str
    category: str
    status: str
    territory: Named
    author_name: str
    organisation: Named | None
    support_count: int
    comment_count: int
    created_at: datetime


def support_count_of(proposal_id: Any) -> Any:
    """Scalar subquery: COUNT(*) of the supports of ``proposal_id`` (design.md: no counter column)."""
    return select(func.count()).select_from(Support).where(Support.proposal_id == proposal_id).scalar_subquery()


def comment_count_of(proposal_id: Any) -> Any:
    """Scalar subquery: visible comments and replies on a proposal the caller already knows is visible."""
    return (select(func.count()).select_from(Comment)
            .where(Comment.proposal_id == proposal_id, Comment.hidden_at.is_(None)).scalar_subquery())


def _filtered(session: AsyncSession, consultation_id: int, filters: ListFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Proposal.consultation_id == consultation_id, visible_proposals()]
    if filters.status in LIST_STATUSES:
        conditions.append(Proposal.status == filters.status)
    if filters.category in CATEGORIES:
        conditions.append(Proposal.category == filters.category)
    if filters.province:
        conditions.append(Proposal.territory_code.in_(select(Territory.code).where(or_(
            Territory.code == filters.province,
            and_(Territory.province_code == filters.province, Territory.kind == "commune")))))
    if filters.q:
        ids = matching_ids(session, "proposal", filters.q)
        if ids is not None:
            conditions.append(Proposal.id.in_(ids))
    return conditions


def _items_query(conditions: list[ColumnElement[bool]]) -> Select[Any]:
    org = Organisation.__table__.alias("org")
    return (
        select(Proposal.id, Proposal.title, Proposal.category, Proposal.status, Proposal.territory_code,
               Territory.name_ar, Territory.name_fr, User.display_name, org.c.id, org.c.name_ar, org.c.name_fr,
               support_count_of(Proposal.id).label("supports"), comment_count_of(Proposal.id).label("comments"),
               Proposal.created_at)
        .join(Territory, Territory.code == Proposal.territory_code)
        .join(User, User.id == Proposal.author_id)
        .outerjoin(org, org.c.id == Proposal.organisation_id)
        .where(*conditions)
    )


def _item(row: Any) -> ProposalItem:
    organisation = Named(int(row[8]), str(row[9]), str(row[10])) if row[8] is not None else None
    return ProposalItem(int(row[0]), str(row[1]), str(row[2]), str(row[3]), Named(str(row[4]), str(row[5]),
                        str(row[6])), str(row[7]), organisation, int(row[11] or 0), int(row[12] or 0), row[13])


async def list_proposals(session: AsyncSession, consultation_id: int, filters: ListFilters, page: int, seed: int,
                         per_page: int = listing.DEFAULT_PER_PAGE) -> listing.Page[ProposalItem]:
    """One page of a consultation's visible proposals (hidden and withdrawn excluded; issue #4 items 3 and 8).

    Orders (each ending with the id, so paging never repeats or skips): ``newest`` (created_at desc),
    ``most_supported`` (support count desc), ``random`` (civic.listing.random_key with the visitor's ``seed``).
    ``page`` is 1-based (civic.listing.page_number). Raises NotFound when the consultation does not exist.
    """
    async with reading(session):
        if await session.get(Consultation, consultation_id) is None:
            raise NotFound()
        conditions = _filtered(session, consultation_id, filters)
        total = int(await session.scalar(select(func.count()).select_from(Proposal).where(*conditions)) or 0)
        if filters.sort == "most_supported":
            order: list[Any] = [support_count_of(Proposal.id).desc(), Proposal.id.desc()]
        elif filters.sort == "random":
            order = [listing.random_key(Proposal.id.expression, seed), Proposal.id]
        else:
            order = [Proposal.created_at.desc(), Proposal.id.desc()]
        offset = listing.Page[ProposalItem]([], page, per_page, total).offset
        rows = await session.execute(_items_query(conditions).order_by(*order).offset(offset).limit(per_page))
        return listing.Page([_item(row) for row in rows], page, per_page, total)


# --- one proposal ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnswerView:
    """One official answer (never edited): the status it set, its public text, when (UTC)."""

    status: str
    body: str
    created_at: datetime


@dataclass(frozen=True)
class UpdateView:
    """One follow-up update on an accepted proposal."""

    body: str
    created_at: datetime


@dataclass(frozen=True)
class ProposalView:
    """A proposal as its page and the API show it. answers: newest first (the first is the current answer);
    updates: oldest first. No personal data beyond the author's display name."""

    id: int
    consultation_id: int
    consultation_title: str
    support_limit: int
    author_id: int
    author_name: str
    organisation: Named | None
    title: str
    body: str
    category: str
    territory: Named
    status: str
    created_at: datetime
    updated_at: datetime
    answers: list[AnswerView]
    updates: list[UpdateView]

    @property
    def withdrawn(self) -> bool:
        """True once its author withdrew it."""
        return self.status == "withdrawn"


async def get_proposal(session: AsyncSession, proposal_id: int) -> ProposalView:
    """A visible proposal (withdrawn ones included, marked so), with its answers and follow-up updates.

    Raises NotFound when there is none or moderation hid it (issue #4 item 3: hidden content appears nowhere).
    """
    async with reading(session):
        org = Organisation.__table__.alias("org")
        row = (await session.execute(
            select(Proposal, Consultation.title, Consultation.support_limit, User.display_name, Territory.name_ar,
                   Territory.name_fr, org.c.id, org.c.name_ar, org.c.name_fr)
            .join(Consultation, Consultation.id == Proposal.consultation_id)
            .join(User, User.id == Proposal.author_id)
            .join(Territory, Territory.code == Proposal.territory_code)
            .outerjoin(org, org.c.id == Proposal.organisation_id)
            .where(Proposal.id == proposal_id, visible_proposals(include_withdrawn=True))
            .execution_options(populate_existing=True))).first()
        if row is None:
            raise NotFound()
        p: Proposal = row[0]
        answers = [AnswerView(a.status, a.body, a.created_at) for a in await session.scalars(
            select(ProposalAnswer).where(ProposalAnswer.proposal_id == proposal_id)
            .order_by(ProposalAnswer.created_at.desc(), ProposalAnswer.id.desc()))]
        updates = [UpdateView(u.body, u.created_at) for u in await session.scalars(
            select(ProposalUpdate).where(ProposalUpdate.proposal_id == proposal_id)
            .order_by(ProposalUpdate.created_at, ProposalUpdate.id))]
        organisation = Named(int(row[6]), str(row[7]), str(row[8])) if row[6] is not None else None
        return ProposalView(p.id, p.consultation_id, str(row[1]), int(row[2]), p.author_id, str(row[3]),
                            organisation, p.title, p.body, p.category, Named(p.territory_code, str(row[4]),
                            str(row[5])), p.status, p.created_at, p.updated_at, answers, updates)


@dataclass(frozen=True)
class ProposalPage:
    """Everything the proposal page shows to one actor at ``now``.

    support: civic.proposals.supports.SupportState; comments: civic.proposals.comments.Thread.
    can_edit / can_withdraw: the edit link and withdraw button are shown; can_answer: staff's answer form;
    can_follow_up: staff's follow-up form (accepted or implemented proposals); comment_refusal: msgid saying why
    comments are closed now (None when open); phase: the consultation's current phase, if any.
    """

    proposal: ProposalView
    support: Any
    comments: Any
    can_edit: bool
    can_withdraw: bool
    can_answer: bool
    can_follow_up: bool
    comment_refusal: str | None
    phase: Phase | None


async def proposal_page(session: AsyncSession, actor: Actor, proposal_id: int, now: datetime) -> ProposalPage:
    """The proposal page's content for ``actor`` (see ProposalPage). Raises NotFound (none, or hidden)."""
    from civic.proposals import comments, supports  # they import this module

    async with reading(session):
        proposal = await get_proposal(session, proposal_id)
        phase = await consultations.current_phase(session, proposal.consultation_id, now)
        reacted = await _has_reactions(session, proposal_id)
        author = can(actor, Action.PROPOSAL_EDIT, proposal, now)
        staff = can(actor, Action.PROPOSAL_ANSWER, await session.get(Consultation, proposal.consultation_id), now)
        return ProposalPage(
            proposal=proposal,
            support=await supports.state(session, actor, proposal_id, now),
            comments=await comments.thread(session, proposal.consultation_id, proposal_id),
            can_edit=author and proposal.status == "published" and not reacted,
            can_withdraw=author and proposal.status == "published" and not proposal.answers,
            can_answer=staff and not proposal.withdrawn,
            can_follow_up=staff and proposal.status in ("accepted", "implemented"),
            comment_refusal=(WITHDRAWN_MESSAGE if proposal.withdrawn
                             else phase_refusal(Action.COMMENT_CREATE, phase, now)),
            phase=phase,
        )


async def new_proposal_context(session: AsyncSession, actor: Actor, consultation_id: int,
                               now: datetime) -> tuple[Consultation, str | None, list[Named]]:
    """For the submission form: the consultation, the msgid saying why proposals are closed now (None when
    open), and the organisations the actor may submit on behalf of. Raises NotFound."""
    async with reading(session):
        consultation = await session.get(Consultation, consultation_id)
        if consultation is None:
            raise NotFound()
        phase = await consultations.current_phase(session, consultation_id, now)
        return consultation, phase_refusal(Action.PROPOSAL_CREATE, phase, now), await member_organisations(
            session, actor)


# --- official answers and follow-up ---------------------------------------------------------------------------


async def answer(session: AsyncSession, actor: Actor, proposal_id: int, status: str, body: str, now: datetime,
                 base_url: str = "") -> int:
    """Council staff publish an official answer: a new ProposalAnswer row (never edited) setting the proposal's
    status to one of ANSWER_STATUSES, with a public written answer of at least 10 characters; ``implemented``
    only after ``accepted`` (shared/domain.md §4; issue #4 item 6). Audited (``proposals:answer``) and the
    author is notified through the outbox (Arabic and French). Returns the answer's id.

    Raises NotSignedIn, Forbidden (not council staff, nor the secretary of the body the consultation is addressed
    to), NotFound (none, or hidden), Conflict (withdrawn, or ``implemented`` before ``accepted``), Invalid
    (status, body).
    """
    _require_answerer_somewhere(actor, now)
    text = clean_text(body).strip()
    errors: dict[str, list[str]] = {}
    if status not in ANSWER_STATUSES:
        errors["status"] = [N_("Please choose the status the answer gives the proposal.")]
    if len(text) < ANSWER_MIN:
        errors["body"] = [N_("Write the public answer in at least 10 characters.")]
    elif len(text) > ANSWER_MAX:
        errors["body"] = [N_("The answer can have at most 10,000 characters.")]
    if errors:
        raise Invalid(errors)
    async with session.begin():
        proposal = await session.get(Proposal, proposal_id, with_for_update=True, populate_existing=True)
        if proposal is None or proposal.hidden_at is not None:
            raise NotFound()
        require(actor, Action.PROPOSAL_ANSWER, await _consultation_of(session, proposal), now)
        if proposal.status == "withdrawn":
            raise Conflict(WITHDRAWN_MESSAGE)
        if status == "implemented" and proposal.status not in ("accepted", "implemented"):
            raise Conflict(N_("Only an accepted proposal can be marked as implemented."))
        before = proposal.status
        answer_id = int((await session.execute(insert(ProposalAnswer).values(
            proposal_id=proposal_id, staff_id=actor.user_id, status=status, body=text, created_at=now,
        ).returning(ProposalAnswer.id))).scalar_one())
        proposal.status = status
        await audit.record(session, actor_id=actor.user_id, action="proposals:answer", subject_type="proposal",
                           subject_id=proposal_id, now=now, detail={"from": before, "to": status,
                                                                     "answer_id": answer_id})
        await notifications.enqueue(
            session, [proposal.author_id], N_("Official answer to your proposal"),
            N_("The council has answered your proposal “%(title)s”. Status: %(status)s.\n\n%(answer)s\n\n"
               "Read it at %(link)s"),
            {"title": proposal.title, "status": STATUS_LABELS[status], "answer": text,
             "link": f"{base_url}/proposals/{proposal_id}"},
            purpose="proposals:answer", now=now, translate=("status",))
    return answer_id


async def add_update(session: AsyncSession, actor: Actor, proposal_id: int, body: str, now: datetime,
                     base_url: str = "") -> int:
    """Council staff publish a follow-up update on an accepted (or implemented) proposal (shared/domain.md §4;
    issue #4 item 6). Audited (``proposals:follow_up``); the author is notified. Returns the update's id.

    Raises NotSignedIn, Forbidden (as ``answer``), NotFound, Conflict (not accepted), Invalid (body under 10
    characters).
    """
    _require_answerer_somewhere(actor, now)
    text = clean_text(body).strip()
    if len(text) < ANSWER_MIN:
        raise Invalid({"update_body": [N_("Write the follow-up in at least 10 characters.")]})
    if len(text) > ANSWER_MAX:
        raise Invalid({"update_body": [N_("The follow-up can have at most 10,000 characters.")]})
    async with session.begin():
        proposal = await session.get(Proposal, proposal_id, with_for_update=True, populate_existing=True)
        if proposal is None or proposal.hidden_at is not None:
            raise NotFound()
        require(actor, Action.PROPOSAL_ANSWER, await _consultation_of(session, proposal), now)
        if proposal.status not in ("accepted", "implemented"):
            raise Conflict(N_("Follow-up updates are published for accepted proposals only."))
        update_id = int((await session.execute(insert(ProposalUpdate).values(
            proposal_id=proposal_id, staff_id=actor.user_id, body=text, created_at=now,
        ).returning(ProposalUpdate.id))).scalar_one())
        await audit.record(session, actor_id=actor.user_id, action="proposals:follow_up", subject_type="proposal",
                           subject_id=proposal_id, now=now, detail={"update_id": update_id})
        await notifications.enqueue(
            session, [proposal.author_id], N_("News about your proposal"),
            N_("The council has published a follow-up on your proposal “%(title)s”.\n\n%(update)s\n\n"
               "Read it at %(link)s"),
            {"title": proposal.title, "update": text, "link": f"{base_url}/proposals/{proposal_id}"},
            purpose="proposals:follow_up", now=now)
    return update_id


# --- JSON API (open data: no personal data beyond the author's display name) ------------------------------------


def _item_json(item: ProposalItem) -> dict[str, Any]:
    return {
        "id": item.id, "title": item.title, "category": item.category, "status": item.status,
        "territory": {"code": item.territory.id, "name_ar": item.territory.name_ar,
                      "name_fr": item.territory.name_fr},
        "author": item.author_name,
        "organisation": ({"id": item.organisation.id, "name_ar": item.organisation.name_ar,
                          "name_fr": item.organisation.name_fr} if item.organisation else None),
        "support_count": item.support_count, "comment_count": item.comment_count,
        "created_at": item.created_at.isoformat(),
    }


async def api_list(session: AsyncSession, consultation_id: int, filters: ListFilters, page: int,
                   seed: int = 0) -> dict[str, Any]:
    """GET /api/v1/consultations/{id}/proposals: one page (API_PER_PAGE) of visible proposals with their
    counts, as JSON-ready data (issue #4 items 3 and 8). Raises NotFound."""
    result = await list_proposals(session, consultation_id, filters, page, seed, per_page=API_PER_PAGE)
    return {"consultation_id": consultation_id, "page": result.number, "pages": result.pages,
            "total": result.total, "proposals": [_item_json(i) for i in result.items]}


async def api_detail(session: AsyncSession, proposal_id: int) -> dict[str, Any]:
    """GET /api/v1/proposals/{id}: one proposal with its counts, official answers and follow-up updates (no
    staff names, no e-mail addresses). Hidden proposals raise NotFound; withdrawn ones show their status."""
    from civic.proposals import comments

    proposal = await get_proposal(session, proposal_id)
    async with reading(session):
        supports = int(await session.scalar(select(func.count()).select_from(Support)
                                            .where(Support.proposal_id == proposal_id)) or 0)
    stances = await comments.stance_counts(session, proposal.consultation_id, proposal_id)
    return {
        "id": proposal.id, "consultation_id": proposal.consultation_id, "title": proposal.title,
        "body": proposal.body, "category": proposal.category, "status": proposal.status,
        "territory": {"code": proposal.territory.id, "name_ar": proposal.territory.name_ar,
                      "name_fr": proposal.territory.name_fr},
        "author": proposal.author_name,
        "organisation": ({"id": proposal.organisation.id, "name_ar": proposal.organisation.name_ar,
                          "name_fr": proposal.organisation.name_fr} if proposal.organisation else None),
        "support_count": supports, "comment_count": sum(stances.values()), "comments_by_stance": stances,
        "created_at": proposal.created_at.isoformat(), "updated_at": proposal.updated_at.isoformat(),
        "answers": [{"status": a.status, "body": a.body, "created_at": a.created_at.isoformat()}
                    for a in proposal.answers],
        "updates": [{"body": u.body, "created_at": u.created_at.isoformat()} for u in proposal.updates],
    }
