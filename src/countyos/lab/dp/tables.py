"""The tables of a DP query: FROM / JOIN resolution and column qualification.

Owns giving each table of the FROM clause a private alias (``__t0``, …), resolving every column
reference to its table (refusing ambiguous ones), and accepting a JOIN only when it is an INNER
or LEFT JOIN on the entity keys of tables about the same kind of entity, so that bounding each
entity's rows after the join still bounds its contribution. Used by ``planner``; must not
decide about aggregates or run SQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import sqlglot.expressions as exp

from countyos.engine import KEY_ROWS_COLUMN, RANK_COLUMN
from countyos.errors import NotFoundError, QueryRefusedError
from countyos.lab.dp import aggregates
from countyos.lab.dp.metadata import TableMetadata

DIALECT = "duckdb"


def quote(name: str) -> str:
    """A quoted DuckDB identifier."""
    return exp.to_identifier(name, quoted=True).sql(DIALECT)


def table_alias(position: int) -> str:
    """The private alias of the FROM clause's table at ``position`` (0: the first)."""
    return f"__t{position}"


@dataclass(frozen=True)
class TableRef:
    """One table of the FROM clause."""

    alias: str  # the private alias (__t0, …)
    meta: TableMetadata

    def column_sql(self, name: str) -> str:
        return exp.column(name, table=self.alias, quoted=True).sql(DIALECT)


def from_tables(
    root: exp.Select, metadata: Mapping[str, TableMetadata]
) -> tuple[list[TableRef], dict[str, TableRef]]:
    from_clause = root.args.get("from_") or root.args.get("from")
    if from_clause is None:
        raise QueryRefusedError("the query reads no dataset")
    tables = [from_clause.this] + [join.this for join in root.args.get("joins") or []]
    refs: list[TableRef] = []
    by_name: dict[str, TableRef] = {}
    for position, table in enumerate(tables):
        if not isinstance(table, exp.Table) or not isinstance(table.this, exp.Identifier):
            raise QueryRefusedError("only datasets may appear in FROM and JOIN under DP")
        name = table.name.lower()
        meta = metadata.get(name)
        if meta is None:
            raise NotFoundError(
                f"dataset {name!r} has no DP metadata (entity key and bounds) in this grant",
                details={"dataset": name},
            )
        ref = TableRef(alias=table_alias(position), meta=meta)
        visible = (table.alias or table.name).lower()
        if visible in by_name:
            raise QueryRefusedError(f"table name or alias {visible!r} is used twice")
        refs.append(ref)
        by_name[visible] = ref
    return refs, by_name


def _resolve(column: exp.Column, refs: list[TableRef], by_name: dict[str, TableRef]) -> TableRef:
    if column.table:
        ref = by_name.get(column.table.lower())
        if ref is None:
            raise QueryRefusedError(f"unknown table or alias {column.table!r} in column reference")
        return ref
    if len(refs) == 1:
        return refs[0]
    name = column.name.lower()
    owners = [
        ref for ref in refs
        if name in ref.meta.columns or name == ref.meta.entity_key.lower()
    ]
    if len(owners) != 1:
        raise QueryRefusedError(
            f"column {column.name!r} is ambiguous in a JOIN: qualify it with its table"
        )
    return owners[0]


def resolver(refs: list[TableRef], by_name: dict[str, TableRef]) -> aggregates.Resolver:
    by_alias = {ref.alias: ref for ref in refs}

    def resolve(column: exp.Column) -> tuple[TableMetadata, str]:
        ref = by_alias[column.table]
        return ref.meta, ref.column_sql(column.name)

    return resolve


def qualify(node: exp.Expression, refs: list[TableRef], by_name: dict[str, TableRef]) -> None:
    for column in list(node.find_all(exp.Column)):
        if isinstance(column.this, exp.Star):
            raise QueryRefusedError("t.* releases rows: under DP only aggregates are released")
        if column.args.get("db") or column.args.get("catalog"):
            raise QueryRefusedError(f"column {column.sql(DIALECT)!r} has too many name parts")
        if column.name.lower() in (RANK_COLUMN, KEY_ROWS_COLUMN):
            raise QueryRefusedError(
                f"column {column.name!r} is reserved for the engine's bounding and cannot be "
                "read under DP"
            )
        ref = _resolve(column, refs, by_name)
        column.set("table", exp.to_identifier(ref.alias, quoted=True))
        column.set("this", exp.to_identifier(column.name, quoted=True))


def joins(root: exp.Select, refs: list[TableRef], by_name: dict[str, TableRef]) -> str:
    parts: list[str] = []
    for position, join in enumerate(root.args.get("joins") or [], start=1):
        ref = refs[position]
        kind = (join.args.get("kind") or "").upper()
        side = (join.args.get("side") or "").upper()
        if kind not in ("", "INNER") or side not in ("", "LEFT"):
            raise QueryRefusedError(
                f"{(side + ' ' + kind).strip() or 'this'} JOIN is not supported under DP: only "
                "INNER or LEFT JOIN on the entity key"
            )
        earlier = refs[:position]
        if ref.meta.entity_kind != refs[0].meta.entity_kind:
            raise QueryRefusedError(
                f"JOIN of {refs[0].meta.name} ({refs[0].meta.entity_kind}) with "
                f"{ref.meta.name} ({ref.meta.entity_kind}): under DP only tables about the "
                "same kind of entity may be joined"
            )
        partner = _join_partner(join, ref, earlier, refs, by_name)
        condition = (
            f"{partner.column_sql(partner.meta.entity_key)} = "
            f"{ref.column_sql(ref.meta.entity_key)}"
        )
        keyword = "LEFT JOIN" if side == "LEFT" else "JOIN"
        parts.append(f" {keyword} {quote(ref.meta.name)} AS {quote(ref.alias)} ON {condition}")
    return "".join(parts)


def _join_partner(
    join: exp.Join,
    ref: TableRef,
    earlier: list[TableRef],
    refs: list[TableRef],
    by_name: dict[str, TableRef],
) -> TableRef:
    reason = (
        f"the JOIN with {ref.meta.name} must be on the entity keys "
        f"(… ON a.{refs[0].meta.entity_key} = b.{ref.meta.entity_key}), so that each entity's "
        "rows can still be bounded"
    )
    using = join.args.get("using")
    if using:
        names = [identifier.name.lower() for identifier in using]
        partners = [r for r in earlier if r.meta.entity_key.lower() in names]
        if names != [ref.meta.entity_key.lower()] or not partners:
            raise QueryRefusedError(reason)
        return partners[0]
    condition = join.args.get("on")
    if not isinstance(condition, exp.EQ):
        raise QueryRefusedError(reason)
    qualify(condition, refs, by_name)
    sides = [condition.this, condition.expression]
    if not all(isinstance(side, exp.Column) for side in sides):
        raise QueryRefusedError(reason)
    by_alias = {r.alias: r for r in refs}
    owners = [by_alias[side.table] for side in sides]
    if any(owner.meta.entity_key.lower() != side.name.lower() for owner, side in zip(owners, sides)):
        raise QueryRefusedError(reason)
    if ref not in owners:
        raise QueryRefusedError(reason)
    partner = owners[0] if owners[1] is ref else owners[1]
    if partner not in earlier:
        raise QueryRefusedError(reason)
    return partner
