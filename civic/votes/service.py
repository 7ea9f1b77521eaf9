"""Ballots and casting: staff create a consultation's ballots and their questions; eligible residents cast one
ballot per question, may change it while voting is open, and get a receipt code shown once (issue #5, items 1,
2, 7 and 9; shared/domain.md §3 and §4).

Ballots. Staff (Action.CONSULTATION_MANAGE on the consultation) create a ballot (title, description, optionally
only for the people registered at one of the consultation's forum meetings) and add its questions one by one:
``yes_no_abstain`` (the three fixed options YES_NO_ABSTAIN_LABELS, in that position order, are created for it),
``single_choice`` and ``approval`` (2–30 options; approval with ``max_choices`` k, 1 ≤ k ≤ options) and
``budget`` (2–30 projects, each with a cost in whole dirhams, and the question's budget). Once a ballot has been
cast on one of its questions, online or on a paper tally sheet, its questions and options never change
(Conflict), nor does its meeting restriction. Every staff change is audited (``votes:*``).

Eligibility (item 2). A signed-in person whose commune lies in the consultation's territory (its code is the
territory's code, or starts with it followed by a dot: ``05`` ⊃ ``05.091`` ⊃ ``05.091.01.01``;
civic/territories/models.py), and, when the ballot has a ``meeting_id``, who holds a seat at that meeting
(registration ``registered``). Voting is open while the consultation's current phase has ``votes_enabled``.
LOCAL CHECK: civic.permissions has no ``votes:cast`` action yet (asked of its owner); ``_refusal`` below applies
the same rules ``can`` would (signed in, not blocked — moderation blocks refuse participation like signing a
petition —, phase flag) until it has one.

Casting. One cast ballot per voter and question (unique index ``(question_id, voter_id)``). A submission
answers every question of the ballot at once; casting again while voting is open replaces the row's choices in
place (``changed_at`` updated), so only the last submission counts. The row is written with
``INSERT … ON CONFLICT (question_id, voter_id) DO UPDATE`` on both dialects, which takes the row's lock; its
choices are then deleted and inserted in the same transaction. Parallel submissions by one voter therefore run
one after the other on each row (questions in position order, so they cannot deadlock): never two rows, and the
final state is exactly one whole submission. The ballot row is read ``FOR KEY SHARE``, which staff changes to
questions (``FOR UPDATE``) wait for. On SQLite every writing transaction is serialised (civic.db).
Validation per method: yes/no/abstain and single choice, exactly one option; approval, 0 to k options; budget,
projects whose total cost is at most the budget (otherwise refused with the total and the budget:
BallotInvalid.over_budget). A submission with no option chosen on an approval or budget question is a *blank*
ballot for that question (counted as blank by civic.votes.tally). Casting is not audited one by one (like
petition signatures and supports): the rows are the record, and the audit chain's lock would serialise every
vote.

Copied at casting time (never asked): the province and the area (urban/rural, from the commune's type) of the
voter's commune. Demographics (item 7) are optional, asked on the voting form for this ballot only, stored on
the cast ballot rows (never on the user): gender ``woman``/``man``, age band (models.AGE_BANDS), disability
yes/no. "Prefer not to say" and no answer are both stored as NULL: the results count them together as "not
given".

Receipts (item 9). Each submission creates a new random code of RECEIPT_LENGTH characters from
RECEIPT_ALPHABET (no 0/O, 1/I/L or U, so it can be read aloud), shown once as ``XXXXX-XXXXX``; only its SHA-256
(``receipt_digest``) is stored, on every question's row of that submission. A changed vote gets a new code and
the old one stops matching any row.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, exists, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from civic import audit
from civic.accounts.models import User
from civic.consultations import service as consultations
from civic.consultations.meetings import meetings_of
from civic.consultations.models import Consultation, Meeting, MeetingRegistration, Phase
from civic.db import dialect_name, reading
from civic.errors import Conflict, Forbidden, Invalid, NotFound, NotSignedIn
from civic.i18n import N_
from civic.permissions import BLOCKED_MESSAGE, Action, Actor, can, phase_allows
from civic.settings import Settings
from civic.territories.models import Territory
from civic.text import clean_text
from civic.votes import live
from civic.votes.models import AGE_BANDS, GENDERS, METHODS, Ballot, CastBallot, Choice, Option, Question, TallySheet

TITLE_MIN, TITLE_MAX = 5, 200
DESCRIPTION_MAX = 5_000
QUESTION_MIN, QUESTION_MAX = 5, 1_000
OPTION_MAX = 300  # ballot_options.label
OPTIONS_MIN, OPTIONS_MAX = 2, 30
MAX_QUESTIONS = 20  # per ballot: keeps the voting form (and its posted fields) readable
MONEY_MAX = 2**31 - 1  # whole dirhams; the column is an integer
YES_NO_ABSTAIN_LABELS = (N_("Yes"), N_("No"), N_("Abstain"))
METHOD_LABELS = {"yes_no_abstain": N_("Yes, no or abstain"), "single_choice": N_("Single choice"),
                 "approval": N_("Approval (choose up to k options)"), "budget": N_("Budget (choose projects)")}
RECEIPT_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
RECEIPT_LENGTH = 10
RECEIPT_GROUP = 5
PREFER_NOT = "prefer_not"
DISABILITY_ANSWERS = ("yes", "no")

# Field errors (msgids without placeholders).
TITLE_MISSING = N_("Please give the ballot a title.")
TITLE_LENGTH = N_("The title must be between 5 and 200 characters long.")
DESCRIPTION_LONG = N_("The description must be at most 5,000 characters long.")
MEETING_UNKNOWN = N_("Please choose one of this consultation's forum meetings, or everyone.")
QUESTION_MISSING = N_("Please write the question.")
QUESTION_LENGTH = N_("The question must be between 5 and 1,000 characters long.")
METHOD_MISSING = N_("Please choose how people answer this question.")
OPTIONS_COUNT = N_("Give between 2 and 30 options, one per line.")
OPTIONS_DUPLICATE = N_("Two options have the same text.")
OPTION_LONG = N_("Each option must be at most 300 characters long.")
PROJECT_FORMAT = N_("Write each project on its own line: its name, then the sign | and its cost in whole "
                    "dirhams, e.g. School bus | 400000.")
MAX_CHOICES_WRONG = N_("Give a whole number from 1 to the number of options.")
BUDGET_WRONG = N_("Give the budget in whole dirhams, e.g. 1000000.")
PROJECT_OVER_BUDGET = N_("Each project must cost no more than the budget.")
TOO_MANY_QUESTIONS = N_("A ballot has at most 20 questions.")
CHOOSE_ONE = N_("Please choose one answer.")
CHOOSE_GIVEN = N_("Please choose among the options given.")
TOO_MANY_CHOSEN = N_("You chose more options than this question allows.")
OVER_BUDGET = N_("The projects you chose cost more than the budget. Remove a project and try again.")
DEMOGRAPHIC_WRONG = N_("Please choose one of the answers given, or leave it empty.")
# Refusals (messages of the errors raised; the pages say more, with the place or the meeting's name).
LOCKED = N_("Votes have already been cast on this ballot: its questions and options can no longer change.")
VOTING_CLOSED = N_("Voting is not open in this phase.")
NOT_ELIGIBLE = N_("You may not vote on this ballot.")
NO_QUESTIONS = N_("This ballot has no question yet.")
VOTE_NOT_RECORDED = N_("Your vote was not recorded.")

_MONEY = re.compile(r"\d{1,3}(?:[ ,.\u00a0\u202f]\d{3})+|\d+")  # any script's digits, thousands separators
_QUESTION_ORDER = (Question.position, Question.id)
_OPTION_ORDER = (Option.position, Option.id)


# --- errors ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlaceName:
    """A territory as plain values (code, kind, names), so a refusal outlives its transaction."""

    code: str
    kind: str
    name_ar: str
    name_fr: str


@dataclass(frozen=True)
class MeetingChoice:
    """A forum meeting as plain values: a ballot may be restricted to it (forms are re-shown after a rollback)."""

    id: int
    title: str
    starts_at: datetime


@dataclass(frozen=True)
class Refusal:
    """Why a person cannot vote on a ballot now. reason: one of REFUSAL_REASONS; place: the consultation's
    territory (``not_resident``); meeting: the ballot's meeting (``not_registered``)."""

    reason: str
    place: PlaceName | None = None
    meeting: MeetingChoice | None = None


