"""Reports, the moderation queue, decisions, user blocks and appeals (issue #6, items 2 and 3).

Rules:
- Any signed-in user may report a proposal, a comment or a published petition once, with a reason (REASONS)
  and optional details (≤ 1,000 characters); reporting one's own content is refused.
- One ``moderations`` row per item keeps the report count. At ``threshold`` reports (setting
  ``CIVIC_REPORT_HIDE_THRESHOLD``, default 3) an item no moderator has decided on yet is hidden automatically,
  pending review. Once a moderator has decided, further reports re-open the item for review but never hide
  it automatically again (a decision is not undone by a crowd of reports).
- Moderators (``moderation:hide`` in civic.permissions: moderator, council staff, admin) hide or restore an
  item with a written reason; those allowed ``moderation:block`` pause an author's participation for 1, 7 or
  30 days (civic.permissions.can then refuses them every PARTICIPATION action). Hiding sets ``hidden_at`` on
  the item itself; the visibility helpers of each domain (``civic.proposals.service.visible_proposals``,
  ``visible_comments``, ``civic.petitions.service.public_petitions``) read it, so hidden content leaves every
  list, count and search.
- The author is told, through the outbox, that the content was hidden and why, with a link to appeal. The
  author may appeal once (10–2,000 characters); a moderator's next decision answers the appeal.
- Every change is audited. Reporters' names are never shown in the queue: only counts per reason.

Concurrency: a report is one INSERT guarded by the unique index (subject, reporter); the moderation row is
created with INSERT … ON CONFLICT DO NOTHING on its unique index (subject) and its counter is incremented by
one UPDATE, whose row lock serialises parallel reports, so the threshold is crossed exactly once.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from civic import audit, i18n
from civic.accounts.models import User
from civic.db import dialect_name, reading
from civic.errors import Conflict, Forbidden, Invalid, NotFound, NotSignedIn
from civic.i18n import N_
from civic.listing import Page
from civic.moderation.models import REASONS, SUBJECT_TYPES, Moderation, Report, UserBlock
from civic.notifications import service as notifications
from civic.permissions import BLOCKED_MESSAGE, PARTICIPATION, Action, Actor, can
from civic.petitions.models import Petition
from civic.proposals.models import Comment, Proposal
from civic.text import clean_text

DETAILS_MAX = 1_000
DECISION_REASON_MAX = 1_000
APPEAL_MIN = 10
APPEAL_MAX = 2_000
EXCERPT_LENGTH = 280
BLOCK_DAYS = (1, 7, 30)
DECISIONS = ("hide", "restore")
FILTERS = ("open", "hidden", "appealed", "all")  # "open": everything that needs a moderator (the default)
PER_PAGE = 20
REPORTS_SHOWN = 50  # newest reports listed per item in the queue; the counts per reason cover all of them
AUTO_HIDDEN_REASON = "automatically hidden after {count} reports, pending review"

SUBJECT_LABELS = {"proposal": N_("proposal"), "comment": N_("comment"), "petition": N_("petition")}
# Accounts a block cannot reach: their role is removed by an admin instead (issue #6, item 1).
UNBLOCKABLE_ROLES = frozenset({"moderator", "council_staff", "admin"})

def may_moderate(actor: Actor, now: datetime | None = None) -> bool:
    """True when the actor may see hidden content and decide on it (``moderation:hide``: moderators, council
    staff, admins). Other domains call this to let moderators open a hidden item's page."""
    return can(actor, Action.MODERATION_HIDE, None, now)


def may_block(actor: Actor, now: datetime | None = None) -> bool:
    """True when the actor may block users (``moderation:block``); the queue shows the block form only then."""
    return can(actor, Action.MODERATION_BLOCK, None, now)


def _require(actor: Actor, action: Action, now: datetime) -> None:
    if not actor.signed_in:
        raise NotSignedIn()
    if not can(actor, action, None, now):
        raise Forbidden(BLOCKED_MESSAGE if action in PARTICIPATION and actor.blocked(now) else None)


