"""Entity sets of checked cells from the unit lists DuckDB returns, hashed with the secret.

Owns turning one ``LIST(unit)`` column of the statistics result into the entity set of every
cell, exactly as ``countyos.lab.disclosure.entity_hashes`` would make it from the same keys
(keyed BLAKE2b-64, sorted, unique), so sets from SQL jobs and from Python outputs compare in one
released-cell store. Each distinct unit is hashed once per call, whatever the number of cells it
falls in. Also reports whether any cell listed a unit twice, which for a register (one row per
unit) means the catalog's uniqueness claim was wrong. This module must not run queries or decide
on releases.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from countyos.errors import InvalidInputError
from countyos.lab.disclosure import keyed_hashes
from countyos.lab.disclosure.entity_sets import HASH_DTYPE


def cell_entity_sets(
    columns: Sequence[pa.ChunkedArray | pa.Array], secret: bytes
) -> tuple[list[list[np.ndarray]], bool]:
    """The entity set of every row (cell) of list columns of unit keys.

    Args:
        columns: list columns of one result, one list of unit keys per cell (NULL or empty
            for a cell without units); all hold keys of one type.
        secret: the installation's hashing key (16 to 64 bytes).

    Returns:
        Per column, the sorted unique ``uint64`` hashes per cell; and whether some cell listed
        a unit more than once.

    Raises:
        InvalidInputError: a bad secret, a NULL key or an unsupported key type.
    """
    lists = [_plain_lists(column) for column in columns]
    flat = [(array, array.offsets.to_numpy(zero_copy_only=False).astype(np.int64)) for array in lists]
    pieces = [array.values.slice(offsets[0], offsets[-1] - offsets[0]) for array, offsets in flat]
    values = pa.concat_arrays(pieces) if pieces else pa.array([], type=pa.int64())
    if len(values) == 0:
        keyed_hashes(pa.array([], type=pa.int64()), secret)  # validates the secret
        return [[np.empty(0, dtype=HASH_DTYPE) for _ in range(len(a))] for a in lists], False
    if values.null_count:
        raise InvalidInputError(
            "the entity key has nulls in the data; every row must belong to an identified unit"
        )
    encoded = pc.dictionary_encode(values)
    hashes = keyed_hashes(encoded.dictionary, secret)[
        encoded.indices.to_numpy(zero_copy_only=False)
    ]
    result: list[list[np.ndarray]] = []
    duplicated = False
    base = 0
    for (_, offsets), piece in zip(flat, pieces, strict=True):
        local = offsets - offsets[0] + base
        sets = []
        for start, stop in zip(local[:-1].tolist(), local[1:].tolist(), strict=True):
            segment = np.sort(hashes[start:stop])
            if segment.size > 1:
                fresh = np.empty(segment.size, dtype=bool)
                fresh[0] = True
                np.not_equal(segment[1:], segment[:-1], out=fresh[1:])
                if not fresh.all():
                    duplicated = True
                    segment = segment[fresh]
            sets.append(segment.astype(HASH_DTYPE, copy=False))
        result.append(sets)
        base += len(piece)
    return result, duplicated


def _plain_lists(column: pa.ChunkedArray | pa.Array) -> pa.ListArray:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks else pa.array([], type=column.type)
    if column.null_count:
        column = column.fill_null(pa.scalar([], type=column.type))
    return column
