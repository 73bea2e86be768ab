"""The trusted SQL that bounds contributions and computes exact aggregates inside DuckDB.

Owns turning a ``QueryPlan`` into DuckDB SQL:

1. ``__rows``: the filtered (joined) rows with the entity key, the GROUP BY keys and each
   numeric column as integer units of its grid (``__u``, see ``units_sql``), and for quantiles
   clipped to its bounds as DOUBLE (``greatest(least(x, upper), lower)``, ``__v``); rows
   without an entity are dropped;
2. ``__bounded``: at most k rows per entity, chosen uniformly at random
   (``row_number() OVER (PARTITION BY entity ORDER BY random)`` ≤ k), so one entity moves any
   aggregate by a bounded amount however many rows it has (skipped when every table has a
   catalog-guaranteed unique entity key, or when ``entities`` proved from the data that no
   entity has more than k rows: then the window would keep every row). On a single table the
   engine ranks each entity's rows once (``TableSource.rank_by``, kept with the resident
   table), so without WHERE bounding is a filter on the rank, and with WHERE only the rows of
   entities with more than k rows in the table go through the window (``_ranked_cte``);
3. the aggregate query: per group, the row count, non-null counts, distinct entities and exact
   integer sums of the units (summed without rounding error; AVG's sum centred on the midpoint
   is ``sum(units) − midpoint · count``, exact in integers), and for quantiles the
   per-candidate histogram that OpenDP's quantile score is computed from (``quantiles``).

Everything here runs on the private data and returns only aggregates; noise is added afterwards
by ``mechanisms``. Must not add noise or decide what is released.
"""

from __future__ import annotations

import functools
import re

import sqlglot
import sqlglot.errors
import sqlglot.expressions as exp

from dataclasses import dataclass

from countyos.engine import KEY_ROWS_COLUMN, RANK_COLUMN
from countyos.lab.dp.aggregates import clipped_sql, double_literal
from countyos.lab.dp.metadata import ColumnKind
from countyos.lab.dp.plan import AggregateKind, QueryPlan, ValueColumn
from countyos.lab.dp.tables import quote, table_alias


@dataclass(frozen=True)
class AggregateColumns:
    """Names of the result columns of ``aggregate_sql``."""

    keys: tuple[str, ...]
    rows: str
    entities: str | None
    counted: dict[str, str]  # counted column SQL → result column (non-null count)
    value_counts: dict[str, str]  # value column SQL → non-null count
    sums: dict[str, str]  # value column SQL → sum in grid units
    centred_sums: dict[str, str]  # value column SQL → sum of (units − midpoint)


def midpoint_units(value: ValueColumn) -> int:
    """The integer grid point that AVG sums are centred on (halves their sensitivity)."""
    lower, upper = value.unit_bounds
    return (lower + upper) // 2


#: DuckDB integer types whose values convert to BIGINT without overflow.
_SMALL_INTEGER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT",
                        "UINTEGER")


def units_sql(value: ValueColumn) -> str:
    """The column clipped and on its grid, as BIGINT units: ``round(clipped / resolution)``.

    For an integer column with integral bounds (|bound| ≤ 2^53) whose stored type is a small
    integer type, DuckDB evaluates ``greatest(least(x, upper), lower)`` in integers instead:
    ``typeof`` is fixed at bind time, so DuckDB folds the CASE and keeps one branch. Both give
    the same units (an integer converts to DOUBLE monotonically and the bounds are exact).
    """
    units = f"CAST(round(({clipped_sql(value)}) / {double_literal(value.resolution)}) AS BIGINT)"
    lower, upper = value.lower, value.upper
    integral = (value.kind is ColumnKind.INTEGER and value.resolution == 1.0
                and float(lower).is_integer() and float(upper).is_integer()
                and max(abs(lower), abs(upper)) <= 2**53)
    if not integral:
        return units
    types = ", ".join(f"'{name}'" for name in _SMALL_INTEGER_TYPES)
    # a CASE clips about a quarter faster than greatest(least(…)) in DuckDB; NULL stays NULL
    as_bigint = f"CAST({value.sql} AS BIGINT)"
    fast = (f"CASE WHEN {as_bigint} > {int(upper)} THEN {int(upper)} WHEN {as_bigint} < "
            f"{int(lower)} THEN {int(lower)} ELSE {as_bigint} END")
    return f"CASE WHEN typeof({value.sql}) IN ({types}) THEN {fast} ELSE {units} END"