REFUSAL_REASONS = ("sign_in", "closed", "no_questions", "blocked", "not_resident", "not_registered")


class VotingClosed(Conflict):
    """Casting outside a phase with ``votes_enabled`` (409)."""

    message = VOTING_CLOSED


class NotEligible(Forbidden):
    """The voter may not vote on this ballot (403): blocked, not a resident, or not registered at its meeting.
    ``refusal`` says which, for the page."""

    message = NOT_ELIGIBLE

    def __init__(self, refusal: Refusal, message: str | None = None) -> None:
        super().__init__(message)
        self.refusal = refusal


class BallotInvalid(Invalid):
    """A submission refused by the validation of one of its questions (422). field_errors: ``q<question id>``
    and the demographic fields; over_budget: question id → (total cost chosen, budget), in whole dirhams, for
    the message "The projects you chose cost X MAD; the budget is Y MAD"."""

    def __init__(self, field_errors: dict[str, list[str]], over_budget: dict[int, tuple[int, int]]) -> None:
        super().__init__(field_errors)
        self.over_budget = over_budget


# --- receipts --------------------------------------------------------------------------------------------------


def new_receipt_code() -> str:
    """A new random receipt code, RECEIPT_LENGTH characters of RECEIPT_ALPHABET (about 49 bits), grouped for
    reading aloud: ``K7M2Q-9XRTB``."""
    raw = "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(RECEIPT_LENGTH))
    return "-".join(raw[i:i + RECEIPT_GROUP] for i in range(0, RECEIPT_LENGTH, RECEIPT_GROUP))


def normalise_receipt(text: str) -> str | None:
    """A typed receipt code in its canonical form (capitals, no spaces or dashes), or None when it cannot be one
    (wrong length or characters)."""
    code = re.sub(r"[\s\-‐‑–—_.]", "", text or "").upper()
    if len(code) != RECEIPT_LENGTH or any(c not in RECEIPT_ALPHABET for c in code):
        return None
    return code


def receipt_digest(code: str) -> str:
    """SHA-256 hex of a receipt code's canonical form: what ``cast_ballots.receipt_digest`` stores and what
    the council publishes (issue #5, item 9). Raises ValueError for text that is not a receipt code."""
    canonical = normalise_receipt(code)
    if canonical is None:
        raise ValueError("not a receipt code")
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


# --- helpers ---------------------------------------------------------------------------------------------------


def _one_line(value: str) -> str:
    return " ".join(clean_text(value).split())


def parse_money(value: str) -> int | None:
    """Whole dirhams typed with or without thousands separators (``1 000 000``, ``1,000,000``, Arabic-Indic
    digits too), or None when it is not a positive whole number that fits the column."""
    text = (value or "").strip()
    text = re.sub(r"\s*(MAD|DH|Dhs?|درهم)\.?$", "", text, flags=re.IGNORECASE).strip()
    if not _MONEY.fullmatch(text):
        return None
    amount = int(re.sub(r"[ ,.\u00a0\u202f]", "", text))
    return amount if 1 <= amount <= MONEY_MAX else None


