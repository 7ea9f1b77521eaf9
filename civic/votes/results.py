"""Results of a ballot: the visibility rule, the tallies and the participation breakdown as the results pages,
the API and the exports show them (issue #5, items 5, 6, 7, 8 and 10; shared/domain.md §3 and §4).

Visibility (item 5; shared/domain.md §4: "A consultation may hide results until it closes. Nothing may then leak
them"). ``visible(phases, now)`` is THE rule, used by every page, fragment, API route, export and stream:

- during a phase, the results are visible exactly when that phase has ``results_visible``;
- once every phase has ended, they stay as the last phase (the one ending last) left them: a consultation that
  closes on a phase showing results keeps showing them; one whose last phase hides them keeps them hidden;
- before the first phase, and between two phases (a gap), they are hidden: only a phase can show them;
- the rule is the same for everybody, council staff included — the app shows no count to anyone while results
  are hidden (staff see their own paper sheets on the sheets page, which participants cannot open).

While hidden, nothing countable is computed or shown: not a vote, a share, a turnout or a number of ballots cast
("so far" figures leak too). The page says when results will be shown (``shown_from``: the first moment after
``now`` at which the rule turns true, i.e. the start of the next phase with ``results_visible``), the API answers
``{"results_visible": false}`` without counts, the exports and the live stream do not exist (404).

Figures (item 4, civic.votes.tally): counts online + paper, exact shares rounded to 0.1 % for display, turnout
against the eligible population (civic.votes.aggregate states who that is), the outcome in words with ties stated.

Breakdown (item 7): per question and per dimension (gender, age band, disability, area, province), each group's
online ballots (paper ballots carry no demographics), its share of the question's online ballots, its share of
the ballots *that answered* this dimension (``answered_percent``, compared with the census), the census share of
the group in the consultation's territory (civic.votes.aggregate.census_shares; credit "HCP, RGPH 2024") and its
choices; every count from 1 to 4 is "<5" (tally.suppress; shared/domain.md §3). A group is *under-represented*
when its share of the ballots that answered is below four fifths of its census share (the "four-fifths rule"
used to flag adverse impact); a suppressed group is judged on the most it could be (4 ballots), so the flag tells
nothing the "<5" does not.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from babel.numbers import format_decimal
from babel.numbers import format_percent as babel_percent
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from civic import i18n, preferences
from civic.consultations import service as consultations
from civic.consultations.models import Consultation, Phase
from civic.db import reading
from civic.errors import NotFound
from civic.i18n import N_
from civic.territories.models import Territory
from civic.votes import aggregate, charts
from civic.votes.models import Ballot, Option, Question
from civic.votes.tally import (
    ADOPTED,
    CENSUS_CREDIT,
    DIMENSIONS,
    FUNDED,
    NO_BALLOTS,
    NO_VOTES,
    NONE_FUNDED,
    NOT_GIVEN,
    REJECTED,
    SUPPRESSED,
    SUPPRESSION_THRESHOLD,
    TIE,
    WINNER,
    YES_NO_ABSTAIN,
    GroupCount,
    QuestionTally,
    Shown,
    breakdown,
    percent,
)

__all__ = [
    "CENSUS_CREDIT", "BallotResults", "DimensionTable", "GroupLine", "QuestionResults", "api_document",
    "ballot_results", "breakdown_tables", "chart", "comparison", "dimension_name", "format_count", "format_money",
    "format_percent", "group_name", "is_winner", "option_name", "outcome_text", "shown_from", "stream_window",
    "visible", "visible_until", "winner_word",
]

UNDER_REPRESENTED = Fraction(4, 5)  # four-fifths rule (module docstring)
HIDDEN_MESSAGE = N_("The results of this ballot are not shown in the current phase of the consultation.")
SUPPRESSION_NOTE = N_("<5: fewer than 5 voters. Small groups are not shown exactly, so that nobody can be "
                      "recognised.")
PAPER_NOTE = N_("Paper ballots carry no personal details: the breakdown counts online ballots only.")

DIMENSION_LABELS = {
    "gender": N_("Gender"), "age_band": N_("Age"), "disability": N_("Disability"),
    "area": N_("Area (urban or rural)"), "province": N_("Province"),
}
GROUP_LABELS = {
    ("gender", "woman"): N_("Women"), ("gender", "man"): N_("Men"),
    ("age_band", "18-24"): N_("18 to 24 years"), ("age_band", "25-34"): N_("25 to 34 years"),
    ("age_band", "35-59"): N_("35 to 59 years"), ("age_band", "60+"): N_("60 years or more"),
    ("disability", "yes"): N_("People with a disability"), ("disability", "no"): N_("People without a disability"),
    ("area", "urban"): N_("Urban communes"), ("area", "rural"): N_("Rural communes"),
}
NOT_GIVEN_LABEL = N_("Not given")
OUTCOME_TEXTS = {
    NO_BALLOTS: N_("Nobody has voted on this question yet."),
    NO_VOTES: N_("No option received a vote: every ballot was blank, invalid or an abstention."),
    ADOPTED: N_("Adopted: more votes for yes than for no."),
    REJECTED: N_("Rejected: more votes for no than for yes."),
    NONE_FUNDED: N_("No project is funded: no project that received votes fits in the budget."),
}


# --- the visibility rule --------------------------------------------------------------------------------------


def visible(phases: Iterable[Phase], now: datetime) -> bool:
    """True when a ballot's results may be shown at ``now``, given its consultation's phases (THE rule; module
    docstring; issue #5, item 5)."""
    ordered = sorted(phases, key=lambda p: (p.starts_at, p.id))
    current = [p for p in ordered if p.starts_at <= now < p.ends_at]
    if current:
        return bool(current[-1].results_visible)
    if ordered and all(p.ends_at <= now for p in ordered):
        return bool(max(ordered, key=lambda p: (p.ends_at, p.id)).results_visible)
    return False


def _boundaries(phases: Sequence[Phase], now: datetime) -> list[datetime]:
    return sorted({t for p in phases for t in (p.starts_at, p.ends_at) if t > now})


def shown_from(phases: Sequence[Phase], now: datetime) -> datetime | None:
    """When hidden at ``now``: the first later moment at which the results become visible (the start of the next
    phase with ``results_visible``), or None when no phase will show them."""
    return next((t for t in _boundaries(phases, now) if visible(phases, t)), None)


def visible_until(phases: Sequence[Phase], now: datetime) -> datetime | None:
    """When visible at ``now``: the first later moment at which they stop being visible, or None (never)."""
    return next((t for t in _boundaries(phases, now) if not visible(phases, t)), None)


# --- formatting (display language, digits preference) ---------------------------------------------------------


def format_percent(value: Decimal | str | None) -> str:
    """A percentage from civic.votes.tally (already rounded to 0.1) as the reader expects it: ``61,4%`` in
    Arabic (ar_MA) and French, Arabic-Indic digits when preferred; "<5" stays "<5", None is "—"."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    locale = i18n.current_language().babel_locale
    return preferences.digits(babel_percent(value / 100, format="#,##0.0%", locale=locale))


def format_count(value: Shown | None) -> str:
    """A count in the display language and digits; "<5" stays "<5"; None is "—"."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return i18n.format_number(value)


def format_money(amount: int | None) -> str:
    """Whole dirhams, e.g. ``1.000.000 MAD`` (ar_MA grouping)."""
    if amount is None:
        return "—"
    return i18n.gettext(N_("%(amount)s MAD")) % {
        "amount": preferences.digits(format_decimal(amount, locale=i18n.current_language().babel_locale))}


# --- what the pages show --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupLine:
    """One group of a dimension (tally.BreakdownRow, plus the comparison with the census).

    group: its code (tally.GroupCount; NOT_GIVEN); ballots: count or "<5"; percent: share of the question's
    online ballots (or "<5"); answered_percent: share of the online ballots that answered this dimension
    (None for NOT_GIVEN, "<5" when suppressed); census_percent: share of the territory's population (RGPH 2024),
    None when the census has none; choices: option id → count or "<5"; under_represented: module docstring."""

    group: str
    ballots: Shown
    percent: Decimal | str | None
    answered_percent: Decimal | str | None
    census_percent: Decimal | None
    choices: dict[int, Shown]
    suppressed: bool
    under_represented: bool


@dataclass(frozen=True)
class DimensionTable:
    """The groups of one dimension, in a fixed order (aggregate.group_counts)."""

    dimension: str
    groups: tuple[GroupLine, ...]

    @property
    def compared(self) -> tuple[GroupLine, ...]:
        """The groups with a census share: those the under-representation sentences speak of."""
        return tuple(g for g in self.groups if g.census_percent is not None and g.group != NOT_GIVEN)


@dataclass(frozen=True)
class QuestionResults:
    """A question's tally (civic.votes.tally.QuestionTally) with its question and options rows and its
    breakdown tables (one per dimension, in tally.DIMENSIONS order; empty dimensions left out)."""

    question: Question
    options: tuple[Option, ...]
    tally: QuestionTally
    breakdown: tuple[DimensionTable, ...]

    def option_label(self, option_id: int) -> str:
        """The option's label in the display language (yes/no/abstain are msgids, the others staff's words)."""
        for option in self.options:
            if option.id == option_id:
                return option_name(self.question.method, option.label)
        return ""


@dataclass(frozen=True)
class BallotResults:
    """What the results page, fragment, API and exports show at ``now``.

    visible: the rule's answer. When False, ``results`` is empty and nothing countable was computed;
    shown_from says when they will be shown (None: no phase will). When True, ``results`` has one
    QuestionResults per question (position order) and visible_until says when that may change (None: never).
    questions: the questions (texts and methods, no count) in both cases. provinces: province code → row.
    """

    ballot: Ballot
    consultation: Consultation
    visible: bool
    now: datetime
    shown_from: datetime | None
    visible_until: datetime | None
    questions: tuple[Question, ...]
    results: tuple[QuestionResults, ...]
    provinces: dict[str, Territory]


def option_name(method: str, label: str) -> str:
    """An option's label as shown: the fixed yes/no/abstain labels translated, staff's words as they are."""
    return i18n.gettext(label) if method == YES_NO_ABSTAIN else label


def _under(count: int, answered: int, census: Fraction | None) -> bool:
    if census is None or census <= 0 or answered <= 0:
        return False
    if 0 < count < SUPPRESSION_THRESHOLD:
        count = SUPPRESSION_THRESHOLD - 1  # the most a suppressed group can be
    return Fraction(count, answered) < UNDER_REPRESENTED * census


def breakdown_tables(rows: Sequence[GroupCount], census: dict[str, dict[str, Fraction]],
                     option_ids: Sequence[int]) -> tuple[DimensionTable, ...]:
    """The breakdown tables of one question from its group counts (aggregate.group_counts) and the census
    shares of its territory, every count from 1 to 4 suppressed (tally.breakdown)."""
    shown = breakdown(rows, census, option_ids)
    raw = {(r.dimension, r.group): r.ballots for r in rows}
    answered = {d: sum(r.ballots for r in rows if r.dimension == d and r.group != NOT_GIVEN) for d in DIMENSIONS}
    tables = []
    for dimension in DIMENSIONS:
        lines = []
        for row in (r for r in shown if r.dimension == dimension):
            count = raw[(dimension, row.group)]
            total = answered[dimension]
            answered_percent: Decimal | str | None = None
            if row.group != NOT_GIVEN and total > 0:
                answered_percent = SUPPRESSED if row.suppressed else percent(Fraction(count, total))
            lines.append(GroupLine(
                group=row.group, ballots=row.ballots, percent=row.percent, answered_percent=answered_percent,
                census_percent=row.census_percent, choices=row.choices, suppressed=row.suppressed,
                under_represented=row.group != NOT_GIVEN and _under(count, total, row.census_share)))
        if lines:
            tables.append(DimensionTable(dimension, tuple(lines)))
    return tuple(tables)


async def _question_results(session: AsyncSession, question: Question, census: dict[str, dict[str, Fraction]],
                            now: datetime) -> QuestionResults:
    options = tuple((await session.scalars(
        select(Option).where(Option.question_id == question.id).order_by(Option.position, Option.id))).all())
    question_tally = await aggregate.question_tally(session, question.id, now)
    rows = await aggregate.group_counts(session, question.id)
    return QuestionResults(question, options, question_tally,
                           breakdown_tables(rows, census, [o.id for o in options]))


async def ballot_results(session: AsyncSession, ballot_id: int, now: datetime) -> BallotResults:
    """The results of a ballot at ``now`` for anybody (public; no permission needed): tallies and breakdowns
    when ``visible``, otherwise no count at all (module docstring). All reads in one transaction, so the
    figures of every question come from the same moment. Raises NotFound for an unknown ballot."""
    async with reading(session):
        ballot = await session.get(Ballot, ballot_id)
        consultation = await session.get(Consultation, ballot.consultation_id) if ballot else None
        if ballot is None or consultation is None:
            raise NotFound()
        phases = await consultations.phases_of(session, consultation.id)
        questions = tuple((await session.scalars(
            select(Question).where(Question.ballot_id == ballot_id).order_by(Question.position, Question.id))).all())
        is_visible = visible(phases, now)
        results: tuple[QuestionResults, ...] = ()
        provinces: dict[str, Territory] = {}
        if is_visible:
            census = aggregate.census_shares(consultation.territory_code)
            results = tuple([await _question_results(session, q, census, now) for q in questions])
            codes = {g.group for r in results for t in r.breakdown if t.dimension == "province" for g in t.groups}
            if codes:
                provinces = {t.code: t for t in (await session.scalars(
                    select(Territory).where(Territory.code.in_(codes)))).all()}
    return BallotResults(
        ballot=ballot, consultation=consultation, visible=is_visible, now=now,
        shown_from=None if is_visible else shown_from(phases, now),
        visible_until=visible_until(phases, now) if is_visible else None,
        questions=questions, results=results, provinces=provinces)


async def stream_window(session: AsyncSession, ballot_id: int, now: datetime) -> datetime | None:
    """For the live stream: raises NotFound unless the ballot exists and its results are visible at ``now``;
    returns when they may stop being visible (None: never). Reads no count."""
    async with reading(session):
        ballot = await session.get(Ballot, ballot_id)
        if ballot is None:
            raise NotFound()
        phases = await consultations.phases_of(session, ballot.consultation_id)
    if not visible(phases, now):
        raise NotFound()
    return visible_until(phases, now)


# --- words ----------------------------------------------------------------------------------------------------


def dimension_name(dimension: str) -> str:
    """A breakdown dimension's name in the display language."""
    return i18n.gettext(DIMENSION_LABELS.get(dimension, dimension))


def group_name(dimension: str, group: str, provinces: dict[str, Territory]) -> str:
    """A group's name in the display language: a province's name (Arabic, or French for fr and zgh), or the
    word for the group, "Not given" for NOT_GIVEN."""
    if group == NOT_GIVEN:
        return i18n.gettext(NOT_GIVEN_LABEL)
    if dimension == "province":
        place = provinces.get(group)
        if place is None:
            return group
        return place.name_ar if i18n.current_language().code == "ar" else place.name_fr
    return i18n.gettext(GROUP_LABELS.get((dimension, group), group))


def comparison(line: GroupLine, dimension: str, provinces: dict[str, Territory]) -> str:
    """The sentence comparing a group with the census, e.g. "Women: 31,0% of voters who answered, 51,1% of the
    population." (for a suppressed group: "fewer than 5 voters"), with "— under-represented" when flagged."""
    t = i18n.gettext
    name = group_name(dimension, line.group, provinces)
    census = format_percent(line.census_percent)
    if line.suppressed:
        sentence = t(N_("%(group)s: fewer than 5 voters, %(census)s of the population.")) % {
            "group": name, "census": census}
    else:
        sentence = t(N_("%(group)s: %(share)s of voters who answered, %(census)s of the population.")) % {
            "group": name, "share": format_percent(line.answered_percent), "census": census}
    if line.under_represented:
        sentence += " " + t(N_("Under-represented."))
    return sentence


def outcome_text(result: QuestionResults) -> str:
    """The outcome of a question in words, ties stated (issue #5, item 4): the winner, the tied options, the
    funded projects with what was spent and what is left."""
    t = i18n.gettext
    tally_ = result.tally
    names = [result.option_label(i) for i in tally_.winners]
    tied = [result.option_label(i) for i in tally_.tied]
    if tally_.outcome in OUTCOME_TEXTS and tally_.outcome != NONE_FUNDED:
        return t(OUTCOME_TEXTS[tally_.outcome])
    if tally_.outcome == TIE and tally_.method == YES_NO_ABSTAIN:
        return t(N_("Tie: yes and no received the same number of votes. The question is not adopted."))
    if tally_.outcome == TIE:
        return t(N_("Tie between %(options)s: they received the same number of votes.")) % {
            "options": t(N_(" and ")).join(tied)}
    if tally_.outcome == WINNER:
        return t(N_("Winner: %(option)s.")) % {"option": names[0]}
    text = t(OUTCOME_TEXTS[NONE_FUNDED]) if tally_.outcome == NONE_FUNDED else \
        t(N_("Funded projects: %(projects)s.")) % {"projects": "; ".join(names)}
    if tally_.outcome == FUNDED:
        text += " " + t(N_("%(spent)s spent of a budget of %(budget)s; %(remaining)s left.")) % {
            "spent": format_money(tally_.spent), "budget": format_money(tally_.budget),
            "remaining": format_money(tally_.remaining)}
    if tally_.tie:
        text += " " + t(N_("%(projects)s received the same number of votes; the rule funds the cheaper project "
                           "first, then the one listed first.")) % {"projects": t(N_(" and ")).join(tied)}
    return text


def is_winner(result: QuestionResults, option_id: int) -> bool:
    """True for a winning option (adopted/rejected answer, winner, tied winners) or a funded project."""
    return option_id in result.tally.winners


def winner_word(result: QuestionResults) -> str:
    """The word written next to winning options in the chart and the tables."""
    if result.tally.method == "budget":
        return i18n.gettext(N_("funded"))
    if result.tally.tie:
        return i18n.gettext(N_("tied"))
    return i18n.gettext(N_("winner"))


def chart(result: QuestionResults, font_family: str | None = None) -> Markup:
    """The question's bar chart (civic.votes.charts), right to left in Arabic, votes and shares as figures."""
    t = i18n.gettext
    word = winner_word(result)
    bars = [charts.Bar(
        label=option_name(result.tally.method, o.label), value=o.votes,
        figures=t(N_("%(votes)s votes · %(share)s")) % {"votes": charts.isolate(format_count(o.votes)),
                                                         "share": charts.isolate(format_percent(o.percent))},
        highlight=is_winner(result, o.option_id), note=word if is_winner(result, o.option_id) else "")
        for o in result.tally.options]
    summary = t(N_("Votes for each option. %(outcome)s The table below gives the same figures.")) % {
        "outcome": outcome_text(result)}
    return charts.bar_chart(f"chart-q{result.question.id}", result.question.text, summary, bars,
                            i18n.current_language().direction, font_family)


# --- API ------------------------------------------------------------------------------------------------------


def _number(value: Decimal | str | None) -> float | str | None:
    return float(value) if isinstance(value, Decimal) else value


def api_document(results: BallotResults) -> dict[str, Any]:
    """The JSON of ``/api/v1/ballots/{id}/results``: ``results_visible`` false with the date they will be shown
    and no count; or every question's figures and breakdown ("<5" stays a string; percentages are numbers
    rounded to 0.1)."""
    ballot = results.ballot
    doc: dict[str, Any] = {"ballot_id": ballot.id, "consultation_id": results.consultation.id,
                           "title": ballot.title, "results_visible": results.visible}
    if not results.visible:
        doc["shown_from"] = results.shown_from.isoformat() if results.shown_from else None
        return doc
    doc["census_credit"] = CENSUS_CREDIT
    doc["suppression"] = "counts from 1 to 4 are given as \"<5\""
    doc["questions"] = [_api_question(r) for r in results.results]
    return doc


def _api_question(r: QuestionResults) -> dict[str, Any]:
    t = r.tally
    return {
        "question_id": r.question.id, "position": r.question.position, "text": r.question.text,
        "method": t.method, "max_choices": r.question.max_choices, "budget": t.budget,
        "ballots": t.ballots, "online_ballots": t.online_ballots, "paper_ballots": t.paper_ballots,
        "blank": t.blank, "invalid": t.invalid, "valid": t.valid, "expressed": t.expressed,
        "eligible": t.eligible, "turnout_percent": _number(t.turnout_percent),
        "outcome": t.outcome, "winners": list(t.winners), "tie": t.tie, "tied": list(t.tied),
        "spent": t.spent, "remaining": t.remaining,
        "options": [{"option_id": o.option_id, "label": o.label, "cost": o.cost, "online": o.online,
                     "paper": o.paper, "votes": o.votes, "percent": _number(o.percent), "rank": o.rank,
                     "funded": o.funded} for o in t.options],
        "breakdown": [{"dimension": table.dimension, "group": g.group, "ballots": g.ballots,
                       "percent": _number(g.percent), "answered_percent": _number(g.answered_percent),
                       "census_percent": _number(g.census_percent), "under_represented": g.under_represented,
                       "choices": {str(k): v for k, v in g.choices.items()}}
                      for table in r.breakdown for g in table.groups],
    }
