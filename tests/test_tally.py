"""The pure tally functions (civic.votes.tally; issue #5, items 4 and 7): every method, ties, empty ballots, the
greedy budget rule's edge cases, exact shares, the breakdown's suppression of groups under 5 — and property
tests (hypothesis): for any set of ballots and paper sheets, the tally equals a simple reference count written
independently below."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civic.votes import tally as t
from civic.votes.tally import GroupCount, OptionCount, QuestionInput

YES, NO, ABSTAIN = 1, 2, 3


def yes_no(yes: int, no: int, abstain: int, blank: int = 0, invalid: int = 0, eligible: int | None = None,
           paper: tuple[int, int, int] = (0, 0, 0), paper_ballots: int = 0) -> QuestionInput:
    options = [OptionCount(i, label, None, n, p)
               for i, label, n, p in zip((YES, NO, ABSTAIN), t.YES_NO_LABELS, (yes, no, abstain), paper, strict=True)]
    return QuestionInput(10, t.YES_NO_ABSTAIN, None, None, options, yes + no + abstain + blank, paper_ballots, blank,
                         invalid, eligible)


def single(votes: list[int], blank: int = 0, invalid: int = 0, paper_ballots: int = 0) -> QuestionInput:
    options = [OptionCount(i + 1, f"option {i + 1}", None, n, 0) for i, n in enumerate(votes)]
    return QuestionInput(11, t.SINGLE_CHOICE, None, None, options, sum(votes) + blank, paper_ballots, blank, invalid,
                         None)


def budget_q(projects: list[tuple[int, int]], budget: int, ballots: int) -> QuestionInput:
    """projects: (cost, votes) in position order; ids 1.."""
    options = [OptionCount(i + 1, f"project {i + 1}", cost, votes, 0) for i, (cost, votes) in enumerate(projects)]
    return QuestionInput(12, t.BUDGET, None, budget, options, ballots, 0, 0, 0, None)


# --- yes / no / abstain --------------------------------------------------------------------------------------


def test_yes_no_adopted_with_abstentions_outside_the_expressed_votes() -> None:
    result = t.tally(yes_no(6, 3, 5, blank=1, eligible=40))
    assert result.outcome == t.ADOPTED and result.winners == (YES,) and not result.tie
    assert result.expressed == 9  # yes + no
    assert result.option(YES).share == Fraction(2, 3) and result.option(YES).percent == Decimal("66.7")
    assert result.option(NO).share == Fraction(1, 3)
    assert result.option(ABSTAIN).share == Fraction(5, 14)  # of the valid ballots (6 + 3 + 5)
    assert result.ballots == 15 and result.valid == 14
    assert result.turnout == Fraction(15, 40) and result.turnout_percent == Decimal("37.5")


def test_yes_no_rejected_and_tied() -> None:
    rejected = t.tally(yes_no(2, 3, 0))
    assert rejected.outcome == t.REJECTED and rejected.winners == (NO,)
    tied = t.tally(yes_no(4, 4, 9))
    assert tied.outcome == t.TIE and tied.tie and set(tied.winners) == {YES, NO} and set(tied.tied) == {YES, NO}
    assert tied.option(YES).share == Fraction(1, 2)


def test_yes_no_with_only_abstentions_or_no_ballot_has_no_winner() -> None:
    nobody = t.tally(yes_no(0, 0, 0))
    assert nobody.outcome == t.NO_BALLOTS and nobody.winners == () and not nobody.tie
    assert nobody.option(YES).share is None and nobody.option(YES).percent is None and nobody.turnout is None
    abstained = t.tally(yes_no(0, 0, 3))
    assert abstained.outcome == t.NO_VOTES and abstained.winners == ()
    assert abstained.option(ABSTAIN).share == 1


def test_yes_no_counts_paper_votes_and_paper_invalid_ballots() -> None:
    result = t.tally(yes_no(1, 2, 0, invalid=2, paper=(3, 0, 1), paper_ballots=6))
    assert result.option(YES).votes == 4 and result.option(YES).online == 1 and result.option(YES).paper == 3
    assert result.outcome == t.ADOPTED  # 4 > 2
    assert result.ballots == 3 + 6 and result.valid == 7


def test_yes_no_needs_its_three_options() -> None:
    q = single([1, 2])
    with pytest.raises(ValueError):
        t.tally(QuestionInput(1, t.YES_NO_ABSTAIN, None, None, q.options, 3, 0, 0, 0, None))


# --- single choice --------------------------------------------------------------------------------------------


def test_single_choice_winner_shares_and_ranks() -> None:
    result = t.tally(single([5, 12, 3], blank=2))
    assert result.outcome == t.WINNER and result.winners == (2,) and not result.tie
    assert result.valid == 20 and result.expressed == 20
    assert [o.share for o in result.options] == [Fraction(1, 4), Fraction(3, 5), Fraction(3, 20)]
    assert [o.rank for o in result.options] == [2, 1, 3]
    assert result.ranking == (2, 1, 3)


def test_single_choice_tie_is_stated_with_every_tied_option() -> None:
    result = t.tally(single([7, 3, 7, 7]))
    assert result.outcome == t.TIE and result.tie and result.winners == (1, 3, 4) and result.tied == (1, 3, 4)
    assert [o.rank for o in result.options] == [1, 4, 1, 1]


def test_single_choice_with_no_ballot_or_only_blank_ones() -> None:
    assert t.tally(single([0, 0])).outcome == t.NO_BALLOTS
    blank = t.tally(single([0, 0], blank=3))
    assert blank.outcome == t.NO_VOTES and blank.winners == () and blank.option(1).share is None


def test_shares_are_exact_for_large_counts() -> None:
    result = t.tally(single([333_333, 333_334, 333_333]))
    assert sum(o.share for o in result.options if o.share is not None) == 1
    assert result.option(2).percent == Decimal("33.3") and result.option(2).share == Fraction(333_334, 1_000_000)


# --- approval ---------------------------------------------------------------------------------------------------


def approval(votes: list[int], ballots: int, k: int = 2, blank: int = 0, invalid: int = 0) -> QuestionInput:
    options = [OptionCount(i + 1, f"option {i + 1}", None, n, 0) for i, n in enumerate(votes)]
    return QuestionInput(13, t.APPROVAL, k, None, options, ballots, 0, blank, invalid, None)


def test_approval_share_is_of_ballots_approving_and_ranking_is_given() -> None:
    result = t.tally(approval([8, 10, 3], ballots=12, blank=1))
    assert result.outcome == t.WINNER and result.winners == (2,)
    assert result.option(2).share == Fraction(10, 12)  # blank approval ballots stay in the denominator
    assert result.ranking == (2, 1, 3)


def test_approval_tie_and_invalid_papers_out_of_the_denominator() -> None:
    options = [OptionCount(1, "a", None, 4, 2), OptionCount(2, "b", None, 6, 0)]
    result = t.tally(QuestionInput(13, t.APPROVAL, 2, None, options, 8, 5, 0, 1, None))
    assert result.tie and result.winners == (1, 2) and result.outcome == t.TIE
    assert result.expressed == 12 and result.option(1).share == Fraction(1, 2)


# --- budget -------------------------------------------------------------------------------------------------------


def test_budget_greedy_funds_by_votes_and_skips_what_does_not_fit() -> None:
    # budget 1000: A (600, 9 votes) funded; B (500, 8) does not fit; C (400, 5) fits; D (100, 0) no vote
    result = t.tally(budget_q([(600, 9), (500, 8), (400, 5), (100, 0)], 1000, ballots=12))
    assert result.outcome == t.FUNDED and result.winners == (1, 3)
    assert [o.funded for o in result.options] == [True, False, True, False]
    assert result.spent == 1000 and result.remaining == 0 and result.budget == 1000
    assert not result.tie


def test_budget_equal_votes_are_ordered_by_lower_cost_and_the_tie_is_stated() -> None:
    # Two projects with 7 votes; only one fits: the cheaper one wins the tie-break, stated.
    result = t.tally(budget_q([(700, 7), (600, 7)], 1000, ballots=9))
    assert result.winners == (2,) and result.ranking == (2, 1)
    assert result.tie and set(result.tied) == {1, 2}
    # Same cost and votes: the earlier position wins.
    same = t.tally(budget_q([(600, 7), (600, 7)], 1000, ballots=9))
    assert same.winners == (1,) and same.tie
    # Both fit: no tie to state.
    both = t.tally(budget_q([(400, 7), (600, 7)], 1000, ballots=9))
    assert both.winners == (1, 2) and not both.tie and both.remaining == 0


def test_budget_edge_cases() -> None:
    nothing_fits = t.tally(budget_q([(2000, 3), (1500, 1)], 1000, ballots=3))
    assert nothing_fits.outcome == t.NONE_FUNDED and nothing_fits.winners == () and nothing_fits.remaining == 1000
    exact = t.tally(budget_q([(1000, 1)], 1000, ballots=1))
    assert exact.winners == (1,) and exact.remaining == 0
    free = t.tally(budget_q([(0, 2), (1000, 1)], 1000, ballots=2))
    assert free.winners == (1, 2) and free.spent == 1000
    empty = t.tally(budget_q([(10, 0), (20, 0)], 100, ballots=0))
    assert empty.outcome == t.NO_BALLOTS and empty.winners == () and empty.spent == 0
    with pytest.raises(ValueError):
        t.tally(budget_q([(10, 1)], -1, ballots=1))
    with pytest.raises(ValueError):
        t.tally(QuestionInput(1, t.BUDGET, None, 100, [OptionCount(1, "x", None, 1, 0)], 1, 0, 0, 0, None))


def test_impossible_inputs_are_refused() -> None:
    with pytest.raises(ValueError):
        t.tally(QuestionInput(1, "borda", None, None, [], 0, 0, 0, 0, None))
    with pytest.raises(ValueError):
        t.tally(single([-1, 2]))


def test_percent_rounds_half_up_exactly() -> None:
    assert t.percent(Fraction(1, 2000)) == Decimal("0.1")
    assert t.percent(Fraction(1, 3)) == Decimal("33.3") and t.percent(Fraction(2, 3)) == Decimal("66.7")
    assert t.percent(Fraction(1)) == Decimal("100.0") and t.percent(None) is None


# --- breakdown ----------------------------------------------------------------------------------------------------


def test_suppress_shows_zero_and_five_and_hides_one_to_four() -> None:
    assert [t.suppress(n) for n in (0, 1, 4, 5, 6)] == [0, "<5", "<5", 5, 6]


def test_breakdown_suppresses_small_groups_and_small_cells() -> None:
    census = {"gender": {"woman": Fraction(511, 1000), "man": Fraction(489, 1000)}}
    rows = t.breakdown([
        GroupCount("gender", "woman", 5, {1: 5}),
        GroupCount("gender", "man", 4, {1: 1, 2: 3}),
        GroupCount("gender", t.NOT_GIVEN, 0, {}),
        GroupCount("area", "rural", 9, {1: 6, 2: 3}),
    ], census, option_ids=[1, 2])
    woman, man, not_given, rural = rows
    # 4 men are suppressed; the 5 women too (complementary suppression), or 9 - 5 would give the men away.
    assert woman.ballots == "<5" and woman.share == "<5" and woman.choices == {1: "<5", 2: "<5"}
    assert woman.census_share == Fraction(511, 1000) and woman.census_percent == Decimal("51.1")
    assert woman.suppressed
    assert man.ballots == "<5" and man.share == "<5" and man.percent == "<5" and man.suppressed
    assert man.choices == {1: "<5", 2: "<5"}
    assert not_given.ballots == 0 and not_given.share == 0 and not_given.census_share is None
    assert rural.ballots == 9 and rural.choices == {1: 6, 2: "<5"}  # a cell of 3 is a group under 5 too
    assert rural.share == 1 and rural.census_share is None


def test_breakdown_complementary_suppression_of_cells() -> None:
    rows = t.breakdown([
        GroupCount("gender", "woman", 12, {1: 3, 2: 9}),
        GroupCount("gender", "man", 20, {1: 6, 2: 14}),
        GroupCount("gender", t.NOT_GIVEN, 30, {1: 10, 2: 20}),
    ], {}, option_ids=[1, 2])
    woman, man, not_given = rows
    assert woman.ballots == 12 and man.ballots == 20 and not_given.ballots == 30  # no group is small
    assert woman.choices == {1: "<5", 2: 9}  # 3 is small…
    assert man.choices == {1: "<5", 2: 14}  # …and the next smallest cell of that option hides with it
    assert not_given.choices == {1: 10, 2: 20}


def test_breakdown_orders_dimensions_and_lists_options_found() -> None:
    rows = t.breakdown([GroupCount("province", "05.091", 7, {3: 7}), GroupCount("gender", "man", 7, {3: 7})], {})
    assert [r.dimension for r in rows] == ["gender", "province"]
    assert rows[0].choices == {3: 7}


# --- property tests: the tally equals a simple reference count ---------------------------------------------------


@st.composite
def question_with_ballots(draw: Any) -> dict[str, Any]:
    """A question, its online ballots (each a set of option indexes) and paper sheets, as a voter and the
    tellers would produce them."""
    method = draw(st.sampled_from(t.METHODS))
    n = 3 if method == t.YES_NO_ABSTAIN else draw(st.integers(2, 6))
    k = draw(st.integers(1, n)) if method == t.APPROVAL else None
    costs = [draw(st.integers(0, 500)) for _ in range(n)] if method == t.BUDGET else [None] * n
    budget = draw(st.integers(0, 1200)) if method == t.BUDGET else None
    ballots: list[list[int]] = []
    for _ in range(draw(st.integers(0, 40))):
        if method in (t.YES_NO_ABSTAIN, t.SINGLE_CHOICE):
            ballots.append([draw(st.integers(0, n - 1))])
        else:
            chosen = draw(st.lists(st.integers(0, n - 1), unique=True, max_size=k or n))
            if method == t.BUDGET:
                while sum(costs[i] or 0 for i in chosen) > (budget or 0):
                    chosen.pop()
            ballots.append(chosen)
    sheets = [{"counts": [draw(st.integers(0, 30)) for _ in range(n)], "blank": draw(st.integers(0, 5)),
               "invalid": draw(st.integers(0, 5)), "with_choice": draw(st.integers(0, 30))}
              for _ in range(draw(st.integers(0, 3)))]
    eligible = draw(st.one_of(st.none(), st.integers(0, 100)))
    return {"method": method, "n": n, "k": k, "costs": costs, "budget": budget, "ballots": ballots,
            "sheets": sheets, "eligible": eligible}


def build_input(case: dict[str, Any], ids: list[int] | None = None) -> QuestionInput:
    """QuestionInput by plain counting of the ballots and sheets (what civic.votes.aggregate does in SQL)."""
    n = case["n"]
    ids = ids or list(range(101, 101 + n))
    online = [sum(1 for b in case["ballots"] if i in b) for i in range(n)]
    paper = [sum(s["counts"][i] for s in case["sheets"]) for i in range(n)]
    multi = case["method"] in (t.APPROVAL, t.BUDGET)
    paper_ballots = sum((s["with_choice"] if multi else sum(s["counts"])) + s["blank"] + s["invalid"]
                        for s in case["sheets"])
    blank = sum(1 for b in case["ballots"] if not b) + sum(s["blank"] for s in case["sheets"])
    return QuestionInput(
        7, case["method"], case["k"], case["budget"],
        [OptionCount(ids[i], f"o{i}", case["costs"][i], online[i], paper[i]) for i in range(n)],
        len(case["ballots"]), paper_ballots, blank, sum(s["invalid"] for s in case["sheets"]), case["eligible"])


def reference(case: dict[str, Any]) -> dict[str, Any]:
    """The expected result, counted one ballot and one sheet at a time, independently of civic.votes.tally."""
    n, method = case["n"], case["method"]
    votes = [0] * n
    for ballot in case["ballots"]:
        for i in ballot:
            votes[i] += 1
    papers = 0
    for sheet in case["sheets"]:
        for i in range(n):
            votes[i] += sheet["counts"][i]
        papers += sheet["blank"] + sheet["invalid"]
        papers += sheet["with_choice"] if method in (t.APPROVAL, t.BUDGET) else sum(sheet["counts"])
    ballots = len(case["ballots"]) + papers
    blank = sum(1 for b in case["ballots"] if not b) + sum(s["blank"] for s in case["sheets"])
    invalid = sum(s["invalid"] for s in case["sheets"])
    if method == t.YES_NO_ABSTAIN:
        denominators = [votes[0] + votes[1]] * 2 + [ballots - blank - invalid]
    elif method == t.SINGLE_CHOICE:
        denominators = [ballots - blank - invalid] * n
    else:
        denominators = [ballots - invalid] * n
    shares = [Fraction(v, d) if d > 0 else None for v, d in zip(votes, denominators, strict=True)]
    funded: list[int] = []
    if method == t.BUDGET:
        left = case["budget"]
        remaining = list(range(n))
        while remaining:  # pick the best remaining project each time (selection, not a sort)
            best = remaining[0]
            for i in remaining[1:]:
                if (votes[i], -case["costs"][i], -i) > (votes[best], -case["costs"][best], -best):
                    best = i
            remaining.remove(best)
            if votes[best] > 0 and case["costs"][best] <= left:
                funded.append(best)
                left -= case["costs"][best]
        winners = funded
    elif method == t.YES_NO_ABSTAIN:
        winners = [] if votes[0] + votes[1] == 0 else [0] if votes[0] > votes[1] else [1] if votes[1] > votes[0] \
            else [0, 1]
    else:
        top = max(votes)
        winners = [i for i in range(n) if votes[i] == top] if top > 0 else []
    return {"votes": votes, "ballots": ballots, "blank": blank, "invalid": invalid, "shares": shares,
            "winners": winners}


def assert_matches(result: t.QuestionTally, expected: dict[str, Any], ids: list[int]) -> None:
    assert [o.votes for o in result.options] == expected["votes"]
    assert [o.share for o in result.options] == expected["shares"]
    assert result.ballots == expected["ballots"]
    assert result.blank == expected["blank"] and result.invalid == expected["invalid"]
    assert list(result.winners) == [ids[i] for i in expected["winners"]]
    if result.method != t.BUDGET:
        assert result.tie == (len(expected["winners"]) > 1)
    else:  # a tie is stated when equal votes separated a funded project from an unfunded one
        votes, funded = expected["votes"], set(expected["winners"])
        assert result.tie == any(votes[a] == votes[b] > 0 for a in funded for b in range(len(votes)) if b not in funded)


@settings(max_examples=300, deadline=None)
@given(question_with_ballots())
def test_property_tally_equals_a_reference_count(case: dict[str, Any]) -> None:
    ids = list(range(101, 101 + case["n"]))
    result = t.tally(build_input(case, ids))
    assert_matches(result, reference(case), ids)
    if case["method"] == t.BUDGET:
        assert result.spent is not None and result.remaining is not None
        assert result.spent + result.remaining == case["budget"] and result.remaining >= 0
    if case["eligible"]:
        assert result.turnout == Fraction(result.ballots, case["eligible"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 30), min_size=1, max_size=6))
def test_property_breakdown_never_shows_a_count_from_1_to_4(sizes: list[int]) -> None:
    rows = t.breakdown([GroupCount("age_band", f"g{i}", n, {1: n // 2, 2: n - n // 2}) for i, n in enumerate(sizes)],
                       {}, option_ids=[1, 2])
    for row in rows:
        shown = [row.ballots, *row.choices.values()]
        assert not any(isinstance(v, int) and 0 < v < 5 for v in shown)
        if 0 < sizes[int(row.group[1:])] < 5:
            assert row.suppressed
    # Never exactly one suppressed group while another non-zero group could give it away by subtraction.
    suppressed = [row for row in rows if row.suppressed]
    nonzero = [n for n in sizes if n > 0]
    assert len(suppressed) != 1 or len(nonzero) == 1