_PLAIN_COLUMN = re.compile(r'^(?:"[^"]+"\.)?"[^"]+"$')


#: Nodes whose evaluation cannot raise: columns, constants, comparisons, boolean logic.
_CANNOT_FAIL = (
    exp.Column, exp.Identifier, exp.Literal, exp.Boolean, exp.Null, exp.Paren, exp.Not, exp.And,
    exp.Or, exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Is, exp.In, exp.Between,
    exp.NullSafeEQ, exp.NullSafeNEQ, exp.Neg,
)


@functools.lru_cache(maxsize=4096)
def guarded(sql: str) -> str:
    """``TRY(sql)`` unless ``sql`` cannot fail (columns and constants compared and combined).

    No value in the data may make a DP query fail: a failure (an overflow in a WHERE clause, an
    impossible cast) would tell the asker one bit about the data, uncharged and without noise.
    Under ``TRY`` a row whose expression fails gets NULL: filtered out by WHERE, grouped under
    no declared key, left out of sums and counts of the value. (``TRY`` also keeps DuckDB from
    pushing a filter into the Parquet scan, so it is left out where nothing can fail.)
    """
    if _PLAIN_COLUMN.match(sql.strip()):
        return sql
    try:
        tree = sqlglot.parse_one(sql, dialect="duckdb")
    except sqlglot.errors.ParseError:
        return f"TRY({sql})"
    if all(isinstance(node, _CANNOT_FAIL) for node in tree.walk()):
        return sql
    return f"TRY({sql})"


def bounded_cte(plan: QueryPlan) -> str:
    """The WITH clause defining ``__bounded``: filtered, clipped rows, ≤ k per entity."""
    columns = [f"{plan.entity_sql} AS __entity"]
    columns += [f"{guarded(key.sql)} AS __k{i}" for i, key in enumerate(plan.keys)]
    ranked = {a.value.sql for a in plan.aggregates if a.kind is AggregateKind.QUANTILE and a.value}
    for j, value in enumerate(plan.value_columns):
        if value.sql in ranked:  # only quantiles read the clipped DOUBLE
            columns.append(f"{guarded(clipped_sql(value))} AS __v{j}")
        units = units_sql(value)
        # a plain integer column clipped to bounds within ±2^53 cannot fail; anything else may
        # (an expression, or a float grid whose bounds overflow BIGINT)
        safe = _PLAIN_COLUMN.match(value.sql.strip()) and units.startswith("CASE WHEN typeof(")
        columns.append(f"{units if safe else f'TRY({units})'} AS __u{j}")
    counted = _counted_columns(plan)
    columns += [f"{guarded(sql)} AS __c{j}" for j, sql in enumerate(counted)]
    condition = f"{plan.entity_sql} IS NOT NULL"
    if plan.where_sql:
        condition = f"{guarded(plan.where_sql)} AND {condition}"
    k = int(plan.max_contributions)
    if plan.bounding_needed and plan.ranked:
        return _ranked_cte(plan, columns, condition, k)
    rows = "WITH __rows AS (SELECT " + ", ".join(columns) + (
        f" FROM {plan.from_sql} WHERE {condition}), "
    )
    if not plan.bounding_needed:
        # One row per entity is guaranteed by the catalog: keeping ≤ k rows keeps them all.
        return rows + "__bounded AS (SELECT * FROM __rows)"
    return rows + (
        "__shuffled AS (SELECT *, random() AS __order FROM __rows), "
        "__bounded AS (SELECT * FROM __shuffled QUALIFY row_number() OVER "
        f"(PARTITION BY __entity ORDER BY __order) <= {k})"
    )


