"""Name resolution of aggregate-mode SQL: tables, row views, joins and the role of every column.

Owns the relational model the planner checks against. A FROM clause may name granted datasets
(each with a :class:`~countyos.lab.checked_sql.policy.TablePolicy`) and *row views*: CTEs or
aliased subqueries that only filter and compute columns row by row (no aggregation, DISTINCT,
LIMIT, ORDER BY, window or set operation). Joins are INNER or LEFT joins whose condition is one
equality of the entity keys of both sides (``ON a.person_id = b.person_id`` or ``USING``), with
equal key domains, so every joined row still belongs to exactly one protected unit. Every column
reference is resolved to a :class:`ColumnInfo` and qualified in place with its relation alias;
row views get a hidden column carrying the unit (:data:`HIDDEN_ENTITY`).

This module must not decide which columns a clause may use (that is :mod:`.planner`) and must
not generate the rewritten query (:mod:`.rewrite`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import sqlglot.expressions as exp

from countyos.lab.checked_sql.allowlist import check_node, is_aggregate, refuse
from countyos.lab.checked_sql.policy import (
    ROLE_ENTITY_KEY,
    ROLE_IDENTIFIER,
    ROLE_MEASURE,
    ROLE_QUASI_IDENTIFIER,
    TablePolicy,
)

#: Name of the column the rewrite adds to every row view to carry the protected unit.
HIDDEN_ENTITY = "__countyos_entity"

#: Prefix reserved for names the rewrite adds; user SQL may not use it.
RESERVED_PREFIX = "__countyos"

KIND_IDENTIFIER = "identifier"
KIND_ENTITY = "entity"
KIND_MEASURE = "measure"
KIND_QUASI = "quasi_identifier"
KIND_DIMENSION = "dimension"

# Clauses a row view may carry (sqlglot argument names); anything else is refused.
_ROW_VIEW_ARGS = frozenset({"expressions", "from_", "from", "joins", "where"})


@dataclass(frozen=True)
class ColumnInfo:
    """A resolved column.

    Attributes:
        relation: alias of the relation it comes from (lower case).
        name: column name in that relation (lower case).
        kind: ``identifier``, ``entity``, ``measure``, ``quasi_identifier`` or ``dimension``.
        origin: ``relation.column`` for messages.
    """

    relation: str
    name: str
    kind: str
    origin: str


@dataclass
class Relation:
    """A table or row view visible in a FROM clause."""

    alias: str
    columns: dict[str, ColumnInfo]
    entity_column: str
    domain: str
    unique: bool


@dataclass
class Scope:
    """The relations of one SELECT, in FROM order (the first carries the unit of each row)."""

    relations: dict[str, Relation] = field(default_factory=dict)

    @property
    def unique(self) -> bool:
        """Whether every row of the FROM clause is a different unit (all registers)."""
        return all(relation.unique for relation in self.relations.values())

    @property
    def domain(self) -> str:
        return next(iter(self.relations.values())).domain

    def entity_expression(self) -> exp.Column:
        """The column carrying the unit of each row (the first relation's entity column)."""
        first = next(iter(self.relations.values()))
        return _qualified(first.alias, first.entity_column)

    def resolve(self, column: exp.Column) -> ColumnInfo:
        """Resolve a column reference and qualify it in place with its relation alias.

        Raises:
            QueryRefusedError: unknown or ambiguous column, unknown alias, or a column of a
                granted dataset without a disclosure role.
        """
        if column.args.get("db") or column.args.get("catalog"):
            refuse("syntax_not_allowed", f"column reference {column.sql()} has too many parts")
        if not isinstance(column.this, exp.Identifier):
            refuse("no_star", "* is not allowed: name the columns")
        name = column.name.lower()
        qualifier = column.table.lower() if column.table else None
        if qualifier is not None:
            relation = self.relations.get(qualifier)
            if relation is None:
                refuse("unknown_column", f"{column.table!r} is not a table or alias of this query")
            info = relation.columns.get(name)
            if info is None:
                _refuse_unknown(column.name, relation.alias)
        else:
            found = [r.columns[name] for r in self.relations.values() if name in r.columns]
            if not found:
                _refuse_unknown(column.name, None)
            if len(found) > 1 and not all(info.kind == KIND_ENTITY for info in found):
                refuse(
                    "unknown_column",
                    f"column {column.name!r} is ambiguous: qualify it with its table alias",
                )
            info = found[0]
        column.set("table", exp.to_identifier(info.relation, quoted=True))
        column.set("this", exp.to_identifier(info.name, quoted=True))
        return info


def _refuse_unknown(name: str, relation: str | None) -> None:
    where = f" of {relation!r}" if relation else ""
    refuse(
        "unclassified_column",
        f"column {name!r}{where} is unknown or has no disclosure role in the catalog; only "
        "classified columns can be used in aggregate mode",
        column=name,
    )


def _qualified(relation: str, name: str) -> exp.Column:
    return exp.column(
        exp.to_identifier(name, quoted=True), table=exp.to_identifier(relation, quoted=True)
    )


def base_relation(alias: str, table: str, policy: TablePolicy) -> Relation:
    """The relation of a granted dataset under ``alias``."""
    columns = {}
    key = policy.entity_key.lower()
    for name in policy.columns():
        role = policy.role_of(name)
        if name == key:
            kind = KIND_ENTITY
        elif role in (ROLE_IDENTIFIER, ROLE_ENTITY_KEY):
            kind = KIND_IDENTIFIER
        elif role == ROLE_MEASURE:
            kind = KIND_MEASURE
        elif role == ROLE_QUASI_IDENTIFIER:
            kind = KIND_QUASI
        else:
            kind = KIND_DIMENSION
        columns[name] = ColumnInfo(alias, name, kind, f"{table}.{name}")
    return Relation(alias, columns, key, policy.domain, policy.entity_key_unique)


def scalar_columns(
    expression: exp.Expression, scope: Scope, *, context: str, entity_allowed: bool = False
) -> list[ColumnInfo]:
    """Check a row-level expression and resolve its columns.

    Args:
        expression: the expression (changed in place: columns get qualified).
        scope: the relations it may refer to.
        context: the clause, for messages (``"WHERE"``, ``"GROUP BY"``, ``"SUM()"``, ...).
        entity_allowed: allow the entity key (only as a bare column, checked by the caller).

    Returns:
        The columns it references.

    Raises:
        QueryRefusedError: an identifier or (unless allowed) the entity key, an aggregate, a
            window, a subquery or anything outside the allowlist.
    """
    found: list[ColumnInfo] = []
    for node in list(expression.walk()):
        if isinstance(node, exp.Column):
            info = scope.resolve(node)
            _check_column_use(info, context, entity_allowed)
            found.append(info)
        elif isinstance(node, exp.Identifier):
            continue
        elif is_aggregate(node):
            refuse(
                "aggregate_placement",
                f"an aggregate cannot appear in {context}; aggregates go in the SELECT list only",
            )
        else:
            check_node(node)
    return found


def _check_column_use(info: ColumnInfo, context: str, entity_allowed: bool) -> None:
    if info.kind == KIND_IDENTIFIER:
        rule = "group_by_identifier" if context == "GROUP BY" else "identifier_column"
        refuse(
            rule,
            f"column {info.origin} is a direct identifier and cannot be used in {context} in "
            "aggregate mode: outputs would describe single persons or firms",
            column=info.origin,
        )
    if info.kind == KIND_ENTITY and not entity_allowed:
        if context == "GROUP BY":
            refuse(
                "group_by_entity_key",
                f"GROUP BY on the entity key {info.origin} is refused: it would give one cell "
                "per person or firm",
                column=info.origin,
            )
        refuse(
            "entity_key_use",
            f"the entity key {info.origin} may only appear in JOIN … ON a.key = b.key, in "
            f"COUNT(DISTINCT key) or selected unchanged in a row view, not in {context}",
            column=info.origin,
        )


def derived_kind(columns: list[ColumnInfo]) -> str:
    """The kind of a computed column: measure if it uses a measure, then quasi-identifier."""
    kinds = {info.kind for info in columns}
    if KIND_MEASURE in kinds:
        return KIND_MEASURE
    if KIND_QUASI in kinds:
        return KIND_QUASI
    return KIND_DIMENSION


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
        refuse("syntax_not_allowed", f"{what} uses {key.upper()}, which aggregate mode does not allow")


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
            _check_column_use(info, f"view {alias!r}", entity_allowed=True)
            kind = info.kind
        else:
            kind = derived_kind(scalar_columns(body, scope, context=f"view {alias!r}"))
        columns[name] = ColumnInfo(alias, name, kind, f"{alias}.{name}")
    select.append("expressions", exp.alias_(scope.entity_expression(), HIDDEN_ENTITY, quoted=True))
    columns[HIDDEN_ENTITY] = ColumnInfo(alias, HIDDEN_ENTITY, KIND_ENTITY, f"{alias}.<unit>")
    return Relation(alias, columns, HIDDEN_ENTITY, scope.domain, scope.unique)
