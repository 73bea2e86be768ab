"""Checks from bounds: cells that pass for certain without adding rows up per unit.

Owns the fast path of checked SQL over tables with several rows per unit (visits, transactions).
Adding every unit's rows up per cell is a hash aggregation over (cell, unit) pairs that costs
several times the developer's own query. When the most rows any unit has in the rows read is
``M`` (:func:`countyos.lab.checked_sql.recipes.row_multiplicity`, proven on the data), row-level
statistics bound the unit-level ones:

- a cell with ``r`` contributing rows has between ``ceil(r / M)`` and ``r`` units;
- if a sum cell's rows all have one sign, its units are those with a non-zero row, the sum of
  the units' absolute totals is exactly the sum of the rows' absolute values ``A``, and no unit's
  absolute total exceeds ``U = min(M * largest |row|, A)``.

:func:`bounded_columns` rewrites the row-level statistics into these bounds (every unit count its
lower bound, every top contribution ``U``); the checks are monotone (more units and smaller top
contributions only ever pass more), so a cell that passes with the bounds passes with the exact
values. The caller keeps the fast result only when every cell of every column passes and no
group value is hidden; otherwise, or when a released cell is close enough in size to compare,
or a cell mixes signs, or the query counts distinct units (whose value needs the units), it
runs the exact per-unit plan. Values themselves (COUNT, SUM, AVG) are computed from rows and are
exact either way. This module must not run queries.
"""

from __future__ import annotations

from countyos.lab.checked_sql.plan import CheckedPlan
from countyos.lab.checked_sql.rewrite import UNITS, Layout, sign_column

#: Relative slack against floating-point rounding (row sums vs per-unit sums).
SLACK = 1e-9
#: The most largest row values per cell the bounded query asks for (``2 * M`` when it fits).
MAX_ROW_TOPS = 1024


def row_tops_wanted(multiplicity: int) -> int:
    """How many of a cell's largest absolute row values the bounded query lists: ``2 * M``
    (the rows two units can have at most) when that fits, else 1 (the largest)."""
    return 2 * multiplicity if 2 * multiplicity <= MAX_ROW_TOPS else 1


def bounded_columns(
    plan: CheckedPlan, names: Layout, columns: dict[str, list], multiplicity: int, top: int
) -> tuple[dict[str, list], dict[str, list[int]]] | None:
    """Row-level statistics (the registers plan run with ``signs``) turned into bounds.

    Args:
        plan: the plan.
        names: its layout.
        columns: the statistics result as lists by column name.
        multiplicity: the most rows one unit has in the rows read (``M`` >= 2).
        top: how many largest contributions the rules need.

    Returns:
        The columns with lower bounds of unit counts and upper bounds of top contributions,
        and per family units column the upper bounds (row counts) by result row; ``None`` when
        bounds cannot decide (a cell mixing signs, or COUNT(DISTINCT unit) asked for).
    """
    if any(spec.kind == "count_entities" for spec in plan.aggregates):
        return None
    bounded = dict(columns)

    def lowest(rows: int | None) -> int:
        return -(-int(rows or 0) // multiplicity)

    bounded[UNITS] = [lowest(rows) for rows in columns[UNITS]]
    highs: dict[str, list[int]] = {}
    families = sorted(set(names.families.values()), key=lambda family: family.number)
    for family in families:
        spec = next(s for s in plan.aggregates if names.families[s.index] == family)
        result = names.columns(spec)
        highs[result.units] = [int(rows or 0) for rows in columns[result.units]]
        bounded[result.units] = [lowest(rows) for rows in columns[result.units]]
        if family.kind != "sum":
            continue
        smallest = columns[sign_column("min", family.number)]
        largest = columns[sign_column("max", family.number)]
        if any(low is not None and high is not None and low < 0 < high
               for low, high in zip(smallest, largest, strict=True)):
            return None
        tops, totals = columns[str(result.top)], columns[str(result.abs_total)]
        bounded[str(result.abs_total)] = [
            None if total is None else float(total) * (1 - SLACK) for total in totals
        ]
        bounded[str(result.top)] = [
            _worst_tops(row_top, multiplicity, float(total) * (1 - SLACK), top)
            if row_top and total is not None else []
            for row_top, total in zip(tops, totals, strict=True)
        ]
    return bounded, highs


def _worst_tops(row_tops: list, multiplicity: int, total: float, count: int) -> list[float]:
    """The largest unit contributions possible, descending, given the cell's largest absolute row
    values: one unit has at most ``M`` rows, so the largest unit total is at most the sum of the
    ``M`` largest rows (and ``M`` times the largest row), the two largest together at most the sum
    of the ``2 M`` largest rows, and all of them together ``total``. Each is made as large as
    allowed, in turn: the worst case of both dominance rules (they only fail more as the largest
    contributions grow)."""
    rows = sorted((abs(float(value)) for value in row_tops), reverse=True)
    caps = [multiplicity * rows[0]]
    if row_tops_wanted(multiplicity) == 2 * multiplicity:  # the list holds every row, or 2 M
        caps = [min(caps[0], sum(rows[:multiplicity])), sum(rows[: 2 * multiplicity])]
    tops: list[float] = []
    for index in range(count):
        reach = caps[index] if index < len(caps) else total
        part = min(reach * (1 + SLACK) - sum(tops), total - sum(tops), tops[-1] if tops else total)
        tops.append(max(0.0, part))
    return tops