def _ranked_cte(plan: QueryPlan, columns: list[str], condition: str, k: int) -> str:
    """``__bounded`` over a table ranked by its entity key (one table, see ``QueryPlan.ranked``).

    Without WHERE, the rows of rank ≤ k are a uniformly random k rows of each entity (all of
    them when it has fewer): what the window would keep. With WHERE, an entity with at most k
    rows in the whole table keeps every row that passes the filter (it cannot have more than k
    left), and only the rows of the others go through the window, after the filter as always.
    """
    table = quote(table_alias(0))
    rank = f"{table}.{quote(RANK_COLUMN)}"
    key_rows = f"{table}.{quote(KEY_ROWS_COLUMN)}"
    if not plan.where_sql:
        return ("WITH __rows AS (SELECT " + ", ".join(columns) + f" FROM {plan.from_sql} "
                f"WHERE {condition} AND {rank} <= {k}), __bounded AS (SELECT * FROM __rows)")
    return (
        "WITH __rows AS NOT MATERIALIZED (SELECT " + ", ".join(columns)
        + f", {key_rows} AS __key_rows FROM {plan.from_sql} WHERE {condition}), "
        "__bounded AS NOT MATERIALIZED (SELECT * EXCLUDE (__key_rows) FROM __rows WHERE "
        f"__key_rows <= {k} UNION ALL SELECT * EXCLUDE (__key_rows, __order) FROM (SELECT *, "
        f"random() AS __order FROM __rows WHERE __key_rows > {k}) QUALIFY row_number() OVER "
        f"(PARTITION BY __entity ORDER BY __order) <= {k})"
    )


def _counted_columns(plan: QueryPlan) -> list[str]:
    seen: list[str] = []
    for aggregate in plan.aggregates:
        if aggregate.counted_sql is not None and aggregate.counted_sql not in seen:
            seen.append(aggregate.counted_sql)
    return seen


def aggregate_sql(plan: QueryPlan) -> tuple[str, AggregateColumns]:
    """The exact per-group aggregates over the bounded rows, and the names of its columns."""
    keys = tuple(f"__k{i}" for i in range(len(plan.keys)))
    select = list(keys) + ["count(*) AS __rows"]
    entities = None
    if any(a.kind is AggregateKind.COUNT_ENTITIES for a in plan.aggregates):
        entities = "__entities"
        select.append("count(DISTINCT __entity) AS __entities")
    counted = {sql: f"__c{j}_n" for j, sql in enumerate(_counted_columns(plan))}
    select += [f"count(__c{j}) AS __c{j}_n" for j in range(len(counted))]
    value_counts: dict[str, str] = {}
    sums: dict[str, str] = {}
    centred: dict[str, str] = {}
    needs_sum = {a.value.sql for a in plan.aggregates if a.kind is AggregateKind.SUM and a.value}
    needs_avg = {a.value.sql for a in plan.aggregates if a.kind is AggregateKind.AVG and a.value}
    for j, value in enumerate(plan.value_columns):
        value_counts[value.sql] = f"__v{j}_n"
        select.append(f"count(__u{j}) AS __v{j}_n")
        if value.sql in needs_sum:
            sums[value.sql] = f"__v{j}_sum"
            select.append(f"sum(__u{j}) AS __v{j}_sum")
        if value.sql in needs_avg:
            centred[value.sql] = f"__v{j}_csum"
            select.append(f"sum(__u{j}) - {midpoint_units(value)} * count(__u{j}) "
                          f"AS __v{j}_csum")
    group = f" GROUP BY {', '.join(keys)}" if keys else ""
    sql = f"{bounded_cte(plan)} SELECT {', '.join(select)} FROM __bounded{group}"
    return sql, AggregateColumns(keys, "__rows", entities, counted, value_counts, sums,
                                 centred)
