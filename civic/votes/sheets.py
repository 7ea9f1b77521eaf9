"""Paper tally sheets: paper ballots cast at forum meetings, entered by council staff (issue #5, item 3;
shared/domain.md §4, "paper ballots from forum meetings are entered with their origin recorded").

A sheet is the count the meeting's tellers wrote on paper for one question: the sheet's reference (the number
on the paper), the forum meeting, a count per option, blank and invalid ballot papers, and who entered it and
when. Sheets are never edited: a mistake is corrected by a *new* sheet that supersedes it (``supersedes_id``,
unique in the database, so a sheet is superseded at most once, even by two staff members at the same moment);
only the sheets nobody supersedes count (civic.votes.aggregate.sheets_in_force). Every sheet is audited
(``votes:enter_sheet``, with its numbers, so the audit chain keeps what was typed).

Who: people allowed ``meetings:manage`` for the consultation (council staff, admins, the addressed body's
secretary) — the meeting organisers; civic.permissions has no vote-specific action yet.
When: at any time until the ballot's tally is published (civic.votes.verify.publish); after that the published
tally must stay true, so sheets can no longer change (Conflict).
Which meeting: a forum meeting of the ballot's consultation — the ballot's own meeting when it has one.

Validation (all numbers are whole numbers from 0 to COUNT_MAX, typed in any script's digits):

- yes/no/abstain and single choice: one choice per paper, so the sheet's papers are the counts + blank + invalid;
- approval and budget: a paper may carry several choices, so the sheet also gives the number of papers with at
  least one choice (``ballots``): no option can be chosen on more papers than that, the counts add up to at least
  that many choices, and to at most ``ballots × k`` for approval (k = ``max_choices``); for budget the chosen
  projects' costs cannot add up to more than ``ballots × budget`` (a paper over the budget is an invalid one).

That number is stored in ``tally_sheets.with_choice``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from civic import audit
from civic.accounts.models import User
from civic.consultations.models import Consultation, Meeting
from civic.db import reading
from civic.errors import Conflict, Forbidden, Invalid, NotFound, NotSignedIn
from civic.i18n import N_
from civic.permissions import Action, Actor, can
from civic.text import clean_text
from civic.votes import live
from civic.votes.aggregate import sheet_ballots
from civic.votes.models import Ballot, Option, Question, TallySheet, TallySheetCount
from civic.votes.tally import APPROVAL, BUDGET

REFERENCE_MAX = 100  # the column's length
COUNT_MAX = 100_000  # papers at one forum meeting; more is a typing slip
MULTI_CHOICE = frozenset({APPROVAL, BUDGET})

NUMBER_ERROR = N_("Give a whole number from 0 to 100,000.")
REFERENCE_REQUIRED = N_("Give the reference written on the paper sheet.")
REFERENCE_TOO_LONG = N_("The reference must be at most 100 characters long.")
MEETING_ERROR = N_("Choose a forum meeting of this consultation.")
QUESTION_ERROR = N_("Choose a question of this ballot.")
OPTION_OVER_BALLOTS = N_("An option cannot be chosen on more papers than the papers with a choice.")
CHOICES_UNDER_BALLOTS = N_("Each paper with a choice has at least one: the counts add up to fewer choices than "
                           "papers.")
CHOICES_OVER_LIMIT = N_("The counts add up to more choices than the papers allow (each paper may choose up to "
                        "the question's limit).")
COSTS_OVER_BUDGET = N_("The chosen projects cost more than the papers' budgets allow: count the papers over "
                       "budget as invalid.")
PUBLISHED = N_("The tally of this ballot has been published: its paper sheets can no longer change.")
ALREADY_CORRECTED = N_("This sheet has already been corrected by another sheet. Correct the newest one.")


@dataclass(frozen=True)
class SheetInput:
    """A sheet as staff type it: text of each field (the service parses and checks them).

    meeting_id, question_id: ids as typed in the form (ignored for a correction, which keeps the corrected
    sheet's). counts: option id → typed count. ballots: papers with at least one choice (approval and budget
    questions only; ignored otherwise).
    """

    meeting_id: str
    question_id: str
    reference: str
    counts: Mapping[int, str]
    blank: str
    invalid: str
    ballots: str = ""


@dataclass(frozen=True)
class SheetView:
    """A sheet as the sheets page lists it. counts: option id → count. ballots: the papers it counts (blank and
    invalid included). superseded_by / supersedes: the sheet ids of the correction chain, or None.
    in_force: nobody supersedes it (it counts)."""

    id: int
    question_id: int
    meeting_id: int
    meeting_title: str
    reference: str
    counts: dict[int, int]
    blank: int
    invalid: int
    with_choice: int | None
    ballots: int
    entered_by: str
    entered_at: datetime
    supersedes: int | None
    superseded_by: int | None

    @property
    def in_force(self) -> bool:
        """True when no sheet supersedes this one."""
        return self.superseded_by is None


@dataclass(frozen=True)
class QuestionSheets:
    """A question with its options (position order) and its sheets (newest first)."""

    question: Question
    options: list[Option]
    sheets: list[SheetView]


@dataclass(frozen=True)
class SheetsPage:
    """What the sheets page shows: the ballot, its consultation, the meetings to choose from, every question
    with its sheets, and whether the tally is published (then nothing can be entered)."""

    ballot: Ballot
    consultation: Consultation
    meetings: list[Meeting]
    questions: list[QuestionSheets]

    @property
    def published(self) -> bool:
        """True once the ballot's tally is published."""
        return self.ballot.published_at is not None

    def sheet(self, sheet_id: int) -> SheetView | None:
        """One sheet of the page, or None."""
        for q in self.questions:
            for s in q.sheets:
                if s.id == sheet_id:
                    return s
        return None

    def question(self, question_id: int) -> QuestionSheets | None:
        """One question of the page, or None."""
        return next((q for q in self.questions if q.question.id == question_id), None)


