"""The allowlist of aggregate mode: which expressions, functions and aggregates a query may use.

Owns three decisions, each an explicit list reviewed by hand (never a list of known tricks):

- the syntax nodes a scalar expression may contain (columns, constants, arithmetic, comparisons,
  boolean logic, ``CASE``, ``CAST``, ``IN (constants)``, ``BETWEEN``, ``LIKE``, ``INTERVAL``);
- the scalar functions usable for binning and filtering (:data:`SCALAR_FUNCTIONS`: rounding,
  ``least``/``greatest``, logarithms, date parts and truncation, simple text functions), none of
  which reads storage, the clock, randomness or hashes values into pseudonyms, and none of which
  raises an error on unusual values (``make_date``, ``lpad`` are left out for that reason);
- the aggregates whose result is never one individual's value: ``COUNT(*)``, ``COUNT(expr)``,
  ``COUNT(DISTINCT entity_key)``, ``SUM(measure)``, ``AVG(measure)`` (``mean`` is ``AVG``).

Errors are an oracle: a query that fails only when some row has a value reveals that value bit by
bit. So ``CAST`` is run as ``TRY_CAST`` (see :func:`make_casts_safe`), ``//`` and ``%`` need a
non-zero constant divisor, and the rewrite wraps every row expression in ``TRY(…)`` when the
engine allows it (``countyos.lab.checked_sql.rewrite``).

Every other node, function or aggregate is refused, with :func:`refuse` naming the rule. Typed
sqlglot nodes are matched by class: sqlglot generates a typed node back to SQL from its class, so
the function that runs is the one the class stands for, whatever alias the user wrote. This
module must not resolve columns or know about tables (that is :mod:`.scope`).
"""

from __future__ import annotations

from typing import NoReturn

import sqlglot.expressions as exp

from countyos.engine import functions as engine_functions
from countyos.engine.sql import probe_function_names
from countyos.errors import QueryRefusedError

#: Scalar functions usable in GROUP BY keys, WHERE, FILTER and aggregate arguments.
SCALAR_FUNCTIONS = frozenset(
    """
    abs ceil ceiling floor round trunc sign least greatest isfinite isnan isinf ln log log10 log2
    sqrt pow power exp coalesce ifnull nullif
    lower upper lcase ucase substr substring left right length trim ltrim rtrim concat
    starts_with ends_with contains replace
    date_trunc datetrunc date_part datepart year month quarter day dayofmonth dayofweek dayofyear
    isodow isoyear week weekofyear yearweek hour minute date_diff datediff date_sub datesub
    last_day strftime time_bucket
    """.split()
)

#: Aggregates allowed in aggregate mode (DuckDB names); anything else is refused.
ALLOWED_AGGREGATES = frozenset({"count", "sum", "avg", "mean"})

# Syntax nodes that carry no data of their own and call nothing.
_SYNTAX_NODES: frozenset[type[exp.Expression]] = frozenset(
    {
        exp.Column, exp.Identifier, exp.Literal, exp.Boolean, exp.Null, exp.Paren, exp.Neg,
        exp.Not, exp.And, exp.Or, exp.Add, exp.Sub, exp.Mul, exp.Div, exp.IntDiv, exp.Mod,
        exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ,
        exp.Is, exp.In, exp.Between, exp.Like, exp.ILike, exp.Case, exp.If, exp.Cast,
        exp.TryCast, exp.DataType, exp.DataTypeParam, exp.Interval, exp.Var, exp.Coalesce,
        exp.Nullif, exp.Extract, exp.DPipe, exp.Concat,
    }
)

# Friendly names of refused nodes that users commonly write.
_NODE_NAMES = {
    "Subquery": "a subquery", "Select": "a subquery", "Exists": "EXISTS (subquery)",
    "Window": "a window function (OVER …)", "Star": "*", "Lambda": "a lambda",
    "Bracket": "indexing with […]", "Dot": "field access with .", "Array": "an array literal",
    "Struct": "a struct literal", "Placeholder": "a query parameter", "Collate": "COLLATE",
}

# Aggregates that return one individual's value or a list of values: named in refusals.
_ROW_VALUE_AGGREGATES = frozenset(
    """
    min max median quantile quantile_cont quantile_disc percentile_cont percentile_disc mode
    first last any_value arbitrary arg_min arg_max argmin argmax min_by max_by list array_agg
    string_agg group_concat listagg histogram first_value last_value nth_value
    """.split()
)


def refuse(rule: str, message: str, **details: object) -> NoReturn:
    """Raise the refusal of a query, naming the aggregate-mode rule it breaks.

    Args:
        rule: a stable rule code (``no_star``, ``aggregation_required``, ...), put in
            ``details["rule"]``.
        message: what is wrong and what to write instead; never quotes data values.
        **details: further JSON-safe details (column or function names).

    Raises:
        QueryRefusedError: always.
    """
    raise QueryRefusedError(
        f"{message} (aggregate-mode rule: {rule})", details={"rule": rule, **details}
    )


def function_name(node: exp.Func) -> str:
    """The lower-case name of a function call as the user would recognise it."""
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return node.sql_name().lower()


