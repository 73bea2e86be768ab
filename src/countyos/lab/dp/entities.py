"""Rows per entity of a dataset version: skip contribution bounding only when it is the identity.

Owns one fact per (data files, entity column): the most rows any one entity has in the table
(its *profile*), computed once inside the engine and cached in process memory, and the rule
that uses it. Keeping at most k rows per entity changes nothing when no entity has more than k
rows, so for such a query the bounding window (a sort of every row by entity, the dominant cost
at 10M rows) can be left out and the exact aggregates are *identical* to the bounded ones.

It is applied only where that is provably so:

- the query reads exactly one table (no JOIN, not even a self-join: a join can multiply an
  entity's rows, and key coercion in a join can merge entities);
- the profile is of the very files the query reads: the cache key holds each file's path, size
  and modification time, so a rewritten file gets a new profile; a file that cannot be
  ``stat``-ed is never profiled (the query is bounded);
- a WHERE filter can only remove rows, so the table's maximum bounds the filtered one;
- the profile counts rows with a non-NULL entity grouped by the same entity column the bounding
  partitions by (rows without an entity are dropped by the bounding SQL as well).

The profile query reads private data and releases nothing: it only chooses between two
execution plans with the same result. (Its one-time cost, and the faster path afterwards, are
visible in latency, as every data-dependent query cost is.) Must not add noise or charge.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import pyarrow as pa
import sqlglot.expressions as exp

from countyos.engine import TableSource
from countyos.lab.dp.lru import LRU
from countyos.lab.dp.plan import QueryPlan

#: Runs trusted SQL over the query's granted tables.
SqlRunner = Callable[[str], pa.Table]

#: Profiles kept in memory (one per dataset version and entity column).
_PROFILES: LRU[int] = LRU(256)


def _quote(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql("duckdb")


def profile_key(source: TableSource, entity_key: str) -> tuple[object, ...] | None:
    """The cache key of a profile: each file's path, size and mtime, and the entity column.

    Returns ``None`` when a file cannot be ``stat``-ed (such a source is never profiled).
    """
    files = []
    for path in sorted(source.files):
        try:
            status = os.stat(path)
        except OSError:
            return None
        files.append((path, status.st_size, status.st_mtime_ns))
    return (tuple(files), entity_key.lower())


def profile_sql(table: str, entity_key: str) -> tuple[str, str]:
    """The two profile queries: a distinct count (cheap), then the maximum rows per entity."""
    entity = _quote(entity_key)
    source = f"{_quote(table)} WHERE {entity} IS NOT NULL"
    distinct = f"SELECT count(*) AS __n, count(DISTINCT {entity}) AS __d FROM {source}"
    most = (f"SELECT coalesce(max(__c), 0) AS __max FROM (SELECT count(*) AS __c FROM {source} "
            f"GROUP BY {entity}) AS __per_entity")
    return distinct, most


def max_rows_per_entity(table: str, source: TableSource, entity_key: str,
                        run: SqlRunner) -> int | None:
    """The most rows one entity has in the table (cached per version), or ``None``."""
    key = profile_key(source, entity_key)
    if key is None:
        return None
    cached = _PROFILES.get(key)
    if cached is not None:
        return cached
    distinct, most = profile_sql(table, entity_key)
    counts = run(distinct).to_pydict()
    rows, entities = int(counts["__n"][0] or 0), int(counts["__d"][0] or 0)
    if rows == entities:
        maximum = 1 if rows else 0
    else:
        maximum = int(run(most).to_pydict()["__max"][0] or 0)
    _PROFILES.put(key, maximum)
    return maximum


def skip_identity_bounding(plan: QueryPlan, source: TableSource | None, entity_key: str,
                           run: SqlRunner) -> QueryPlan:
    """The plan without its bounding step if bounding is provably the identity, else ``plan``.

    Args:
        plan: the analysed query.
        source: the table source of the plan's one table (``None``: keep bounding).
        entity_key: that table's entity key column.
        run: runs trusted SQL over the granted tables.
    """
    if not plan.bounding_needed or not plan.single_table or source is None:
        return plan
    maximum = max_rows_per_entity(plan.tables[0], source, entity_key, run)
    if maximum is None or maximum > plan.max_contributions:
        return plan
    return dataclasses.replace(plan, bounding_needed=False)


def clear_profiles() -> None:
    """Forget every cached profile (tests, or after files were replaced in place)."""
    _PROFILES.clear()
