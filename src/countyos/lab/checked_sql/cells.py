"""From the statistics result to disclosure cells: keys, rare group values, empty cells.

Owns reading the rows DuckDB returned into cell keys (``TOTAL`` where a margin sums over a key),
deciding which group values may be shown, enumerating the empty cells a GROUP BY never returns,
and building one :class:`~countyos.lab.disclosure.OutputTable` per aggregate.

Rare group values: a cell key shows real values (an income of 8,412.50, a birth date). A value
is *visible* only when some cell holding it has at least ``threshold`` units; otherwise every
cell holding it is withheld **and removed from the result**, so that ``GROUP BY income`` cannot
list the incomes of single persons. Such cells stay in the checked tables (as suppressed) so
complementary suppression still accounts for them. Empty cells are enumerated over visible
values only. This module must not run queries or decide releases (the disclosure checks do).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pyarrow as pa

from countyos.errors import InvalidInputError, TooLargeError
from countyos.lab.checked_sql.plan import AggregateSpec, CheckedPlan
from countyos.lab.checked_sql.rewrite import (
    NULL_UNITS,
    UNITS,
    StatisticColumns,
    key_column,
    marker_column,
)
from countyos.lab.disclosure import TOTAL, CellStats, OutputTable
from countyos.lab.disclosure.cells import sort_key


@dataclass(frozen=True)
class Cell:
    """One cell of the result.

    Attributes:
        key: group values, :data:`TOTAL` where a margin sums over the key.
        units: distinct units with at least one row in the cell (0 for an enumerated cell).
        row: the cell's row in the statistics result; ``None`` for an empty cell.
        hidden: it holds a group value too rare to show.
    """

    key: tuple
    units: int
    row: int | None
    hidden: bool = False


def read_cells(plan: CheckedPlan, statistics: pa.Table, units: list | None = None) -> list[Cell]:
    """The non-empty cells of the statistics result, in result order (``units`` replaces the
    result's unit counts, e.g. by their lower bounds).

    Raises:
        InvalidInputError: a cell holds rows whose entity key is NULL (units cannot be counted).
    """
    if statistics.num_rows and any(statistics.column(NULL_UNITS).to_pylist()):
        raise InvalidInputError(
            "the entity key has nulls in the data read by this query; the disclosure checks "
            "need every row to belong to an identified unit (ask the data steward)"
        )
    if units is None:
        units = statistics.column(UNITS).to_pylist()
    if not plan.keys:
        return [Cell((TOTAL,), int(count), row) for row, count in enumerate(units)]
    values = [statistics.column(key_column(k.position)).to_pylist() for k in plan.keys]
    markers = (
        [statistics.column(marker_column(k.position)).to_pylist() for k in plan.keys]
        if plan.has_margins
        else None
    )
    cells = []
    for row, count in enumerate(units):
        key = tuple(
            TOTAL if markers is not None and markers[position][row] is None else column[row]
            for position, column in enumerate(values)
        )
        cells.append(Cell(key, int(count), row))
    return cells


def visible_levels(plan: CheckedPlan, cells: Sequence[Cell], threshold: int) -> list[set]:
    """Per key position, the group values held by some cell with at least ``threshold`` units."""
    visible: list[set] = [set() for _ in range(plan.width)]
    for cell in cells:
        if cell.units < threshold:
            continue
        for position, part in enumerate(cell.key):
            if part is not TOTAL:
                visible[position].add(part)
    return visible


def complete_cells(
    plan: CheckedPlan, cells: Sequence[Cell], threshold: int, max_cells: int
) -> list[Cell]:
    """Mark cells with rare group values hidden and add the empty cells over visible values.

    The cells come back in a fixed order (by key), whatever order the engine returned them in,
    so checks and suppression choices are deterministic.

    Raises:
        TooLargeError: more than ``max_cells`` cells with the empty ones.
    """
    visible = visible_levels(plan, cells, threshold)
    result: list[Cell] = []
    seen: set[tuple] = set()
    for cell in cells:
        rare = any(
            part is not TOTAL and part not in visible[position]
            for position, part in enumerate(cell.key)
        )
        result.append(Cell(cell.key, cell.units, cell.row, hidden=rare))
        seen.add(cell.key)
    levels = [_ordered(values) for values in visible]
    grouping_sets = plan.grouping_sets if plan.keys else ((),)
    expected = sum(math.prod(len(levels[p]) for p in s) for s in grouping_sets)
    if max(expected, len(result)) > max_cells:
        _too_many(max_cells)
    for grouping_set in grouping_sets:
        for combination in itertools.product(*(levels[p] for p in grouping_set)):
            key = [TOTAL] * plan.width
            for position, part in zip(grouping_set, combination, strict=True):
                key[position] = part
            key_tuple = tuple(key)
            if key_tuple not in seen:
                seen.add(key_tuple)
                result.append(Cell(key_tuple, 0, None))
    if len(result) > max_cells:
        _too_many(max_cells)
    if not result:
        # no row at all: one hidden placeholder, so the developer gets the same empty table as
        # when every group is rare (an error here would tell that nothing matched)
        result.append(Cell((None,) * plan.width, 0, None, hidden=True))
    result.sort(key=lambda cell: sort_key(cell.key))
    return result


def _too_many(max_cells: int) -> None:
    raise TooLargeError(
        f"the result would have more than {max_cells} cells (empty cells included); group by "
        "fewer or coarser keys",
        details={"max_cells": max_cells},
    )


def _ordered(values: set) -> list:
    return sorted(values, key=lambda v: (v is None, type(v).__name__, v if v is not None else 0))


def _number(value: Any, what: str, column: str) -> float:
    number = float(value) if isinstance(value, (int, float, Decimal)) else math.nan
    if not math.isfinite(number):
        raise InvalidInputError(
            f"output column {column!r}: the {what} is not a finite number (the data holds NaN "
            "or infinite values, or the sum overflows); filter them, e.g. WHERE isfinite(x)",
            details={"column": column},
        )
    return number


def output_table(
    plan: CheckedPlan,
    spec: AggregateSpec,
    names: StatisticColumns,
    column: str,
    cells: Sequence[Cell],
    statistics: dict[str, list],
    top: int,
) -> OutputTable:
    """The disclosure cells of one aggregate over every cell of the result.

    Args:
        plan: the plan.
        spec: the aggregate.
        names: its columns in the statistics result.
        column: its output column name (for messages).
        cells: every cell (from :func:`complete_cells`).
        statistics: the statistics result as Python lists by column name.
        top: how many largest contributions the rules need.

    Raises:
        InvalidInputError: a non-finite value or contribution.
    """
    statistic = spec.statistic
    result = []
    for cell in cells:
        if cell.row is None:
            empty_value = 0.0 if statistic == "count" else None
            abs_total = 0.0 if statistic != "count" else None
            result.append(CellStats(cell.key, statistic, empty_value, 0, abs_total))
            continue
        raw_value = statistics[names.value][cell.row]
        units = int(statistics[names.units][cell.row] or 0)
        value = None if raw_value is None else _number(raw_value, "value", column)
        if statistic == "count":
            result.append(CellStats(cell.key, statistic, value, units))
            continue
        abs_raw = statistics[names.abs_total][cell.row]
        abs_total = 0.0 if abs_raw is None else _number(abs_raw, "sum of contributions", column)
        tops = statistics[names.top][cell.row] or []
        contributions = tuple(
            sorted((_number(t, "contribution", column) for t in tops), reverse=True)
        )[: min(top, units)]
        result.append(CellStats(cell.key, statistic, value, units, abs_total, contributions))
    dimensions = tuple(key.name for key in plan.keys)
    return OutputTable.from_cells(
        result, dimensions=dimensions, margins_known=plan.margins_known
    )