def subject_path(subject_type: str, subject_id: int, proposal_id: int | None = None,
                 consultation_id: int | None = None) -> str:
    """The site path of an item (URL scheme of issue #4): a proposal or petition page; a comment's anchor on
    its proposal's page, or on its consultation's discussion page."""
    if subject_type == "proposal":
        return f"/proposals/{subject_id}"
    if subject_type == "petition":
        return f"/petitions/{subject_id}"
    if proposal_id is not None:
        return f"/proposals/{proposal_id}#comment-{subject_id}"
    return f"/consultations/{consultation_id}/comments#comment-{subject_id}"


def appeal_path(moderation_id: int) -> str:
    """The site path of the author's appeal page for one moderation record."""
    return f"/me/appeals/{moderation_id}"


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= EXCERPT_LENGTH else flat[: EXCERPT_LENGTH - 1].rstrip() + "…"


# --- items -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    """A reportable item as moderation sees it. title: the proposal's or petition's title, '' for a comment;
    excerpt: the start of its text (plain text, escaped on output); public: it may be reported at all (a
    petition never published is private to its author and staff)."""

    subject_type: str
    subject_id: int
    author_id: int
    title: str
    excerpt: str
    path: str
    hidden_at: datetime | None
    hidden_reason: str
    public: bool = True


def _model(subject_type: str) -> type[Proposal] | type[Comment] | type[Petition]:
    if subject_type == "proposal":
        return Proposal
    if subject_type == "comment":
        return Comment
    return Petition


async def _subjects(session: AsyncSession, subject_type: str, ids: list[int]) -> dict[int, Subject]:
    """The items of one type with these ids (missing ids are simply absent)."""
    if not ids:
        return {}
    result: dict[int, Subject] = {}
    if subject_type == "proposal":
        for p in await session.scalars(select(Proposal).where(Proposal.id.in_(ids))):
            result[p.id] = Subject("proposal", p.id, p.author_id, p.title, _excerpt(p.body),
                                   subject_path("proposal", p.id), p.hidden_at, p.hidden_reason)
    elif subject_type == "comment":
        for c in await session.scalars(select(Comment).where(Comment.id.in_(ids))):
            result[c.id] = Subject("comment", c.id, c.author_id, "", _excerpt(c.body),
                                   subject_path("comment", c.id, c.proposal_id, c.consultation_id), c.hidden_at,
                                   c.hidden_reason)
    else:
        for t in await session.scalars(select(Petition).where(Petition.id.in_(ids))):
            result[t.id] = Subject("petition", t.id, t.author_id, t.title, _excerpt(t.body),
                                   subject_path("petition", t.id), t.hidden_at, t.hidden_reason,
                                   public=t.published_at is not None)
    return result


async def _subject(session: AsyncSession, subject_type: str, subject_id: int) -> Subject:
    found = (await _subjects(session, subject_type, [subject_id])).get(subject_id)
    if found is None:
        raise NotFound()
    return found


async def _set_hidden(session: AsyncSession, subject_type: str, subject_id: int, hidden_at: datetime | None,
                      reason: str) -> None:
    model = _model(subject_type)
    await session.execute(update(model).where(model.id == subject_id).values(hidden_at=hidden_at,
                                                                             hidden_reason=reason))


def _named(subject: Subject) -> str:
    """How a notification names the item: its title, or the start of a comment."""
    return subject.title or _excerpt(subject.excerpt)[:80]


# --- reports -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportInput:
    """A report: the item (subject_type one of SUBJECT_TYPES, subject_id), a reason (one of REASONS) and
    optional details (≤ 1,000 characters)."""

    subject_type: str
    subject_id: int
    reason: str
    details: str = ""


class ReportOutcome(enum.Enum):
    """What a report did: recorded, or recorded and the item is now hidden pending review."""

    REPORTED = "reported"
    HIDDEN = "hidden"


def _validate_report(data: ReportInput) -> tuple[str, str]:
    errors: dict[str, list[str]] = {}
    if data.reason not in REASONS:
        errors["reason"] = [N_("Please choose a reason.")]
    details = clean_text(data.details).strip()
    if len(details) > DETAILS_MAX:
        errors["details"] = [N_("The details must be at most 1,000 characters long.")]
    if errors:
        raise Invalid(errors)
    return data.reason, details


def _insert(session: AsyncSession) -> Any:
    return pg_insert if dialect_name(session) == "postgresql" else sqlite_insert


async def report(session: AsyncSession, actor: Actor, data: ReportInput, threshold: int, now: datetime,
                 base_url: str = "") -> ReportOutcome:
    """Record the actor's report of an item (issue #6, item 2) and hide the item at ``threshold`` reports.

    threshold: reports that hide an undecided item (Settings.report_hide_threshold). base_url: the site's
    address for the appeal link in the author's notification. Returns REPORTED, or HIDDEN when this report
    hid the item. Raises NotSignedIn; Forbidden (not allowed, or the actor's own content); NotFound (no such
    item, or a petition never published); Conflict (already reported by the actor, or already hidden);
    Invalid (reason not one of REASONS, details too long).
    """
    _require(actor, Action.REPORT_CREATE, now)
    if data.subject_type not in SUBJECT_TYPES:
        raise NotFound()
    reason, details = _validate_report(data)
    async with session.begin():
        subject = await _subject(session, data.subject_type, data.subject_id)
        if not subject.public:
            raise NotFound()
        if subject.author_id == actor.user_id:
            raise Forbidden(N_("You cannot report your own content."))
        if subject.hidden_at is not None:
            raise Conflict(N_("This content is already hidden, pending review."))
        inserted = await session.execute(_insert(session)(Report).values(
            subject_type=data.subject_type, subject_id=data.subject_id, reporter_id=actor.user_id, reason=reason,
            details=details, created_at=now,
        ).on_conflict_do_nothing().returning(Report.id))
        if inserted.first() is None:
            raise Conflict(N_("You have already reported this."))
        await session.execute(_insert(session)(Moderation).values(
            subject_type=data.subject_type, subject_id=data.subject_id, author_id=subject.author_id,
            report_count=0, state="open",
        ).on_conflict_do_nothing())
        row = (await session.execute(
            update(Moderation)
            .where(Moderation.subject_type == data.subject_type, Moderation.subject_id == data.subject_id)
            .values(report_count=Moderation.report_count + 1, last_reported_at=now,
                    state=case((Moderation.state == "restored", "open"), else_=Moderation.state))
            .returning(Moderation.id, Moderation.report_count, Moderation.state, Moderation.decided_at)
        )).one()
        moderation_id, count, state, decided_at = int(row[0]), int(row[1]), str(row[2]), row[3]
        outcome = ReportOutcome.REPORTED
        await audit.record(session, actor_id=actor.user_id, action="reports:create",
                           subject_type=data.subject_type, subject_id=data.subject_id, now=now,
                           detail={"reason": reason, "moderation_id": moderation_id})
        if state == "open" and decided_at is None and count >= threshold:
            outcome = ReportOutcome.HIDDEN
            await _set_hidden(session, data.subject_type, data.subject_id, now,
                              AUTO_HIDDEN_REASON.format(count=count))
            await session.execute(update(Moderation).where(Moderation.id == moderation_id).values(state="hidden"))
            await notifications.enqueue(
                session, [subject.author_id], N_("Your content was hidden"),
                N_("Your %(kind)s “%(title)s” was hidden automatically after %(count)s reports, until a "
                   "moderator reviews it.\n\nYou may appeal once: %(link)s"),
                {"kind": SUBJECT_LABELS[data.subject_type], "title": _named(subject), "count": count,
                 "link": base_url + appeal_path(moderation_id)},
                purpose="moderation:hidden", now=now, translate=("kind",))
            await audit.record(session, actor_id=None, action="moderation:auto_hide",
                               subject_type=data.subject_type, subject_id=data.subject_id, now=now,
                               detail={"moderation_id": moderation_id, "reports": count})
    return outcome


# --- the queue ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportLine:
    """One report as moderators see it: no reporter, ever."""

    reason: str
    details: str
    created_at: datetime


@dataclass(frozen=True)
class QueueItem:
    """One moderated item in the queue.

    state: one of moderation.models.STATES; auto_hidden: hidden at the report threshold, no moderator decision
    yet; reason_counts: (reason, reports) for every reason given, in REASONS order; reports: the newest
    REPORTS_SHOWN reports; appeal_pending: the author appealed and no moderator has answered yet;
    author_blocked_until: the end of the author's current block, if any.
    """

    moderation_id: int
    subject: Subject | None
    subject_type: str
    subject_id: int
    author_id: int | None
    author_name: str
    report_count: int
    reason_counts: list[tuple[str, int]]
    reports: list[ReportLine]
    state: str
    last_reported_at: datetime | None
    decided_at: datetime | None
    decider_name: str
    decision_reason: str
    appeal_text: str
    appealed_at: datetime | None
    appeal_decided_at: datetime | None
    author_blocked_until: datetime | None

    @property
    def auto_hidden(self) -> bool:
        """Hidden at the report threshold and not yet reviewed."""
        return self.state == "hidden" and self.decided_at is None

    @property
    def appeal_pending(self) -> bool:
        """The author's appeal awaits a decision."""
        return self.appealed_at is not None and self.appeal_decided_at is None


