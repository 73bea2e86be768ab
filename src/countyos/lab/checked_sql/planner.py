"""The aggregate-mode planner: accept a developer's GROUP BY query or refuse it, saying why.

Owns the allowlist of query shapes (documented in the package docstring). Starting from the
engine's read-only guard (``countyos.engine.parse_read_only``), it accepts exactly one SELECT
whose FROM reads granted datasets and row views (:mod:`.scope`), whose WHERE and GROUP BY use
allowed row expressions of non-identifying columns, and whose SELECT list holds only group keys and
one allowed aggregate per column (optionally inside an expression of
constants, e.g. ``ROUND(AVG(x), 2)``). ORDER BY may name group keys. Everything else (``*``,
HAVING, DISTINCT, LIMIT / OFFSET, windows, set operations, subqueries outside FROM / WITH) is
refused with a :class:`~countyos.errors.QueryRefusedError` naming the rule.

This module must not generate the rewritten SQL (:mod:`.rewrite`) or run anything.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import sqlglot.expressions as exp

from countyos.engine import parse_read_only
from countyos.errors import InvalidInputError
from countyos.lab.checked_sql.allowlist import (
    check_node,
    is_aggregate,
    prepare,
    refuse,
    refuse_aggregate,
)
from countyos.lab.checked_sql.plan import (
    VALUE_PLACEHOLDER,
    AggregateSpec,
    CheckedPlan,
    GroupKey,
    OutputColumn,
)
from countyos.lab.checked_sql.policy import TablePolicy
from countyos.lab.checked_sql.scope import (
    KIND_ENTITY,
    KIND_MEASURE,
    RESERVED_PREFIX,
    Relation,
    Scope,
    analyze_from,
    analyze_row_view,
    scalar_columns,
)

#: Most grouping sets one query may ask for (CUBE over 6 keys).
MAX_GROUPING_SETS = 64

# Clauses of the main SELECT that aggregate mode allows (sqlglot argument names).
_MAIN_ARGS = frozenset({"expressions", "from_", "from", "joins", "where", "group", "order", "with_"})

_CLAUSE_RULES = {
    "distinct": ("distinct", "SELECT DISTINCT is not allowed: GROUP BY already gives one row per cell"),
    "having": (
        "having",
        "HAVING is not allowed: it filters cells by values that have not been checked yet, so "
        "which cells are missing would reveal them; filter the released result instead",
    ),
    "limit": ("limit", "LIMIT is not allowed: every cell is checked and returned together"),
    "offset": ("limit", "OFFSET is not allowed: every cell is checked and returned together"),
    "qualify": ("window_function", "QUALIFY (window filtering) is not allowed"),
    "windows": ("window_function", "WINDOW clauses are not allowed"),
    "sample": ("syntax_not_allowed", "sampling (USING SAMPLE / TABLESAMPLE) is not allowed"),
}


def plan_checked_query(
    sql: str, *, policies: Mapping[str, TablePolicy], margins_known: bool = True
) -> CheckedPlan:
    """Check a developer's aggregate query and plan its checked run.

    Args:
        sql: the query (DuckDB dialect), e.g. ``SELECT township, COUNT(*) FROM persons GROUP
            BY township``.
        policies: the disclosure policy of every dataset granted in aggregate mode, by name.
        margins_known: treat totals of every line of the output as known to the developer
            (they may come from another query); complementary suppression then protects
            suppressed cells against subtraction from those totals. Keep it on unless the
            steward knows better.

    Returns:
        The plan, to be run by ``run_checked_query``.

    Raises:
        QueryRefusedError: the query is not one read-only SELECT, or breaks an aggregate-mode
            rule; ``details["rule"]`` names the rule.
        InvalidInputError: a policy is not a ``TablePolicy``.
    """
    grants = _normalise_policies(policies)
    prepare()
    parsed = parse_read_only(sql)
    root = parsed.expression.copy()
    _refuse_reserved_names(root)
    if isinstance(root, exp.SetOperation):
        refuse(
            "set_operation",
            "UNION / INTERSECT / EXCEPT are not allowed: run each aggregate query on its own",
        )
    if not isinstance(root, exp.Select):
        refuse("aggregation_required", "only a SELECT … GROUP BY query can run in aggregate mode")
    if any(isinstance(node, exp.Window) for node in root.walk()):
        refuse("window_function", "window functions (… OVER (…)) are not allowed")
    items = list(root.expressions)
    for item in items:
        if isinstance(item, exp.Star) or (isinstance(item, exp.Column) and item.is_star):
            refuse(
                "no_star",
                "SELECT * is not allowed in aggregate mode: row-level output never leaves; "
                "select group keys and COUNT / SUM / AVG",
            )
    if not any(is_aggregate(node) for item in items for node in item.walk()):
        refuse(
            "aggregation_required",
            "the query has no aggregate: row-level output from real data is never released; "
            "use GROUP BY with COUNT(*), SUM(measure) or AVG(measure)",
        )
    _refuse_clauses(root)
    views, view_bodies = _analyze_views(root, grants)
    scope = analyze_from(root, views, grants)
    where = root.args.get("where")
    if where is not None:
        scalar_columns(where.this, scope, context="WHERE")
    keys, grouping_sets = _group_keys(root, items, scope)
    outputs, aggregates = _outputs(items, keys, scope)
    order = _order(root, outputs, keys, scope)
    rows = root.copy()
    for clause in ("with_", "group", "order"):
        rows.set(clause, None)
    rows.set("expressions", [])
    return CheckedPlan(
        sql=parsed.sql,
        tables=parsed.tables,
        views=tuple(view_bodies),
        rows=rows,
        entity=scope.entity_expression(),
        keys=tuple(keys),
        grouping_sets=grouping_sets,
        aggregates=tuple(aggregates),
        outputs=tuple(outputs),
        order=order,
        unique_entities=scope.unique,
        margins_known=bool(margins_known),
    )


def _normalise_policies(policies: Mapping[str, TablePolicy]) -> dict[str, TablePolicy]:
    if not isinstance(policies, Mapping):
        raise InvalidInputError("policies must map dataset names to TablePolicy objects")
    grants: dict[str, TablePolicy] = {}
    for name, policy in policies.items():
        if not isinstance(policy, TablePolicy):
            raise InvalidInputError(f"the policy of dataset {name!r} is not a TablePolicy")
        grants[str(name).lower()] = policy
    return grants


def _refuse_reserved_names(root: exp.Expression) -> None:
    for node in root.find_all(exp.Identifier):
        if str(node.this).lower().startswith(RESERVED_PREFIX):
            refuse("reserved_name", f"names starting with {RESERVED_PREFIX} are reserved")


def _analyze_views(
    root: exp.Select, grants: dict[str, TablePolicy]
) -> tuple[dict[str, Relation], list[tuple[str, exp.Select]]]:
    """Check every WITH view as a row view; returns relations by name and rewritten bodies."""
    views: dict[str, Relation] = {}
    bodies: list[tuple[str, exp.Select]] = []
    with_clause = root.args.get("with_")
    if with_clause is None:
        return views, bodies
    if with_clause.args.get("recursive"):
        refuse("row_view", "WITH RECURSIVE is not allowed")
    for key, value in with_clause.args.items():
        if key not in ("expressions", "recursive") and value not in (None, False, []):
            refuse("row_view", f"WITH … {key.upper()} is not allowed")
    for cte in with_clause.expressions:
        for key, value in cte.args.items():
            if key not in ("this", "alias") and value not in (None, False, []):
                refuse("row_view", f"WITH views cannot use {key.upper()}")
        alias = cte.args.get("alias")
        if isinstance(alias, exp.TableAlias) and alias.args.get("columns"):
            refuse("syntax_not_allowed", "column lists on WITH views (v(a, b)) are not supported")
        name = cte.alias_or_name.lower()
        if name in views:
            refuse("row_view", f"the view name {name!r} is used twice")
        views[name] = analyze_row_view(cte.this, name, views, grants)
        bodies.append((name, cte.this))
    return views, bodies


def _refuse_clauses(root: exp.Select) -> None:
    for key, value in root.args.items():
        if key in _MAIN_ARGS or key.startswith("_") or value in (None, False, [], ""):
            continue
        rule, message = _CLAUSE_RULES.get(
            key, ("syntax_not_allowed", f"{key.upper()} is not allowed in aggregate mode")
        )
        refuse(rule, message, clause=key)


def _item_body(item: exp.Expression) -> exp.Expression:
    return item.this if isinstance(item, exp.Alias) else item


def _item_name(item: exp.Expression) -> str:
    if isinstance(item, exp.Alias):
        return item.alias
    if isinstance(item, exp.Column):
        return item.name
    return item.sql(dialect="duckdb")


def _has_aggregate(expression: exp.Expression) -> bool:
    return any(is_aggregate(node) for node in expression.walk())


def _group_keys(
    root: exp.Select, items: list[exp.Expression], scope: Scope
) -> tuple[list[GroupKey], tuple[tuple[int, ...], ...]]:
    group = root.args.get("group")
    if group is None:
        return [], ((),)
    for key in ("totals", "grouping_sets", "cube", "rollup"):
        if group.args.get(key):
            refuse("syntax_not_allowed", f"GROUP BY … {key.upper()} in this form is not supported")
    keys: list[GroupKey] = []
    if group.args.get("all"):
        for item in items:
            if _has_aggregate(item):
                continue
            _key_position(_item_body(item), keys, scope, items, name=_item_name(item))
        return keys, (tuple(range(len(keys))),)
    options_per_element: list[list[frozenset[int]]] = []
    for element in group.expressions:
        if isinstance(element, exp.Cube):
            positions = [_key_position(e, keys, scope, items) for e in element.expressions]
            options = [
                frozenset(subset)
                for size in range(len(positions), -1, -1)
                for subset in itertools.combinations(positions, size)
            ]
        elif isinstance(element, exp.Rollup):
            positions = [_key_position(e, keys, scope, items) for e in element.expressions]
            options = [frozenset(positions[:size]) for size in range(len(positions), -1, -1)]
        elif isinstance(element, exp.GroupingSets):
            options = []
            for entry in element.expressions:
                entry = entry.unnest() if isinstance(entry, exp.Paren) else entry
                members = entry.expressions if isinstance(entry, exp.Tuple) else [entry]
                options.append(frozenset(_key_position(e, keys, scope, items) for e in members))
        else:
            options = [frozenset({_key_position(element, keys, scope, items)})]
        options_per_element.append(options)
    sets: list[tuple[int, ...]] = []
    for combination in itertools.product(*options_per_element):
        merged = tuple(sorted(frozenset().union(*combination)))
        if merged not in sets:
            sets.append(merged)
        if len(sets) > MAX_GROUPING_SETS:
            refuse("grouping_sets", f"at most {MAX_GROUPING_SETS} grouping sets are allowed")
    return keys, tuple(sets)


def _key_position(
    element: exp.Expression,
    keys: list[GroupKey],
    scope: Scope,
    items: list[exp.Expression],
    *,
    name: str | None = None,
) -> int:
    """Resolve one GROUP BY element to a key, adding it when new; returns its position.

    ``name`` is given for GROUP BY ALL (the element is a SELECT item, taken as written).
    """
    plain = name is not None
    if isinstance(element, (exp.Cube, exp.Rollup, exp.GroupingSets)):
        refuse("syntax_not_allowed", "nested ROLLUP / CUBE / GROUPING SETS are not supported")
    expression = element.copy()
    if not plain and isinstance(element, exp.Literal) and element.is_int:
        number = int(element.name)
        if not 1 <= number <= len(items):
            refuse("output_column", f"GROUP BY {number} does not name a column of the SELECT list")
        expression, name = _item_body(items[number - 1]).copy(), _item_name(items[number - 1])
    elif not plain and isinstance(element, exp.Column) and not element.table:
        alias = element.name.lower()
        known = any(alias in relation.columns for relation in scope.relations.values())
        aliased = [item for item in items if isinstance(item, exp.Alias) and item.alias.lower() == alias]
        if not known and aliased:
            expression, name = _item_body(aliased[0]).copy(), aliased[0].alias
    if _has_aggregate(expression):
        refuse("aggregate_placement", "GROUP BY cannot use an aggregate")
    scalar_columns(expression, scope, context="GROUP BY")
    sql = expression.sql(dialect="duckdb")
    for key in keys:
        if key.sql == sql:
            return key.position
    keys.append(GroupKey(len(keys), expression, sql, name or _display(element, expression)))
    return len(keys) - 1


def _display(element: exp.Expression, expression: exp.Expression) -> str:
    if isinstance(expression, exp.Column):
        return expression.name
    return element.sql(dialect="duckdb")


def _outputs(
    items: list[exp.Expression], keys: list[GroupKey], scope: Scope
) -> tuple[list[OutputColumn], list[AggregateSpec]]:
    outputs: list[OutputColumn] = []
    aggregates: list[AggregateSpec] = []
    names: set[str] = set()
    by_sql = {key.sql: key for key in keys}
    for item in items:
        body, name = _item_body(item), _item_name(item)
        if name.lower() in names:
            refuse("output_column", f"two output columns are named {name!r}: give distinct aliases")
        names.add(name.lower())
        if any(isinstance(node, exp.Window) for node in body.walk()):
            refuse("window_function", "window functions (… OVER (…)) are not allowed")
        found = [node for node in body.walk() if is_aggregate(node)]
        if found:
            spec, wrapper = _aggregate_output(body, found, len(aggregates), scope)
            aggregates.append(spec)
            outputs.append(OutputColumn(name, "aggregate", aggregate=spec.index, wrapper=wrapper))
            continue
        copy = body.copy()
        scalar_columns(copy, scope, context="the SELECT list")
        key = by_sql.get(copy.sql(dialect="duckdb"))
        if key is None:
            refuse(
                "output_column",
                f"output column {name!r} is neither a GROUP BY key nor an aggregate: row values "
                "cannot be selected in aggregate mode",
                column=name,
            )
        outputs.append(OutputColumn(name, "key", key_position=key.position))
    return outputs, aggregates


def _aggregate_output(
    body: exp.Expression, found: list[exp.Expression], index: int, scope: Scope
) -> tuple[AggregateSpec, exp.Expression | None]:
    call = found[0]
    if len(found) > 1:
        inner = found[1]
        if any(node is inner for node in call.walk()):
            refuse("aggregate_placement", "aggregates cannot be nested")
        refuse(
            "output_column",
            "an output column may hold one aggregate only: combine aggregates (ratios, "
            "differences) after release",
        )
    if not isinstance(call, (exp.Count, exp.Sum, exp.Avg)) and not (
        isinstance(call, exp.Anonymous) and call.name.lower() == "mean"
    ):
        refuse_aggregate(call)
    holder = call.parent if isinstance(call.parent, exp.Filter) else call
    condition = None
    if holder is not call:
        condition = holder.expression.this.copy()
        scalar_columns(condition, scope, context="FILTER (WHERE …)")
    spec = _aggregate_spec(call, condition, index, scope)
    if holder is body:
        return spec, None
    wrapper = body.copy()
    placeholder = exp.column(exp.to_identifier(VALUE_PLACEHOLDER, quoted=True))
    target = next(node for node in wrapper.walk() if _same_call(node, holder))
    if target is wrapper:
        return spec, None
    target.replace(placeholder)
    for node in wrapper.walk():
        if node is placeholder or isinstance(node, exp.Identifier) and node.parent is placeholder:
            continue
        if isinstance(node, exp.Column):
            refuse(
                "output_column",
                "outside its aggregate an output expression may use constants only, e.g. "
                "ROUND(AVG(x), 2)",
            )
        check_node(node)
    return spec, wrapper


def _same_call(node: exp.Expression, holder: exp.Expression) -> bool:
    return type(node) is type(holder) and node == holder


def _aggregate_spec(
    call: exp.Expression, condition: exp.Expression | None, index: int, scope: Scope
) -> AggregateSpec:
    if isinstance(call, exp.Count):
        argument = call.this
        if call.expressions:
            refuse("aggregate_not_allowed", "COUNT takes one argument")
        if argument is None:
            refuse("aggregate_not_allowed", "write COUNT(*) to count rows")
        if isinstance(argument, exp.Star):
            return AggregateSpec(index, "count_rows", None, condition)
        if isinstance(argument, exp.Distinct):
            members = argument.expressions
            if len(members) != 1 or not isinstance(members[0], exp.Column):
                refuse("count_distinct", "COUNT(DISTINCT …) is allowed over the entity key only")
            info = scope.resolve(members[0].copy())
            if info.kind != KIND_ENTITY:
                refuse(
                    "count_distinct",
                    f"COUNT(DISTINCT {info.origin}) is not allowed: COUNT(DISTINCT …) is allowed "
                    "over the entity key only",
                )
            return AggregateSpec(index, "count_entities", None, condition)
        argument = argument.copy()
        scalar_columns(argument, scope, context="COUNT()")
        return AggregateSpec(index, "count_value", argument, condition)
    name = "SUM" if isinstance(call, exp.Sum) else "AVG"
    if isinstance(call, exp.Anonymous):
        if len(call.expressions) != 1:
            refuse("aggregate_not_allowed", "mean() takes one argument")
        argument = call.expressions[0]
    else:
        argument = call.this
    if isinstance(argument, exp.Distinct):
        refuse("aggregate_not_allowed", f"{name}(DISTINCT …) is not allowed")
    if isinstance(argument, exp.Order):
        refuse("aggregate_not_allowed", f"ORDER BY inside {name}() is not allowed")
    argument = argument.copy()
    columns = scalar_columns(argument, scope, context=f"{name}()")
    if not any(info.kind == KIND_MEASURE for info in columns):
        refuse(
            "measure_required",
            f"{name}() must aggregate a measure column (or an expression using one); count "
            "rows with COUNT(*) or COUNT(*) FILTER (WHERE …)",
        )
    return AggregateSpec(index, "sum" if name == "SUM" else "mean", argument, condition)


def _order(
    root: exp.Select, outputs: list[OutputColumn], keys: list[GroupKey], scope: Scope
) -> tuple[tuple[int, bool], ...]:
    order = root.args.get("order")
    if order is None:
        return tuple((key.position, False) for key in keys)
    result: list[tuple[int, bool]] = []
    by_name = {column.name.lower(): column for column in outputs}
    by_sql = {key.sql: key for key in keys}
    for ordered in order.expressions:
        target = ordered.this
        column: OutputColumn | None = None
        if isinstance(target, exp.Literal) and target.is_int:
            number = int(target.name)
            if not 1 <= number <= len(outputs):
                refuse("output_column", f"ORDER BY {number} does not name an output column")
            column = outputs[number - 1]
        elif isinstance(target, exp.Column) and not target.table and target.name.lower() in by_name:
            column = by_name[target.name.lower()]
        if column is not None:
            if column.kind != "key":
                refuse(
                    "order_by_aggregate",
                    "ORDER BY may name group keys only: ordering by an aggregate would reveal "
                    "the order of suppressed values",
                )
            position = column.key_position
        else:
            if _has_aggregate(target):
                refuse(
                    "order_by_aggregate",
                    "ORDER BY may name group keys only: ordering by an aggregate would reveal "
                    "the order of suppressed values",
                )
            copy = target.copy()
            scalar_columns(copy, scope, context="ORDER BY")
            key = by_sql.get(copy.sql(dialect="duckdb"))
            if key is None:
                refuse("order_by_aggregate", "ORDER BY may name group keys only")
            position = key.position
        result.append((position, bool(ordered.args.get("desc"))))
    seen = {position for position, _ in result}
    result.extend((key.position, False) for key in keys if key.position not in seen)
    return tuple(result)
