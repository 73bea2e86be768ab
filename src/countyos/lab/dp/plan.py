"""The analysed form of a DP query: what the planner produces and the rest of the package reads.

Owns the plan value types: group keys with their public domains, aggregates with the numeric
column they read (bounds, grid, quantile candidates), and the ``QueryPlan`` tying them to the
FROM / WHERE clause that the bounding SQL is built from. Plans are data only; building them is
``planner``'s job, running them ``service``'s. Must not import sqlglot trees into the plan: SQL
fragments are kept as DuckDB text so a plan is cheap to copy and to hash.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Any

from countyos.lab.dp.metadata import ColumnKind


class AggregateKind(str, Enum):
    """The aggregates answered under DP."""

    COUNT = "count"  # COUNT(*) or COUNT(column): rows (non-null values)
    COUNT_ENTITIES = "count_entities"  # COUNT(DISTINCT entity key)
    SUM = "sum"
    AVG = "avg"
    QUANTILE = "quantile"


@dataclass(frozen=True)
class ValueColumn:
    """A bounded numeric column read by SUM, AVG or a quantile.

    Attributes:
        label: ``table.column`` for messages.
        sql: the column reference in the rewritten FROM clause.
        kind: integer or float.
        lower: clipping lower bound.
        upper: clipping upper bound.
        resolution: grid step of values in sums (1 for integer columns).
        candidates: explicit quantile candidates, or ``None`` for a grid over the bounds.
    """

    label: str
    sql: str
    kind: ColumnKind
    lower: float
    upper: float
    resolution: float
    candidates: tuple[float, ...] | None = None

    @property
    def unit_bounds(self) -> tuple[int, int]:
        """Bounds of the values in grid units (``round(value / resolution)``)."""
        return (
            math.floor(self.lower / self.resolution),
            math.ceil(self.upper / self.resolution),
        )


@dataclass(frozen=True)
class Aggregate:
    """One aggregate output column.

    Attributes:
        name: output column name.
        kind: what is computed.
        value: the numeric column (SUM, AVG, quantiles).
        counted_sql: the column of COUNT(column), counting its non-null values; ``None`` for
            COUNT(*) and the other kinds.
        quantile: the quantile in [0, 1] (quantiles only).
    """

    name: str
    kind: AggregateKind
    value: ValueColumn | None = None
    counted_sql: str | None = None
    quantile: float | None = None


@dataclass(frozen=True)
class GroupKey:
    """One GROUP BY key.

    Attributes:
        name: output column name.
        sql: the key expression over the rewritten FROM clause.
        domain: the public key values (declared, or bins derived from bounds); ``None`` means
            the keys come from DP key selection.
        origin: where the domain came from, for the answer's description.
    """

    name: str
    sql: str
    domain: tuple[Any, ...] | None
    origin: str


@dataclass(frozen=True)
class OutputColumn:
    """One column of the answer: a group key or an aggregate, by index."""

    name: str
    source: str  # "key" or "aggregate"
    index: int


@dataclass(frozen=True)
class QueryPlan:
    """A query the DP engine can answer.

    Attributes:
        tables: datasets read, sorted.
        from_sql: the FROM clause (with JOINs) over aliases ``__t0``, ``__t1``, …
        entity_sql: the entity key expression.
        where_sql: the row filter, or ``None``.
        keys: GROUP BY keys.
        aggregates: aggregate outputs.
        outputs: the answer's columns in SELECT order.
        order_by: (output index, descending) pairs applied to the noisy answer.
        limit: most rows of the answer, applied after noise.
        max_contributions: k, rows kept per entity.
        canonical_sql: the normalised user SQL (cache key and audit trail).
        bounding_needed: false when every table read has a catalog-guaranteed unique entity
            key (and joins are on it), so each entity has at most one row ≤ k; also set false
            by ``entities`` when the data's own profile proves bounding is the identity.
        single_table: the query reads one table (no JOIN, no self-join).
        ranked: the one table carries the engine's rank columns of its entity key
            (``TableSource.rank_by``), so bounding filters on them instead of a window over
            every row (set by ``entities.ranked_sources``).
    """

    tables: tuple[str, ...]
    from_sql: str
    entity_sql: str
    where_sql: str | None
    keys: tuple[GroupKey, ...]
    aggregates: tuple[Aggregate, ...]
    outputs: tuple[OutputColumn, ...]
    order_by: tuple[tuple[int, bool], ...]
    limit: int | None
    max_contributions: int
    canonical_sql: str
    bounding_needed: bool = True
    single_table: bool = False
    ranked: bool = False

    @property
    def needs_key_selection(self) -> bool:
        """Whether some GROUP BY key has no public domain."""
        return any(key.domain is None for key in self.keys)

    @property
    def value_columns(self) -> tuple[ValueColumn, ...]:
        """Distinct numeric columns read by aggregates, in first-use order."""
        seen: dict[str, ValueColumn] = {}
        for aggregate in self.aggregates:
            if aggregate.value is not None:
                seen.setdefault(aggregate.value.sql, aggregate.value)
        return tuple(seen.values())