def _appeal_pending() -> ColumnElement[bool]:
    return and_(Moderation.appealed_at.is_not(None), Moderation.appeal_decided_at.is_(None))


def _filter(name: str) -> ColumnElement[bool] | None:
    """SQL condition of a queue filter (FILTERS): ``open`` needs a moderator (reported and undecided, hidden
    automatically and not reviewed, or appealed); ``hidden``; ``appealed`` (appeal pending); ``all``."""
    if name == "hidden":
        return Moderation.state == "hidden"
    if name == "appealed":
        return _appeal_pending()
    if name == "all":
        return None
    return _needs_review()


def _needs_review() -> ColumnElement[bool]:
    return or_(Moderation.state == "open",
               and_(Moderation.state == "hidden", Moderation.decided_at.is_(None)), _appeal_pending())


async def _items(session: AsyncSession, moderations: list[Moderation], now: datetime) -> list[QueueItem]:
    """Queue items for moderation rows: their items, authors, reports and counts in a few queries."""
    by_type: dict[str, list[int]] = {}
    for m in moderations:
        by_type.setdefault(m.subject_type, []).append(m.subject_id)
    subjects = {t: await _subjects(session, t, ids) for t, ids in by_type.items()}
    user_ids = {uid for m in moderations for uid in (m.author_id, m.decided_by) if uid is not None}
    names = {int(uid): str(name) for uid, name in await session.execute(
        select(User.id, User.display_name).where(User.id.in_(user_ids)))} if user_ids else {}
    blocks: dict[int, datetime] = {}
    authors = {m.author_id for m in moderations if m.author_id is not None}
    if authors:
        for uid, until in await session.execute(
                select(UserBlock.user_id, func.max(UserBlock.ends_at))
                .where(UserBlock.user_id.in_(authors), UserBlock.ends_at > now, UserBlock.lifted_at.is_(None))
                .group_by(UserBlock.user_id)):
            blocks[int(uid)] = until
    items = []
    for m in moderations:
        where = (Report.subject_type == m.subject_type, Report.subject_id == m.subject_id)
        counts = dict((str(r), int(n)) for r, n in await session.execute(
            select(Report.reason, func.count()).where(*where).group_by(Report.reason)))
        reports = [ReportLine(r.reason, r.details, r.created_at) for r in await session.scalars(
            select(Report).where(*where).order_by(Report.created_at.desc(), Report.id.desc()).limit(REPORTS_SHOWN))]
        items.append(QueueItem(
            moderation_id=m.id, subject=subjects.get(m.subject_type, {}).get(m.subject_id),
            subject_type=m.subject_type, subject_id=m.subject_id, author_id=m.author_id,
            author_name=names.get(m.author_id or 0, ""), report_count=m.report_count,
            reason_counts=[(r, counts[r]) for r in REASONS if r in counts], reports=reports, state=m.state,
            last_reported_at=m.last_reported_at, decided_at=m.decided_at,
            decider_name=names.get(m.decided_by or 0, ""), decision_reason=m.decision_reason,
            appeal_text=m.appeal_text, appealed_at=m.appealed_at, appeal_decided_at=m.appeal_decided_at,
            author_blocked_until=blocks.get(m.author_id or 0),
        ))
    return items