# --- rules -------------------------------------------------------------------------------------------------


def _require_staff(actor: Actor, consultation: Consultation, now: datetime) -> None:
    if not actor.signed_in:
        raise NotSignedIn()
    if not can(actor, Action.MEETING_MANAGE, consultation, now):
        raise Forbidden()


def parse_count(raw: str) -> int | None:
    """A typed whole number 0..COUNT_MAX (Western or Arabic-Indic digits, spaces around ignored), else None."""
    text = clean_text(raw or "").strip()
    if not text or len(text) > 6 or not text.isdecimal():
        return None
    value = int(text)
    return value if value <= COUNT_MAX else None


def parse_id(raw: str) -> int | None:
    """A typed row id, or None."""
    text = (raw or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) < 11 else None


@dataclass(frozen=True)
class _Checked:
    reference: str
    counts: dict[int, int]
    blank: int
    invalid: int
    with_choice: int | None


def validate(question: Question, options: Sequence[Option], data: SheetInput) -> _Checked:
    """Checked sheet values (rules in the module docstring). Raises Invalid with a msgid per field:
    ``reference``, ``count_<option id>``, ``blank``, ``invalid``, ``ballots``."""
    errors: dict[str, list[str]] = {}
    reference = " ".join(clean_text(data.reference).split())
    if not reference:
        errors["reference"] = [REFERENCE_REQUIRED]
    elif len(reference) > REFERENCE_MAX:
        errors["reference"] = [REFERENCE_TOO_LONG]
    counts: dict[int, int] = {}
    for option in options:
        value = parse_count(data.counts.get(option.id, ""))
        if value is None:
            errors[f"count_{option.id}"] = [NUMBER_ERROR]
        else:
            counts[option.id] = value
    blank, invalid = parse_count(data.blank), parse_count(data.invalid)
    if blank is None:
        errors["blank"] = [NUMBER_ERROR]
    if invalid is None:
        errors["invalid"] = [NUMBER_ERROR]
    with_choice: int | None = None
    if question.method in MULTI_CHOICE:
        with_choice = parse_count(data.ballots)
        if with_choice is None:
            errors["ballots"] = [NUMBER_ERROR]
        elif len(counts) == len(options):
            total = sum(counts.values())
            if any(n > with_choice for n in counts.values()):
                errors["ballots"] = [OPTION_OVER_BALLOTS]
            elif total < with_choice:
                errors["ballots"] = [CHOICES_UNDER_BALLOTS]
            elif question.method == APPROVAL and total > with_choice * (question.max_choices or len(options)):
                errors["ballots"] = [CHOICES_OVER_LIMIT]
            elif question.method == BUDGET and sum(counts[o.id] * (o.cost or 0) for o in options) > \
                    with_choice * (question.budget or 0):
                errors["ballots"] = [COSTS_OVER_BUDGET]
    if errors:
        raise Invalid(errors)
    assert blank is not None and invalid is not None
    return _Checked(reference, counts, blank, invalid, with_choice)


