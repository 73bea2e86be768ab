"""Which aggregates and GROUP BY keys the DP engine answers, read from the sqlglot tree.

Owns recognising COUNT(*), COUNT(column), COUNT(DISTINCT entity key), SUM, AVG, MEDIAN and the
quantile spellings (QUANTILE_CONT, QUANTILE_DISC, QUANTILE, PERCENTILE_CONT … WITHIN GROUP),
refusing every other aggregate with the reason and the alternative, and deriving each GROUP BY
key's public domain: a column's declared values, or the bins of a histogram key
``floor(x / w) * w`` (also ``floor(x / w)``, ``x // w``) over the column's bounds, computed on
the clipped value so the bins stay within the domain. Must not run SQL.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import sqlglot.expressions as exp

from countyos.engine.functions import AGGREGATE_FUNCTIONS
from countyos.errors import QueryRefusedError, TooLargeError
from countyos.lab.dp.metadata import ColumnKind, TableMetadata
from countyos.lab.dp.plan import Aggregate, AggregateKind, GroupKey, ValueColumn

DIALECT = "duckdb"

#: Most bins one histogram key may have.
MAX_BINS = 10_000

#: Values of a float column are summed on a grid of about this many steps over its bounds.
FLOAT_GRID_STEPS = 2**20

#: Resolves a qualified column to its table's metadata and its SQL reference.
Resolver = Callable[[exp.Column], tuple[TableMetadata, str]]

SUPPORTED = (
    "supported: COUNT(*), COUNT(column), COUNT(DISTINCT <entity key>), SUM, AVG, MEDIAN, "
    "QUANTILE_CONT / QUANTILE_DISC / PERCENTILE_CONT … WITHIN GROUP, with GROUP BY (also "
    "floor(x / w) * w bins for histograms)"
)

_EXTREMES = (exp.Max, exp.Min, exp.ArgMax, exp.ArgMin)
_EXTREME_NAMES = {"max_by", "min_by", "arg_max", "arg_min", "argmax", "argmin", "first", "last",
                  "any_value", "arbitrary", "arg_max_null", "arg_min_null"}
_ROW_RELEASING = {"list", "array_agg", "string_agg", "group_concat", "listagg", "histogram",
                  "histogram_exact", "json_group_array", "json_group_object", "mode"}
_AVG_NAMES = {"mean", "favg"}
_SUM_NAMES = {"fsum", "kahan_sum", "sumkahan"}
_COUNT_NAMES = {"count_star"}


def is_aggregate(node: exp.Expression) -> bool:
    """Whether the node is an aggregate call (typed, anonymous, WITHIN GROUP or FILTER)."""
    if isinstance(node, (exp.AggFunc, exp.WithinGroup, exp.Filter)):
        return True
    return isinstance(node, exp.Anonymous) and str(node.name).lower() in AGGREGATE_FUNCTIONS


def _function_name(node: exp.Expression) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).upper()
    if isinstance(node, exp.Func):
        return node.sql_name().upper()
    return type(node).__name__.upper()


def aggregate(name: str, node: exp.Expression, resolve: Resolver) -> Aggregate:
    """The DP aggregate of one SELECT item.

    Raises:
        QueryRefusedError: an aggregate that is not supported, with the reason.
    """
    if isinstance(node, exp.Filter):
        raise QueryRefusedError(
            "FILTER (WHERE …) on an aggregate is not supported under DP; move the condition to "
            "WHERE or group by it"
        )
    if isinstance(node, exp.WithinGroup):
        return _within_group(name, node, resolve)
    label = _function_name(node)
    lowered = label.lower()
    if isinstance(node, _EXTREMES) or lowered in _EXTREME_NAMES:
        raise QueryRefusedError(
            f"{label} is not supported under DP (it reveals a single row's value); use a "
            "quantile, e.g. quantile_cont(x, 0.99) instead of MAX"
        )
    if lowered in _ROW_RELEASING:
        raise QueryRefusedError(f"{label} releases row values and is not supported under DP")
    if isinstance(node, exp.Count) or lowered in _COUNT_NAMES:
        return _count(name, node, resolve)
    if isinstance(node, exp.Sum) or lowered in _SUM_NAMES:
        return Aggregate(name, AggregateKind.SUM, value=_value(node, label, resolve))
    if isinstance(node, exp.Avg) or lowered in _AVG_NAMES:
        return Aggregate(name, AggregateKind.AVG, value=_value(node, label, resolve))
    if isinstance(node, exp.Median):
        return Aggregate(name, AggregateKind.QUANTILE, value=_value(node, label, resolve),
                         quantile=0.5)
    if isinstance(node, (exp.PercentileCont, exp.PercentileDisc, exp.Quantile,
                         exp.ApproxQuantile)) or lowered == "RESERVOIR_QUANTILE".lower():
        fraction = node.args.get("expression") or node.args.get("quantile")
        if fraction is None and isinstance(node, exp.Anonymous) and len(node.expressions) == 2:
            fraction = node.expressions[1]
        return Aggregate(name, AggregateKind.QUANTILE, value=_value(node, label, resolve),
                         quantile=_fraction(fraction, label))
    raise QueryRefusedError(f"{label} is not supported under DP; {SUPPORTED}")


def _count(name: str, node: exp.Expression, resolve: Resolver) -> Aggregate:
    argument = node.this if isinstance(node, exp.Count) else None
    if isinstance(node, exp.Anonymous) and node.expressions:
        raise QueryRefusedError("COUNT_STAR takes no argument")
    if argument is None or isinstance(argument, exp.Star):
        return Aggregate(name, AggregateKind.COUNT)
    if isinstance(argument, exp.Distinct):
        columns = argument.expressions
        if len(columns) == 1 and isinstance(columns[0], exp.Column):
            meta, _ = resolve(columns[0])
            if columns[0].name.lower() == meta.entity_key.lower():
                return Aggregate(name, AggregateKind.COUNT_ENTITIES)
        raise QueryRefusedError(
            "COUNT(DISTINCT …) is supported under DP only on the entity key (it counts people "
            "or enterprises); for other columns use GROUP BY"
        )
    if isinstance(argument, exp.Column):
        _, sql = resolve(argument)
        return Aggregate(name, AggregateKind.COUNT, counted_sql=sql)
    raise QueryRefusedError(
        "COUNT over an expression is not supported under DP; count a column or use WHERE"
    )


def _within_group(name: str, node: exp.WithinGroup, resolve: Resolver) -> Aggregate:
    inner, order = node.this, node.expression
    if not isinstance(inner, (exp.PercentileCont, exp.PercentileDisc)):
        raise QueryRefusedError(f"{_function_name(inner)} … WITHIN GROUP is not supported under DP")
    if not isinstance(order, exp.Order) or len(order.expressions) != 1:
        raise QueryRefusedError("WITHIN GROUP needs ORDER BY one column")
    ordered = order.expressions[0]
    fraction = _fraction(inner.this, "PERCENTILE_CONT")
    if ordered.args.get("desc"):
        fraction = 1.0 - fraction
    value = _value_column(ordered.this, "PERCENTILE_CONT", resolve)
    return Aggregate(name, AggregateKind.QUANTILE, value=value, quantile=fraction)


def _fraction(node: exp.Expression | None, label: str) -> float:
    if isinstance(node, exp.Array):
        raise QueryRefusedError(f"{label} with a list of quantiles: ask one quantile per column")
    if not isinstance(node, exp.Literal) or node.is_string:
        raise QueryRefusedError(f"{label} needs a quantile written as a number in [0, 1]")
    fraction = float(node.this)
    if not 0.0 <= fraction <= 1.0:
        raise QueryRefusedError(f"{label}: the quantile must be in [0, 1]")
    return fraction


def _value(node: exp.Expression, label: str, resolve: Resolver) -> ValueColumn:
    argument = node.this if not isinstance(node, exp.Anonymous) else (
        node.expressions[0] if node.expressions else None
    )
    if isinstance(argument, exp.Distinct):
        raise QueryRefusedError(f"{label}(DISTINCT …) is not supported under DP")
    return _value_column(argument, label, resolve)


def _value_column(argument: exp.Expression | None, label: str, resolve: Resolver) -> ValueColumn:
    if not isinstance(argument, exp.Column):
        raise QueryRefusedError(
            f"{label} over an expression is not supported under DP; aggregate a column with "
            "declared bounds"
        )
    meta, sql = resolve(argument)
    column = meta.column(argument.name)
    where = f"{meta.name}.{argument.name}"
    if argument.name.lower() not in meta.columns:
        raise QueryRefusedError(
            f"{label}({argument.name}) needs declared bounds for column {where}; none are "
            "declared: ask the dataset's steward to declare them"
        )
    if column.kind is ColumnKind.CATEGORICAL:
        raise QueryRefusedError(
            f"{label} needs a numeric column; {where} is categorical (count it with GROUP BY)"
        )
    if not column.bounded:
        raise QueryRefusedError(
            f"{label}({argument.name}) needs declared bounds for column {where}; none are "
            "declared: ask the dataset's steward to declare them"
        )
    lower, upper = float(column.lower), float(column.upper)  # type: ignore[arg-type]
    if column.kind is ColumnKind.INTEGER:
        resolution = 1.0
    elif column.resolution is not None:
        resolution = float(column.resolution)
    else:
        resolution = 2.0 ** math.floor(math.log2((upper - lower) / FLOAT_GRID_STEPS))
    return ValueColumn(
        label=where, sql=sql, kind=column.kind, lower=lower, upper=upper,
        resolution=resolution,
        candidates=tuple(float(c) for c in column.quantile_candidates)
        if column.quantile_candidates else None,
    )


def clipped_sql(value: ValueColumn) -> str:
    """The column clipped to its bounds, as DOUBLE (NULL stays NULL).

    DuckDB's ``least`` and ``greatest`` skip NULL arguments, so NULL is kept explicitly;
    NaN is mapped to NULL (it has no place between the bounds).
    """
    number = f"CAST({value.sql} AS DOUBLE)"
    return (
        f"CASE WHEN {number} IS NULL OR isnan({number}) THEN NULL ELSE "
        f"greatest(least({number}, {double_literal(value.upper)}), "
        f"{double_literal(value.lower)}) END"
    )


def double_literal(number: float) -> str:
    """A DuckDB DOUBLE literal that reads back as exactly ``number``."""
    return f"CAST('{float(number)!r}' AS DOUBLE)"


def group_key(text: str, node: exp.Expression, resolve: Resolver) -> GroupKey:
    """The GROUP BY key of one expression, with its public domain if one is known."""
    if isinstance(node, exp.Column):
        meta, sql = resolve(node)
        column = meta.column(node.name)
        if column.public_domain is not None:
            return GroupKey(text, sql, column.public_domain, "declared")
        return GroupKey(text, sql, None, "DP key selection")
    binned = _histogram_key(text, node, resolve)
    if binned is not None:
        return binned
    return GroupKey(text, node.sql(DIALECT), None, "DP key selection")


def _histogram_key(text: str, node: exp.Expression, resolve: Resolver) -> GroupKey | None:
    multiplier: float | None = None
    inner = node
    if isinstance(node, exp.Mul) and isinstance(node.expression, exp.Literal):
        multiplier, inner = _number(node.expression), node.this
    while isinstance(inner, exp.Paren):
        inner = inner.this
    if isinstance(inner, exp.Floor) and isinstance(inner.this, exp.Div):
        division = inner.this
    elif isinstance(inner, exp.IntDiv):
        division = inner
    else:
        return None
    column, width_node = division.this, division.expression
    if not isinstance(column, exp.Column) or not isinstance(width_node, exp.Literal):
        return None
    width = _number(width_node)
    if width is None or width <= 0 or (multiplier is not None and multiplier != width):
        return None
    meta, _ = resolve(column)
    metadata = meta.column(column.name)
    if metadata.kind is ColumnKind.CATEGORICAL or not metadata.bounded:
        return None
    value = _value_column(column, "a histogram key", resolve)
    first = math.floor(value.lower / width)
    last = math.floor(value.upper / width)
    if last - first + 1 > MAX_BINS:
        raise TooLargeError(
            f"the histogram key {text} has {last - first + 1} bins, more than {MAX_BINS}"
        )
    scale = width if multiplier is not None else 1
    integral = float(scale).is_integer()
    domain = tuple(int(i * scale) if integral else i * scale for i in range(first, last + 1))
    sql = f"floor({clipped_sql(value)} / {double_literal(width)})"
    if multiplier is not None:
        sql = f"({sql} * {double_literal(width)})"
    return GroupKey(text, sql, domain, f"bins of width {width:g} over the bounds of {value.label}")


def _number(node: exp.Expression) -> float | None:
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            number = float(node.this)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None
