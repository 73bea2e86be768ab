"""Column resolution of aggregate-mode SQL: relations, scopes and the role of every column.

Owns the relational model the planner checks against: :class:`Relation` (a granted table or a
row view under an alias, with the kind of each column: identifier, entity, measure,
quasi-identifier, dimension), :class:`Scope` (the relations of one SELECT) and
:func:`scalar_columns`, which checks a row-level expression against the allowlist and resolves
and qualifies its columns in place. Direct identifiers are refused everywhere; the entity key
wherever the caller does not allow it. Building relations from FROM clauses is
:mod:`.relations`; this module must not parse FROM clauses or generate SQL.
"""

from __future__ import annotations

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

#: Prefix reserved for names the rewrite adds; user SQL may not use it.
RESERVED_PREFIX = "__countyos"

KIND_IDENTIFIER = "identifier"
KIND_ENTITY = "entity"
KIND_MEASURE = "measure"
KIND_QUASI = "quasi_identifier"
KIND_DIMENSION = "dimension"

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
        return qualified(first.alias, first.entity_column)

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


def qualified(relation: str, name: str) -> exp.Column:
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
            check_column_use(info, context, entity_allowed)
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


def check_column_use(info: ColumnInfo, context: str, entity_allowed: bool) -> None:
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
