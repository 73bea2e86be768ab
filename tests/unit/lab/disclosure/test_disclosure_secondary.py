"""Complementary suppression: no suppressed cell can be recovered from margins."""

from __future__ import annotations

import numpy as np
import pytest

from countyos.lab.disclosure import (
    TOTAL,
    CellStats,
    CellStatus,
    DisclosureRules,
    OutputTable,
    check_table,
    complementary_suppression,
    primary_failures,
    recoverable_cells,
)
from countyos.lab.disclosure.lines import table_lines

RULES = DisclosureRules()


def attack(sdc, table: OutputTable, suppressed: set, shape) -> tuple[dict, set]:
    """What the independent attacker recovers, by subtraction and by linear algebra."""
    truth = {cell.key: float(cell.value) for cell in table.cells}
    known = {key: value for key, value in truth.items() if key not in suppressed}
    lines = sdc.shape_lines(shape)
    return sdc.peel_attack(known, lines, truth), sdc.rank_determined(set(suppressed), lines)


def test_one_dimensional_table_with_total_row(sdc):
    counts = np.array([3, 50, 60, 80])
    table = sdc.build_count_table(counts)
    report = check_table(table)
    assert report.outcome((0,)).status is CellStatus.THRESHOLD
    # the smallest other category protects it; the total stays published
    assert report.outcome((1,)).status is CellStatus.COMPLEMENTARY
    assert report.outcome((2,)).released and report.outcome((3,)).released
    assert report.outcome((TOTAL,)).released
    recovered, determined = attack(sdc, table, set(report.suppressed_keys()), counts.shape)
    assert not recovered and not determined


def test_one_dimensional_complements_until_the_hidden_group_passes_threshold(sdc):
    counts = np.array([2, 3, 12, 40, 70])
    table = sdc.build_count_table(counts)
    report = check_table(table)
    suppressed = report.suppressed_keys()
    # 2 + 3 = 5 is below 10: the margin would tell both are small; 12 joins them
    assert suppressed == {(0,), (1,), (2,)}
    assert report.outcome((2,)).status is CellStatus.COMPLEMENTARY


def test_two_by_two_pattern_in_a_crosstab(sdc):
    counts = np.array([[4, 30, 40], [25, 35, 45], [50, 60, 70]])
    table = sdc.build_count_table(counts)
    report = check_table(table)
    suppressed = set(report.suppressed_keys())
    assert suppressed == {(0, 0), (0, 1), (1, 0), (1, 1)}
    recovered, determined = attack(sdc, table, suppressed, counts.shape)
    assert not recovered and not determined


def test_without_margins_nothing_is_added_unless_margins_are_known(sdc):
    counts = np.array([[4, 30, 40], [25, 35, 45]])
    plain = sdc.build_count_table(counts, margins=False)
    assert check_table(plain).suppressed_keys() == {(0, 0)}
    known = sdc.build_count_table(counts, margins=False, margins_known=True)
    suppressed = check_table(known).suppressed_keys()
    assert (0, 0) in suppressed and len(suppressed) == 4
    lines = sdc.shape_lines(counts.shape, with_margin_cells=False)
    assert not sdc.rank_determined(set(suppressed), lines)


def test_audit_catches_recovery_through_combined_lines(sdc):
    # Two 2x2 blocks joined by one cell: every row and column holds 0 or >= 2 suppressed cells,
    # yet the joining cell follows from row and column sums combined (a bridge).
    counts = np.full((4, 4), 50)
    table = sdc.build_count_table(counts)
    pattern = {(0, 0), (0, 1), (1, 0), (1, 1), (2, 2), (2, 3), (3, 2), (3, 3), (1, 2)}
    lines = sdc.shape_lines(counts.shape)
    for members, total in lines:
        hidden = [key for key in members + [total] if key in pattern]
        assert len(hidden) != 1
    assert sdc.rank_determined(pattern, lines) == {(1, 2)}
    assert recoverable_cells(table, pattern) == {(1, 2)}


def test_suppressed_total_needs_a_partner_too(sdc):
    counts = np.array([[30, 40], [35, 45]])
    table = sdc.build_count_table(counts)
    result = complementary_suppression(table, {(0, TOTAL)}, RULES)
    recovered, determined = attack(sdc, table, set(result.suppressed), counts.shape)
    assert not recovered and not determined
    assert len(result.suppressed) > 1