async def queue(session: AsyncSession, actor: Actor, filter_name: str, page: int, now: datetime) -> Page[QueueItem]:
    """The moderation queue, newest report first (issue #6, item 3): one page of PER_PAGE items.

    filter_name: one of FILTERS (anything else is ``open``). Raises NotSignedIn, Forbidden (not a moderator).
    """
    _require(actor, Action.MODERATION_HIDE, now)
    condition = _filter(filter_name if filter_name in FILTERS else "open")
    async with reading(session):
        base = select(Moderation)
        counted = select(func.count()).select_from(Moderation)
        if condition is not None:
            base, counted = base.where(condition), counted.where(condition)
        total = int(await session.scalar(counted) or 0)
        rows = list(await session.scalars(
            base.order_by(Moderation.last_reported_at.desc(), Moderation.id.desc())
            .offset((page - 1) * PER_PAGE).limit(PER_PAGE)))
        return Page(await _items(session, rows, now), page, PER_PAGE, total)


async def queue_item(session: AsyncSession, actor: Actor, moderation_id: int, now: datetime) -> QueueItem:
    """One item of the queue (the row htmx swaps after a decision). Raises NotSignedIn, Forbidden, NotFound."""
    _require(actor, Action.MODERATION_HIDE, now)
    async with reading(session):
        row = await session.get(Moderation, moderation_id)
        if row is None:
            raise NotFound()
        return (await _items(session, [row], now))[0]


