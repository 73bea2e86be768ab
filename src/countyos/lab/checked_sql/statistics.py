"""Running the statistics SQL of a checked plan on the engine, with the hash key kept secret.

Owns :func:`run_statistics` (build the statistics SQL of :mod:`.rewrite`, cached by plan; run it
through the engine, which re-validates it with its read-only guard; read the per-cell lists of
unit hashes into entity sets) and the scrubbing of the entity hash key from engine errors
(:func:`without_key`). The SQL embeds the key block of the entity hash: it is never shown. This
module must not decide on disclosure.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import numpy as np
import pyarrow as pa

from countyos.engine import Engine, ParsedQuery, QueryLimits, TableSource, parse_read_only
from countyos.engine import functions as engine_functions
from countyos.errors import CountyOSError, TooLargeError
from countyos.lab.checked_sql.cells import read_cells
from countyos.lab.checked_sql.entity_sets import cell_entity_sets
from countyos.lab.checked_sql.plan import CheckedPlan
from countyos.lab.checked_sql.rewrite import (
    KEY_PLACEHOLDER,
    NULL_UNITS,
    build_statistics_sql,
    layout,
)
from countyos.lru import LRU

Lists = dict[str, list[np.ndarray]]


def run_statistics(
    plan: CheckedPlan,
    engine: Engine,
    sources: Mapping[str, TableSource],
    limits: QueryLimits,
    top: int,
    hash_key: str,
    per_entity: bool,
    need_sets: bool,
    signs: bool = False,
) -> tuple[str, pa.Table, Lists | None]:
    sql = _statistics_sql(
        plan, per_entity, need_sets, top, engine_allows_try(),
        hash_key if need_sets else None, signs,
    )
    try:
        result = engine.execute(_parsed(sql), sources, limits=limits)
    except CountyOSError as error:
        raise without_key(error, hash_key) from None
    if result.truncated:
        raise TooLargeError(
            f"the query has more than {limits.max_rows} cells; group by fewer or coarser keys",
            details={"max_cells": limits.max_rows},
        )
    statistics = result.table
    if not need_sets:
        return sql, statistics, None
    if statistics.num_rows and any(statistics.column(NULL_UNITS).to_pylist()):
        read_cells(plan, statistics)  # raises the error about NULL entity keys
    names = layout(plan)
    flags = sorted({names.columns(spec).entities for spec in plan.aggregates})
    return sql, statistics, {flag: cell_entity_sets(statistics.column(flag))[0] for flag in flags}


_SQL_CACHE: LRU[str] = LRU(256)


def _statistics_sql(plan: CheckedPlan, per_entity: bool, need_sets: bool, top: int,
                    guard_errors: bool, hash_key: str | None, signs: bool) -> str:
    """The statistics SQL of a plan, kept by the plan's SQL and policies (building it copies
    the developer's trees; a worker runs the same plans again and again)."""
    key = (plan.sql, repr(plan.policies), plan.margins_known, per_entity, need_sets, top,
           guard_errors, hash_key, signs)
    sql = _SQL_CACHE.get(key)
    if sql is None:
        sql = build_statistics_sql(
            plan, per_entity=per_entity, entity_sets=need_sets, top=top,
            guard_errors=guard_errors, hash_key=hash_key, signs=signs,
            entities_not_null=not per_entity,  # row_multiplicity proved: no NULL keys
        )
        _SQL_CACHE.put(key, sql)
    return sql


@functools.lru_cache(maxsize=64)
def _parsed(sql: str) -> ParsedQuery:
    """The engine's guarded parse of a statistics query (the same plans are run again and again;
    a parsed query is immutable: engines copy its tree before changing it)."""
    return parse_read_only(sql)


def without_key(error: CountyOSError, hash_key: str) -> CountyOSError:
    """The engine's error with the hash key block removed from its message and details."""

    def scrub(value: object) -> object:
        if isinstance(value, str):
            return value.replace(hash_key, KEY_PLACEHOLDER)
        if isinstance(value, dict):
            return {scrub(key): scrub(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(scrub(item) for item in value)
        return value

    error.message = str(scrub(error.message))
    error.args = tuple(scrub(argument) for argument in error.args)
    error.details = dict(scrub(error.details))  # type: ignore[arg-type]
    return error


def engine_allows_try() -> bool:
    """Whether the engine's function allowlist admits ``TRY(…)`` (errors become NULL)."""
    return engine_functions.is_allowed_function("try")
