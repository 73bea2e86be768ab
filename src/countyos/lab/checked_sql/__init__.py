"""Checked aggregate SQL for the lab's ``aggregate`` mode (聚合模式：经披露检查的 SQL).

A developer writes ordinary GROUP BY SQL; it runs on the county's real data and only cells that
pass the statistical disclosure checks of ``countyos.lab.disclosure`` leave. CountyOS rewrites
the query with sqlglot so that DuckDB also returns, per cell, what the checks need: distinct
units, the sum of absolute unit totals, the largest unit totals and the contributing units.

    plan = plan_checked_query(sql, policies={"persons": TablePolicy("person_id", roles)})
    preview = preflight_checked_query(plan, engine=engine, twin_sources=twins, secret=key)
    result = run_checked_query(plan, engine=engine, sources=real, secret=key,
                               table_id="job-42", rules=rules, released=store)
    ...release what result.reports allow, then: result.record(store)

The allowlist (everything else is refused with ``QueryRefusedError``, ``details["rule"]``):

- one SELECT (no UNION / INTERSECT / EXCEPT / VALUES), with optional non-recursive WITH views;
- FROM: granted datasets (each with a :class:`TablePolicy`) and *row views* (WITH views or
  aliased subqueries that only select, join and filter rows: no aggregation, DISTINCT, ORDER BY,
  LIMIT, window or set operation);
- JOIN: INNER or LEFT only, on one equality of the entity keys of both sides (``ON a.k = b.k``
  or ``USING (k)``) of the same key domain; no cross, natural, semi, anti, asof or positional;
- columns: only those with a role; direct identifiers (and keys of other units) are never
  usable; the entity key only in JOIN, in ``COUNT(DISTINCT key)`` or selected unchanged in a
  row view; dimensions, quasi-identifiers and measures anywhere else;
- expressions (WHERE, GROUP BY, FILTER, aggregate arguments): columns, constants, arithmetic,
  comparisons, AND / OR / NOT, CASE, CAST, IN (constants), BETWEEN, LIKE, constant INTERVALs
  and the functions of :data:`~countyos.lab.checked_sql.allowlist.SCALAR_FUNCTIONS`; no subqueries;
- GROUP BY: expressions of allowed columns (by expression, SELECT alias or ordinal), GROUP BY
  ALL, ROLLUP, CUBE, GROUPING SETS (margins are checked cells too); never an identifier or the
  entity key;
- SELECT: group keys and, per column, one of ``COUNT(*)``, ``COUNT(expr)``,
  ``COUNT(DISTINCT entity_key)``, ``SUM(measure expr)``, ``AVG(measure expr)`` (``mean``),
  optionally with ``FILTER (WHERE …)`` and inside an expression of constants
  (``ROUND(AVG(x), 2)``); SUM and AVG must use a measure column; no ``*``, no MIN / MAX /
  median / quantiles / first / last / list / string_agg / any_value, no windows;
- ORDER BY group keys only; no HAVING, DISTINCT, LIMIT, OFFSET, QUALIFY, sampling.

The result (:class:`CheckedResult`): ``table`` holds the SELECT columns in order with withheld
values NULL and a ``<column>_status`` column per aggregate (``ok`` / ``suppressed``; reason codes
on pre-flight runs); a cell withheld in one aggregate column is withheld in all of them, with one
common complementary pattern; totals of every line are treated as known (``margins_known``).
``reports`` (one per aggregate column) carry the reasons in English and Chinese for the steward.

What the planner leaves to the checks: filters and CASE conditions that narrow a cell to a few
units (``SUM(CASE WHEN age = 37 AND … THEN income END)``) give a cell of few contributing units,
caught by the threshold; ``ELSE 0`` variants are caught because units with a zero total do not
count as contributors of SUM / AVG cells (and the all-others-zero cell fails dominance); rare
group values (``GROUP BY income``) are withheld and not even listed; "one more person" queries
are caught by differencing against the project's released cells.

Errors are an oracle (a query failing only when some row holds some value reveals it): casts run
as TRY_CAST, ``//`` and ``%`` need a constant divisor, expressions around an aggregate are
evaluated only on released values, and every row expression is wrapped in ``TRY(…)`` as soon as
the engine's function allowlist admits ``try``. Until then an integer overflow in a row
expression (``age * age * …``) can still fail a query: a one-bit-per-query leak.

Limits: COUNT cells get threshold and zero checks only (as in ACRO), not dominance; differencing
compares a new cell with single released cells, not with sums of several; floating-point sums
may differ in the last bits between runs unless ``QueryLimits(threads=1)``.
"""

from countyos.lab.checked_sql.allowlist import ALLOWED_AGGREGATES, SCALAR_FUNCTIONS
from countyos.lab.checked_sql.plan import AggregateSpec, CheckedPlan, GroupKey, OutputColumn
from countyos.lab.checked_sql.planner import plan_checked_query
from countyos.lab.checked_sql.policy import ROLES, TablePolicy
from countyos.lab.checked_sql.result import CheckedResult
from countyos.lab.checked_sql.runner import preflight_checked_query, run_checked_query

__all__ = [
    "ALLOWED_AGGREGATES",
    "ROLES",
    "SCALAR_FUNCTIONS",
    "AggregateSpec",
    "CheckedPlan",
    "CheckedResult",
    "GroupKey",
    "OutputColumn",
    "TablePolicy",
    "plan_checked_query",
    "preflight_checked_query",
    "run_checked_query",
]