async def open_count(session: AsyncSession) -> int:
    """How many items need a moderator (the ``open`` filter), for the staff dashboard."""
    async with reading(session):
        return int(await session.scalar(select(func.count()).select_from(Moderation).where(_needs_review())) or 0)


# --- decisions ---------------------------------------------------------------------------------------------


def _reason(text: str) -> str:
    reason = clean_text(text).strip()
    if not reason:
        raise Invalid({"reason": [N_("Please give the reason for your decision.")]})
    if len(reason) > DECISION_REASON_MAX:
        raise Invalid({"reason": [N_("The reason must be at most 1,000 characters long.")]})
    return reason


async def decide(session: AsyncSession, actor: Actor, moderation_id: int, decision: str, reason: str,
                 now: datetime, base_url: str = "") -> QueueItem:
    """A moderator hides or restores an item with a written reason (issue #6, item 3); returns the queue item.

    decision: ``hide`` (also: keep hidden) or ``restore``. A pending appeal is answered by the decision
    (appeal_decided_at). The author is notified with the reason (and, when hidden and not yet appealed, the
    appeal link). Raises NotSignedIn, Forbidden, NotFound, Invalid (unknown decision, reason missing or over
    1,000 characters).
    """
    _require(actor, Action.MODERATION_HIDE, now)
    if decision not in DECISIONS:
        raise Invalid({"decision": [N_("Please choose hide or restore.")]})
    text = _reason(reason)
    async with session.begin():
        m = await session.get(Moderation, moderation_id, with_for_update=True)
        if m is None:
            raise NotFound()
        subject = await _subject(session, m.subject_type, m.subject_id)
        was_hidden = subject.hidden_at is not None
        answering_appeal = m.appealed_at is not None and m.appeal_decided_at is None
        if decision == "hide":
            await _set_hidden(session, m.subject_type, m.subject_id, subject.hidden_at or now, text)
            m.state = "hidden"
        else:
            await _set_hidden(session, m.subject_type, m.subject_id, None, "")
            m.state = "restored"
        m.decided_by, m.decided_at, m.decision_reason = actor.user_id, now, text
        if answering_appeal:
            m.appeal_decided_at = now
        params = {"kind": SUBJECT_LABELS[m.subject_type], "title": _named(subject), "reason": text,
                  "link": base_url + appeal_path(m.id)}
        if answering_appeal:
            body = (N_("A moderator examined your appeal about your %(kind)s “%(title)s”: it stays hidden.\n\n"
                       "Reason: %(reason)s") if decision == "hide" else
                    N_("A moderator examined your appeal about your %(kind)s “%(title)s”: it is visible again.\n\n"
                       "Reason: %(reason)s"))
            subject_line = N_("Your appeal was examined")
        elif decision == "hide" and m.appealed_at is None:
            body = N_("A moderator hid your %(kind)s “%(title)s”.\n\nReason: %(reason)s\n\nYou may appeal once: "
                      "%(link)s")
            subject_line = N_("Your content was hidden")
        elif decision == "hide":
            body = N_("A moderator hid your %(kind)s “%(title)s”.\n\nReason: %(reason)s")
            subject_line = N_("Your content was hidden")
        elif was_hidden:
            body = N_("A moderator made your %(kind)s “%(title)s” visible again.\n\nReason: %(reason)s")
            subject_line = N_("Your content is visible again")
        else:
            body = subject_line = ""  # reports dismissed on visible content: nothing changed for the author
        if body:
            await notifications.enqueue(session, [m.author_id], subject_line, body, params,
                                        purpose=f"moderation:{decision}", now=now, translate=("kind",))
        await audit.record(session, actor_id=actor.user_id, action=f"moderation:{decision}",
                           subject_type=m.subject_type, subject_id=m.subject_id, now=now,
                           detail={"moderation_id": m.id, "appeal": answering_appeal})
    return await queue_item(session, actor, moderation_id, now)


