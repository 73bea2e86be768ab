"""Proving a published table's units are real, and their keyed hashes per cell, in one pass.

Owns :func:`unit_hashes` and :func:`cell_entity_sets`. A job publishes its entity keys as text;
every distinct key must be a value of the entity column in the job's real inputs (no invented
units), and the differencing check needs, per cell, the sorted keyed hashes of its units: the
hashes of the *real* keys in their own type (``countyos.lab.disclosure.entity_hashes``: integer
keys as integers), so a Python output's sets compare with those of checked SQL.

The distinct real keys of an input column and their hashes are computed once per worker process
and input file (the materialised inputs are immutable, see ``input_cache.py``) and kept in a small
in-memory cache; each job then looks its distinct published keys up once (an exact hash lookup on
the text, never on hashes) and takes their hashes from there.

It must not decide disclosure or release anything.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from countyos.errors import PermissionDeniedError
from countyos.lab.disclosure import keyed_hashes
from countyos.lab.sandbox.published_tables import PublishedTable

#: At most this many input columns, and this many distinct keys in all, stay cached.
MAX_CACHED_COLUMNS = 4
MAX_CACHED_KEYS = 20_000_000
MAX_FOOTER_BYTES = 16 * 1024**2

_cache: OrderedDict[tuple, RealUnits] = OrderedDict()
_lock = threading.Lock()


@dataclass(frozen=True)
class RealUnits:
    """The distinct values of an entity column in a job's real inputs, as text, with hashes."""

    keys: pa.Array            # string, distinct
    hashes: np.ndarray        # keyed hash of each key (uint64), same order


def real_units(inputs: Mapping[str, Path], column: str, secret: bytes) -> RealUnits:
    """The distinct values of ``column`` across ``inputs`` as text, and their keyed hashes.

    Integer keys become their decimal text (as the job API writes them) for the lookup, and are
    hashed as integers, as checked SQL hashes them. Cached per input files
    (see :func:`_file_identity`: a job's hard link to a cached input hits the cache), column and
    secret.
    """
    paths = sorted(Path(path) for path in inputs.values())
    identity = tuple(sorted(_file_identity(path) for path in paths))
    key = (identity, column, hashlib.sha256(bytes(secret)).hexdigest())
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    texts, hashes = [], []
    for path in paths:
        if column not in pq.read_schema(path).names:
            continue
        typed = pc.unique(pq.read_table(path, columns=[column])[column].combine_chunks())
        typed = typed.drop_null() if typed.null_count else typed
        if isinstance(typed, pa.DictionaryArray):
            typed = typed.dictionary_decode()
        texts.append(pc.cast(typed, pa.string()))
        hashes.append(keyed_hashes(typed, secret))  # as SQL hashes them: integers as integers
    if texts:
        text = pa.concat_arrays(texts)
        first = pc.index_in(pc.unique(text), value_set=text).to_numpy(zero_copy_only=False)
        keys, digest = pc.unique(text), np.concatenate(hashes)[first]
    else:
        keys, digest = pa.array([], pa.string()), np.empty(0, dtype=np.uint64)
    units = RealUnits(keys, digest)
    with _lock:
        _cache[key] = units
        while len(_cache) > MAX_CACHED_COLUMNS or (
                len(_cache) > 1 and sum(len(u.keys) for u in _cache.values()) > MAX_CACHED_KEYS):
            _cache.popitem(last=False)
    return units


def clear_cache() -> None:
    """Forget every cached input column (tests; memory)."""
    with _lock:
        _cache.clear()


def unit_hashes(published: PublishedTable, inputs: Mapping[str, Path], secret: bytes) -> np.ndarray:
    """The keyed hash of every unit of ``published.units``, after proving each is real.

    Raises:
        PermissionDeniedError: a published unit is not a value of the entity column in the
            job's granted inputs.
    """
    column = published.output.metadata["entity"]
    real = real_units(inputs, column, secret)
    positions = pc.index_in(published.units, value_set=real.keys)
    if positions.null_count:
        raise PermissionDeniedError("the job published entities that are not in its granted data")
    return real.hashes[positions.to_numpy(zero_copy_only=False).astype(np.int64)]


def cell_entity_sets(published: PublishedTable, output_column: str,
                     hashes: np.ndarray) -> dict[tuple, np.ndarray]:
    """Per non-empty cell of one statistic column: the sorted, distinct hashes of its units."""
    sets = {}
    for cell, codes in published.cell_units(output_column).items():
        values = np.sort(hashes[codes])
        if values.size > 1:  # two units sharing a hash count once, as entity_hashes does
            values = values[np.concatenate(([True], values[1:] != values[:-1]))]
        sets[cell] = values
    return sets


def _file_identity(path: Path) -> tuple:
    """A file's identity that hard links share (inputs are never modified in place): device,
    inode, size, modification time and a digest of the Parquet footer (row groups, offsets,
    column statistics), so a new file on a reused inode is never taken for an old one."""
    with open(path, "rb") as handle:
        info = os.fstat(handle.fileno())
        handle.seek(max(0, info.st_size - 8))
        tail = handle.read(8)
        footer_bytes = int.from_bytes(tail[:4], "little") if len(tail) == 8 else 0
        handle.seek(max(0, info.st_size - 8 - min(footer_bytes, MAX_FOOTER_BYTES)))
        footer = hashlib.sha256(handle.read()).hexdigest()
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, footer