def scalar_function_allowed(node: exp.Func) -> bool:
    """Whether a (non-aggregate) function call is on :data:`SCALAR_FUNCTIONS` or is syntax."""
    if type(node) in _SYNTAX_NODES:
        return True
    classes, anonymous = probe_function_names(SCALAR_FUNCTIONS)
    if isinstance(node, exp.Anonymous):
        return isinstance(node.this, str) and node.name.lower() in anonymous
    return type(node) in classes


def is_aggregate(node: exp.Expression) -> bool:
    """Whether a node is an aggregate call (typed, or an anonymous DuckDB aggregate name)."""
    if isinstance(node, exp.AggFunc):
        return True
    if isinstance(node, exp.Anonymous) and isinstance(node.this, str):
        return node.name.lower() in engine_functions.AGGREGATE_FUNCTIONS
    return False


def aggregate_name(node: exp.Expression) -> str:
    """The lower-case name of an aggregate node (``count``, ``sum``, ``avg``, ``min``, ...)."""
    if isinstance(node, exp.Count):
        return "count"
    if isinstance(node, exp.Sum):
        return "sum"
    if isinstance(node, exp.Avg):
        return "avg"
    if isinstance(node, exp.Func):
        return function_name(node)
    return node.key


def refuse_aggregate(node: exp.Expression) -> NoReturn:
    """Refuse an aggregate that is not COUNT, SUM or AVG, explaining why."""
    name = aggregate_name(node)
    if name in _ROW_VALUE_AGGREGATES:
        refuse(
            "aggregate_not_allowed",
            f"aggregate {name}() is not allowed: its result can be one individual's value or a "
            "list of values; only COUNT, SUM and AVG may be used",
            function=name,
        )
    refuse(
        "aggregate_not_allowed",
        f"aggregate {name}() is not allowed: only COUNT(*), COUNT(expr), COUNT(DISTINCT "
        "entity key), SUM(measure) and AVG(measure) may be used",
        function=name,
    )


def check_node(node: exp.Expression) -> None:
    """Refuse a node of a scalar expression that is not on the allowlist.

    Aggregates, windows and columns are the caller's business; this checks everything else.

    Raises:
        QueryRefusedError: a function not on :data:`SCALAR_FUNCTIONS`, a subquery, ``*``, or
            any other syntax outside the allowlist.
    """
    if isinstance(node, exp.Window):
        refuse("window_function", "window functions (… OVER (…)) are not allowed")
    if isinstance(node, (exp.Subquery, exp.Select, exp.Exists, exp.SetOperation)):
        refuse(
            "subquery",
            "subqueries are not allowed inside expressions: aggregate-mode queries read granted "
            "tables and row views in FROM / WITH only",
        )
    if isinstance(node, exp.In) and (node.args.get("query") or node.args.get("unnest")):
        refuse("subquery", "IN (subquery) is not allowed: list the values, IN ('a', 'b')")
    if isinstance(node, exp.Star):
        refuse("no_star", "* is not allowed: name the columns")
    if isinstance(node, exp.Func) and not isinstance(node, (exp.AggFunc, exp.Anonymous)):
        if scalar_function_allowed(node):
            return
        refuse(
            "function_not_allowed",
            f"function {function_name(node)}() is not allowed in aggregate mode",
            function=function_name(node),
        )
    if isinstance(node, exp.Anonymous):
        if scalar_function_allowed(node):
            return
        refuse(
            "function_not_allowed",
            f"function {function_name(node)}() is not allowed in aggregate mode",
            function=function_name(node),
        )
    if isinstance(node, (exp.IntDiv, exp.Mod)) and not _nonzero_constant(node.expression):
        refuse(
            "syntax_not_allowed",
            "// and % need a non-zero constant divisor (a division by zero in some row would "
            "fail the query and reveal that row)",
        )
    if isinstance(node, exp.Interval) and not isinstance(node.this, exp.Literal):
        refuse(
            "syntax_not_allowed",
            "INTERVAL needs a constant amount (an interval built from a column can overflow "
            "and fail the query on some rows)",
        )
    if type(node) in _SYNTAX_NODES:
        return
    name = _NODE_NAMES.get(type(node).__name__, type(node).__name__.upper())
    refuse("syntax_not_allowed", f"{name} is not allowed in aggregate mode", syntax=name)


def _nonzero_constant(node: exp.Expression) -> bool:
    while isinstance(node, (exp.Paren, exp.Neg)):
        node = node.this
    if not isinstance(node, exp.Literal) or node.is_string:
        return False
    try:
        return float(node.this) != 0
    except ValueError:
        return False


def make_casts_safe(expression: exp.Expression) -> exp.Expression:
    """Turn every ``CAST`` below the root of ``expression`` into ``TRY_CAST``, in place.

    A value that does not convert becomes NULL instead of failing the whole query.

    Returns:
        The same expression.
    """
    for node in list(expression.walk()):
        if type(node) is exp.Cast and node is not expression:
            node.replace(exp.TryCast(this=node.this, to=node.args.get("to")))
    return expression


def prepare() -> None:
    """Map the function allowlist onto sqlglot's classes now (a few hundred probe parses)."""
    probe_function_names(SCALAR_FUNCTIONS)
