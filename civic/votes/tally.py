"""Tallies of a ballot's questions and the participation breakdown, computed by pure functions (issue #5,
items 4 and 7; shared/domain.md §3 and §4).

Nothing here touches the database or the web: ``civic.votes.aggregate`` reads the counts with SQL aggregates
(COUNT … GROUP BY) and builds the inputs; ``tally`` and ``breakdown`` turn them into results. The same functions
recompute the published tally from the anonymised ballots file (``civic tally --verify``, civic.votes.verify), so
the page, the export and the check can never disagree. Arithmetic is exact: whole numbers and
``fractions.Fraction``; the rounded ``Decimal`` percentages exist only for display.

Words used below:

- *ballots* of a question: counted online cast ballots (one per voter, the last change counts) plus the paper
  ballots of the tally sheets that no other sheet supersedes;
- *blank*: a ballot with no option chosen (online: a cast ballot without choices; paper: as the sheet says);
  *invalid*: a spoilt paper ballot (online ballots are never invalid: the form refuses them);
- *valid ballots*: ballots − blank − invalid.

Rules per method (``Question.method``, civic.votes.models.METHODS):

- ``yes_no_abstain``: the options are, in position order, yes, no, abstain (YES_NO_ABSTAIN; the ballot service
  creates them so). Shares of yes and no are of the votes *expressed* (yes + no): abstentions, blank and invalid
  ballots are counted and shown but are not expressed votes — the usual "majority of votes cast" (suffrages
  exprimés) rule that councils apply to their own deliberations (Organic Law 111-14; article not verified). The
  share of abstain is of the valid ballots. The question is *adopted* when yes > no; yes = no (> 0) is a tie,
  stated, and the question is not adopted.
- ``single_choice``: shares are of the valid ballots; the winners are the options with the most votes (several
  when tied: ``tie`` is True — never hidden).
- ``approval`` (choose up to k = ``max_choices``): an option's share is the share of ballots approving it, of the
  ballots that are not invalid (a blank approval ballot approves nothing and stays in the denominator); the
  ranking is by approvals; the winners are the options with the most approvals (a tie gives several).
- ``budget``: projects are funded by the greedy rule of participatory budgeting: most votes first; a project
  is funded when its cost fits in what remains of the budget; projects with no vote are not funded; equal votes
  are ordered by lower cost, then by position. When that tie-break decides between two projects with equal votes
  (one funded, the other not), ``tie`` is True and ``tied`` names them. Shares as for approval.

With no ballot at all (or no vote for any option) there is no winner: ``outcome`` says ``no_ballots`` or
``no_votes``.

Breakdown (item 7): ``breakdown`` shows, for each group of each dimension (gender, age band, disability, area,
province), its ballots, share and choices, with every count from 1 to 4 shown as ``"<5"`` (shared/domain.md §3:
"groups of fewer than 5 suppressed"), next to the census share of the group in the territory
(``civic.votes.aggregate.census_shares``; credit CENSUS_CREDIT).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from civic.i18n import N_

YES_NO_ABSTAIN = "yes_no_abstain"
SINGLE_CHOICE = "single_choice"
APPROVAL = "approval"
BUDGET = "budget"
METHODS = (YES_NO_ABSTAIN, SINGLE_CHOICE, APPROVAL, BUDGET)
# The three fixed options of a yes/no/abstain question, in position order (their labels are these msgids, as
# civic.votes.service.YES_NO_ABSTAIN_LABELS creates them).
YES_NO_LABELS = (N_("Yes"), N_("No"), N_("Abstain"))

# outcome codes of a QuestionTally (msgids for the results pages)
NO_BALLOTS = N_("no_ballots")  # nobody voted: no winner
NO_VOTES = N_("no_votes")  # ballots, but every one blank or invalid (or all abstain): no winner
WINNER = N_("winner")  # single choice, approval: one option has the most votes
TIE = N_("tie")  # several options share the most votes (yes/no: yes = no)
ADOPTED = N_("adopted")  # yes/no: yes > no
REJECTED = N_("rejected")  # yes/no: no > yes
FUNDED = N_("funded")  # budget: at least one project funded
NONE_FUNDED = N_("none_funded")  # budget: votes, but no voted project fits the budget

SUPPRESSED = "<5"  # shown instead of any count from 1 to 4 (shared/domain.md §3)
SUPPRESSION_THRESHOLD = 5
CENSUS_CREDIT = "HCP, RGPH 2024"
DIMENSIONS = ("gender", "age_band", "disability", "area", "province")
NOT_GIVEN = "not_given"  # the group of ballots that did not give this demographic (or whose commune is unknown)

def percent(share: Fraction | None, places: int = 1) -> Decimal | None:
    """A share 0..1 as a percentage rounded half up to ``places`` decimals, for display (``Fraction(1, 3)`` →
    ``Decimal('33.3')``); None for None. Exact: the rounding is done on the fraction, never on a float."""
    if share is None:
        return None
    scale = 10**places
    n, d = share.numerator * 100 * scale, share.denominator
    rounded = (2 * n + d) // (2 * d)  # half up, in whole numbers
    return Decimal(rounded).scaleb(-places)


def _share(part: int, whole: int) -> Fraction | None:
    return Fraction(part, whole) if whole > 0 else None


# --- inputs ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OptionCount:
    """Votes for one option: ``online`` from counted cast ballots, ``paper`` from the tally sheets in force.

    cost: whole dirhams for a budget project, else None. Options come in position order.
    """

    option_id: int
    label: str
    cost: int | None
    online: int
    paper: int

    @property
    def votes(self) -> int:
        """online + paper."""
        return self.online + self.paper


@dataclass(frozen=True)
class QuestionInput:
    """Everything a question's tally needs, as whole numbers (built by civic.votes.aggregate.question_input, or
    from the anonymised ballots file by civic.votes.verify).

    method: one of METHODS. max_choices: k of an approval question. budget: whole dirhams (budget questions).
    options: in position order. online_ballots: counted online cast ballots (blank ones included);
    paper_ballots: ballot papers on the sheets in force (blank and invalid included). blank: blank ballots, online
    and paper; invalid: spoilt paper ballots. eligible: the eligible population (aggregate.question_input states
    who), None when unknown.
    """

    question_id: int
    method: str
    max_choices: int | None
    budget: int | None
    options: Sequence[OptionCount]
    online_ballots: int
    paper_ballots: int
    blank: int
    invalid: int
    eligible: int | None

    @property
    def ballots(self) -> int:
        """online_ballots + paper_ballots."""
        return self.online_ballots + self.paper_ballots


# --- results -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OptionResult:
    """One option's result. votes = online + paper. share: exact, of the denominator the method's rule names
    (module docstring), None when that denominator is 0; percent: the share rounded to 0.1 for display.
    rank: 1 for the most votes (equal votes share a rank). funded: budget projects funded by the greedy rule."""

    option_id: int
    label: str
    cost: int | None
    online: int
    paper: int
    votes: int
    share: Fraction | None
    percent: Decimal | None
    rank: int
    funded: bool = False


@dataclass(frozen=True)
class QuestionTally:
    """The tally of one question (rules in the module docstring).

    options: in position order; ranking: option ids by votes (desc), then position — for budget, the greedy
    rule's order (votes desc, cost asc, position). ballots = online_ballots + paper_ballots; valid = ballots −
    blank − invalid; expressed: the denominator of the shares (yes + no for yes/no/abstain, valid ballots for
    single choice, ballots − invalid for approval and budget). turnout = ballots / eligible (None when eligible
    is unknown or 0); it can pass 100 % when paper voters without an account took part.
    outcome: one of NO_BALLOTS, NO_VOTES, WINNER, TIE, ADOPTED, REJECTED, FUNDED, NONE_FUNDED. winners: the
    option ids with the most votes (yes/no: the yes option when adopted, the no option when rejected, both on a
    tie); for budget, the funded projects in funding order. tie: True when several options share the deciding
    place; tied: their ids. spent, remaining: budget questions only (whole dirhams), else None.
    """

    question_id: int
    method: str
    options: tuple[OptionResult, ...]
    ranking: tuple[int, ...]
    online_ballots: int
    paper_ballots: int
    ballots: int
    blank: int
    invalid: int
    valid: int
    expressed: int
    eligible: int | None
    turnout: Fraction | None
    turnout_percent: Decimal | None
    outcome: str
    winners: tuple[int, ...]
    tie: bool
    tied: tuple[int, ...] = ()
    budget: int | None = None
    spent: int | None = None
    remaining: int | None = None

    def option(self, option_id: int) -> OptionResult:
        """The result of one option. Raises KeyError for an option not in this question."""
        for result in self.options:
            if result.option_id == option_id:
                return result
        raise KeyError(option_id)

    def counts(self) -> dict[int, int]:
        """Votes per option id: what the anonymised file's trailer publishes and ``--verify`` compares."""
        return {o.option_id: o.votes for o in self.options}


