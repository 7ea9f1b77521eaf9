"""Verifiable tallies: publication of the receipt digests, the anonymised ballots file, the receipt check and
the recount of a published file (issue #5, item 9).

Publication (``publish``): once voting is over (every phase with ``votes_enabled`` has ended), a manager of
the consultation (``consultations:manage``: council staff, admins, the addressed body's secretary) publishes the
ballot: the distinct receipt digests of its counted cast ballots are
copied into ``published_receipts`` (one INSERT … SELECT, whatever the number of voters), ``Ballot.published_at``
is set, and the audit event ``votes:publish`` records the *published tally* — per question, the votes per option,
online and paper ballots, blank and invalid — with the number of receipts and the SHA-256 of their sorted list.
The audit chain keeps those numbers from changing unnoticed. After publication paper sheets can no longer change
(civic.votes.sheets) and voting is over, so the stored ballots and the published tally stay equal.

What the public can see, and when: the receipt check answers "counted" or "not found" for a code once the ballot
is published (it shows no count); the anonymised file and the list of receipt digests hold counts, so they are
served only while results are visible (``results_shown``; issue #5, item 5) — otherwise they do not exist (404).

The anonymised ballots file (``anonymised_file``) is JSON Lines (UTF-8, one JSON object per line, keys sorted,
``type`` says what a line is), chosen over CSV because a ballot's choices are a list and a sheet's counts a map:

1. ``{"type": "header", "format": "civic-ballots/1", "ballot_id", "consultation_id", "title", "published_at",
   "suppression", "census_credit", "questions": [{"question_id", "position", "text", "method", "max_choices",
   "budget", "options": [{"option_id", "label", "cost"}]}]}``;
2. per question, in position order: its paper sheets in force, ``{"type": "sheet", "question_id", "sheet_id",
   "meeting_id", "reference", "counts": {"<option id>": n}, "blank", "invalid", "with_choice"}``, then one line per
   counted online ballot, ``{"type": "ballot", "question_id", "choices": [option ids, ascending], "gender",
   "age_band", "disability", "area", "province"}``;
3. the published tally, one ``{"type": "tally", "question_id", "counts", "online_ballots", "paper_ballots",
   "blank", "invalid"}`` per question (from the audit event of publication, not recomputed);
4. ``{"type": "receipts", "count", "sha256"}``: how many receipt digests were published and the SHA-256 of their
   sorted list (one per line, ``\\n`` after each), to compare with the published list.

No voter id and no receipt digest are in it: a receipt next to its choices would let a voter prove how they
voted to someone buying or forcing their vote, and the receipt check exists only to show a vote was counted.
Demographics are given only where at least 5 ballots of the question share the same combination of all five
(gender, age band, disability, area, province); otherwise all five are null (shared/domain.md §3, groups under 5
suppressed). Ballot lines are sorted by their content (choices, then the published demographics), never by id or
time, so their order tells nothing about who voted when. Known limit: when every ballot of a combination of 5 or
more chose the same option, someone who knows a voter is in that combination learns their vote; the file does
not hide that (the results pages show the same groups only as separate dimensions).

``civic tally --verify FILE`` (``recount`` + ``compare``) recomputes every question's tally from the file's ballot
and sheet lines with civic.votes.tally, compares it with the file's published tally and, when a database is
given, with the database's tally, and names the first option that differs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncGenerator, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Select, String, case, cast, func, insert, literal, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from civic import audit
from civic.audit import AuditEvent
from civic.consultations import service as consultations
from civic.consultations.models import Consultation, Phase
from civic.db import dialect_name, reading
from civic.errors import Conflict, Forbidden, NotFound, NotSignedIn
from civic.i18n import N_
from civic.permissions import Action, Actor, can
from civic.votes import aggregate, results
from civic.votes.models import Ballot, CastBallot, Option, PublishedReceipt, Question, TallySheet, TallySheetCount
from civic.votes.service import receipt_digest
from civic.votes.tally import (
    CENSUS_CREDIT,
    SUPPRESSION_THRESHOLD,
    OptionCount,
    QuestionInput,
    QuestionTally,
    tally,
)

FORMAT = "civic-ballots/1"
PUBLISH_ACTION = "votes:publish"
SUPPRESSION_NOTE = ("demographics are null where fewer than 5 ballots of the question share the same gender, age "
                    "band, disability, area and province (shared/domain.md §3)")
BATCH = 2_000

VOTING_NOT_OVER = N_("Voting is not over yet: the ballot can be published once every voting phase has ended.")
ALREADY_PUBLISHED = N_("This ballot has already been published.")


# --- phases ------------------------------------------------------------------------------------------------


def voting_over(phases: Iterable[Phase], now: datetime) -> bool:
    """True when the consultation has a phase with ``votes_enabled`` and every such phase has ended at ``now``."""
    voting = [p for p in phases if p.votes_enabled]
    return bool(voting) and all(p.ends_at <= now for p in voting)


def results_shown(phases: Iterable[Phase], now: datetime) -> bool:
    """True when counts may be shown at ``now`` (issue #5, item 5): THE visibility rule of the results pages,
    civic.votes.results.visible (the current phase has ``results_visible``; once every phase has ended, as the
    last one left it; before the first phase and between phases, hidden)."""
    return results.visible(phases, now)


# --- publication -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Publication:
    """What ``publish`` recorded: the number of receipt digests published and the per-question published tally
    (question id → the ``tally`` line's fields, see the module docstring)."""

    receipts: int
    receipts_sha256: str
    questions: dict[int, dict[str, Any]]


def _published_numbers(t: QuestionTally) -> dict[str, Any]:
    return {"counts": {str(k): v for k, v in t.counts().items()}, "online_ballots": t.online_ballots,
            "paper_ballots": t.paper_ballots, "blank": t.blank, "invalid": t.invalid}


async def _receipts_digest(session: AsyncSession, ballot_id: int) -> tuple[int, str]:
    """(count, SHA-256 of the sorted published digests, one per line), streamed."""
    digest = hashlib.sha256()
    count = 0
    result = await session.stream(select(PublishedReceipt.receipt_digest).where(
        PublishedReceipt.ballot_id == ballot_id).order_by(PublishedReceipt.receipt_digest)
        .execution_options(yield_per=BATCH))
    async for partition in result.partitions(BATCH):
        for (value,) in partition:
            digest.update(f"{value}\n".encode("ascii"))
            count += 1
    return count, digest.hexdigest()


async def _context(session: AsyncSession, ballot_id: int) -> tuple[Ballot, Consultation, list[Phase]]:
    ballot = await session.get(Ballot, ballot_id)
    consultation = await session.get(Consultation, ballot.consultation_id) if ballot else None
    if ballot is None or consultation is None:
        raise NotFound()
    return ballot, consultation, await consultations.phases_of(session, consultation.id)


async def publish(session: AsyncSession, actor: Actor, ballot_id: int, now: datetime) -> Publication:
    """Publish a ballot after voting: receipt digests, ``published_at``, and the published tally in the audit
    event ``votes:publish`` (module docstring; issue #5, item 9). Managers of the consultation
    (``consultations:manage``: council staff, admins, the addressed body's secretary).

    Raises NotSignedIn, Forbidden, NotFound, Conflict (voting not over, or already published).
    """
    if not actor.signed_in:
        raise NotSignedIn()
    async with session.begin():
        ballot = await session.scalar(select(Ballot).where(Ballot.id == ballot_id).with_for_update())
        if ballot is None:
            raise NotFound()
        _ballot, consultation, phases = await _context(session, ballot_id)
        if not can(actor, Action.CONSULTATION_MANAGE, consultation, now):
            raise Forbidden()
        if ballot.published_at is not None:
            raise Conflict(ALREADY_PUBLISHED)
        if not voting_over(phases, now):
            raise Conflict(VOTING_NOT_OVER)
        questions = select(Question.id).where(Question.ballot_id == ballot_id)
        await session.execute(insert(PublishedReceipt).from_select(
            ["ballot_id", "receipt_digest"],
            select(literal(ballot_id), CastBallot.receipt_digest).where(CastBallot.question_id.in_(questions))
            .distinct()))
        count, receipts_sha256 = await _receipts_digest(session, ballot_id)
        tallies = await aggregate.ballot_tallies(session, ballot_id, now)
        numbers = {t.question_id: _published_numbers(t) for t in tallies}
        ballot.published_at = now
        await session.flush()
        await audit.record(session, actor_id=actor.user_id, action=PUBLISH_ACTION, subject_type="ballot",
                           subject_id=ballot_id, now=now, detail={
                               "receipts": count, "receipts_sha256": receipts_sha256,
                               "questions": {str(k): v for k, v in numbers.items()}})
    return Publication(count, receipts_sha256, numbers)


async def published_record(session: AsyncSession, ballot_id: int) -> dict[str, Any] | None:
    """The detail of the ballot's ``votes:publish`` audit event (the published tally), or None."""
    async with reading(session):
        detail = await session.scalar(
            select(AuditEvent.detail).where(AuditEvent.action == PUBLISH_ACTION, AuditEvent.subject_type == "ballot",
                                            AuditEvent.subject_id == str(ballot_id))
            .order_by(AuditEvent.id.desc()).limit(1))
    if detail is None:
        return None
    record: dict[str, Any] = json.loads(detail)
    return record


# --- public access -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicBallot:
    """A ballot as the public verification pages see it. published: receipts and tally published; files: the
    anonymised file and the receipt list may be downloaded now (published and results shown)."""

    ballot: Ballot
    consultation: Consultation
    published: bool
    files: bool
    can_publish: bool
    voting_over: bool


async def public_ballot(session: AsyncSession, actor: Actor, ballot_id: int, now: datetime) -> PublicBallot:
    """The ballot's publication state at ``now``, for the receipt check page. Raises NotFound."""
    async with reading(session):
        ballot, consultation, phases = await _context(session, ballot_id)
    published = ballot.published_at is not None
    return PublicBallot(ballot, consultation, published, published and results_shown(phases, now),
                        can(actor, Action.CONSULTATION_MANAGE, consultation, now), voting_over(phases, now))


RECEIPT_COUNTED = "counted"
RECEIPT_NOT_FOUND = "not_found"
RECEIPT_MALFORMED = "malformed"
RECEIPT_NOT_PUBLISHED = "not_published"


async def check_receipt(session: AsyncSession, ballot_id: int, code: str, now: datetime) -> str:
    """Whether a receipt code is among the ballot's published receipt digests: RECEIPT_COUNTED,
    RECEIPT_NOT_FOUND, RECEIPT_MALFORMED (not a receipt code; civic.votes.service.normalise_receipt) or
    RECEIPT_NOT_PUBLISHED (nothing published yet). Reveals no count. Raises NotFound for an unknown ballot."""
    async with reading(session):
        ballot, _consultation, _phases = await _context(session, ballot_id)
        if ballot.published_at is None:
            return RECEIPT_NOT_PUBLISHED
        try:
            digest = receipt_digest(code)
        except ValueError:
            return RECEIPT_MALFORMED
        found = await session.scalar(select(PublishedReceipt.id).where(
            PublishedReceipt.ballot_id == ballot_id, PublishedReceipt.receipt_digest == digest).limit(1))
    return RECEIPT_COUNTED if found is not None else RECEIPT_NOT_FOUND


async def require_files(session: AsyncSession, ballot_id: int, now: datetime) -> None:
    """Raise NotFound unless the ballot is published and its results are shown at ``now`` (the anonymised file
    and the receipt list hold counts: before that they do not exist for anyone; issue #5, item 5)."""
    async with reading(session):
        ballot, _consultation, phases = await _context(session, ballot_id)
    if ballot.published_at is None or not results_shown(phases, now):
        raise NotFound()


async def receipt_lines(session: AsyncSession, ballot_id: int) -> AsyncGenerator[str, None]:
    """The published receipt digests, sorted, one per line (each ending with ``\\n``), streamed in a read-only
    transaction of its own. Callers check ``require_files`` first."""
    async with reading(session):
        result = await session.stream(select(PublishedReceipt.receipt_digest).where(
            PublishedReceipt.ballot_id == ballot_id).order_by(PublishedReceipt.receipt_digest)
            .execution_options(yield_per=BATCH))
        async for partition in result.partitions(BATCH):
            yield "".join(f"{value}\n" for (value,) in partition)


# --- the anonymised file -----------------------------------------------------------------------------------


def _line(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n"


def _ballot_rows(session: AsyncSession, question_id: int) -> Select[tuple[Any, ...]]:
    """SELECT of one question's online ballots as (choices text, gender, age band, disability, area, province),
    demographics nulled where the combination has fewer than 5 ballots (a window COUNT over the five
    columns, which treats NULLs as equal), sorted by that content. The choices are aggregated in option order:
    ``string_agg … ORDER BY`` on PostgreSQL; on SQLite ``group_concat`` over rows already sorted."""
    if dialect_name(session) == "postgresql":
        agg = text("SELECT cast_ballot_id, string_agg(option_id::text, ' ' ORDER BY option_id) AS choices "
                   "FROM ballot_choices WHERE question_id = :q GROUP BY cast_ballot_id")
    else:
        agg = text("SELECT cast_ballot_id, group_concat(option_id, ' ') AS choices FROM (SELECT cast_ballot_id, "
                   "option_id FROM ballot_choices WHERE question_id = :q ORDER BY cast_ballot_id, option_id) "
                   "GROUP BY cast_ballot_id")
    chosen = agg.bindparams(q=question_id).columns(cast_ballot_id=Integer, choices=String).subquery("chosen")
    columns = aggregate.DIMENSION_COLUMNS
    size = func.count().over(partition_by=columns).label("n")
    inner = (select(func.coalesce(chosen.c.choices, "").label("choices"), *columns, size)
             .select_from(CastBallot).outerjoin(chosen, chosen.c.cast_ballot_id == CastBallot.id)
             .where(CastBallot.question_id == question_id)).subquery("b")
    kept = inner.c.n >= SUPPRESSION_THRESHOLD
    gender, age_band, area, province = (case((kept, inner.c[key])) for key in ("gender", "age_band", "area",
                                                                                "province_code"))
    disability = case((kept, cast(inner.c.disability, Integer)))
    return select(inner.c.choices, gender, age_band, disability, area, province).order_by(
        inner.c.choices, func.coalesce(gender, ""), func.coalesce(age_band, ""), func.coalesce(disability, -1),
        func.coalesce(area, ""), func.coalesce(province, ""))


async def _sheet_lines(session: AsyncSession, question: Question) -> list[str]:
    sheets = aggregate.sheets_in_force(question.id).order_by(TallySheet.id)
    rows = list((await session.scalars(sheets)).all())
    counts: dict[int, dict[str, int]] = {}
    if rows:
        for sheet_id, option_id, n in (await session.execute(
                select(TallySheetCount.sheet_id, TallySheetCount.option_id, TallySheetCount.count)
                .where(TallySheetCount.sheet_id.in_([s.id for s in rows])))):
            counts.setdefault(sheet_id, {})[str(option_id)] = n
    return [_line({"type": "sheet", "question_id": question.id, "sheet_id": s.id, "meeting_id": s.meeting_id,
                   "reference": s.reference, "counts": counts.get(s.id, {}), "blank": s.blank, "invalid": s.invalid,
                   "with_choice": s.with_choice}) for s in rows]


async def anonymised_file(session: AsyncSession, ballot_id: int) -> AsyncGenerator[str, None]:
    """The anonymised ballots file of a published ballot, line by line (format in the module docstring),
    streamed through a server-side cursor in a read-only transaction of its own: memory stays flat for any
    number of ballots. Callers check ``require_files`` first. Raises NotFound when the ballot is unknown or not
    published (checked before the first line)."""
    async with reading(session):
        ballot, _consultation, _phases = await _context(session, ballot_id)
        record = await published_record(session, ballot_id)
        if ballot.published_at is None or record is None:
            raise NotFound()
        questions = list((await session.scalars(select(Question).where(Question.ballot_id == ballot_id)
                                                .order_by(Question.position, Question.id))).all())
        options = {q.id: list((await session.scalars(select(Option).where(Option.question_id == q.id)
                                                     .order_by(Option.position, Option.id))).all())
                   for q in questions}
        yield _line({
            "type": "header", "format": FORMAT, "ballot_id": ballot.id, "consultation_id": ballot.consultation_id,
            "title": ballot.title, "published_at": ballot.published_at.isoformat(), "suppression": SUPPRESSION_NOTE,
            "census_credit": CENSUS_CREDIT,
            "questions": [{"question_id": q.id, "position": q.position, "text": q.text, "method": q.method,
                           "max_choices": q.max_choices, "budget": q.budget,
                           "options": [{"option_id": o.id, "label": o.label, "cost": o.cost} for o in options[q.id]]}
                          for q in questions],
        })
        for q in questions:
            for line in await _sheet_lines(session, q):
                yield line
            result = await session.stream(_ballot_rows(session, q.id).execution_options(yield_per=BATCH))
            async for partition in result.partitions(BATCH):
                yield "".join(_line({
                    "type": "ballot", "question_id": q.id,
                    "choices": sorted(int(x) for x in (choices or "").split()),
                    "gender": gender, "age_band": age_band,
                    "disability": None if disability is None else bool(disability),
                    "area": area, "province": province,
                }) for choices, gender, age_band, disability, area, province in partition)
        for q in questions:
            numbers = record.get("questions", {}).get(str(q.id), {})
            yield _line({"type": "tally", "question_id": q.id, **numbers})
        yield _line({"type": "receipts", "count": record.get("receipts", 0),
                     "sha256": record.get("receipts_sha256", "")})


# --- recount and comparison (civic tally --verify) ---------------------------------------------------------


class BadFile(ValueError):
    """The file is not an anonymised ballots file this version can read; the message names the line."""


@dataclass
class _Question:
    question_id: int
    method: str
    max_choices: int | None
    budget: int | None
    options: list[tuple[int, str, int | None]]
    online: dict[int, int] = field(default_factory=dict)
    online_ballots: int = 0
    online_blank: int = 0
    paper: dict[int, int] = field(default_factory=dict)
    paper_ballots: int = 0
    blank: int = 0
    invalid: int = 0
    published: dict[str, Any] | None = None

    def recounted(self) -> QuestionInput:
        return QuestionInput(
            self.question_id, self.method, self.max_choices, self.budget,
            [OptionCount(i, label, cost, self.online.get(i, 0), self.paper.get(i, 0))
             for i, label, cost in self.options],
            self.online_ballots, self.paper_ballots, self.online_blank + self.blank, self.invalid, None)

    def published_input(self) -> QuestionInput | None:
        if self.published is None:
            return None
        counts = self.published.get("counts", {})
        return QuestionInput(
            self.question_id, self.method, self.max_choices, self.budget,
            [OptionCount(i, label, cost, int(counts.get(str(i), 0)), 0) for i, label, cost in self.options],
            int(self.published.get("online_ballots", 0)), int(self.published.get("paper_ballots", 0)),
            int(self.published.get("blank", 0)), int(self.published.get("invalid", 0)), None)


@dataclass(frozen=True)
class Recount:
    """A file's recount: the ballot id, and per question (position order) the tally recomputed from its ballot
    and sheet lines and the tally it publishes (None when its ``tally`` line is missing)."""

    ballot_id: int
    questions: list[tuple[QuestionTally, QuestionTally | None]]


def _int(obj: dict[str, Any], key: str, where: str) -> int:
    value = obj.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadFile(f"{where}: {key} must be a whole number of 0 or more")
    return value


def recount(lines: Iterable[str]) -> Recount:
    """Recompute every question's tally from an anonymised ballots file's lines with civic.votes.tally (the file's
    format: module docstring). Pure: no database. Raises BadFile naming the first line it cannot read (not JSON,
    no header first, a ballot or sheet of an unknown question or option, a negative count)."""
    questions: dict[int, _Question] = {}
    ballot_id: int | None = None
    for number, raw in enumerate(lines, start=1):
        where = f"line {number}"
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError:
            raise BadFile(f"{where}: not a JSON object") from None
        if not isinstance(obj, dict):
            raise BadFile(f"{where}: not a JSON object")
        kind = obj.get("type")
        if ballot_id is None:
            if kind != "header" or obj.get("format") != FORMAT:
                raise BadFile(f"{where}: the file must start with a {FORMAT} header")
            ballot_id = _int(obj, "ballot_id", where)
            for q in obj.get("questions") or []:
                options = [(_int(o, "option_id", where), str(o.get("label", "")), o.get("cost"))
                           for o in q.get("options") or []]
                qid = _int(q, "question_id", where)
                questions[qid] = _Question(qid, str(q.get("method")), q.get("max_choices"), q.get("budget"), options)
            continue
        question = questions.get(obj.get("question_id", -1)) if kind in ("ballot", "sheet", "tally") else None
        if kind in ("ballot", "sheet", "tally") and question is None:
            raise BadFile(f"{where}: question {obj.get('question_id')!r} is not in the header")
        known = {i for i, _label, _cost in question.options} if question else set()
        if kind == "ballot" and question is not None:
            choices = obj.get("choices")
            if not isinstance(choices, list) or any(c not in known for c in choices) or \
                    len(set(choices)) != len(choices):
                raise BadFile(f"{where}: the choices must be distinct options of question {question.question_id}")
            question.online_ballots += 1
            if not choices:
                question.online_blank += 1
            for c in choices:
                question.online[c] = question.online.get(c, 0) + 1
        elif kind == "sheet" and question is not None:
            counts = obj.get("counts")
            if not isinstance(counts, dict):
                raise BadFile(f"{where}: counts must be an object")
            values: dict[int, int] = {}
            for key in counts:
                option_id = int(key) if str(key).isdigit() else -1
                if option_id not in known:
                    raise BadFile(f"{where}: option {key} is not an option of question {question.question_id}")
                values[option_id] = _int(counts, key, where)
            blank, invalid = _int(obj, "blank", where), _int(obj, "invalid", where)
            with_choice = obj.get("with_choice")
            if with_choice is not None:
                with_choice = _int(obj, "with_choice", where)
            for option_id, n in values.items():
                question.paper[option_id] = question.paper.get(option_id, 0) + n
            question.paper_ballots += aggregate.sheet_ballots(question.method, list(values.values()), blank, invalid,
                                                              with_choice)
            question.blank += blank
            question.invalid += invalid
        elif kind == "tally" and question is not None:
            question.published = obj
    if ballot_id is None:
        raise BadFile("the file is empty")
    try:
        results = [(tally(q.recounted()), tally(p) if (p := q.published_input()) else None)
                   for q in questions.values()]
    except ValueError as exc:
        raise BadFile(str(exc)) from None
    return Recount(ballot_id, results)


def difference(a: QuestionTally, b: QuestionTally, a_name: str, b_name: str) -> str | None:
    """The first difference between two tallies of one question, in words (English, for the command line), or
    None when their counts, ballots, blank, invalid, winners and outcome agree."""
    for option in a.options:
        try:
            other = b.option(option.option_id).votes
        except KeyError:
            return f"option {option.option_id} is missing from the {b_name}"
        if option.votes != other:
            return f"option {option.option_id}: {option.votes} votes in the {a_name}, {other} in the {b_name}"
    for name in ("online_ballots", "paper_ballots", "blank", "invalid", "outcome", "winners"):
        if getattr(a, name) != getattr(b, name):
            return f"{name}: {getattr(a, name)} in the {a_name}, {getattr(b, name)} in the {b_name}"
    return None


@dataclass(frozen=True)
class Finding:
    """The verdict for one question: ``problem`` None when everything matched."""

    question_id: int
    problem: str | None


def compare(found: Recount, database: dict[int, QuestionTally] | None) -> list[Finding]:
    """Compare each question's recount with the file's published tally and, when given, the database's tally
    (question id → tally). One Finding per question, naming the first mismatch."""
    findings = []
    for recomputed, published in found.questions:
        qid = recomputed.question_id
        if published is None:
            problem: str | None = "the file has no published tally for this question"
        else:
            problem = difference(recomputed, published, "ballots file", "published tally")
        if problem is None and database is not None:
            stored = database.get(qid)
            problem = ("the database has no such question" if stored is None
                       else difference(recomputed, stored, "ballots file", "database"))
        findings.append(Finding(qid, problem))
    return findings


async def database_tallies(session: AsyncSession, ballot_id: int, now: datetime) -> dict[int, QuestionTally]:
    """The database's tally of each question of a ballot (civic.votes.aggregate). Raises NotFound."""
    return {t.question_id: t for t in await aggregate.ballot_tallies(session, ballot_id, now)}
