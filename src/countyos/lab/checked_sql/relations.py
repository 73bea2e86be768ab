"""FROM clauses of aggregate-mode SQL: granted tables, row views and entity-key joins.

Owns building the :class:`~countyos.lab.checked_sql.scope.Scope` of a SELECT. A FROM clause may
name granted datasets (each with a :class:`~countyos.lab.checked_sql.policy.TablePolicy`) and
*row views*: CTEs or aliased subqueries that only select, join and filter rows (no aggregation,
DISTINCT, LIMIT, ORDER BY, window or set operation). Joins are INNER or LEFT joins whose
condition is one equality of the entity keys of both sides (``ON a.person_id = b.person_id`` or
``USING``), with equal key domains, so every joined row still belongs to exactly one protected
unit. Row views get a hidden column carrying the unit (:data:`HIDDEN_ENTITY`).

This module must not decide what the main query may select (that is :mod:`.planner`) and must
not generate the rewritten query (:mod:`.rewrite`).
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlglot.expressions as exp

from countyos.lab.checked_sql.allowlist import refuse
from countyos.lab.checked_sql.policy import TablePolicy
from countyos.lab.checked_sql.scope import (
    KIND_ENTITY,
    ColumnInfo,
    Relation,
    Scope,
    base_relation,
    check_column_use,
    derived_kind,
    scalar_columns,
)

#: Name of the column the rewrite adds to every row view to carry the protected unit.
HIDDEN_ENTITY = "__countyos_entity"

# Clauses a row view may carry (sqlglot argument names); anything else is refused.
_ROW_VIEW_ARGS = frozenset({"expressions", "from_", "from", "joins", "where"})


def analyze_from(
    select: exp.Select, views: Mapping[str, Relation], policies: Mapping[str, TablePolicy]
) -> Scope:
    """Resolve the FROM clause and joins of one SELECT (row views rewritten in place).

    Raises:
        QueryRefusedError: anything but granted datasets, row views and entity-key joins.
    """
    from_clause = select.args.get("from_") or select.args.get("from")
    if from_clause is None:
        refuse("aggregation_required", "the query reads no dataset: add FROM <dataset>")
    scope = Scope()
    _add_relation(scope, from_clause.this, views, policies)
    for join in select.args.get("joins") or []:
        _add_join(scope, join, views, policies)
    return scope


def _add_relation(
    scope: Scope,
    item: exp.Expression,
    views: Mapping[str, Relation],
    policies: Mapping[str, TablePolicy],
) -> Relation:
    if isinstance(item, exp.Table):
        relation = _table_relation(item, views, policies)
    elif isinstance(item, exp.Subquery):
        alias = item.alias
        if not alias:
            refuse("subquery", "a subquery in FROM needs an alias: (SELECT …) AS v")
        _refuse_extra_args(item, {"this", "alias"}, "a subquery in FROM")
        _refuse_column_aliases(item)
        relation = analyze_row_view(item.this, alias.lower(), views, policies)
    else:
        refuse(
            "syntax_not_allowed",
            "only granted datasets, WITH views and aliased subqueries may appear in FROM",
        )
    if relation.alias in scope.relations:
        refuse("syntax_not_allowed", f"the alias {relation.alias!r} is used twice in FROM")
    scope.relations[relation.alias] = relation
    return relation


def _table_relation(
    table: exp.Table, views: Mapping[str, Relation], policies: Mapping[str, TablePolicy]
) -> Relation:
    if not isinstance(table.this, exp.Identifier) or table.args.get("db") or table.args.get(
        "catalog"
    ):
        refuse("syntax_not_allowed", "only dataset names may appear in FROM")
    _refuse_extra_args(table, {"this", "alias"}, f"table {table.name}")
    _refuse_column_aliases(table)
    name = table.name.lower()
    alias = (table.alias or table.name).lower()
    view = views.get(name)
    if view is not None:
        columns = {
            key: ColumnInfo(alias, info.name, info.kind, info.origin)
            for key, info in view.columns.items()
        }
        return Relation(alias, columns, view.entity_column, view.domain, view.unique)
    policy = policies.get(name)
    if policy is None:
        refuse(
            "table_not_granted",
            f"dataset {name!r} has no aggregate-mode grant (no disclosure policy)",
            dataset=name,
        )
    return base_relation(alias, name, policy)


def _refuse_extra_args(node: exp.Expression, allowed: set[str], what: str) -> None:
    for key, value in node.args.items():
        if key in allowed or key.startswith("_") or value in (None, False, [], ""):
            continue
        refuse(
            "syntax_not_allowed", f"{what} uses {key.upper()}, which aggregate mode does not allow"
        )


def _refuse_column_aliases(node: exp.Expression) -> None:
    alias = node.args.get("alias")
    if isinstance(alias, exp.TableAlias) and alias.args.get("columns"):
        refuse("syntax_not_allowed", "column aliases in FROM (AS t(a, b)) are not supported")


def _add_join(
    scope: Scope,
    join: exp.Join,
    views: Mapping[str, Relation],
    policies: Mapping[str, TablePolicy],
) -> None:
    side = (join.args.get("side") or "").upper()
    kind = (join.args.get("kind") or "").upper()
    method = (join.args.get("method") or "").upper()
    if method or kind not in ("", "INNER", "OUTER") or side not in ("", "LEFT") or (
        kind == "OUTER" and side != "LEFT"
    ):
        name = " ".join(part for part in (method, side, kind) if part) or "this"
        refuse(
            "join",
            f"{name} JOIN is not allowed: only INNER and LEFT joins on the entity keys",
        )
    _refuse_extra_args(join, {"this", "on", "using", "side", "kind"}, "a join")
    on, using = join.args.get("on"), join.args.get("using")
    if on is None and not using:
        refuse("join", "a join needs ON a.key = b.key over the entity keys (no cross joins)")
    earlier = list(scope.relations.values())
    relation = _add_relation(scope, join.this, views, policies)
    if using:
        if len(using) != 1:
            refuse("join", "JOIN … USING may name only the entity key")
        name = using[0].name.lower()
        partner = next((r for r in earlier if r.columns.get(name) is not None), None)
        if partner is None or relation.columns.get(name) is None:
            refuse("join", f"JOIN … USING ({using[0].name}) names a column one side lacks")
        left, right = partner.columns[name], relation.columns[name]
    elif on is not None:
        condition = on.unnest()
        if not isinstance(condition, exp.EQ) or not all(
            isinstance(side_, exp.Column) for side_ in (condition.this, condition.expression)
        ):
            refuse(
                "join",
                "a join condition must be one equality of entity keys, ON a.key = b.key; put "
                "other conditions in WHERE",
            )
        left = scope.resolve(condition.this)
        right = scope.resolve(condition.expression)
        if relation.alias not in (left.relation, right.relation) or left.relation == right.relation:
            refuse("join", "a join condition must compare the joined table with an earlier one")
        left, right = (right, left) if left.relation == relation.alias else (left, right)
        partner = scope.relations[left.relation]
    else:
        refuse("join", "a join needs ON a.key = b.key over the entity keys (no cross joins)")
    if left.kind != KIND_ENTITY or right.kind != KIND_ENTITY:
        refuse(
            "join",
            f"joins must be on the entity keys of both tables ({left.origin} = {right.origin} "
            "is not): contributions per person or firm must stay well defined",
        )
    if partner.domain != relation.domain:
        refuse(
            "join",
            f"{left.origin} and {right.origin} name different kinds of units "
            f"({partner.domain} and {relation.domain}) and cannot be joined",
        )


def analyze_row_view(
    select: exp.Expression,
    alias: str,
    views: Mapping[str, Relation],
    policies: Mapping[str, TablePolicy],
) -> Relation:
    """Check a CTE or subquery body as a row view and add the hidden entity column.

    Raises:
        QueryRefusedError: the body is not a plain row-level SELECT of allowed expressions.
    """
    if not isinstance(select, exp.Select):
        refuse(
            "set_operation" if isinstance(select, exp.SetOperation) else "subquery",
            f"view {alias!r} must be one SELECT … FROM … WHERE … without UNION, VALUES or "
            "nesting",
        )
    for key, value in select.args.items():
        if key in _ROW_VIEW_ARGS or key.startswith("_") or value in (None, False, [], ""):
            continue
        refuse(
            "row_view",
            f"view {alias!r} uses {key.upper()}: views may only select, join and filter rows "
            "(no GROUP BY, DISTINCT, ORDER BY, LIMIT, windows); aggregate in the main query",
            clause=key,
        )
    scope = analyze_from(select, views, policies)
    where = select.args.get("where")
    if where is not None:
        scalar_columns(where.this, scope, context="WHERE")
    columns: dict[str, ColumnInfo] = {}
    for item in select.expressions:
        if isinstance(item, exp.Star) or (isinstance(item, exp.Column) and item.is_star):
            refuse("no_star", f"SELECT * is not allowed in view {alias!r}: name the columns")
        name = item.alias_or_name.lower()
        if not name or (not isinstance(item, exp.Alias) and not isinstance(item, exp.Column)):
            refuse("output_column", f"give every computed column of view {alias!r} an alias")
        if name in columns:
            refuse("output_column", f"view {alias!r} has two columns named {name!r}")
        body = item.this if isinstance(item, exp.Alias) else item
        if isinstance(body, exp.Column):
            info = scope.resolve(body)
            check_column_use(info, f"view {alias!r}", entity_allowed=True)
            kind = info.kind
        else:
            kind = derived_kind(scalar_columns(body, scope, context=f"view {alias!r}"))
        columns[name] = ColumnInfo(alias, name, kind, f"{alias}.{name}")
    select.append("expressions", exp.alias_(scope.entity_expression(), HIDDEN_ENTITY, quoted=True))
    columns[HIDDEN_ENTITY] = ColumnInfo(alias, HIDDEN_ENTITY, KIND_ENTITY, f"{alias}.<unit>")
    return Relation(alias, columns, HIDDEN_ENTITY, scope.domain, scope.unique)