def _ranks(options: Sequence[OptionCount]) -> dict[int, int]:
    """Competition ranking (1, 2, 2, 4) by votes."""
    ordered = sorted((o.votes for o in options), reverse=True)
    return {o.option_id: ordered.index(o.votes) + 1 for o in options}


def _top(options: Sequence[OptionCount]) -> tuple[int, ...]:
    best = max((o.votes for o in options), default=0)
    return tuple(o.option_id for o in options if o.votes == best) if best > 0 else ()


def _greedy(options: Sequence[OptionCount], budget: int) -> tuple[list[OptionCount], set[int], tuple[int, ...]]:
    """The greedy rule: (order, funded ids, ids of equal-vote projects the tie-break separated)."""
    positions = {o.option_id: i for i, o in enumerate(options)}
    order = sorted(options, key=lambda o: (-o.votes, o.cost or 0, positions[o.option_id]))
    remaining = budget
    funded: set[int] = set()
    for option in order:
        if option.votes > 0 and (option.cost or 0) <= remaining:
            funded.add(option.option_id)
            remaining -= option.cost or 0
    tied: set[int] = set()
    for a in order:
        for b in order:
            if a.votes == b.votes > 0 and a.option_id in funded and b.option_id not in funded:
                tied.update((a.option_id, b.option_id))
    return order, funded, tuple(o.option_id for o in order if o.option_id in tied)