def _whole(value: str, low: int, high: int) -> int | None:
    text = (value or "").strip()
    if not re.fullmatch(r"\d{1,6}", text):
        return None
    number = int(text)
    return number if low <= number <= high else None


def is_resident(commune_code: str | None, territory_code: str) -> bool:
    """True when a commune lies in a territory: same code, or the territory's code followed by a dot starts
    it (region ``05`` ⊃ province ``05.091`` ⊃ commune ``05.091.01.01``; civic/territories/models.py)."""
    if not commune_code:
        return False
    return commune_code == territory_code or commune_code.startswith(territory_code + ".")


def _require_manager(actor: Actor, consultation: Consultation, now: datetime) -> None:
    """Staff only: Action.CONSULTATION_MANAGE on the ballot's consultation. Raises NotSignedIn, Forbidden."""
    if not actor.signed_in:
        raise NotSignedIn()
    if not can(actor, Action.CONSULTATION_MANAGE, consultation, now):
        raise Forbidden()


async def _votes_exist(session: AsyncSession, ballot_id: int) -> bool:
    """True once a ballot has been cast on one of the ballot's questions, online or on a paper tally sheet."""
    questions = select(Question.id).where(Question.ballot_id == ballot_id)
    online = await session.scalar(select(exists().where(CastBallot.question_id.in_(questions))))
    paper = await session.scalar(select(exists().where(TallySheet.question_id.in_(questions))))
    return bool(online or paper)


# --- reading ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OptionView:
    """An option as pages show it. cost: whole dirhams for a budget project, else None."""

    id: int
    position: int
    label: str
    cost: int | None


@dataclass(frozen=True)
class QuestionView:
    """A question with its options in position order. max_choices: k (approval); budget: whole dirhams."""

    id: int
    position: int
    text: str
    method: str
    max_choices: int | None
    budget: int | None
    options: tuple[OptionView, ...]

    def label_of(self, option_id: int) -> str | None:
        """The label of one of the question's options, or None."""
        return next((o.label for o in self.options if o.id == option_id), None)


async def _questions(session: AsyncSession, ballot_id: int) -> list[QuestionView]:
    """The ballot's questions and options in position order (two queries, plain rows)."""
    questions = (await session.execute(
        select(Question.id, Question.position, Question.text, Question.method, Question.max_choices, Question.budget)
        .where(Question.ballot_id == ballot_id).order_by(*_QUESTION_ORDER))).all()
    options: dict[int, list[OptionView]] = {q.id: [] for q in questions}
    if questions:
        for o in await session.execute(
                select(Option.question_id, Option.id, Option.position, Option.label, Option.cost)
                .join(Question, Question.id == Option.question_id).where(Question.ballot_id == ballot_id)
                .order_by(Option.question_id, *_OPTION_ORDER)):
            options[o.question_id].append(OptionView(o.id, o.position, o.label, o.cost))
    return [QuestionView(q.id, q.position, q.text, q.method, q.max_choices, q.budget, tuple(options[q.id]))
            for q in questions]


async def _ballot(session: AsyncSession, ballot_id: int, lock: str | None = None) -> Ballot:
    query = select(Ballot).where(Ballot.id == ballot_id).execution_options(populate_existing=True)
    if lock == "update":
        query = query.with_for_update()
    elif lock == "key_share":
        query = query.with_for_update(read=True, key_share=True)
    ballot = await session.scalar(query)
    if ballot is None:
        raise NotFound()
    return ballot


async def _consultation(session: AsyncSession, consultation_id: int) -> Consultation:
    consultation = await session.get(Consultation, consultation_id)
    if consultation is None:
        raise NotFound()
    return consultation


@dataclass(frozen=True)
class BallotSummary:
    """A ballot as the consultation's list of ballots shows it."""

    id: int
    title: str
    meeting_title: str | None
    questions: int


async def ballots_of(session: AsyncSession, consultation_id: int) -> list[BallotSummary]:
    """The consultation's ballots, oldest first, with their meeting's title (or None) and number of questions
    (for the consultation's page and its list of ballots). No vote count."""
    async with reading(session):
        question_count = (select(func.count()).select_from(Question).where(Question.ballot_id == Ballot.id)
                          .scalar_subquery())
        rows = await session.execute(
            select(Ballot.id, Ballot.title, Meeting.title, question_count)
            .outerjoin(Meeting, Meeting.id == Ballot.meeting_id)
            .where(Ballot.consultation_id == consultation_id).order_by(Ballot.created_at, Ballot.id))
        return [BallotSummary(int(i), str(t), m, int(n or 0)) for i, t, m, n in rows]


@dataclass(frozen=True)
class BallotsPage:
    """A consultation's ballots. voting_open: the current phase has ``votes_enabled``."""

    consultation: Consultation
    ballots: list[BallotSummary]
    voting_open: bool
    can_manage: bool


async def consultation_ballots(session: AsyncSession, actor: Actor, consultation_id: int,
                               now: datetime) -> BallotsPage:
    """The public list of a consultation's ballots. Raises NotFound."""
    async with reading(session):
        consultation = await _consultation(session, consultation_id)
        phase = await consultations.current_phase(session, consultation_id, now)
        ballots = await ballots_of(session, consultation_id)
    return BallotsPage(consultation, ballots, phase_allows(phase, "votes_enabled", now),
                       can(actor, Action.CONSULTATION_MANAGE, consultation, now))


@dataclass(frozen=True)
class CurrentVote:
    """The actor's counted ballot on a ballot's questions: choices (question id → option ids in position
    order), first cast and last change (UTC), and the demographics given with the last change (None: not
    given)."""

    choices: Mapping[int, tuple[int, ...]]
    cast_at: datetime
    changed_at: datetime
    gender: str | None
    age_band: str | None
    disability: bool | None

    @property
    def changed(self) -> bool:
        """True when the vote was changed after it was first cast."""
        return self.changed_at > self.cast_at