async def block(session: AsyncSession, actor: Actor, user_id: int, days: int, reason: str, now: datetime) -> int:
    """Block a user from participating for ``days`` (one of BLOCK_DAYS) from ``now``; returns the block's id.

    The user is told until when and why. Enforcement is in civic.permissions (``can`` refuses participant
    actions to a blocked user). Raises NotSignedIn, Forbidden (not allowed; or the user is a moderator, council
    staff or admin: an admin removes their role instead), NotFound, Conflict (blocking oneself), Invalid.
    """
    _require(actor, Action.MODERATION_BLOCK, now)
    if days not in BLOCK_DAYS:
        raise Invalid({"days": [N_("Please choose 1, 7 or 30 days.")]})
    text = _reason(reason)
    async with session.begin():
        user = await session.get(User, user_id)
        if user is None:
            raise NotFound()
        if user.id == actor.user_id:
            raise Conflict(N_("You cannot block yourself."))
        if user.role in UNBLOCKABLE_ROLES:
            raise Forbidden(N_("Moderators and council staff cannot be blocked; an admin can remove their role."))
        ends_at = now + timedelta(days=days)
        block_id = int((await session.execute(insert(UserBlock).values(
            user_id=user_id, blocked_by=actor.user_id, reason=text, starts_at=now, ends_at=ends_at,
        ).returning(UserBlock.id))).scalar_one())
        await notifications.enqueue(
            session, [user_id], N_("Your participation is paused"),
            N_("A moderator has paused your participation (reports, proposals, comments, supports, signatures) "
               "until %(until)s (Morocco time).\n\nReason: %(reason)s"),
            {"until": ends_at.astimezone(i18n.TIMEZONE).strftime("%Y-%m-%d %H:%M"), "reason": text},
            purpose="moderation:block", now=now)
        await audit.record(session, actor_id=actor.user_id, action="moderation:block", subject_type="user",
                           subject_id=user_id, now=now, detail={"days": days, "block_id": block_id})
    return block_id


async def active_block(session: AsyncSession, user_id: int, now: datetime) -> datetime | None:
    """The end of the user's current block (the latest, if several), or None when not blocked at ``now``."""
    async with reading(session):
        return await session.scalar(select(func.max(UserBlock.ends_at)).where(
            UserBlock.user_id == user_id, UserBlock.ends_at > now, UserBlock.lifted_at.is_(None)))


# --- appeals -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppealView:
    """What the author sees on the appeal page: the item, why it is hidden, and the appeal if made.

    auto_hidden: hidden at the report threshold, not yet reviewed (hidden_reason is then the automatic one).
    can_appeal: hidden and not appealed yet.
    """

    moderation_id: int
    subject: Subject
    state: str
    decided_at: datetime | None
    decision_reason: str
    appeal_text: str
    appealed_at: datetime | None
    appeal_decided_at: datetime | None

    @property
    def auto_hidden(self) -> bool:
        """Hidden automatically and not yet reviewed."""
        return self.state == "hidden" and self.decided_at is None

    @property
    def can_appeal(self) -> bool:
        """The author may still appeal."""
        return self.state == "hidden" and self.appealed_at is None


