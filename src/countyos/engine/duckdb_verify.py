"""Second opinion on a query, from DuckDB's own parser, right before it runs.

Owns one check: the exact SQL text DuckDB is about to execute, parsed by DuckDB itself
(``json_serialize_sql``), is one SELECT that reads only the granted tables or its own CTEs,
calls only allowlisted functions (``countyos.engine.functions``) and table functions, and holds
no query parameters, no qualified names and no DESCRIBE / SHOW / SUMMARIZE sub-statements. This
catches any place where sqlglot and DuckDB would read the same text differently. It does not
replace the sqlglot guard (which runs first and gives the user the readable message) nor the
connection lockdown (which holds even if both checks were wrong). Must not run user SQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from countyos.engine import functions
from countyos.errors import QueryRefusedError

_QUERY_NODES = frozenset({"SELECT_NODE", "SET_OPERATION_NODE", "RECURSIVE_CTE_NODE", "CTE_NODE"})
_TABLE_REFS = frozenset(
    {"BASE_TABLE", "JOIN", "SUBQUERY", "TABLE_FUNCTION", "EMPTY", "EXPRESSION_LIST", "PIVOT"}
)


def verify_statement(connection: Any, sql: str, allowed_tables: frozenset[str]) -> None:
    """Parse ``sql`` with DuckDB and refuse anything the guard should have refused.

    Args:
        connection: a DuckDB connection (the locked query connection is fine: parsing reads
            nothing).
        sql: the SQL text about to run.
        allowed_tables: lowercase names of the views the connection holds.

    Raises:
        QueryRefusedError: DuckDB sees something other than one allowed read-only query.
    """
    raw = connection.execute("SELECT json_serialize_sql(?::VARCHAR)", [sql]).fetchall()[0][0]
    try:
        tree = json.loads(raw)
    except RecursionError:
        raise QueryRefusedError("the query is nested too deeply") from None
    if tree.get("error"):
        raise QueryRefusedError("DuckDB does not read this query as a single SELECT statement")
    statements = tree.get("statements") or []
    if len(statements) != 1:
        raise QueryRefusedError(
            f"DuckDB reads {len(statements)} statements in this query; exactly one is allowed"
        )
    visible = allowed_tables | frozenset(name.lower() for name in _cte_names(statements[0]))
    for node in _dicts(statements[0]):
        _check_node(node, visible)


def _dicts(value: Any) -> Iterator[dict[str, Any]]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _cte_names(statement: dict[str, Any]) -> Iterator[str]:
    for node in _dicts(statement):
        cte_map = node.get("cte_map")
        if isinstance(cte_map, dict):
            for entry in cte_map.get("map") or []:
                if isinstance(entry, dict) and isinstance(entry.get("key"), str):
                    yield entry["key"]


def _check_node(node: dict[str, Any], visible_tables: frozenset[str]) -> None:
    if "class" in node:
        _check_expression(node)
        return
    kind = node.get("type")
    if not isinstance(kind, str):
        return
    if kind.endswith("_NODE"):
        if kind not in _QUERY_NODES:
            raise QueryRefusedError(f"DuckDB reads a {kind} in this query; only SELECT may run")
        return
    if "sample" in node and "alias" in node:
        _check_table_ref(kind, node, visible_tables)


def _check_expression(node: dict[str, Any]) -> None:
    if node.get("class") == "PARAMETER":
        raise QueryRefusedError("query parameters are not supported")
    name = node.get("function_name")
    if name is None:
        return
    if node.get("schema") or node.get("catalog"):
        raise QueryRefusedError(f"qualified function name for {name}() is not allowed")
    if not functions.is_allowed_function(str(name)):
        raise QueryRefusedError(f"function {name}() is not allowed in queries")


def _check_table_ref(kind: str, node: dict[str, Any], visible_tables: frozenset[str]) -> None:
    if kind not in _TABLE_REFS:
        raise QueryRefusedError(f"DuckDB reads a {kind} table reference; only datasets may be read")
    if kind == "BASE_TABLE":
        name = str(node.get("table_name") or "")
        if node.get("schema_name") or node.get("catalog_name"):
            raise QueryRefusedError(f"qualified table name for {name!r} is not allowed")
        if name.lower() not in visible_tables:
            raise QueryRefusedError(f"table {name!r} is not one of the datasets of this query")
    elif kind == "TABLE_FUNCTION":
        function = node.get("function") or {}
        name = str(function.get("function_name") or "")
        if function.get("schema") or function.get("catalog"):
            raise QueryRefusedError(f"qualified table function {name}() is not allowed")
        if not functions.is_allowed_table_function(name):
            raise QueryRefusedError(f"table function {name}() is not allowed in FROM")
