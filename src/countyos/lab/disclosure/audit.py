"""Exact audit of a suppression pattern: which suppressed cells the released ones give back.

Owns the linear-algebra test. The released cells and the known totals turn every line of the table
into a linear equation over the suppressed cells (members ``+1``, a suppressed total ``-1``, the
known values on the right). A suppressed cell is *recoverable* when its value is the same in every
solution, i.e. its unit vector lies in the row space of that system; this covers subtraction along
one line and every combination of lines (e.g. two suppressed blocks joined by one cell). The test
is structural: it needs no values, so it works for counts, sums and, once counts are known, means.

Limits (documented in ``docs/lab-disclosure.md``): bounds are not considered (a suppressed count
is known to be non-negative, so narrow feasible intervals are possible); secondary suppression
counters the main case by requiring the suppressed part of each line to be a safe cell itself.
This module must not choose complements (that is :mod:`.secondary`).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from countyos.lab.disclosure.cells import OutputTable, sort_key
from countyos.lab.disclosure.lines import Line, table_lines

_TOLERANCE = 1e-9


def recoverable_cells(
    table: OutputTable, suppressed: Iterable[tuple], lines: tuple[Line, ...] | None = None
) -> set[tuple]:
    """The suppressed cells whose value follows exactly from the released cells and totals.

    Args:
        table: the output table.
        suppressed: keys of the cells that are withheld.
        lines: the table's lines if already computed (see :func:`table_lines`).

    Returns:
        Keys of suppressed cells that an attacker can compute exactly; empty when the pattern
        protects every suppressed cell against linear recovery.
    """
    hidden = sorted(set(suppressed), key=sort_key)
    if not hidden:
        return set()
    if lines is None:
        lines = table_lines(table)
    column = {key: index for index, key in enumerate(hidden)}
    equations: list[dict[int, float]] = []
    for line in lines:
        row: dict[int, float] = {}
        for key in line.members:
            if key in column:
                row[column[key]] = 1.0
        if line.total is not None and line.total in column:
            row[column[line.total]] = -1.0
        if row:
            equations.append(row)
    recovered: set[tuple] = set()
    for component_rows, component_cols in _components(equations, len(hidden)):
        matrix = np.zeros((len(component_rows), len(component_cols)))
        local = {col: index for index, col in enumerate(component_cols)}
        for row_index, equation in enumerate(component_rows):
            for col, coefficient in equation.items():
                matrix[row_index, local[col]] = coefficient
        for col in _determined_columns(matrix):
            recovered.add(hidden[component_cols[col]])
    return recovered


def _determined_columns(matrix: np.ndarray) -> list[int]:
    """Columns ``j`` whose unit vector lies in the row space of ``matrix``."""
    _, singular, right = np.linalg.svd(matrix, full_matrices=False)
    if singular.size == 0:
        return []
    rank = int(np.sum(singular > _TOLERANCE * max(1.0, float(singular[0]))))
    if rank == 0:
        return []
    basis = right[:rank]
    projection = np.einsum("ij,ij->j", basis, basis)  # squared norm of e_j projected on row space
    return [int(j) for j in np.nonzero(projection > 1.0 - 1e-7)[0]]


def _components(
    equations: list[dict[int, float]], n_columns: int
) -> list[tuple[list[dict[int, float]], list[int]]]:
    """Split the system into independent blocks (unknowns linked through shared equations)."""
    parent = list(range(n_columns))

    def find(item: int) -> int:
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    for equation in equations:
        cols = list(equation)
        for other in cols[1:]:
            root_a, root_b = find(cols[0]), find(other)
            if root_a != root_b:
                parent[root_b] = root_a
    rows_by_root: dict[int, list[dict[int, float]]] = {}
    for equation in equations:
        rows_by_root.setdefault(find(next(iter(equation))), []).append(equation)
    cols_by_root: dict[int, list[int]] = {}
    for col in range(n_columns):
        cols_by_root.setdefault(find(col), []).append(col)
    return [(rows, cols_by_root[root]) for root, rows in rows_by_root.items()]