async def _own(session: AsyncSession, actor: Actor, moderation_id: int, lock: bool = False) -> Moderation:
    if not actor.signed_in:
        raise NotSignedIn()
    m = await session.get(Moderation, moderation_id, with_for_update=lock)
    if m is None or m.author_id != actor.user_id:
        raise NotFound()  # nobody learns that someone else's content was moderated
    return m


async def appeal_page(session: AsyncSession, actor: Actor, moderation_id: int) -> AppealView:
    """The author's view of a moderation record. Raises NotSignedIn, NotFound (no such record, or not the
    actor's content)."""
    async with reading(session):
        m = await _own(session, actor, moderation_id)
        subject = await _subject(session, m.subject_type, m.subject_id)
        return AppealView(m.id, subject, m.state, m.decided_at, m.decision_reason, m.appeal_text, m.appealed_at,
                          m.appeal_decided_at)


async def appeal(session: AsyncSession, actor: Actor, moderation_id: int, text: str, now: datetime) -> None:
    """The author appeals once against the hiding of their content (10–2,000 characters; issue #6, item 3).

    Blocked authors may appeal too. Raises NotSignedIn, NotFound (not the actor's content), Conflict (not
    hidden, or already appealed), Invalid (text too short or too long).
    """
    body = clean_text(text).strip()
    if len(body) < APPEAL_MIN:
        raise Invalid({"appeal_text": [N_("Please explain your appeal in at least 10 characters.")]})
    if len(body) > APPEAL_MAX:
        raise Invalid({"appeal_text": [N_("The appeal must be at most 2,000 characters long.")]})
    async with session.begin():
        m = await _own(session, actor, moderation_id, lock=True)
        if m.appealed_at is not None:
            raise Conflict(N_("You have already appealed this decision."))
        if m.state != "hidden":
            raise Conflict(N_("Only hidden content can be appealed."))
        m.appeal_text, m.appealed_at = body, now
        await audit.record(session, actor_id=actor.user_id, action="moderation:appeal",
                           subject_type=m.subject_type, subject_id=m.subject_id, now=now,
                           detail={"moderation_id": m.id})


@dataclass(frozen=True)
class HiddenNotice:
    """The notice an author sees on their own hidden item: why, and where to appeal (None when they may not)."""

    moderation_id: int
    reason: str
    auto_hidden: bool
    appealed: bool
    can_appeal: bool
    moderator: bool = False  # the viewer is a moderator, not the author


async def hidden_notice(session: AsyncSession, actor: Actor, subject_type: str, subject_id: int,
                        hidden_reason: str) -> HiddenNotice | None:
    """For a hidden item's page: the notice its author sees (why, and the appeal link), or the one moderators
    see (``moderator``); None for anyone else, or when the item has no moderation record or is not hidden.
    hidden_reason: the item's own ``hidden_reason``."""
    if not actor.signed_in:
        return None
    async with reading(session):
        m = await session.scalar(select(Moderation).where(
            Moderation.subject_type == subject_type, Moderation.subject_id == subject_id))
        if m is None or m.state != "hidden":
            return None
        if m.author_id == actor.user_id:
            return HiddenNotice(m.id, hidden_reason, m.decided_at is None, m.appealed_at is not None,
                                m.appealed_at is None)
        if may_moderate(actor):
            return HiddenNotice(m.id, hidden_reason, m.decided_at is None, m.appealed_at is not None, False,
                                moderator=True)
        return None


async def has_reported(session: AsyncSession, actor: Actor, subject_type: str, subject_id: int) -> bool:
    """True when the actor has already reported this item (the report form then says so)."""
    if not actor.signed_in:
        return False
    async with reading(session):
        return bool(await session.scalar(select(exists().where(
            Report.subject_type == subject_type, Report.subject_id == subject_id,
            Report.reporter_id == actor.user_id))))