def _check(q: QuestionInput) -> None:
    if q.method not in METHODS:
        raise ValueError(f"unknown method {q.method!r}")
    numbers = [q.online_ballots, q.paper_ballots, q.blank, q.invalid]
    numbers += [n for o in q.options for n in (o.online, o.paper)]
    if any(n < 0 for n in numbers) or (q.eligible is not None and q.eligible < 0):
        raise ValueError("counts cannot be negative")
    if q.method == YES_NO_ABSTAIN and len(q.options) != len(YES_NO_LABELS):
        raise ValueError("a yes/no/abstain question has exactly three options: yes, no, abstain")
    if q.method == BUDGET:
        if q.budget is None or q.budget < 0:
            raise ValueError("a budget question needs a budget of 0 or more")
        if any(o.cost is None or o.cost < 0 for o in q.options):
            raise ValueError("every project of a budget question needs a cost of 0 or more")


def tally(q: QuestionInput) -> QuestionTally:
    """The tally of one question: votes, exact shares, turnout, and the winners or funded projects by the
    method's rule, ties stated (rules and sources in the module docstring; issue #5, item 4).

    Raises ValueError when the input is impossible (unknown method, negative count, a yes/no/abstain question
    without its three options, a budget question without a budget or with a project without a cost).
    """
    _check(q)
    options = list(q.options)
    ballots = q.ballots
    valid = max(ballots - q.blank - q.invalid, 0)
    ranks = _ranks(options)
    positions = {o.option_id: i for i, o in enumerate(options)}
    ranking = tuple(o.option_id for o in sorted(options, key=lambda o: (-o.votes, positions[o.option_id])))
    funded: set[int] = set()
    tied: tuple[int, ...] = ()
    winners: tuple[int, ...]
    budget = spent = remaining = None
    shares: dict[int, Fraction | None]

    if q.method == YES_NO_ABSTAIN:
        yes, no, abstain = options
        expressed = yes.votes + no.votes
        shares = {yes.option_id: _share(yes.votes, expressed), no.option_id: _share(no.votes, expressed),
                  abstain.option_id: _share(abstain.votes, valid)}
        if expressed == 0:
            outcome, winners, tie = (NO_BALLOTS if ballots == 0 else NO_VOTES), (), False
        elif yes.votes > no.votes:
            outcome, winners, tie = ADOPTED, (yes.option_id,), False
        elif no.votes > yes.votes:
            outcome, winners, tie = REJECTED, (no.option_id,), False
        else:
            outcome, winners, tie = TIE, (yes.option_id, no.option_id), True
            tied = winners
    elif q.method == SINGLE_CHOICE:
        expressed = valid
        shares = {o.option_id: _share(o.votes, expressed) for o in options}
        winners = _top(options)
        tie = len(winners) > 1
        tied = winners if tie else ()
        outcome = (NO_BALLOTS if ballots == 0 else NO_VOTES) if not winners else (TIE if tie else WINNER)
    elif q.method == APPROVAL:
        expressed = max(ballots - q.invalid, 0)
        shares = {o.option_id: _share(o.votes, expressed) for o in options}
        winners = _top(options)
        tie = len(winners) > 1
        tied = winners if tie else ()
        outcome = (NO_BALLOTS if ballots == 0 else NO_VOTES) if not winners else (TIE if tie else WINNER)
    else:  # BUDGET
        expressed = max(ballots - q.invalid, 0)
        shares = {o.option_id: _share(o.votes, expressed) for o in options}
        budget = q.budget or 0
        order, funded, tied = _greedy(options, budget)
        ranking = tuple(o.option_id for o in order)
        winners = tuple(o.option_id for o in order if o.option_id in funded)
        spent = sum(o.cost or 0 for o in options if o.option_id in funded)
        remaining = budget - spent
        tie = bool(tied)
        if not any(o.votes for o in options):
            outcome = NO_BALLOTS if ballots == 0 else NO_VOTES
        else:
            outcome = FUNDED if funded else NONE_FUNDED

    results = tuple(
        OptionResult(o.option_id, o.label, o.cost, o.online, o.paper, o.votes, shares[o.option_id],
                     percent(shares[o.option_id]), ranks[o.option_id], o.option_id in funded)
        for o in options
    )
    turnout = _share(ballots, q.eligible) if q.eligible else None
    return QuestionTally(
        question_id=q.question_id, method=q.method, options=results, ranking=ranking,
        online_ballots=q.online_ballots, paper_ballots=q.paper_ballots, ballots=ballots, blank=q.blank,
        invalid=q.invalid, valid=valid, expressed=expressed, eligible=q.eligible, turnout=turnout,
        turnout_percent=percent(turnout), outcome=outcome, winners=winners, tie=tie, tied=tied,
        budget=budget, spent=spent, remaining=remaining,
    )