async def _ballot_and_consultation(session: AsyncSession, ballot_id: int) -> tuple[Ballot, Consultation]:
    ballot = await session.get(Ballot, ballot_id)
    consultation = await session.get(Consultation, ballot.consultation_id) if ballot else None
    if ballot is None or consultation is None:
        raise NotFound()
    return ballot, consultation


async def _options(session: AsyncSession, question_id: int) -> list[Option]:
    return list((await session.scalars(
        select(Option).where(Option.question_id == question_id).order_by(Option.position, Option.id))).all())


async def _insert(session: AsyncSession, actor: Actor, ballot: Ballot, question: Question, meeting_id: int,
                  checked: _Checked, supersedes: int | None, now: datetime) -> int:
    sheet_id = int((await session.execute(insert(TallySheet).values(
        question_id=question.id, meeting_id=meeting_id, reference=checked.reference, blank=checked.blank,
        invalid=checked.invalid, entered_by=actor.user_id, entered_at=now, supersedes_id=supersedes,
        with_choice=checked.with_choice,
    ).returning(TallySheet.id))).scalar_one())
    if checked.counts:
        await session.execute(insert(TallySheetCount), [
            {"sheet_id": sheet_id, "option_id": option_id, "count": n} for option_id, n in checked.counts.items()])
    await live.notify(session, ballot.id)  # delivered at commit: open results pages refresh (issue #5, item 6)
    await audit.record(session, actor_id=actor.user_id, action="votes:enter_sheet", subject_type="tally_sheet",
                       subject_id=sheet_id, now=now, detail={
                           "ballot_id": ballot.id, "question_id": question.id, "meeting_id": meeting_id,
                           "reference": checked.reference, "counts": {str(k): v for k, v in checked.counts.items()},
                           "blank": checked.blank, "invalid": checked.invalid, "with_choice": checked.with_choice,
                           "supersedes": supersedes})
    return sheet_id


# --- writing -----------------------------------------------------------------------------------------------


async def enter_sheet(session: AsyncSession, actor: Actor, ballot_id: int, data: SheetInput, now: datetime) -> int:
    """Record a new paper tally sheet for a question of the ballot; returns its id (issue #5, item 3).

    Audited ``votes:enter_sheet``. Raises NotSignedIn, Forbidden (not a meeting organiser of the
    consultation), NotFound (no such ballot), Invalid (fields: ``question_id``, ``meeting_id``, ``reference``,
    ``count_<option id>``, ``blank``, ``invalid``, ``ballots``), Conflict (the tally is published).
    """
    if not actor.signed_in:
        raise NotSignedIn()
    async with session.begin():
        ballot, consultation = await _ballot_and_consultation(session, ballot_id)
        _require_staff(actor, consultation, now)
        if ballot.published_at is not None:
            raise Conflict(PUBLISHED)
        question_id = parse_id(data.question_id)
        question = await session.get(Question, question_id) if question_id else None
        if question is None or question.ballot_id != ballot.id:
            raise Invalid({"question_id": [QUESTION_ERROR]})
        meeting_id = parse_id(data.meeting_id)
        meeting = await session.get(Meeting, meeting_id) if meeting_id else None
        errors: dict[str, list[str]] = {}
        if meeting is None or meeting.consultation_id != consultation.id or \
                (ballot.meeting_id is not None and meeting.id != ballot.meeting_id):
            errors["meeting_id"] = [MEETING_ERROR]
        try:
            checked = validate(question, await _options(session, question.id), data)
        except Invalid as exc:
            raise Invalid({**errors, **exc.field_errors}) from None
        if errors or meeting is None:
            raise Invalid(errors)
        return await _insert(session, actor, ballot, question, meeting.id, checked, None, now)


