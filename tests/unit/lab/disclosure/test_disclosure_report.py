"""Reports: statuses, bilingual reasons that never quote protected values, summary, JSON."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from countyos.errors import InvalidInputError
from countyos.lab.disclosure import (
    TOTAL,
    CellStats,
    CellStatus,
    OutputTable,
    check_regression,
    check_table,
)


def sum_cell(key, contributions):
    absolute = sorted((abs(c) for c in contributions), reverse=True)
    return CellStats(key, "sum", float(sum(contributions)), len(contributions),
                     float(sum(absolute)), tuple(absolute[:2]))


@pytest.fixture
def mixed_table() -> OutputTable:
    # distinctive values that must never appear in a report
    cells = [
        sum_cell(("east", "farm"), [98765.25] + [3.5] * 13),  # dominated
        sum_cell(("east", "shop"), [111.75] * 7),  # 7 units: below threshold
        sum_cell(("east", "mill"), [4321.5] * 23),
        sum_cell(("west", "farm"), [2468.25] * 31),
        CellStats(("west", "shop"), "sum", None, 0, 0.0),  # empty
        sum_cell(("west", "mill"), [1357.75] * 17),
        sum_cell(("north", "farm"), [5017.5] * 40),
        sum_cell(("north", "shop"), [611.25] * 25),
        sum_cell(("north", "mill"), [917.5] * 30),
    ]
    return OutputTable.from_cells(cells, dimensions=("township", "sector"), margins_known=True)


def test_statuses_and_reasons(mixed_table):
    report = check_table(mixed_table, table_id="job-7/t1")
    statuses = {outcome.key: outcome.status for outcome in report.cells}
    assert statuses[("east", "farm")] is CellStatus.DOMINANCE_P
    assert report.outcome(("east", "farm")).failed_checks == (
        CellStatus.DOMINANCE_P, CellStatus.DOMINANCE_NK)
    assert statuses[("east", "shop")] is CellStatus.THRESHOLD
    assert statuses[("west", "shop")] is CellStatus.ZERO
    assert CellStatus.COMPLEMENTARY in statuses.values()
    for outcome in report.cells:
        assert outcome.released == (outcome.status is CellStatus.OK)
        assert outcome.reason_en and outcome.reason_zh
        assert re.search(r"[\u4e00-\u9fff]", outcome.reason_zh)
    threshold = report.outcome(("east", "shop"))
    assert "Fewer than 10" in threshold.reason_en and "少于10" in threshold.reason_zh
    assert report.outcome(("east", "farm")).label == "(township=east, sector=farm)"


def test_report_never_quotes_protected_values(mixed_table):
    report = check_table(mixed_table, table_id="job-7/t1")
    text = json.dumps(report.to_dict(), ensure_ascii=False)
    text += report.summary_en + report.summary_zh
    for cell in mixed_table.cells:
        for number in [cell.value, cell.abs_total, *cell.top_contributions]:
            if number:
                for form in {f"{number}", f"{number:g}", f"{number:.2f}", f"{number:,.2f}"}:
                    assert form not in text, f"value {form} leaked"
    # the count below the threshold (7) is not shown either, in any language
    shop = report.outcome(("east", "shop"))
    assert "7" not in shop.reason_en + shop.reason_zh


def test_summary_counts_and_overall(mixed_table):
    report = check_table(mixed_table)
    counts = report.counts
    assert sum(counts.values()) == 9
    assert set(counts) == {status.value for status in CellStatus}
    assert report.overall == "review"
    released = counts["ok"]
    assert f"{released} of 9 cells can be released" in report.summary_en
    assert "个单元格中" in report.summary_zh


def test_clean_table_passes_and_mask_keeps_values():
    cells = [CellStats((k,), "count", float(20 + k), 20 + k) for k in range(3)]
    cells.append(CellStats((TOTAL,), "count", 63.0, 63))
    report = check_table(OutputTable.from_cells(cells))
    assert report.overall == "pass"
    assert "All 4 cells pass" in report.summary_en
    values = {cell.key: cell.value for cell in cells}
    assert report.mask(values) == values


def test_mask_blanks_suppressed_cells():
    counts = [3, 40, 50]
    cells = [CellStats((k,), "count", float(v), v) for k, v in enumerate(counts)]
    cells.append(CellStats((TOTAL,), "count", 93.0, 93))
    report = check_table(OutputTable.from_cells(cells))
    masked = report.mask({cell.key: cell.value for cell in cells})
    assert masked[(0,)] is None and masked[(1,)] is None
    assert masked[(2,)] == 50.0 and masked[(TOTAL,)] == 93.0


def test_everything_suppressed_fails():
    cells = [CellStats((k,), "count", 2.0, 2) for k in range(3)]
    report = check_table(OutputTable.from_cells(cells))
    assert report.overall == "fail"


def test_to_dict_is_json_and_marks_totals():
    cells = [CellStats((k,), "count", 30.0, 30) for k in range(2)]
    cells.append(CellStats((TOTAL,), "count", 60.0, 60))
    body = check_table(OutputTable.from_cells(cells), table_id="t").to_dict()
    decoded = json.loads(json.dumps(body))
    assert decoded["cells"][-1]["key"] == ["__total__"]
    assert decoded["rules"]["threshold"] == 10
    assert decoded["overall"] == "pass"


def test_custom_total_label_like_pandas():
    cells = [CellStats(("a",), "count", 3.0, 3), CellStats(("b",), "count", 40.0, 40),
             CellStats(("c",), "count", 45.0, 45), CellStats(("All",), "count", 88.0, 88)]
    report = check_table(OutputTable.from_cells(cells, total="All"))
    assert report.suppressed_keys() == {("a",), ("b",)}
    assert report.outcome(("All",)).label == "(ALL)"


@pytest.mark.parametrize(
    "cells",
    [
        [],
        [CellStats(("a",), "count", 1.0, 1), CellStats(("a",), "count", 1.0, 1)],
        [CellStats(("a",), "count", 1.0, 1), CellStats(("a", "b"), "count", 1.0, 1)],
        [CellStats(("a",), "count", 1.0, 1), CellStats(("b",), "sum", 1.0, 1, 1.0, (1.0,))],
    ],
)
def test_bad_tables_are_refused(cells):
    with pytest.raises(InvalidInputError):
        OutputTable.from_cells(cells)


def test_unknown_table_id_refused():
    cells = [CellStats(("a",), "count", 30.0, 30)]
    with pytest.raises(InvalidInputError):
        check_table(OutputTable.from_cells(cells), table_id="")


# --- regression ------------------------------------------------------------------------------


@pytest.mark.parametrize("residual_df, passed", [(0, False), (9, False), (10, True), (500, True)])
def test_regression_degrees_of_freedom(residual_df, passed):
    result = check_regression(residual_df, 10)
    assert result.passed is passed
    assert result.status == ("ok" if passed else "dof")
    assert "10" in result.reason_en and "10" in result.reason_zh


def test_regression_default_minimum_is_acros_and_bad_input_refused():
    assert check_regression(10).passed and not check_regression(9).passed
    for bad in [(-1, 10), (5, 0), (5.5, 10), (True, 10)]:
        with pytest.raises(InvalidInputError):
            check_regression(*bad)


def test_reports_are_deterministic():
    rng = np.random.default_rng(2)
    counts = rng.choice([1, 5, 30, 80], size=(4, 4))
    cells = []
    for r in range(4):
        for c in range(4):
            cells.append(CellStats((r, c), "count", float(counts[r, c]), int(counts[r, c])))
        cells.append(CellStats((r, TOTAL), "count", float(counts[r].sum()), int(counts[r].sum())))
    first = check_table(OutputTable.from_cells(cells, margins_known=True)).to_dict()
    reversed_table = OutputTable.from_cells(list(reversed(cells)), margins_known=True)
    second = check_table(reversed_table).to_dict()
    assert sorted(map(json.dumps, first["cells"])) == sorted(map(json.dumps, second["cells"]))
