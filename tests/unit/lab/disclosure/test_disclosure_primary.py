"""Primary checks: thresholds on distinct units, zeros, p% and (n,k) dominance, rules."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from countyos.errors import InvalidInputError
from countyos.lab.disclosure import (
    CellStats,
    CellStatus,
    DisclosureRules,
    check_table,
    compute_cell_stats,
    primary_failures,
)
from countyos.lab.disclosure.primary import fails_nk, fails_p_percent


def count_cell(n: int, key=("a",)) -> CellStats:
    return CellStats(key, "count", float(n), n)


def sum_cell(contributions, key=("a",), statistic="sum") -> CellStats:
    absolute = sorted((abs(c) for c in contributions), reverse=True)
    return CellStats(
        key,
        statistic,
        float(sum(contributions)),
        len(contributions),
        float(sum(absolute)),
        tuple(absolute[:5]),
    )


# --- threshold -------------------------------------------------------------------------------


@pytest.mark.parametrize("threshold", [1, 2, 3, 5, 10, 25])
def test_every_count_below_threshold_fails_and_threshold_passes(threshold):
    rules = DisclosureRules(threshold=threshold)
    for n in range(1, threshold):
        assert primary_failures(count_cell(n), rules) == (CellStatus.THRESHOLD,), n
    for n in (threshold, threshold + 1, 10 * threshold):
        assert primary_failures(count_cell(n), rules) == ()


def test_threshold_counts_distinct_units_not_rows():
    # 50 rows from 3 people: the count is 50 but only 3 units stand behind it.
    data = pa.table(
        {
            "township": ["east"] * 50,
            "person": [f"p{i % 3}" for i in range(50)],
        }
    )
    table = compute_cell_stats(data, ["township"], "person", "count")
    (cell,) = table.cells
    assert cell.value == 50.0
    assert cell.n_entities == 3
    assert primary_failures(cell, DisclosureRules()) == (CellStatus.THRESHOLD,)


def test_ten_distinct_units_with_many_rows_pass():
    data = pa.table({"g": ["x"] * 40, "person": [i % 10 for i in range(40)]})
    (cell,) = compute_cell_stats(data, ["g"], "person", "count").cells
    assert cell.n_entities == 10
    assert primary_failures(cell, DisclosureRules()) == ()


# --- zeros -----------------------------------------------------------------------------------


def test_empty_cell_is_disclosive_zero_by_default():
    assert primary_failures(count_cell(0), DisclosureRules()) == (CellStatus.ZERO,)


def test_structural_zero_is_released():
    rules = DisclosureRules(structural_zeros=frozenset({("men", "pregnant")}))
    structural = count_cell(0, key=("men", "pregnant"))
    other = count_cell(0, key=("women", "pregnant"))
    assert primary_failures(structural, rules) == ()
    assert primary_failures(other, rules) == (CellStatus.ZERO,)


def test_structural_zero_declaration_does_not_hide_a_small_nonempty_cell():
    rules = DisclosureRules(structural_zeros=frozenset({("men", "pregnant")}))
    cell = count_cell(2, key=("men", "pregnant"))
    assert primary_failures(cell, rules) == (CellStatus.THRESHOLD,)


def test_zeros_not_disclosive_releases_empty_cells():
    rules = DisclosureRules(zeros_disclosive=False)
    assert primary_failures(count_cell(0), rules) == ()


def test_structural_zero_report_says_so():
    rules = DisclosureRules(structural_zeros={("men", "pregnant")})
    from countyos.lab.disclosure import OutputTable

    table = OutputTable.from_cells([count_cell(0, ("men", "pregnant")), count_cell(30, ("w", "p"))])
    report = check_table(table, rules)
    outcome = report.outcome(("men", "pregnant"))
    assert outcome.released and outcome.status is CellStatus.OK
    assert "Structural zero" in outcome.reason_en and "结构性零值" in outcome.reason_zh


# --- p% rule ---------------------------------------------------------------------------------


def test_p_percent_boundary_is_exact():
    # rest = total - top1 - top2; unsafe iff rest < p/100 * top1. p = 10, top1 = 1000.
    assert not fails_p_percent(1000 + 500 + 100, (1000.0, 500.0), 10.0)  # rest == 100: safe
    assert fails_p_percent(1000 + 500 + 99, (1000.0, 500.0), 10.0)  # rest 99 < 100: unsafe


def test_p_percent_on_cells():
    rules = DisclosureRules(p_percent=10.0, nk_k=99.9)
    # one firm of 1000 and eleven firms of 9: rest = 9 * 10 = 90 < 100
    failing = sum_cell([1000] + [9] * 11)
    assert CellStatus.DOMINANCE_P in primary_failures(failing, rules)
    # eleven firms of 10: rest = 100 == 10% of 1000: passes
    passing = sum_cell([1000] + [10] * 11)
    assert CellStatus.DOMINANCE_P not in primary_failures(passing, rules)


def test_single_or_two_contributors_always_fail_p_percent():
    assert fails_p_percent(5.0, (5.0,), 10.0)
    assert fails_p_percent(8.0, (5.0, 3.0), 10.0)


def test_all_zero_contributions_fail_p_percent():
    rules = DisclosureRules()
    cell = sum_cell([0] * 12)
    assert primary_failures(cell, rules) == (CellStatus.DOMINANCE_P,)


# --- (n,k) dominance -------------------------------------------------------------------------


def test_nk_boundary_equality_fails_like_acro():
    # top 2 = 90 of 100: exactly k = 90%: flagged (ACRO uses >=); 89.9 is not
    assert fails_nk(100.0, (45.0, 45.0), 2, 90.0)
    assert not fails_nk(100.0, (45.0, 44.9), 2, 90.0)


def test_nk_with_other_n():
    assert fails_nk(100.0, (40.0, 30.0, 20.0), 3, 90.0)
    assert not fails_nk(100.0, (40.0, 30.0, 19.0), 3, 90.0)


def test_nk_on_cells_with_boundary_and_threshold_independent():
    rules = DisclosureRules(p_percent=0.001, nk_n=2, nk_k=90.0)
    # 12 units: two of 45, ten of 1: top 2 = 90 of 100 -> fails nk only
    cell = sum_cell([45, 45] + [1] * 10)
    assert primary_failures(cell, rules) == (CellStatus.DOMINANCE_NK,)
    cell = sum_cell([44, 45] + [1.1] * 10)  # 89 of 100: passes
    assert primary_failures(cell, rules) == ()


def test_mean_cells_get_dominance_but_count_and_median_do_not():
    contributions = [1000] + [1] * 20
    rules = DisclosureRules()
    assert primary_failures(sum_cell(contributions, statistic="mean"), rules)
    median = CellStats(("a",), "median", 1.0, 21, 1020.0, (1000.0, 1.0))
    assert primary_failures(median, rules) == ()


def test_small_dominated_cell_lists_every_failure():
    cell = sum_cell([100, 1, 1])
    assert primary_failures(cell, DisclosureRules()) == (
        CellStatus.THRESHOLD,
        CellStatus.DOMINANCE_P,
        CellStatus.DOMINANCE_NK,
    )


# --- negative values: absolute contributions -------------------------------------------------


def test_dominant_negative_contributor_is_caught():
    # One firm lost 2000, twenty firms earned 10: the signed total is -1800, so on signed
    # values top2/total is negative and (n,k) never fires. On absolute values the loss-maker
    # is 2000 of 2200 = 91%.
    cell = sum_cell([-2000] + [10] * 20)
    failures = primary_failures(cell, DisclosureRules())
    assert CellStatus.DOMINANCE_NK in failures
    assert CellStatus.DOMINANCE_P in failures


def test_dominance_is_judged_on_absolute_not_signed_values():
    # +5000 firm and +/-2400 pairs that cancel in the signed total: on signed values the top two
    # (7400) exceed the total (5010) and the cell would look dominated; on what the units really
    # contribute (14610 in absolute terms) no unit dominates.
    cell = sum_cell([5000, 2400, -2400, 2400, -2400] + [1] * 10)
    assert CellStatus.DOMINANCE_P not in primary_failures(cell, DisclosureRules())
    dominated = sum_cell([50000, 30, -30, 25, -25] + [1] * 10)
    assert {CellStatus.DOMINANCE_P, CellStatus.DOMINANCE_NK} <= set(
        primary_failures(dominated, DisclosureRules())
    )


def test_compute_cell_stats_uses_absolute_unit_totals():
    data = pa.table(
        {
            "g": ["x"] * 6,
            "firm": ["a", "a", "b", "c", "d", "d"],
            "profit": [-700.0, -300.0, 10.0, 20.0, 5.0, -5.0],
        }
    )
    (cell,) = compute_cell_stats(data, ["g"], "firm", "sum", "profit").cells
    # unit totals: a = -1000, b = 10, c = 20, d = 0
    assert cell.value == pytest.approx(-970.0)
    assert cell.n_entities == 4
    assert cell.abs_total == pytest.approx(1030.0)
    assert cell.top_contributions == (1000.0, 20.0)


# --- validation ------------------------------------------------------------------------------


def test_sum_cell_without_contributions_is_refused():
    cell = CellStats(("a",), "sum", 100.0, 20)
    with pytest.raises(InvalidInputError, match="abs_total"):
        primary_failures(cell, DisclosureRules())
    cell = CellStats(("a",), "sum", 100.0, 20, 100.0, (60.0,))
    with pytest.raises(InvalidInputError, match="largest unit contributions"):
        primary_failures(cell, DisclosureRules())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"top_contributions": (1.0, 2.0)},  # not descending
        {"top_contributions": (-1.0,)},  # not absolute
        {"abs_total": 1.0, "top_contributions": (5.0,)},  # more than the total
        {"n_entities": -1},
        {"abs_total": float("nan")},
        {"statistic": "geomean"},
    ],
)
def test_bad_cell_stats_are_refused(kwargs):
    base = {"key": ("a",), "statistic": "sum", "value": 1.0, "n_entities": 3, "abs_total": 10.0}
    base.update(kwargs)
    with pytest.raises(InvalidInputError):
        CellStats(**base)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"threshold": 0},
        {"threshold": 2.5},
        {"p_percent": 0},
        {"p_percent": 150},
        {"nk_k": -1},
        {"nk_n": 0},
        {"structural_zeros": "ab"},
        {"structural_zeros": {"a"}},
    ],
)
def test_bad_rules_are_refused(kwargs):
    with pytest.raises(InvalidInputError):
        DisclosureRules(**kwargs)


def test_default_rules_are_acros_defaults():
    rules = DisclosureRules()
    assert rules == DisclosureRules.acro_defaults()
    assert (rules.threshold, rules.p_percent, rules.nk_n, rules.nk_k) == (10, 10.0, 2, 90.0)
    assert rules.zeros_disclosive


def test_random_cells_match_a_direct_definition():
    # property-style: the checks agree with the textbook definitions on random data
    rng = np.random.default_rng(7)
    rules = DisclosureRules()
    for _ in range(300):
        n = int(rng.integers(1, 30))
        contributions = (rng.pareto(1.2, size=n) * 100 * rng.choice([-1, 1], size=n)).round(2)
        cell = sum_cell(list(contributions))
        absolute = np.sort(np.abs(contributions))[::-1]
        total = absolute.sum()
        top1 = absolute[0]
        top2 = absolute[1] if n > 1 else 0.0
        expect_p = total == 0 or (total - top1 - top2) < 0.10 * top1 - 1e-9
        expect_nk = total > 0 and absolute[:2].sum() >= 0.90 * total - 1e-9
        failures = set(primary_failures(cell, rules))
        assert (CellStatus.THRESHOLD in failures) == (n < 10)
        assert (CellStatus.DOMINANCE_P in failures) == expect_p
        assert (CellStatus.DOMINANCE_NK in failures) == expect_nk