async def _current_vote(session: AsyncSession, user_id: int, questions: Sequence[QuestionView]) -> CurrentVote | None:
    ids = [q.id for q in questions]
    if not ids:
        return None
    rows = list((await session.execute(
        select(CastBallot.id, CastBallot.question_id, CastBallot.cast_at, CastBallot.changed_at, CastBallot.gender,
               CastBallot.age_band, CastBallot.disability)
        .where(CastBallot.voter_id == user_id, CastBallot.question_id.in_(ids)))).all())
    if not rows:
        return None
    chosen: dict[int, list[int]] = {q: [] for q in ids}
    for question_id, option_id in await session.execute(
            select(Choice.question_id, Choice.option_id).join(Option, Option.id == Choice.option_id)
            .where(Choice.cast_ballot_id.in_([r.id for r in rows])).order_by(*_OPTION_ORDER)):
        chosen[int(question_id)].append(int(option_id))
    latest = max(rows, key=lambda r: r.changed_at)
    return CurrentVote({r.question_id: tuple(chosen[r.question_id]) for r in rows},
                       min(r.cast_at for r in rows), latest.changed_at, latest.gender, latest.age_band,
                       latest.disability)


@dataclass(frozen=True)
class BallotPage:
    """Everything a ballot's public page shows (issue #5, items 1, 2 and 7). No count of any kind.

    phase: the current phase (or None); voting_open: it has ``votes_enabled``; voting_phase: the current voting
    phase, else the next one, else the last one that ended (for its dates; None when there is none);
    refusal: why the actor cannot vote now (None: the voting form is shown); current: the actor's counted
    vote; commune: the actor's commune (the area shown on the form); place: the consultation's territory.
    """

    ballot: Ballot
    consultation: Consultation
    place: Territory | None
    meeting: Meeting | None
    questions: list[QuestionView]
    phase: Phase | None
    voting_open: bool
    voting_phase: Phase | None
    refusal: Refusal | None
    current: CurrentVote | None
    commune: Territory | None
    can_manage: bool
    now: datetime

    def summary(self, question: QuestionView) -> list[str]:
        """The labels the actor chose on ``question`` (empty: a blank ballot, or no vote)."""
        if self.current is None:
            return []
        labels = (question.label_of(o) for o in self.current.choices.get(question.id, ()))
        return [label for label in labels if label is not None]


def _voting_phase(phases: Sequence[Phase], now: datetime) -> Phase | None:
    """The current phase with ``votes_enabled``, else the next one, else the last one that ended (or None);
    ``phases`` in date order."""
    voting = [p for p in phases if p.votes_enabled]
    current_or_next = [p for p in voting if p.ends_at > now]
    if current_or_next:
        return current_or_next[0]
    return voting[-1] if voting else None


async def _commune(session: AsyncSession, actor: Actor) -> Territory | None:
    """The actor's commune of residence (None for a visitor)."""
    if actor.user_id is None:
        return None
    return await session.scalar(select(Territory).join(User, User.commune_code == Territory.code)
                                .where(User.id == actor.user_id))


async def _refusal(session: AsyncSession, actor: Actor, ballot: Ballot, consultation: Consultation,
                   phase: Phase | None, questions: Sequence[QuestionView],
                   now: datetime) -> tuple[Refusal | None, Territory | None]:
    """Why ``actor`` cannot vote on ``ballot`` at ``now`` (None when they can), and their commune.

    LOCAL CHECK standing in for ``can(actor, Action.VOTE_CAST, phase, now)`` (see the module docstring): in
    this order — the current phase has ``votes_enabled`` (shared/domain.md §4); the ballot has questions; signed
    in (a visitor is invited to sign in only while voting is open); not blocked by a moderator (issue #6, item 3);
    a resident of the consultation's territory; when the ballot is for one meeting, registered there with a seat
    (issue #5, item 2).
    """
    if not phase_allows(phase, "votes_enabled", now):
        return Refusal("closed"), await _commune(session, actor)
    if not questions:
        return Refusal("no_questions"), await _commune(session, actor)
    if not actor.signed_in:
        return Refusal("sign_in"), None
    commune = await _commune(session, actor)
    if actor.blocked(now):
        return Refusal("blocked"), commune
    if not is_resident(commune.code if commune else None, consultation.territory_code):
        place = await session.get(Territory, consultation.territory_code)
        return Refusal("not_resident", place=PlaceName(place.code, place.kind, place.name_ar, place.name_fr)
                       if place is not None else None), commune
    if ballot.meeting_id is not None:
        registered = await session.scalar(select(exists().where(
            MeetingRegistration.meeting_id == ballot.meeting_id, MeetingRegistration.user_id == actor.user_id,
            MeetingRegistration.status == "registered", MeetingRegistration.seat.is_not(None))))
        if not registered:
            meeting = await session.get(Meeting, ballot.meeting_id)
            return Refusal("not_registered", meeting=MeetingChoice(meeting.id, meeting.title, meeting.starts_at)
                           if meeting is not None else None), commune
    return None, commune


