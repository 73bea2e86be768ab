"""Entity sets of checked cells from the hash lists DuckDB returns, without a loop over units.

Owns turning one ``LIST(UBIGINT)`` column of the statistics result (per cell, the keyed hashes of
the units of one family, computed inside the query exactly as
``countyos.lab.disclosure.entity_hashes`` computes them) into the entity set of every cell: a
sorted, duplicate-free ``uint64`` array, as a view into one buffer taken from Arrow without
copying per unit. Sorting runs per cell in numpy; duplicates are found for all cells at once.
Also reports whether some cell listed a unit twice, which on the registers fast path (one row per
unit) proves the catalog's uniqueness claim wrong. This module must not run queries or decide on
releases.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from countyos.errors import InvalidInputError
from countyos.lab.disclosure.entity_sets import HASH_DTYPE


def cell_entity_sets(column: pa.ChunkedArray | pa.Array) -> tuple[list[np.ndarray], bool]:
    """The entity set of every row (cell) of a list-of-hashes column.

    Args:
        column: one list of ``uint64`` unit hashes per cell (NULL or empty for a cell without
            contributing units), in any order and possibly with repeats.

    Returns:
        Per row, the sorted unique hashes (read-only views into one array); and whether some
        row listed a hash more than once.

    Raises:
        InvalidInputError: a NULL hash: the entity key is NULL in some row, or its type is not
            an integer, text or binary type.
    """
    lists = _plain_lists(column)
    offsets = lists.offsets.to_numpy(zero_copy_only=False).astype(np.int64)
    entries = lists.values.slice(offsets[0], offsets[-1] - offsets[0])
    offsets = offsets - offsets[0]
    if entries.null_count:
        raise InvalidInputError(
            "the entity key has nulls in the data or is of a type that cannot name units "
            "(use integer or text keys); every row must belong to an identified unit"
        )
    values = entries.to_numpy(zero_copy_only=False).astype(HASH_DTYPE, copy=True)
    starts, stops = offsets[:-1], offsets[1:]
    for start, stop in zip(starts.tolist(), stops.tolist(), strict=True):
        if stop - start > 1:
            values[start:stop].sort()
    repeated = np.zeros(values.size, dtype=bool)
    if values.size > 1:
        np.equal(values[1:], values[:-1], out=repeated[1:])
        inner = starts[(starts > 0) & (starts < values.size)]
        repeated[inner] = False  # the first entry of a cell never repeats the previous cell's
    duplicated = bool(repeated.any())
    if duplicated:
        kept = np.concatenate([[0], np.cumsum(~repeated)])
        values = values[~repeated]
        starts, stops = kept[starts], kept[stops]
    values.setflags(write=False)
    sets = [values[start:stop] for start, stop in zip(starts.tolist(), stops.tolist(), strict=True)]
    return sets, duplicated


def _plain_lists(column: pa.ChunkedArray | pa.Array) -> pa.ListArray:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks else pa.array([], type=column.type)
    if column.null_count:
        column = column.fill_null(pa.scalar([], type=column.type))
    return column
