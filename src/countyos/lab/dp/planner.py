"""The DP query planner: user SQL in, a ``QueryPlan`` out, or a refusal that says why.

Owns deciding which SQL can be answered under differential privacy. The query first passes the
read-only guard (``countyos.engine.parse_read_only``); then it must be one SELECT of aggregates
over datasets with DP metadata, optionally filtered (WHERE), grouped (GROUP BY columns or bins
``floor(x / w) * w`` for histograms), ordered and limited (applied to the noisy answer), and
joined only on entity keys of tables of the same entity kind, so that bounding each entity's
rows after the join still bounds its contribution. Tables get private aliases (``__t0``, …) and
every column is qualified (``tables``), so the rewritten SQL cannot be confused by user aliases.
The aggregate rules live in ``aggregates``. Plans depend only on the SQL text, the metadata
and k, so accepted plans are kept in a small LRU cache (plans are immutable; refusals are not
cached). Must not run SQL or compute noise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import sqlglot.expressions as exp
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

from countyos.engine import parse_read_only
from countyos.errors import QueryRefusedError, TooLargeError
from countyos.lab.dp import aggregates
from countyos.lru import LRU
from countyos.lab.dp.metadata import TableMetadata, check_metadata
from countyos.lab.dp.plan import (
    Aggregate,
    GroupKey,
    OutputColumn,
    QueryPlan,
)
from countyos.lab.dp.tables import from_tables, joins, qualify, quote, resolver

DIALECT = "duckdb"

#: Most groups an answer over declared domains may have.
MAX_GROUPS = 100_000

#: Accepted plans remembered (by SQL text, metadata and k).
_PLANS: LRU[QueryPlan] = LRU(512)


def plan_query(
    sql: str,
    metadata: Mapping[str, TableMetadata],
    *,
    max_contributions: int | None = None,
) -> QueryPlan:
    """Analyse user SQL for DP answering.

    Args:
        sql: one SELECT in DuckDB's dialect.
        metadata: DP metadata of the tables the user may query, by table name.
        max_contributions: k; ``None`` uses the smallest default of the tables read.

    Returns:
        The plan.

    Raises:
        QueryRefusedError: the SQL is not allowed or not answerable under DP; the message
            names the construct and, where one exists, what to write instead.
        NotFoundError: the query reads a table without DP metadata.
        TooLargeError: the declared GROUP BY domains have more than ``MAX_GROUPS`` groups.
    """
    tables_meta = check_metadata(metadata)
    if not isinstance(sql, str):
        return _plan(sql, tables_meta, max_contributions)
    key = (sql, max_contributions,
           tuple(sorted((name, repr(meta)) for name, meta in tables_meta.items())))
    plan = _PLANS.get(key)
    if plan is None:
        plan = _plan(sql, tables_meta, max_contributions)
        _PLANS.put(key, plan)
    return plan


def _plan(sql: str, tables_meta: dict[str, TableMetadata],
          max_contributions: int | None) -> QueryPlan:
    parsed = parse_read_only(sql)
    root = parsed.expression.copy()
    while isinstance(root, exp.Subquery):
        root = root.this
    if isinstance(root, exp.SetOperation):
        raise QueryRefusedError(
            "UNION / INTERSECT / EXCEPT are not supported under DP: ask each part as its own query"
        )
    if not isinstance(root, exp.Select):
        raise QueryRefusedError("only SELECT queries with aggregates can be answered under DP")
    _refuse_constructs(root)
    refs, by_name = from_tables(root, tables_meta)
    items = _select_items(root)
    group_exprs = _group_expressions(root, items)
    order_by = _order_by(root, items)
    limit = _limit(root)
    for _, node in items:
        qualify(node, refs, by_name)
    for node in group_exprs:
        qualify(node, refs, by_name)
    where = root.args.get("where")
    if where is not None:
        qualify(where.this, refs, by_name)
        if any(aggregates.is_aggregate(n) for n in where.this.walk()):
            raise QueryRefusedError("aggregates are not allowed in WHERE")
    join_sql = joins(root, refs, by_name)

    keys: list[GroupKey] = []
    key_text: dict[str, int] = {}
    for node in group_exprs:
        if any(aggregates.is_aggregate(n) for n in node.walk()):
            raise QueryRefusedError("aggregates are not allowed in GROUP BY")
        text = node.sql(DIALECT)
        if text not in key_text:
            key_text[text] = len(keys)
            keys.append(aggregates.group_key(text, node, resolver(refs, by_name)))
    outputs: list[OutputColumn] = []
    aggs: list[Aggregate] = []
    used_keys: set[int] = set()
    names = _unique_names([name for name, _ in items])
    for name, (_, node) in zip(names, items):
        if aggregates.is_aggregate(node):
            aggs.append(aggregates.aggregate(name, node, resolver(refs, by_name)))
            outputs.append(OutputColumn(name, "aggregate", len(aggs) - 1))
            continue
        if any(aggregates.is_aggregate(n) for n in node.walk()):
            raise QueryRefusedError(
                f"output {name!r} combines aggregates in an expression; select each aggregate as "
                "its own column and combine the released values afterwards"
            )
        index = key_text.get(node.sql(DIALECT))
        if index is None:
            raise QueryRefusedError(
                f"output {name!r} is neither an aggregate nor a GROUP BY key"
            )
        used_keys.add(index)
        keys[index] = GroupKey(name, keys[index].sql, keys[index].domain, keys[index].origin)
        outputs.append(OutputColumn(name, "key", index))
    if not aggs:
        raise QueryRefusedError(
            "the query has no aggregate: under DP only aggregates (COUNT, SUM, AVG, quantiles) "
            "are released, never rows or key lists alone"
        )
    if len(used_keys) != len(keys):
        raise QueryRefusedError("every GROUP BY key must also be selected")
    _check_group_count(keys)

    first = refs[0]
    k = max_contributions or min(ref.meta.max_contributions for ref in refs)
    from_sql = f'{quote(first.meta.name)} AS {quote(first.alias)}{join_sql}'
    return QueryPlan(
        tables=tuple(sorted({ref.meta.name.lower() for ref in refs})),
        from_sql=from_sql,
        entity_sql=first.column_sql(first.meta.entity_key),
        where_sql=where.this.sql(DIALECT) if where is not None else None,
        keys=tuple(keys),
        aggregates=tuple(aggs),
        outputs=tuple(outputs),
        order_by=tuple(order_by),
        limit=limit,
        max_contributions=k,
        canonical_sql=_canonical(parsed.expression),
        bounding_needed=not all(ref.meta.entity_key_unique for ref in refs),
        single_table=len(refs) == 1,
    )


def _canonical(expression: exp.Expression) -> str:
    """The query with unquoted identifiers lowercased (DuckDB folds them), for cache keys."""
    return normalize_identifiers(expression.copy(), dialect=DIALECT).sql(DIALECT, comments=False)


def _refuse_constructs(root: exp.Select) -> None:
    if root.args.get("distinct"):
        raise QueryRefusedError("SELECT DISTINCT is not supported under DP; use GROUP BY")
    for key, what in (
        ("having", "HAVING is not supported under DP; filter the released answer instead"),
        ("qualify", "QUALIFY is not supported under DP"),
        ("offset", "OFFSET is not supported under DP"),
        ("sample", "TABLESAMPLE is not supported under DP"),
    ):
        if root.args.get(key) is not None:
            raise QueryRefusedError(what)
    for node in root.walk():
        if node is root:
            continue
        if isinstance(node, exp.With):
            raise QueryRefusedError(
                "WITH (common table expressions) is not supported under DP; write one SELECT"
            )
        if isinstance(node, (exp.Select, exp.Subquery, exp.SetOperation)):
            raise QueryRefusedError("subqueries are not supported under DP; write one SELECT")
        if isinstance(node, exp.Window):
            raise QueryRefusedError("window functions (OVER …) are not supported under DP")
        if isinstance(node, (exp.Lateral, exp.Unnest, exp.Pivot)):
            raise QueryRefusedError(f"{type(node).__name__.upper()} is not supported under DP")
    for item in root.expressions:
        if isinstance(item, exp.Star) or (
            isinstance(item, exp.Column) and isinstance(item.this, exp.Star)
        ):
            raise QueryRefusedError(
                "SELECT * releases rows: under DP only aggregates are released"
            )


def _select_items(root: exp.Select) -> list[tuple[str, exp.Expression]]:
    items: list[tuple[str, exp.Expression]] = []
    for item in root.expressions:
        if isinstance(item, exp.Alias):
            items.append((item.alias, item.this))
        else:
            items.append((item.sql(DIALECT), item))
    return items


def _group_expressions(
    root: exp.Select, items: list[tuple[str, exp.Expression]]
) -> list[exp.Expression]:
    group = root.args.get("group")
    if group is None:
        return []
    if group.args.get("all") or any(
        isinstance(node, (exp.Rollup, exp.Cube, exp.GroupingSets)) for node in group.expressions
    ):
        raise QueryRefusedError(
            "GROUP BY ALL / ROLLUP / CUBE / GROUPING SETS are not supported under DP; "
            "list the keys"
        )
    aliases = {name.lower(): node for name, node in items}
    resolved: list[exp.Expression] = []
    for node in group.expressions:
        if isinstance(node, exp.Literal) and node.is_int:
            position = int(node.this)
            if not 1 <= position <= len(items):
                raise QueryRefusedError(f"GROUP BY position {position} is out of range")
            resolved.append(items[position - 1][1].copy())
        elif isinstance(node, exp.Column) and not node.table and node.name.lower() in aliases:
            resolved.append(aliases[node.name.lower()].copy())
        else:
            resolved.append(node.copy())
    return resolved


def _order_by(
    root: exp.Select, items: list[tuple[str, exp.Expression]]
) -> list[tuple[int, bool]]:
    order = root.args.get("order")
    if order is None:
        return []
    names = {name.lower(): index for index, (name, _) in enumerate(items)}
    texts = {node.sql(DIALECT): index for index, (_, node) in enumerate(items)}
    result: list[tuple[int, bool]] = []
    for ordered in order.expressions:
        node = ordered.this
        descending = bool(ordered.args.get("desc"))
        if isinstance(node, exp.Literal) and node.is_int:
            index = int(node.this) - 1
            if not 0 <= index < len(items):
                raise QueryRefusedError(f"ORDER BY position {index + 1} is out of range")
        elif isinstance(node, exp.Column) and not node.table and node.name.lower() in names:
            index = names[node.name.lower()]
        elif node.sql(DIALECT) in texts:
            index = texts[node.sql(DIALECT)]
        else:
            raise QueryRefusedError(
                "ORDER BY may only name output columns (it is applied to the released answer)"
            )
        result.append((index, descending))
    return result


def _limit(root: exp.Select) -> int | None:
    limit = root.args.get("limit")
    if limit is None:
        return None
    value = limit.expression if isinstance(limit, exp.Limit) else None
    if not isinstance(value, exp.Literal) or not value.is_int:
        raise QueryRefusedError("LIMIT must be a whole number")
    return int(value.this)


def _unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    result: list[str] = []
    for name in names:
        count = seen.get(name.lower(), 0)
        seen[name.lower()] = count + 1
        result.append(name if count == 0 else f"{name}_{count + 1}")
    return result


def _check_group_count(keys: list[GroupKey]) -> None:
    declared = [len(key.domain) for key in keys if key.domain is not None]
    if declared and math.prod(declared) > MAX_GROUPS:
        raise TooLargeError(
            f"the GROUP BY keys have {math.prod(declared)} combinations of declared values, more "
            f"than {MAX_GROUPS}"
        )
