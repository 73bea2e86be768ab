"""Entity sets of checked cells from the unit lists DuckDB returns, hashed with the secret.

Owns turning the unit list of the statistics result (``{e: unit, f<n>: contributes}`` per unit
and cell) into the entity set of every cell and family, exactly as
``countyos.lab.disclosure.entity_hashes`` would make it from the same keys (keyed BLAKE2b-64,
sorted, unique), so sets from SQL jobs and from Python outputs compare in one
released-cell store. Each distinct unit is hashed once per call, whatever the number of cells it
falls in, and hashes are kept in a bounded per-process cache (:class:`KeyHashCache`, per secret
and key type), since BLAKE2b in Python costs about a microsecond per key and the same registers
are queried again and again. Also reports whether any cell listed a unit twice, which for a
register (one row per unit) means the catalog's uniqueness claim was wrong. This module must not
run queries or decide on releases.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from countyos.errors import InvalidInputError
from countyos.lab.disclosure import keyed_hashes
from countyos.lab.disclosure.entity_sets import HASH_DTYPE


def cell_entity_sets(
    column: pa.ChunkedArray | pa.Array, flags: Sequence[str], secret: bytes
) -> tuple[dict[str, list[np.ndarray]], bool]:
    """The entity sets of every row (cell) from a list of ``{e: unit, <flag>: bool}`` entries.

    Args:
        column: one list per cell (NULL or empty for a cell without units); field ``e`` holds
            the unit keys, each flag field tells whether the unit belongs to that set.
        flags: the flag fields to make sets for.
        secret: the installation's hashing key (16 to 64 bytes).

    Returns:
        Per flag, the sorted unique ``uint64`` hashes per cell; and whether some cell listed a
        unit more than once.

    Raises:
        InvalidInputError: a bad secret, a NULL key or an unsupported key type.
    """
    lists = _plain_lists(column)
    offsets = lists.offsets.to_numpy(zero_copy_only=False).astype(np.int64)
    entries = lists.values.slice(offsets[0], offsets[-1] - offsets[0])
    offsets = offsets - offsets[0]
    keys = entries.field("e")
    if len(keys) == 0:
        keyed_hashes(pa.array([], type=pa.int64()), secret)  # validates the secret
        empty = [np.empty(0, dtype=HASH_DTYPE) for _ in range(len(lists))]
        return {flag: list(empty) for flag in flags}, False
    if keys.null_count:
        raise InvalidInputError(
            "the entity key has nulls in the data; every row must belong to an identified unit"
        )
    if pa.types.is_integer(keys.type):
        try:
            integers = keys.cast(pa.int64()).to_numpy(zero_copy_only=False)
        except pa.ArrowInvalid:
            raise InvalidInputError(
                "integer entity keys must fit in a signed 64-bit integer"
            ) from None
        hashes = HASH_CACHE.integer_hashes(integers, secret)
    else:
        encoded = pc.dictionary_encode(keys)
        hashes = HASH_CACHE.hashes(encoded.dictionary, secret)[
            encoded.indices.to_numpy(zero_copy_only=False)
        ]
    masks = {
        flag: entries.field(flag).fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
        for flag in flags
    }
    result: dict[str, list[np.ndarray]] = {flag: [] for flag in flags}
    duplicated = False
    bounds = zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True)
    for start, stop in bounds:
        cell = hashes[start:stop]
        for flag in flags:
            segment = np.sort(cell[masks[flag][start:stop]])
            if segment.size > 1:
                fresh = np.empty(segment.size, dtype=bool)
                fresh[0] = True
                np.not_equal(segment[1:], segment[:-1], out=fresh[1:])
                if not fresh.all():
                    duplicated = True
                    segment = segment[fresh]
            result[flag].append(segment.astype(HASH_DTYPE, copy=False))
    return result, duplicated


class KeyHashCache:
    """Keyed hashes of entity keys already seen, per secret and key type, bounded in size.

    Lookups are exact (``pyarrow.compute.index_in``); keys not yet known are hashed with
    ``keyed_hashes`` and added. The secret itself is not kept, only a digest naming its entries.
    Thread-safe.

    Args:
        max_keys: most keys kept over all secrets; when a new batch would exceed it, the entry
            is started afresh.
    """

    def __init__(self, max_keys: int = 5_000_000) -> None:
        self.max_keys = max_keys
        self._entries: dict[tuple[bytes, str], tuple[pa.Array, np.ndarray]] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget every cached hash."""
        with self._lock:
            self._entries.clear()

    def hashes(self, keys: pa.Array, secret: bytes) -> np.ndarray:
        """The keyed hash of every key (distinct keys), as ``keyed_hashes`` gives them."""
        if len(keys) == 0 or self.max_keys <= 0:
            return keyed_hashes(keys, secret)
        if not isinstance(secret, (bytes, bytearray)):
            return keyed_hashes(keys, secret)  # raises the library's error
        name = (hashlib.blake2b(bytes(secret), digest_size=16).digest(), str(keys.type))
        with self._lock:
            entry = self._entries.get(name)
        if entry is None:
            fresh = keyed_hashes(keys, secret)
            self._store(name, keys, fresh)
            return fresh
        known_keys, known_hashes = entry
        positions = pc.index_in(keys, value_set=known_keys)
        found = positions.is_valid().to_numpy(zero_copy_only=False)
        result = np.empty(len(keys), dtype=HASH_DTYPE)
        if found.any():
            index = positions.fill_null(0).to_numpy(zero_copy_only=False)
            result[found] = known_hashes[index[found]]
        if not found.all():
            missing = keys.filter(pa.array(~found))
            fresh = keyed_hashes(missing, secret)
            result[~found] = fresh
            self._store(
                name,
                pa.concat_arrays([known_keys, missing]),
                np.concatenate([known_hashes, fresh]),
            )
        return result

    def integer_hashes(self, values: np.ndarray, secret: bytes) -> np.ndarray:
        """The keyed hash of every integer key (repeats allowed), via sorted cached keys."""
        if values.size == 0 or self.max_keys <= 0 or not isinstance(secret, (bytes, bytearray)):
            return keyed_hashes(pa.array(values, type=pa.int64()), secret)
        name = (hashlib.blake2b(bytes(secret), digest_size=16).digest(), "int64/sorted")
        with self._lock:
            entry = self._entries.get(name)
        if entry is None:
            known = np.empty(0, dtype=np.int64)
            known_hashes = np.empty(0, dtype=HASH_DTYPE)
        else:
            known, known_hashes = entry[0].to_numpy(zero_copy_only=False), entry[1]
        found = _positions(known, values)
        if not (found >= 0).all():
            missing = np.unique(values[found < 0])
            fresh = keyed_hashes(pa.array(missing, type=pa.int64()), secret)
            merged = np.concatenate([known, missing])
            order = np.argsort(merged, kind="stable")
            known, known_hashes = merged[order], np.concatenate([known_hashes, fresh])[order]
            self._store(name, pa.array(known, type=pa.int64()), known_hashes)
            found = _positions(known, values)
        return known_hashes[found]

    def _store(self, name: tuple[bytes, str], keys: pa.Array, hashes: np.ndarray) -> None:
        with self._lock:
            others = sum(len(k) for n, (k, _) in self._entries.items() if n != name)
            if others + len(keys) > self.max_keys:
                self._entries.clear()
                if len(keys) > self.max_keys:
                    return
            self._entries[name] = (keys, hashes)


def _positions(sorted_keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Index of each value in ``sorted_keys``, -1 where absent."""
    if sorted_keys.size == 0:
        return np.full(values.size, -1, dtype=np.int64)
    positions = np.searchsorted(sorted_keys, values)
    clipped = np.minimum(positions, sorted_keys.size - 1)
    return np.where(sorted_keys[clipped] == values, clipped, -1)


#: The process-wide cache used by :func:`cell_entity_sets`.
HASH_CACHE = KeyHashCache()


def _plain_lists(column: pa.ChunkedArray | pa.Array) -> pa.ListArray:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks else pa.array([], type=column.type)
    if column.null_count:
        column = column.fill_null(pa.scalar([], type=column.type))
    return column
