"""The clauses of the main query: GROUP BY keys, the SELECT list and ORDER BY.

Owns turning the main SELECT of an accepted query into plan parts: the group keys (by expression,
SELECT alias, ordinal, GROUP BY ALL, ROLLUP, CUBE, GROUPING SETS) and grouping sets, one
:class:`~countyos.lab.checked_sql.plan.AggregateSpec` per aggregate output column (COUNT, SUM or
AVG, optionally with FILTER and inside an expression of constants), the output columns and the
sort over keys. Refuses anything else in those clauses. Must not look at FROM (that is
:mod:`.relations`) or generate SQL.
"""

from __future__ import annotations

import itertools

import sqlglot.expressions as exp

from countyos.lab.checked_sql.allowlist import (
    check_node,
    is_aggregate,
    refuse,
    refuse_aggregate,
)
from countyos.lab.checked_sql.plan import (
    VALUE_PLACEHOLDER,
    AggregateSpec,
    GroupKey,
    OutputColumn,
)
from countyos.lab.checked_sql.scope import KIND_ENTITY, KIND_MEASURE, Scope, scalar_columns

#: Most grouping sets one query may ask for (CUBE over 6 keys).
MAX_GROUPING_SETS = 64


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


def plan_group_keys(
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
        aliased = [
            item for item in items if isinstance(item, exp.Alias) and item.alias.lower() == alias
        ]
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


def plan_outputs(
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


def plan_order(
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