async def ballot_page(session: AsyncSession, actor: Actor, ballot_id: int, now: datetime) -> BallotPage:
    """A ballot's public page for ``actor`` at ``now``: its questions, whether and until when voting is open,
    why the actor may not vote (if so) and their current vote. Raises NotFound."""
    async with reading(session):
        ballot = await _ballot(session, ballot_id)
        consultation = await _consultation(session, ballot.consultation_id)
        questions = await _questions(session, ballot_id)
        phases = await consultations.phases_of(session, consultation.id)
        phase = consultations.phase_at(phases, now)
        refusal, commune = await _refusal(session, actor, ballot, consultation, phase, questions, now)
        current = await _current_vote(session, actor.user_id, questions) if actor.user_id is not None else None
        meeting = await session.get(Meeting, ballot.meeting_id) if ballot.meeting_id is not None else None
        place = await session.get(Territory, consultation.territory_code)
    return BallotPage(ballot, consultation, place, meeting, questions, phase,
                      phase_allows(phase, "votes_enabled", now), _voting_phase(phases, now), refusal, current,
                      commune, can(actor, Action.CONSULTATION_MANAGE, consultation, now), now)


# --- staff: ballots and questions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BallotInput:
    """A ballot as staff type it. meeting_id: '' for every resident of the consultation's territory, else the
    id (text) of one of the consultation's forum meetings."""

    title: str
    description: str = ""
    meeting_id: str = ""


