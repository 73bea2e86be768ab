"""Rows per entity of a dataset version: skip contribution bounding only when it is the identity.

Owns the rule that uses one fact per (data files, entity column): the most rows any one entity
has in the table (its *profile*, ``countyos.engine.profile``, computed once inside the engine and
cached in process memory). Keeping at most k rows per entity changes nothing when no entity has more than k
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
visible in latency, as every data-dependent query cost is.) ``ranked_sources`` asks the engine to
keep the tables resident and, where bounding remains, to rank the one table's rows per entity.
Must not add noise or charge.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from countyos.engine import TableSource
from countyos.engine.profile import SqlRunner, clear_profiles, rows_per_key
from countyos.lab.dp.plan import QueryPlan


def ranked_sources(plan: QueryPlan, tables: Mapping[str, TableSource],
                   entity_key: str) -> tuple[QueryPlan, dict[str, TableSource]]:
    """The plan and the sources as a DP query reads them.

    Every table read asks the engine to keep it resident (repeated DP queries over a version
    then skip decoding its files). A single-table plan that still bounds gets its table ranked
    by the entity key, and ``ranked`` set, so bounding filters on the rank (``rewrite``).
    """
    sources = {name.lower(): source for name, source in tables.items()}
    rank = plan.bounding_needed and plan.single_table and plan.tables[0] in sources
    for name in plan.tables:
        if name in sources:
            sources[name] = dataclasses.replace(
                sources[name], resident=True,
                rank_by=entity_key if rank and name == plan.tables[0] else None,
            )
    return (dataclasses.replace(plan, ranked=True) if rank else plan), sources


def max_rows_per_entity(table: str, source: TableSource, entity_key: str,
                        run: SqlRunner) -> int | None:
    """The most rows one entity has in the table (rows without an entity do not count; cached
    per version by ``countyos.engine.profile``), or ``None`` when it cannot be profiled."""
    profile = rows_per_key(table, source, entity_key, run)
    return None if profile is None else profile.most


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


__all__ = ["clear_profiles", "max_rows_per_entity", "ranked_sources", "skip_identity_bounding"]
