"""Helpers for the disclosure tests: table builders and an attacker independent of the library.

The attacker knows every released cell and every margin (published or, with ``margins_known``,
public) and tries to recompute suppressed cells, by subtraction along lines repeated until nothing
changes, and by linear algebra (a cell is determined iff its unit vector is in the row space of
the line equations). Lines are derived here from the table's shape, not from the library.
"""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import numpy as np
import pytest

from countyos.lab.disclosure import TOTAL, CellStats, OutputTable


def build_count_table(counts: np.ndarray, *, margins: bool = True, margins_known: bool = False):
    """An n-D count table (one unit per counted row) with all margins when ``margins``."""
    cells = []
    shape = counts.shape
    axes = [list(range(size)) + ([TOTAL] if margins else []) for size in shape]
    for key in itertools.product(*axes):
        index = tuple(slice(None) if part is TOTAL else part for part in key)
        value = int(np.sum(counts[index]))
        cells.append(CellStats(key, "count", float(value), value))
    return OutputTable.from_cells(cells, margins_known=margins_known)


def shape_lines(
    shape: tuple[int, ...], *, with_margin_cells: bool = True
) -> list[tuple[list, tuple]]:
    """Every (members, total) line of a full-margin table of this shape."""
    lines = []
    axes = [list(range(size)) + ([TOTAL] if with_margin_cells else []) for size in shape]
    for dim, size in enumerate(shape):
        others = [axes[d] for d in range(len(shape)) if d != dim]
        for rest in itertools.product(*others):
            def key_at(level, rest=rest, dim=dim):
                parts = list(rest)
                parts.insert(dim, level)
                return tuple(parts)

            lines.append(([key_at(i) for i in range(size)], key_at(TOTAL)))
    return lines


def peel_attack(known: dict[tuple, float], lines, truth: dict[tuple, float]) -> dict[tuple, float]:
    """Subtract along lines until nothing changes; return what became known beyond ``known``.

    Totals missing from ``known`` but absent from the table are taken from ``truth`` (public
    margins); the returned values are computed, never copied from ``truth`` for hidden cells.
    """
    known = dict(known)
    start = set(known)
    changed = True
    while changed:
        changed = False
        for members, total in lines:
            keys = members + [total]
            unknown = [key for key in keys if key not in known]
            if len(unknown) != 1:
                continue
            (missing,) = unknown
            if missing == total:
                known[missing] = sum(known[key] for key in members)
            else:
                known[missing] = known[total] - sum(known[key] for key in members if key != missing)
            changed = True
    return {key: value for key, value in known.items() if key not in start}


def rank_determined(hidden: set[tuple], lines) -> set[tuple]:
    """Hidden cells whose value is fixed by the line equations (linear algebra)."""
    order = sorted(hidden, key=repr)
    column = {key: index for index, key in enumerate(order)}
    rows = []
    for members, total in lines:
        row = np.zeros(len(order))
        for key in members:
            if key in column:
                row[column[key]] = 1.0
        if total in column:
            row[column[total]] = -1.0
        if row.any():
            rows.append(row)
    if not rows:
        return set()
    matrix = np.array(rows)
    rank = np.linalg.matrix_rank(matrix)
    determined = set()
    for key, index in column.items():
        unit = np.zeros(len(order))
        unit[index] = 1.0
        if np.linalg.matrix_rank(np.vstack([matrix, unit])) == rank:
            determined.add(key)
    return determined


@pytest.fixture
def sdc() -> SimpleNamespace:
    """The helpers above, for tests (conftest modules are not importable by name)."""
    return SimpleNamespace(
        build_count_table=build_count_table,
        shape_lines=shape_lines,
        peel_attack=peel_attack,
        rank_determined=rank_determined,
    )