def _validate_ballot(data: BallotInput, meetings: Sequence[Meeting | MeetingChoice]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    title = _one_line(data.title)
    if not title:
        errors["title"] = [TITLE_MISSING]
    elif not TITLE_MIN <= len(title) <= TITLE_MAX:
        errors["title"] = [TITLE_LENGTH]
    description = clean_text(data.description).strip()
    if len(description) > DESCRIPTION_MAX:
        errors["description"] = [DESCRIPTION_LONG]
    raw = (data.meeting_id or "").strip()
    meeting_id: int | None = None
    if raw:
        meeting_id = next((m.id for m in meetings if str(m.id) == raw), None)
        if meeting_id is None:
            errors["meeting_id"] = [MEETING_UNKNOWN]
    if errors:
        raise Invalid(errors)
    return {"title": title, "description": description, "meeting_id": meeting_id}


async def _meeting_choices(session: AsyncSession, consultation_id: int) -> list[MeetingChoice]:
    return [MeetingChoice(m.id, m.title, m.starts_at) for m in await meetings_of(session, consultation_id)]


@dataclass(frozen=True)
class NewBallotContext:
    """What the new-ballot form needs: the consultation's id and title, and its forum meetings (by start)."""

    consultation_id: int
    consultation_title: str
    meetings: list[MeetingChoice]


async def new_ballot_context(session: AsyncSession, actor: Actor, consultation_id: int,
                             now: datetime) -> NewBallotContext:
    """The consultation and its meetings, for staff's new-ballot form. Raises NotSignedIn, NotFound,
    Forbidden."""
    if not actor.signed_in:
        raise NotSignedIn()
    async with reading(session):
        consultation = await _consultation(session, consultation_id)
        _require_manager(actor, consultation, now)
        meetings = await _meeting_choices(session, consultation_id)
    return NewBallotContext(consultation.id, consultation.title, meetings)


async def create_ballot(session: AsyncSession, actor: Actor, consultation_id: int, data: BallotInput,
                        now: datetime) -> int:
    """Create a ballot (no question yet) for a consultation; returns its id (issue #5, item 1). Staff only.
    Audited ``votes:create_ballot``. Raises NotSignedIn, NotFound, Forbidden, Invalid."""
    if not actor.signed_in:
        raise NotSignedIn()
    async with session.begin():
        consultation = await _consultation(session, consultation_id)
        _require_manager(actor, consultation, now)
        values = _validate_ballot(data, await meetings_of(session, consultation_id))
        ballot_id = int((await session.execute(insert(Ballot).values(
            consultation_id=consultation_id, created_by=actor.user_id, created_at=now, **values,
        ).returning(Ballot.id))).scalar_one())
        await audit.record(session, actor_id=actor.user_id, action="votes:create_ballot", subject_type="ballot",
                           subject_id=ballot_id, now=now,
                           detail={"consultation_id": consultation_id, "meeting_id": values["meeting_id"]})
    return ballot_id


@dataclass(frozen=True)
class BallotEditPage:
    """Staff's page of a ballot: its consultation, the consultation's meetings, its questions, and whether votes
    were cast (locked: questions, options and the meeting restriction can no longer change)."""

    ballot: Ballot
    consultation: Consultation
    meetings: list[MeetingChoice]
    questions: list[QuestionView]
    locked: bool


async def ballot_for_edit(session: AsyncSession, actor: Actor, ballot_id: int, now: datetime) -> BallotEditPage:
    """A ballot for staff's edit page. Raises NotSignedIn, NotFound, Forbidden."""
    if not actor.signed_in:
        raise NotSignedIn()
    async with reading(session):
        ballot = await _ballot(session, ballot_id)
        consultation = await _consultation(session, ballot.consultation_id)
        _require_manager(actor, consultation, now)
        return BallotEditPage(ballot, consultation, await _meeting_choices(session, consultation.id),
                              await _questions(session, ballot_id), await _votes_exist(session, ballot_id))


async def update_ballot(session: AsyncSession, actor: Actor, ballot_id: int, data: BallotInput,
                        now: datetime) -> None:
    """Change a ballot's title, description or meeting restriction (staff only). The meeting restriction cannot
    change once votes were cast (Conflict LOCKED: it would change who may vote). Audited ``votes:update_ballot``
    with the changed fields. Raises NotSignedIn, NotFound, Forbidden, Invalid, Conflict."""
    if not actor.signed_in:
        raise NotSignedIn()
    async with session.begin():
        ballot = await _ballot(session, ballot_id, lock="update")
        consultation = await _consultation(session, ballot.consultation_id)
        _require_manager(actor, consultation, now)
        values = _validate_ballot(data, await meetings_of(session, consultation.id))
        changed = sorted(name for name, value in values.items() if getattr(ballot, name) != value)
        if "meeting_id" in changed and await _votes_exist(session, ballot_id):
            raise Conflict(LOCKED)
        await session.execute(update(Ballot).where(Ballot.id == ballot_id).values(**values))
        await audit.record(session, actor_id=actor.user_id, action="votes:update_ballot", subject_type="ballot",
                           subject_id=ballot_id, now=now, detail={"changed": changed})


@dataclass(frozen=True)
class QuestionInput:
    """A question as staff type it. method: one of models.METHODS. options: one option per line (ignored for
    yes_no_abstain); for budget each line is ``name | cost`` (cost in whole dirhams). max_choices: k, text of a
    whole number (approval only). budget: whole dirhams (budget only)."""

    text: str
    method: str
    options: str = ""
    max_choices: str = ""
    budget: str = ""


def _split_project(line: str) -> tuple[str, int | None]:
    name, sep, cost = line.rpartition("|")
    if not sep:
        return line, None
    return _one_line(name), parse_money(cost)


def validate_question(data: QuestionInput) -> tuple[dict[str, Any], list[tuple[str, int | None]]]:
    """Checked question values and its options ``(label, cost)`` in order (issue #5, item 1); raises Invalid
    with a msgid per field: ``text``, ``method``, ``options``, ``max_choices``, ``budget``."""
    errors: dict[str, list[str]] = {}
    text = clean_text(data.text).strip()
    if not text:
        errors["text"] = [QUESTION_MISSING]
    elif not QUESTION_MIN <= len(text) <= QUESTION_MAX:
        errors["text"] = [QUESTION_LENGTH]
    method = data.method if data.method in METHODS else ""
    if not method:
        errors["method"] = [METHOD_MISSING]
    values: dict[str, Any] = {"text": text, "method": method, "max_choices": None, "budget": None}
    options: list[tuple[str, int | None]] = []
    if method == "yes_no_abstain":
        options = [(label, None) for label in YES_NO_ABSTAIN_LABELS]
    elif method:
        lines = [line for line in (_one_line(x) for x in clean_text(data.options).split("\n")) if line]
        if method == "budget":
            options = [_split_project(line) for line in lines]
            if any(not name or cost is None for name, cost in options):
                errors["options"] = [PROJECT_FORMAT]
        else:
            options = [(line, None) for line in lines]
        labels = [name.casefold() for name, _cost in options]
        if "options" not in errors:
            if not OPTIONS_MIN <= len(options) <= OPTIONS_MAX:
                errors["options"] = [OPTIONS_COUNT]
            elif any(len(name) > OPTION_MAX for name, _cost in options):
                errors["options"] = [OPTION_LONG]
            elif len(set(labels)) != len(labels):
                errors["options"] = [OPTIONS_DUPLICATE]
        if method == "approval":
            k = _whole(data.max_choices, 1, max(len(options), 1))
            if k is None:
                errors["max_choices"] = [MAX_CHOICES_WRONG]
            values["max_choices"] = k
        if method == "budget":
            budget = parse_money(data.budget)
            if budget is None:
                errors["budget"] = [BUDGET_WRONG]
            elif "options" not in errors and any((cost or 0) > budget for _name, cost in options):
                errors["options"] = [PROJECT_OVER_BUDGET]
            values["budget"] = budget
    if errors:
        raise Invalid(errors)
    return values, options


async def add_question(session: AsyncSession, actor: Actor, ballot_id: int, data: QuestionInput,
                       now: datetime) -> int:
    """Add a question (and its options) at the end of a ballot; returns its id (issue #5, item 1). Staff only;
    refused once votes were cast (Conflict LOCKED) and past MAX_QUESTIONS. Audited ``votes:add_question``.
    Raises NotSignedIn, NotFound, Forbidden, Invalid, Conflict."""
    if not actor.signed_in:
        raise NotSignedIn()
    async with session.begin():
        ballot = await _ballot(session, ballot_id, lock="update")
        _require_manager(actor, await _consultation(session, ballot.consultation_id), now)
        if await _votes_exist(session, ballot_id):
            raise Conflict(LOCKED)
        values, options = validate_question(data)
        last = await session.scalar(select(func.max(Question.position)).where(Question.ballot_id == ballot_id))
        count = await session.scalar(select(func.count()).select_from(Question).where(Question.ballot_id == ballot_id))
        if int(count or 0) >= MAX_QUESTIONS:
            raise Invalid({"text": [TOO_MANY_QUESTIONS]})
        question_id = int((await session.execute(insert(Question).values(
            ballot_id=ballot_id, position=int(last or 0) + 1, **values).returning(Question.id))).scalar_one())
        await session.execute(insert(Option), [
            {"question_id": question_id, "position": i, "label": label, "cost": cost}
            for i, (label, cost) in enumerate(options, start=1)])
        await audit.record(session, actor_id=actor.user_id, action="votes:add_question", subject_type="ballot",
                           subject_id=ballot_id, now=now,
                           detail={"question_id": question_id, "method": values["method"], "options": len(options)})
    return question_id


async def delete_question(session: AsyncSession, actor: Actor, ballot_id: int, question_id: int,
                          now: datetime) -> None:
    """Remove a question and its options before any vote (staff only; Conflict LOCKED after). Audited
    ``votes:delete_question``. Raises NotSignedIn, NotFound, Forbidden, Conflict."""
    if not actor.signed_in:
        raise NotSignedIn()
    async with session.begin():
        ballot = await _ballot(session, ballot_id, lock="update")
        _require_manager(actor, await _consultation(session, ballot.consultation_id), now)
        question = await session.get(Question, question_id)
        if question is None or question.ballot_id != ballot_id:
            raise NotFound()
        if await _votes_exist(session, ballot_id):
            raise Conflict(LOCKED)
        await session.execute(delete(Option).where(Option.question_id == question_id))
        await session.execute(delete(Question).where(Question.id == question_id))
        await audit.record(session, actor_id=actor.user_id, action="votes:delete_question", subject_type="ballot",
                           subject_id=ballot_id, now=now, detail={"question_id": question_id})


# --- casting ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VoteInput:
    """A submission: choices (question id → option ids posted; a question missing means nothing chosen) and the
    optional demographics as posted ('' or PREFER_NOT: not given): gender (models.GENDERS), age_band
    (models.AGE_BANDS), disability (``yes``/``no``)."""

    choices: Mapping[int, Sequence[int]] = field(default_factory=dict)
    gender: str = ""
    age_band: str = ""
    disability: str = ""


@dataclass(frozen=True)
class Demographics:
    """Checked demographics as stored on cast ballot rows (None: not given)."""

    gender: str | None
    age_band: str | None
    disability: bool | None


def check_demographics(data: VoteInput) -> tuple[Demographics, dict[str, list[str]]]:
    """The demographics to store and the field errors of answers that are not among those offered."""
    errors: dict[str, list[str]] = {}

    def pick(name: str, value: str, allowed: Sequence[str]) -> str | None:
        if value in ("", PREFER_NOT):
            return None
        if value not in allowed:
            errors[name] = [DEMOGRAPHIC_WRONG]
            return None
        return value

    gender = pick("gender", data.gender, GENDERS)
    age_band = pick("age_band", data.age_band, AGE_BANDS)
    disability = pick("disability", data.disability, DISABILITY_ANSWERS)
    return Demographics(gender, age_band, None if disability is None else disability == "yes"), errors


def check_choices(question: QuestionView, chosen: Sequence[int]) -> tuple[str | None, tuple[int, int] | None]:
    """The field error (msgid, or None) of the options chosen on one question by its method's rule (issue #5,
    item 1), and for a budget over its limit, (total cost, budget) in whole dirhams."""
    ids = list(dict.fromkeys(chosen))
    by_id = {o.id: o for o in question.options}
    if any(i not in by_id for i in ids):
        return CHOOSE_GIVEN, None
    if question.method in ("yes_no_abstain", "single_choice"):
        return (None, None) if len(ids) == 1 else (CHOOSE_ONE, None)
    if question.method == "approval":
        return (None, None) if len(ids) <= (question.max_choices or 0) else (TOO_MANY_CHOSEN, None)
    if question.method == "budget":
        total = sum(by_id[i].cost or 0 for i in ids)
        budget = question.budget or 0
        return (None, None) if total <= budget else (OVER_BUDGET, (total, budget))
    return CHOOSE_GIVEN, None


@dataclass(frozen=True)
class CastResult:
    """A recorded submission: the receipt code (shown once, never stored), whether it replaced an earlier vote,
    when, and what was chosen (question id → option ids) with the demographics stored."""

    receipt: str
    changed: bool
    at: datetime
    choices: Mapping[int, tuple[int, ...]]
    demographics: Demographics


_CAST_COLUMNS = ("question_id", "voter_id", "receipt_digest", "province_code", "area", "gender", "age_band",
                 "disability", "cast_at", "changed_at")
_REPLACED_COLUMNS = ("receipt_digest", "province_code", "area", "gender", "age_band", "disability", "changed_at")
_UPSERTS: dict[str, Any] = {}
# Run on the session's Connection: plain Core execution, no ORM bulk machinery.
_DELETE_CHOICES = delete(Choice).where(Choice.cast_ballot_id == bindparam("cast_ballot_id"))
_INSERT_CHOICES = insert(Choice)


def _upsert_statement(dialect: str) -> Any:
    """``INSERT INTO cast_ballots … ON CONFLICT (question_id, voter_id) DO UPDATE SET <the new submission's
    values> RETURNING id`` for ``dialect``, built once (a hot path: design.md, Core statements)."""
    if dialect not in _UPSERTS:
        columns = CastBallot.__table__.c
        builder = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = builder(CastBallot).values({name: bindparam(name, type_=columns[name].type)
                                                for name in _CAST_COLUMNS})
        _UPSERTS[dialect] = statement.on_conflict_do_update(
            index_elements=[CastBallot.question_id, CastBallot.voter_id],
            set_={name: statement.excluded[name] for name in _REPLACED_COLUMNS},
        ).returning(CastBallot.id)
    return _UPSERTS[dialect]


async def _write(session: AsyncSession, values: dict[str, Any], chosen: Sequence[int]) -> None:
    """Upsert one cast ballot (the row stays locked until the end of the transaction) and replace its choices."""
    connection = await session.connection()
    row_id = int((await connection.execute(_upsert_statement(dialect_name(session)), values)).scalar_one())
    await connection.execute(_DELETE_CHOICES, {"cast_ballot_id": row_id})
    if chosen:
        await connection.execute(_INSERT_CHOICES, [
            {"cast_ballot_id": row_id, "question_id": values["question_id"], "option_id": option_id}
            for option_id in chosen])


async def cast(session: AsyncSession, actor: Actor, ballot_id: int, data: VoteInput, now: datetime) -> CastResult:
    """Cast (or change) the actor's ballot on every question of ``ballot_id`` (issue #5, items 1, 2, 7, 9; rules
    in the module docstring). Returns the new receipt code, shown once.

    Raises NotSignedIn; NotFound; VotingClosed (the current phase has no ``votes_enabled``); Conflict
    NO_QUESTIONS; NotEligible (blocked, not a resident, not registered at the ballot's meeting); BallotInvalid
    (a question's rule, an unknown demographic answer). Nothing is written when it raises.
    """
    if not actor.signed_in or actor.user_id is None:
        raise NotSignedIn()
    voter_id = actor.user_id
    async with session.begin():
        ballot = await _ballot(session, ballot_id, lock="key_share")
        consultation = await _consultation(session, ballot.consultation_id)
        questions = await _questions(session, ballot_id)
        phase = await consultations.current_phase(session, consultation.id, now)
        refusal, commune = await _refusal(session, actor, ballot, consultation, phase, questions, now)
        if refusal is not None:
            if refusal.reason == "closed":
                raise VotingClosed()
            if refusal.reason == "no_questions":
                raise Conflict(NO_QUESTIONS)
            raise NotEligible(refusal, BLOCKED_MESSAGE if refusal.reason == "blocked" else None)
        if commune is None:  # cannot happen: a resident has a commune (kept for the type checker)
            raise NotEligible(Refusal("not_resident"))
        demographics, errors = check_demographics(data)
        over_budget: dict[int, tuple[int, int]] = {}
        chosen: dict[int, tuple[int, ...]] = {}
        for q in questions:
            picked = tuple(dict.fromkeys(data.choices.get(q.id, ())))
            error, over = check_choices(q, picked)
            if error is not None:
                errors[f"q{q.id}"] = [error]
            if over is not None:
                over_budget[q.id] = over
            positions = {o.id: o.position for o in q.options}
            chosen[q.id] = tuple(sorted(picked, key=lambda i: positions.get(i, 0)))
        if errors:
            raise BallotInvalid(errors, over_budget)
        changed = bool(await session.scalar(select(exists().where(
            CastBallot.question_id == questions[0].id, CastBallot.voter_id == voter_id))))
        receipt = new_receipt_code()
        digest = receipt_digest(receipt)
        for q in questions:  # position order: parallel submissions lock the rows in the same order
            await _write(session, {
                "question_id": q.id, "voter_id": voter_id, "receipt_digest": digest,
                "province_code": commune.province_code, "area": commune.commune_type,
                "gender": demographics.gender, "age_band": demographics.age_band,
                "disability": demographics.disability, "cast_at": now, "changed_at": now}, chosen[q.id])
        await live.notify(session, ballot_id)  # delivered at commit: open results pages refresh (issue #5, item 6)
    return CastResult(receipt, changed, now, chosen, demographics)


# --- demo ------------------------------------------------------------------------------------------------------

DEMO_TITLE = "التصويت على أولويات المنتدى الجهوي للشباب والتنقل القروي"
DEMO_DESCRIPTION = ("يدعو مجلس الجهة المقيمات والمقيمين إلى التصويت على ثلاثة أسئلة خرج بها المنتدى الجهوي. "
                    "يمكنكم تغيير تصويتكم ما دام التصويت مفتوحا، ولا يحتسب إلا آخر تصويت.")
DEMO_QUESTIONS = (
    QuestionInput("هل توافقون على إحداث خط نقل قروي منتظم يربط الدواوير بمراكز الجماعات؟", "yes_no_abstain"),
    QuestionInput("ما هي الأولوية الأولى لتشغيل الشباب في الجهة؟", "single_choice",
                  "مراكز التكوين المهني القريبة\nدعم التعاونيات الشبابية\nFormation aux métiers du numérique"),
    QuestionInput("اختاروا المشاريع التي تمولها الجهة في حدود ميزانية 1,000,000 درهم", "budget",
                  "حافلة مدرسية للدواوير الجبلية | 450000\nملعب للقرب في مركز جماعة قروية | 350000\n"
                  "نقاط ماء صالح للشرب بالطاقة الشمسية | 400000", budget="1000000"),
)


async def load_demo(session: AsyncSession, settings: Settings, consultation_id: int, staff: Actor,
                    voters: list[Actor], now: datetime) -> int:
    """The demo ballot of a consultation, created by ``staff`` through the services; returns its id. Idempotent
    (by title: an existing demo ballot's id is returned and nothing is added).

    Questions: yes/no/abstain, single choice (one option in French), and a budget of 1,000,000 MAD over three
    projects costing 450,000, 350,000 and 400,000 MAD. Votes are cast for ``voters`` (at ``now`` plus a minute
    each, demographics varied) only when the consultation's current phase at ``now`` has ``votes_enabled`` and
    the voter lives in its territory; the demo youth forum is in its proposals phase, so its ballot stays
    without votes. ``settings`` is accepted for the demo loaders' common signature.
    """
    async with reading(session):
        existing = await session.scalar(select(Ballot.id).where(Ballot.consultation_id == consultation_id,
                                                                Ballot.title == DEMO_TITLE))
        phase = await consultations.current_phase(session, consultation_id, now)
    if existing is not None:
        return int(existing)
    ballot_id = await create_ballot(session, staff, consultation_id, BallotInput(DEMO_TITLE, DEMO_DESCRIPTION), now)
    question_ids = [await add_question(session, staff, ballot_id, q, now) for q in DEMO_QUESTIONS]
    if not phase_allows(phase, "votes_enabled", now):
        return ballot_id
    page = await ballot_page(session, staff, ballot_id, now)
    yes_no, single, budget = (q.options for q in page.questions)
    profiles = (("woman", "18-24", "no"), ("man", "25-34", "no"), ("woman", "35-59", "yes"), ("", "60+", ""))
    for i, voter in enumerate(voters):
        gender, age_band, disability = profiles[i % len(profiles)]
        choices = {question_ids[0]: [yes_no[i % 3].id], question_ids[1]: [single[i % 3].id],
                   question_ids[2]: [budget[i % 3].id, budget[(i + 1) % 3].id] if i % 3 != 2 else [budget[1].id]}
        try:
            await cast(session, voter, ballot_id, VoteInput(choices, gender, age_band, disability),
                       now + timedelta(minutes=i + 1))
        except (NotEligible, VotingClosed):
            continue  # a demo voter living elsewhere, or the phase ending within the minutes above
    return ballot_id