# --- participation breakdown -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupCount:
    """Online ballots of one demographic group for one question (built by civic.votes.aggregate.group_counts).

    dimension: one of DIMENSIONS. group: gender ``woman``/``man``; age_band one of models.AGE_BANDS; disability
    ``yes``/``no``; area ``urban``/``rural``; province a province code; NOT_GIVEN when the voter did not say.
    ballots: counted cast ballots of the group; choices: option id → ballots of the group choosing it.
    """

    dimension: str
    group: str
    ballots: int
    choices: Mapping[int, int] = field(default_factory=dict)


Shown = int | str  # a count, or SUPPRESSED


@dataclass(frozen=True)
class BreakdownRow:
    """One group's row. ballots: the count, or ``"<5"`` for 1–4 (0 stays 0); share: of the question's online
    ballots (exact; ``"<5"`` when the count is suppressed, None when there is no ballot at all); percent: its
    display rounding (or ``"<5"``/None likewise); choices: option id → count, each 1–4 cell ``"<5"``, every cell
    ``"<5"`` when the group itself is suppressed. census_share: the group's share of the territory's population
    (RGPH 2024; None when the census has no figure, e.g. NOT_GIVEN); census_percent its display rounding.
    suppressed: True when the group's count is shown as ``"<5"``."""

    dimension: str
    group: str
    ballots: Shown
    share: Fraction | str | None
    percent: Decimal | str | None
    choices: dict[int, Shown]
    census_share: Fraction | None
    census_percent: Decimal | None
    suppressed: bool


def suppress(count: int) -> Shown:
    """A count as published: ``"<5"`` from 1 to 4, else the count itself (0 is shown as 0: an empty group
    reveals nobody). Rule: shared/domain.md §3 ("groups of fewer than 5 suppressed")."""
    if count < 0:
        raise ValueError("counts cannot be negative")
    return SUPPRESSED if 0 < count < SUPPRESSION_THRESHOLD else count


