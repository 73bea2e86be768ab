"""The checked plan of one aggregate-mode query: what the planner accepted, ready to rewrite.

Owns the value types :class:`GroupKey`, :class:`AggregateSpec`, :class:`OutputColumn` and
:class:`CheckedPlan`. Expressions are sqlglot trees whose columns are qualified with their
relation aliases; they are never shared with the caller (the plan keeps its own copies). This
module must not check or run anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import sqlglot.expressions as exp

AggregateKind = Literal["count_rows", "count_value", "count_entities", "sum", "mean"]

#: The disclosure statistic of each aggregate kind (see ``countyos.lab.disclosure.rules``).
STATISTIC_OF_KIND: dict[str, str] = {
    "count_rows": "count",
    "count_value": "count",
    "count_entities": "count",
    "sum": "sum",
    "mean": "mean",
}


@dataclass(frozen=True)
class GroupKey:
    """One GROUP BY key (a cell dimension).

    Attributes:
        position: index of the key in the cell key tuple.
        expression: the row-level expression, columns qualified.
        sql: its canonical DuckDB SQL (keys are compared by it).
        name: the output column showing it, or its SQL text when it is not selected.
    """

    position: int
    expression: exp.Expression
    sql: str
    name: str


@dataclass(frozen=True)
class AggregateSpec:
    """One allowed aggregate call.

    Attributes:
        index: position among the plan's aggregates.
        kind: ``count_rows`` (COUNT(*)), ``count_value`` (COUNT(expr)), ``count_entities``
            (COUNT(DISTINCT entity key)), ``sum`` or ``mean``.
        argument: the aggregated row expression (``None`` for COUNT(*) and COUNT(DISTINCT)).
        condition: the FILTER (WHERE …) condition, if any.
    """

    index: int
    kind: AggregateKind
    argument: exp.Expression | None
    condition: exp.Expression | None

    @property
    def statistic(self) -> str:
        """``count``, ``sum`` or ``mean``."""
        return STATISTIC_OF_KIND[self.kind]


@dataclass(frozen=True)
class OutputColumn:
    """One column of the developer's result.

    Attributes:
        name: the column name (alias, column name, or the SQL text of the item).
        kind: ``key`` or ``aggregate``.
        key_position: for ``key``: the key shown.
        aggregate: for ``aggregate``: index into ``CheckedPlan.aggregates``.
        wrapper: for an aggregate inside an expression (``ROUND(AVG(x), 2)``): the expression
            with the aggregate replaced by the placeholder column :data:`VALUE_PLACEHOLDER`.
    """

    name: str
    kind: Literal["key", "aggregate"]
    key_position: int | None = None
    aggregate: int | None = None
    wrapper: exp.Expression | None = None


#: Column standing for the checked aggregate inside an output expression.
VALUE_PLACEHOLDER = "__countyos_value"


@dataclass(frozen=True)
class CheckedPlan:
    """An aggregate-mode query that passed the planner.

    Attributes:
        sql: the developer's query as canonical DuckDB SQL.
        tables: the granted datasets it reads.
        views: the developer's WITH views, rewritten (name, SELECT with the hidden unit column).
        rows: a SELECT over the developer's FROM / joins / WHERE (no select list yet).
        entity: the column carrying the unit of each row of ``rows``.
        keys: the GROUP BY keys (empty for a query without GROUP BY: one cell).
        grouping_sets: the key positions of every grouping set (one set holding all keys
            without ROLLUP / CUBE / GROUPING SETS).
        aggregates: the aggregate calls.
        outputs: the developer's result columns, in SELECT order.
        order: sort of the result: (key position, descending) pairs.
        unique_entities: every table read is claimed to be a register (one row per unit).
        policies: the table policy of every table read (name, policy), for recipes.
        margins_known: treat the total of every line of the table as known (see
            ``countyos.lab.disclosure.OutputTable``).
    """

    sql: str
    tables: frozenset[str]
    views: tuple[tuple[str, exp.Select], ...]
    rows: exp.Select
    entity: exp.Column
    keys: tuple[GroupKey, ...]
    grouping_sets: tuple[tuple[int, ...], ...]
    aggregates: tuple[AggregateSpec, ...]
    outputs: tuple[OutputColumn, ...]
    order: tuple[tuple[int, bool], ...]
    unique_entities: bool
    margins_known: bool = True
    policies: tuple[tuple[str, Any], ...] = ()

    @property
    def has_margins(self) -> bool:
        """Whether the query asks for margins (ROLLUP, CUBE or GROUPING SETS)."""
        return self.grouping_sets != (tuple(range(len(self.keys))),)

    @property
    def width(self) -> int:
        """Positions of a cell key (at least 1: a query without GROUP BY has one TOTAL cell)."""
        return max(1, len(self.keys))

    def aggregate_outputs(self) -> tuple[OutputColumn, ...]:
        """The output columns that show an aggregate, in SELECT order."""
        return tuple(column for column in self.outputs if column.kind == "aggregate")
