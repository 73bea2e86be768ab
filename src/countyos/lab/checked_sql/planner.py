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

from collections.abc import Mapping

import sqlglot.expressions as exp

from countyos.engine import parse_read_only
from countyos.errors import InvalidInputError
from countyos.lab.checked_sql.allowlist import is_aggregate, make_casts_safe, prepare, refuse
from countyos.lab.checked_sql.clauses import plan_group_keys, plan_order, plan_outputs
from countyos.lab.checked_sql.plan import CheckedPlan
from countyos.lab.checked_sql.policy import TablePolicy
from countyos.lab.checked_sql.relations import analyze_from, analyze_row_view
from countyos.lab.checked_sql.scope import RESERVED_PREFIX, Relation, scalar_columns

# Clauses of the main SELECT that aggregate mode allows (sqlglot argument names).
_MAIN_ARGS = frozenset(
    {"expressions", "from_", "from", "joins", "where", "group", "order", "with_"}
)

_CLAUSE_RULES = {
    "distinct": (
        "distinct",
        "SELECT DISTINCT is not allowed: GROUP BY already gives one row per cell",
    ),
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
    root = make_casts_safe(parsed.expression.copy())
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
    keys, grouping_sets = plan_group_keys(root, items, scope)
    outputs, aggregates = plan_outputs(items, keys, scope)
    order = plan_order(root, outputs, keys, scope)
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
        policies=tuple(sorted((table, grants[table]) for table in parsed.tables if table in grants)),
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
