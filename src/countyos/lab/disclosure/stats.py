"""Per-cell statistics of a group-by over an Arrow table, ready for the disclosure checks.

Owns the computation, inside the trusted zone, of what :class:`CellStats` needs: the statistic,
distinct units per cell, absolute unit totals and the largest of them, with optional margins and
with the empty cells a group-by never returns. Also the entity set of every cell for the
differencing check. Vectorised with numpy over dictionary codes. It must not run the checks, touch
a database or return rows.

Semantics: a unit's contribution to a cell is the sum of its rows' values in the cell (SQL
``SUM``, nulls skipped); rows with a null value do not count for value statistics (a unit with
only null values does not contribute); ``count`` counts rows, and every row's unit contributes.
Null group values form their own group (as in SQL ``GROUP BY``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from countyos.errors import InvalidInputError, TooLargeError
from countyos.lab.disclosure.cells import TOTAL, CellStats, OutputTable
from countyos.lab.disclosure.entity_sets import HASH_DTYPE, keyed_hashes
from countyos.lab.disclosure.rules import normalise_statistic

#: Most cells (empty ones included) one table may enumerate.
MAX_CELLS = 1_000_000

_VALUE_STATISTICS = frozenset({"sum", "total", "mean", "avg", "average", "min", "max", "median"})


class _Grouping:
    """Dictionary codes of the group columns and the entity column of one table."""

    def __init__(
        self,
        data: pa.Table,
        group_by: Sequence[str],
        entity_key: str,
        levels: Mapping[str, Sequence] | None,
    ) -> None:
        if not isinstance(data, pa.Table):
            raise InvalidInputError("cell statistics are computed from a pyarrow Table")
        group_by = list(group_by)
        if not group_by:
            raise InvalidInputError("at least one group-by column is needed")
        if len(set(group_by)) != len(group_by):
            raise InvalidInputError("a group-by column is listed twice")
        for name in [*group_by, entity_key]:
            if name not in data.column_names:
                raise InvalidInputError(f"no column {name!r} in the data", details={"column": name})
        self.names = group_by
        self.codes: list[np.ndarray] = []
        self.levels: list[list] = []
        for name in group_by:
            codes, dictionary = _encode(data.column(name))
            observed = dictionary.to_pylist()
            declared = list((levels or {}).get(name, []))
            order = declared + [level for level in observed if level not in declared]
            position = {level: index for index, level in enumerate(order)}
            remap = np.array([position[level] for level in observed], dtype=np.int64)
            self.codes.append(remap[codes] if codes.size else codes.astype(np.int64))
            self.levels.append(order)
        entity_column = data.column(entity_key)
        if entity_column.null_count:
            raise InvalidInputError(
                "the entity key column has nulls; every row must belong to an identified unit",
                details={"column": entity_key},
            )
        self.entity_codes, self.entity_dictionary = _encode(entity_column)
        self.n_rows = data.num_rows

    def groupings(self, margins: bool) -> list[tuple[int, ...]]:
        """Kept positions per grouping: all of them, plus every subset when ``margins``."""
        width = len(self.names)
        if not margins:
            return [tuple(range(width))]
        return [
            kept
            for size in range(width, -1, -1)
            for kept in itertools.combinations(range(width), size)
        ]

    def group_ids(self, kept: tuple[int, ...]) -> tuple[np.ndarray, list[int]]:
        """Mixed-radix id per row over the kept positions, and the radices.

        Raises:
            TooLargeError: the cross product of the levels does not fit in 62 bits.
        """
        sizes = [max(1, len(self.levels[position])) for position in kept]
        if math.prod(sizes) >= 2**62:
            raise TooLargeError("the group-by columns have too many combinations of levels")
        ids = np.zeros(self.n_rows, dtype=np.int64)
        for position, size in zip(kept, sizes, strict=True):
            ids = ids * size + self.codes[position]
        return ids, sizes

    def key_of(self, kept: tuple[int, ...], flat: int, sizes: list[int]) -> tuple:
        digits = []
        for size in reversed(sizes):
            digits.append(flat % size)
            flat //= size
        digits.reverse()
        key: list = [TOTAL] * len(self.names)
        for position, digit in zip(kept, digits, strict=True):
            key[position] = self.levels[position][digit]
        return tuple(key)

    def all_ids(self, kept: tuple[int, ...], sizes: list[int]) -> np.ndarray:
        """Every combination of levels (for the empty cells).

        Raises:
            TooLargeError: more than :data:`MAX_CELLS` combinations.
        """
        if any(not self.levels[position] for position in kept):
            return np.empty(0, dtype=np.int64)
        total = math.prod(sizes)
        if total > MAX_CELLS:
            raise TooLargeError(
                f"the table would have more than {MAX_CELLS} cells with its empty cells; "
                "pass include_empty=False or fewer group-by levels",
                details={"cells": total},
            )
        return np.arange(total, dtype=np.int64)


def compute_cell_stats(
    data: pa.Table,
    group_by: Sequence[str],
    entity_key: str,
    statistic: str = "count",
    value: str | None = None,
    *,
    margins: bool = False,
    include_empty: bool = True,
    levels: Mapping[str, Sequence] | None = None,
    top_n: int = 2,
) -> OutputTable:
    """The cells of ``statistic(value) GROUP BY group_by`` with what the checks need.

    Args:
        data: the rows (inside the trusted zone).
        group_by: the group-by columns (the table's dimensions).
        entity_key: the column identifying units (person, firm); thresholds count its values.
        statistic: ``count``, ``sum``, ``mean``, ``min``, ``max`` or ``median``.
        value: the numeric column aggregated (not for ``count``).
        margins: add every margin (``TOTAL`` in one or more positions).
        include_empty: add the empty cells of the cross product of levels (zeros).
        levels: declared levels per group column (added even when not observed; order kept).
        top_n: how many of the largest unit contributions to keep (at least 2).

    Returns:
        An :class:`OutputTable` of the cells, dimensions named after ``group_by``.

    Raises:
        InvalidInputError: unknown columns, a non-numeric value column, null entity keys, an
            unsupported statistic.
    """
    statistic = normalise_statistic(statistic)
    if statistic != "count" and statistic not in _VALUE_STATISTICS:
        raise InvalidInputError(f"compute_cell_stats does not compute {statistic!r}")
    grouping = _Grouping(data, group_by, entity_key, levels)
    if statistic == "count":
        values = np.zeros(data.num_rows)
        used = np.ones(data.num_rows, dtype=bool)
    else:
        if value is None or value not in data.column_names:
            raise InvalidInputError(f"{statistic} needs an existing numeric value column")
        column = _combined(data.column(value))
        if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
            raise InvalidInputError(f"value column {value!r} is not numeric")
        used = _valid_values(column)
        values = column.cast(pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False)
    keep = max(2, int(top_n))
    cells: list[CellStats] = []
    for kept in grouping.groupings(margins):
        ids, sizes = grouping.group_ids(kept)
        cells.extend(
            _cells_for_grouping(
                grouping, kept, ids[used], sizes, grouping.entity_codes[used], values[used],
                statistic, keep, include_empty,
            )
        )
    return OutputTable(tuple(cells), tuple(group_by))


def _cells_for_grouping(
    grouping: _Grouping,
    kept: tuple[int, ...],
    ids: np.ndarray,
    sizes: list[int],
    entities: np.ndarray,
    values: np.ndarray,
    statistic: str,
    keep: int,
    include_empty: bool,
) -> list[CellStats]:
    n_entities_all = max(1, int(entities.max()) + 1) if entities.size else 1
    observed, row_cell = np.unique(ids, return_inverse=True)  # dense cell index per row
    pair_ids, pair_of_row = np.unique(row_cell * n_entities_all + entities, return_inverse=True)
    pair_cell = pair_ids // n_entities_all
    pair_totals = np.bincount(pair_of_row, weights=values, minlength=pair_ids.size)
    pair_abs = np.abs(pair_totals)
    n_entities = np.bincount(pair_cell, minlength=observed.size)
    abs_totals = np.bincount(pair_cell, weights=pair_abs, minlength=observed.size)
    order = np.lexsort((-pair_abs, pair_cell))
    starts = np.searchsorted(pair_cell[order], np.arange(observed.size))
    statistic_values = _statistic(statistic, row_cell, values, observed.size)
    position = {int(flat): index for index, flat in enumerate(observed)}
    wanted = grouping.all_ids(kept, sizes) if include_empty else observed
    wanted = np.union1d(wanted, observed)
    cells = []
    for flat in wanted.tolist():
        key = grouping.key_of(kept, flat, sizes)
        index = position.get(flat)
        if index is None:
            cells.append(CellStats(key, statistic, 0.0 if statistic == "count" else None, 0, 0.0))
            continue
        count = int(n_entities[index])
        start = int(starts[index])
        top = pair_abs[order[start : start + min(keep, count)]]
        cells.append(
            CellStats(
                key,
                statistic,
                statistic_values[index],
                count,
                float(abs_totals[index]),
                tuple(float(x) for x in top),
            )
        )
    return cells


def _statistic(statistic: str, row_cell: np.ndarray, values: np.ndarray, n_cells: int) -> list:
    rows = np.bincount(row_cell, minlength=n_cells)
    if statistic == "count":
        return [float(x) for x in rows]
    sums = np.bincount(row_cell, weights=values, minlength=n_cells)
    if statistic in ("sum", "total"):
        return [float(x) for x in sums]
    if statistic in ("mean", "avg", "average"):
        return [float(s / r) for s, r in zip(sums, rows, strict=True)]
    order = np.lexsort((values, row_cell))
    sorted_values = values[order]
    starts = np.searchsorted(row_cell[order], np.arange(n_cells))
    result = []
    for start, count in zip(starts.tolist(), rows.tolist(), strict=True):
        if statistic == "min":
            result.append(float(sorted_values[start]))
        elif statistic == "max":
            result.append(float(sorted_values[start + count - 1]))
        else:
            middle = start + (count - 1) // 2
            result.append(float((sorted_values[middle] + sorted_values[start + count // 2]) / 2))
    return result


def cell_entity_sets(
    data: pa.Table,
    group_by: Sequence[str],
    entity_key: str,
    secret: bytes,
    *,
    value: str | None = None,
    margins: bool = False,
) -> dict[tuple, np.ndarray]:
    """The entity set (keyed hashes, see ``entity_hashes``) of every non-empty cell.

    Args:
        data: the rows (inside the trusted zone).
        group_by: the group-by columns, as for :func:`compute_cell_stats`.
        entity_key: the unit column.
        secret: the installation's hashing key.
        value: when given, only rows with a non-null value count (as for value statistics).
        margins: include the margin cells.

    Returns:
        Entity set per cell key (keys as made by :func:`compute_cell_stats`).
    """
    grouping = _Grouping(data, group_by, entity_key, None)
    row_hashes = keyed_hashes(grouping.entity_dictionary, secret)[grouping.entity_codes]
    used = np.ones(data.num_rows, dtype=bool)
    if value is not None:
        if value not in data.column_names:
            raise InvalidInputError(f"no column {value!r} in the data", details={"column": value})
        used = _valid_values(_combined(data.column(value)))
    sets: dict[tuple, np.ndarray] = {}
    for kept in grouping.groupings(margins):
        ids, sizes = grouping.group_ids(kept)
        ids, hashes = ids[used], row_hashes[used]
        order = np.lexsort((hashes, ids))
        ids, hashes = ids[order], hashes[order]
        boundaries = np.flatnonzero(np.diff(ids)) + 1
        pieces = zip(np.split(ids, boundaries), np.split(hashes, boundaries), strict=True)
        for group_rows, group_hashes in pieces:
            if group_rows.size == 0:
                continue
            fresh = np.ones(group_hashes.size, dtype=bool)
            fresh[1:] = group_hashes[1:] != group_hashes[:-1]
            key = grouping.key_of(kept, int(group_rows[0]), sizes)
            sets[key] = group_hashes[fresh].astype(HASH_DTYPE)
    return sets


def _valid_values(column: pa.Array) -> np.ndarray:
    """Rows whose value counts: not null and, for floats, not NaN."""
    valid = column.is_valid().to_numpy(zero_copy_only=False)
    if pa.types.is_floating(column.type):
        filled = column.cast(pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False)
        valid &= ~np.isnan(filled)
    return valid


def _combined(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        return column.combine_chunks() if column.num_chunks else pa.array([], type=column.type)
    return column


def _encode(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Dense codes (nulls as their own level) and the observed levels in first-seen order."""
    array = _combined(column)
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    encoded = pc.dictionary_encode(array, null_encoding="encode")
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, encoded.dictionary