async def correct_sheet(session: AsyncSession, actor: Actor, sheet_id: int, data: SheetInput,
                        now: datetime) -> int:
    """Correct a sheet by a new one that supersedes it (same question and meeting; never an edit); returns the
    new sheet's id. Audited ``votes:enter_sheet`` with ``supersedes``.

    Raises NotSignedIn, Forbidden, NotFound (no such sheet), Invalid (as enter_sheet), Conflict (the sheet was
    already corrected — the unique index on supersedes_id decides between two simultaneous corrections — or the
    tally is published).
    """
    if not actor.signed_in:
        raise NotSignedIn()
    try:
        async with session.begin():
            old = await session.get(TallySheet, sheet_id)
            question = await session.get(Question, old.question_id) if old else None
            if old is None or question is None:
                raise NotFound()
            ballot, consultation = await _ballot_and_consultation(session, question.ballot_id)
            _require_staff(actor, consultation, now)
            if ballot.published_at is not None:
                raise Conflict(PUBLISHED)
            if await session.scalar(select(TallySheet.id).where(TallySheet.supersedes_id == old.id)) is not None:
                raise Conflict(ALREADY_CORRECTED)
            checked = validate(question, await _options(session, question.id), data)
            return await _insert(session, actor, ballot, question, old.meeting_id, checked, old.id, now)
    except IntegrityError:
        raise Conflict(ALREADY_CORRECTED) from None


# --- reading -----------------------------------------------------------------------------------------------


async def ballot_of_sheet(session: AsyncSession, sheet_id: int) -> int:
    """The ballot id of a sheet (to come back to its sheets page). Raises NotFound."""
    async with reading(session):
        ballot_id = await session.scalar(
            select(Question.ballot_id).join(TallySheet, TallySheet.question_id == Question.id)
            .where(TallySheet.id == sheet_id))
    if ballot_id is None:
        raise NotFound()
    return int(ballot_id)


async def sheets_page(session: AsyncSession, actor: Actor, ballot_id: int, now: datetime) -> SheetsPage:
    """The sheets page of a ballot: every sheet of every question, superseded ones included and marked, with
    who entered it (meeting organisers only; shows counts, so never to participants — issue #5, item 5).
    Raises NotSignedIn, Forbidden, NotFound."""
    if not actor.signed_in:
        raise NotSignedIn()
    async with reading(session):
        ballot, consultation = await _ballot_and_consultation(session, ballot_id)
        _require_staff(actor, consultation, now)
        meetings = list((await session.scalars(
            select(Meeting).where(Meeting.consultation_id == consultation.id)
            .order_by(Meeting.starts_at, Meeting.id))).all())
        if ballot.meeting_id is not None:
            meetings = [m for m in meetings if m.id == ballot.meeting_id]
        questions = list((await session.scalars(
            select(Question).where(Question.ballot_id == ballot.id).order_by(Question.position, Question.id))).all())
        newer = aliased(TallySheet)
        rows = (await session.execute(
            select(TallySheet, Meeting.title, User.display_name, newer.id)
            .join(Question, Question.id == TallySheet.question_id)
            .join(Meeting, Meeting.id == TallySheet.meeting_id)
            .join(User, User.id == TallySheet.entered_by)
            .outerjoin(newer, newer.supersedes_id == TallySheet.id)
            .where(Question.ballot_id == ballot.id)
            .order_by(TallySheet.entered_at.desc(), TallySheet.id.desc()))).all()
        counts: dict[int, dict[int, int]] = {}
        for sheet_id, option_id, n in (await session.execute(
                select(TallySheetCount.sheet_id, TallySheetCount.option_id, TallySheetCount.count)
                .join(TallySheet, TallySheet.id == TallySheetCount.sheet_id)
                .join(Question, Question.id == TallySheet.question_id)
                .where(Question.ballot_id == ballot.id))):
            counts.setdefault(sheet_id, {})[option_id] = n
        by_question: dict[int, list[SheetView]] = {}
        methods = {q.id: q.method for q in questions}
        for sheet, meeting_title, entered_by, superseded_by in rows:
            sheet_counts = counts.get(sheet.id, {})
            by_question.setdefault(sheet.question_id, []).append(SheetView(
                id=sheet.id, question_id=sheet.question_id, meeting_id=sheet.meeting_id, meeting_title=meeting_title,
                reference=sheet.reference, counts=sheet_counts, blank=sheet.blank, invalid=sheet.invalid,
                with_choice=sheet.with_choice,
                ballots=sheet_ballots(methods.get(sheet.question_id, ""), list(sheet_counts.values()), sheet.blank,
                                      sheet.invalid, sheet.with_choice),
                entered_by=entered_by, entered_at=sheet.entered_at, supersedes=sheet.supersedes_id,
                superseded_by=superseded_by))
        return SheetsPage(ballot, consultation, meetings, [
            QuestionSheets(q, await _options(session, q.id), by_question.get(q.id, [])) for q in questions])