def test_empty_cells_are_not_used_as_complements(sdc):
    counts = np.array([[3, 0, 40, 50], [20, 30, 40, 50]])
    rules = DisclosureRules(zeros_disclosive=False)
    table = sdc.build_count_table(counts)
    primary = [cell.key for cell in table.cells if primary_failures(cell, rules)]
    result = complementary_suppression(table, primary, rules)
    assert (0, 1) not in result.suppressed


def test_dominated_cell_complement_makes_the_hidden_group_safe():
    # Sum table: cell (0,0) is dominated by one firm. A complement of one tiny firm would leave
    # the pair dominated (their sum is revealed by the margin); a larger cell is needed.
    def cell(key, contributions):
        absolute = sorted((abs(c) for c in contributions), reverse=True)
        return CellStats(key, "sum", float(sum(contributions)), len(contributions),
                         float(sum(absolute)), tuple(absolute[:2]))

    rows = {
        0: [[5000] + [1] * 11, [2] * 12, [30] * 40],
        1: [[40] * 130, [40] * 30, [50] * 30],
    }
    cells = []
    for r, row in rows.items():
        for c, contributions in enumerate(row):
            cells.append(cell((r, c), contributions))
        cells.append(cell((r, TOTAL), [x for part in row for x in part]))
    for c in range(3):
        cells.append(cell((TOTAL, c), rows[0][c] + rows[1][c]))
    cells.append(cell((TOTAL, TOTAL), [x for row in rows.values() for part in row for x in part]))
    table = OutputTable.from_cells(cells)
    report = check_table(table)
    assert report.outcome((0, 0)).status is CellStatus.DOMINANCE_P
    assert report.outcome((0, 1)).released  # 12 units of 2 would not hide 5000 within 10%
    assert report.outcome((0, 2)).status is CellStatus.COMPLEMENTARY
    assert report.suppressed_keys() == {(0, 0), (0, 2), (1, 0), (1, 2)}


@pytest.mark.parametrize("seed", range(12))
def test_random_tables_leave_nothing_recoverable(sdc, seed):
    # Property-style on random 1-D, 2-D and 3-D tables with skewed counts and all margins.
    rng = np.random.default_rng(1000 + seed)
    dims = int(rng.integers(1, 4))
    shape = tuple(int(s) for s in rng.integers(2, 6 if dims < 3 else 4, size=dims))
    counts = rng.choice([0, 1, 2, 4, 7, 9, 12, 20, 35, 60, 150], size=shape,
                        p=[0.06, 0.08, 0.06, 0.06, 0.06, 0.06, 0.1, 0.14, 0.14, 0.14, 0.1])
    table = sdc.build_count_table(counts)
    report = check_table(table, RULES)
    suppressed = set(report.suppressed_keys())
    for cell in table.cells:  # every failing cell is withheld, every released one passes
        failing = bool(primary_failures(cell, RULES))
        status = report.outcome(cell.key).status
        assert failing == (status not in (CellStatus.OK, CellStatus.COMPLEMENTARY))
        if failing:
            assert cell.key in suppressed
    recovered, determined = attack(sdc, table, suppressed, shape)
    assert recovered == {}, f"recovered by subtraction: {sorted(recovered, key=repr)}"
    assert determined == set(), f"determined by combined lines: {sorted(determined, key=repr)}"
    truth = {cell.key: cell for cell in table.cells}
    for members, total in sdc.shape_lines(shape):
        hidden = [key for key in members if key in suppressed]
        if hidden and total not in suppressed:
            # what the margin reveals about the hidden group is itself a safe count
            assert len(hidden) >= 2
            assert sum(truth[key].n_entities for key in hidden) >= RULES.threshold
    assert not report.unprotectable


def test_lines_of_a_three_way_table(sdc):
    counts = np.ones((2, 3, 2), dtype=int) * 20
    table = sdc.build_count_table(counts)
    lines = table_lines(table)
    # lines along each dimension: 4*3 + 3*3... = product of the other axes' sizes (+1 for TOTAL)
    expected = (4 * 3) + (3 * 3) + (3 * 4)
    assert len(lines) == expected
    assert all(line.total is not None for line in lines)


def test_virtual_total_line_that_cannot_be_protected_is_reported():
    # One row, all cells tiny, margins public: whatever is suppressed, the public row total
    # tells the sum. The report must say so rather than claim protection.
    cells = [CellStats((0, c), "count", 2.0, 2) for c in range(3)]
    table = OutputTable.from_cells(cells, margins_known=True)
    report = check_table(table)
    assert report.suppressed_keys() == {(0, 0), (0, 1), (0, 2)}
    assert report.unprotectable
    assert report.overall == "fail"
    assert "steward" in report.summary_en