def _suppressed(rows: Sequence[GroupCount], ids: Sequence[int]) -> tuple[set[int], set[tuple[int, int]]]:
    """Row indexes whose group is suppressed, and (row index, option id) cells suppressed, primary (1–4) and
    complementary (see ``breakdown``)."""
    hidden_rows: set[int] = set()
    by_dimension: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        by_dimension.setdefault(row.dimension, []).append(index)
        if suppress(row.ballots) == SUPPRESSED:
            hidden_rows.add(index)
    for members in by_dimension.values():
        _complete(hidden_rows, members, rows, lambda index: rows[index].ballots)
    hidden_cells: set[tuple[int, int]] = set()
    for members in by_dimension.values():
        visible = [index for index in members if index not in hidden_rows]
        for option in ids:
            cells = {(index, option) for index in visible if suppress(rows[index].choices.get(option, 0)) == SUPPRESSED}
            hidden_cells |= cells
            if len(cells) == 1 and not set(members) & hidden_rows:
                chosen = {index for index, _ in cells}
                _complete(chosen, visible, rows, _choice_count(rows, option))
                hidden_cells |= {(index, option) for index in chosen}
    return hidden_rows, hidden_cells


def _choice_count(rows: Sequence[GroupCount], option: int) -> Callable[[int], int]:
    def count(index: int) -> int:
        return rows[index].choices.get(option, 0)
    return count


def _complete(hidden: set[int], members: Sequence[int], rows: Sequence[GroupCount],
              count: Callable[[int], int]) -> None:
    """When exactly one of ``members`` is in ``hidden``, add the smallest other member with a non-zero count.
    A lone NOT_GIVEN entry needs no partner: it describes no group, so working it out reveals nobody's traits."""
    alone = set(members) & hidden
    if len(alone) != 1 or rows[next(iter(alone))].group == NOT_GIVEN:
        return
    others = sorted((count(index), index) for index in members if index not in hidden and count(index) > 0)
    if others:
        hidden.add(others[0][1])


def breakdown(rows: Iterable[GroupCount], census: Mapping[str, Mapping[str, Fraction]],
              option_ids: Sequence[int] = ()) -> list[BreakdownRow]:
    """Participation and choices broken down by group, small groups suppressed (issue #5, item 7).

    rows: the groups of one question (GroupCount); the total of each dimension is the sum of its groups (every
    counted online ballot falls in exactly one group per dimension, NOT_GIVEN included), and shares are of that
    total. census: dimension → group → share of the territory's population (civic.votes.aggregate.census_shares).
    option_ids: the question's options, so every row lists every option (0 when nobody of the group chose it);
    when empty, the options found in ``rows``. Output order: DIMENSIONS, then the groups in the order given.
    Suppression (shared/domain.md §3): any count from 1 to 4 — a group's ballots or one choice cell — is ``"<5"``;
    when the group is suppressed its share and all its choice cells are too. Secondary suppression: totals are
    published, so a dimension (or an option's column within it) with exactly one suppressed entry would give it
    away by subtraction; the smallest other non-zero entry is then suppressed too (the usual complementary
    suppression of statistical offices), unless that entry is NOT_GIVEN, which describes nobody's traits.
    Paper ballots carry no demographics and are not in the breakdown.
    """
    rows = list(rows)
    totals: dict[str, int] = {}
    for row in rows:
        totals[row.dimension] = totals.get(row.dimension, 0) + row.ballots
    ids = list(option_ids) or sorted({i for row in rows for i in row.choices})
    hidden_rows, hidden_cells = _suppressed(rows, ids)
    out: list[BreakdownRow] = []
    order = {d: i for i, d in enumerate(DIMENSIONS)}
    for index, row in sorted(enumerate(rows), key=lambda pair: order.get(pair[1].dimension, len(DIMENSIONS))):
        hidden = index in hidden_rows
        shown: int | str = SUPPRESSED if hidden else row.ballots
        share = _share(row.ballots, totals[row.dimension])
        census_share = census.get(row.dimension, {}).get(row.group)
        out.append(BreakdownRow(
            dimension=row.dimension, group=row.group, ballots=shown,
            share=SUPPRESSED if hidden else share, percent=SUPPRESSED if hidden else percent(share),
            choices={i: SUPPRESSED if hidden or (index, i) in hidden_cells else row.choices.get(i, 0) for i in ids},
            census_share=census_share, census_percent=percent(census_share), suppressed=hidden,
        ))
    return out
