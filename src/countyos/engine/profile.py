"""Facts about a table's data that hold for as long as its files are unchanged.

Owns :func:`rows_per_key`: how many rows the most frequent non-NULL value of a key column has in
a table, and how many rows have NULL there — one ``GROUP BY key`` over the data files, computed
once and cached per (files, key). The lab uses it to prove registers (one row per unit), to bound
units per cell, and to skip contribution bounding where it is the identity. The cache key holds
each file's path, size and modification time (lake files are immutable; anything else that
rewrites a file in place gets a new profile); a file that cannot be ``stat``-ed is never profiled.
Must not decide anything about disclosure or privacy.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import sqlglot.expressions as exp

from countyos.engine.base import TableSource
from countyos.lru import LRU

#: Runs trusted SQL over the table (named as in the SQL) and returns the result.
SqlRunner = Callable[[str], pa.Table]

_profiles: LRU[RowsPerKey] = LRU(4096)


@dataclass(frozen=True)
class RowsPerKey:
    """Rows per key value of one table.

    Attributes:
        most: rows of the most frequent non-NULL key value (0 for no such row).
        nulls: rows whose key is NULL.
    """

    most: int
    nulls: int


def files_identity(source: TableSource) -> tuple | None:
    """Each file's path, size and modification time; ``None`` if one cannot be ``stat``-ed."""
    files = []
    for path in sorted(source.files):
        try:
            status = os.stat(path)
        except OSError:
            return None
        files.append((path, status.st_size, status.st_mtime_ns))
    return tuple(files)


def rows_per_key(table: str, source: TableSource, key: str, run: SqlRunner) -> RowsPerKey | None:
    """Rows per value of ``key`` in ``source`` (queried as ``table``), cached; ``None`` when a
    data file cannot be ``stat``-ed (then nothing is cached or assumed)."""
    identity = files_identity(source)
    if identity is None:
        return None
    cache_key = (identity, key.lower())
    cached = _profiles.get(cache_key)
    if cached is not None:
        return cached
    column = exp.to_identifier(key, quoted=True).sql(dialect="duckdb")
    name = exp.to_identifier(table, quoted=True).sql(dialect="duckdb")
    result = run(
        f"SELECT COALESCE(MAX(rows_per_value) FILTER (WHERE value IS NOT NULL), 0) AS most, "
        f"COALESCE(SUM(rows_per_value) FILTER (WHERE value IS NULL), 0) AS nulls FROM "
        f"(SELECT {column} AS value, COUNT(*) AS rows_per_value FROM {name} GROUP BY {column}) "
        f"AS per_value"
    ).to_pydict()
    profile = RowsPerKey(int(result["most"][0] or 0), int(result["nulls"][0] or 0))
    _profiles.put(cache_key, profile)
    return profile


def clear_profiles() -> None:
    """Forget every cached profile (tests)."""
    _profiles.clear()
