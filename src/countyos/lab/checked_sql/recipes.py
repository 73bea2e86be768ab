"""What lets checked SQL skip entity sets: register proofs, cell digests and recipes.

Owns three things the runner uses to avoid hashing every unit of every cell:

- :func:`row_multiplicity`: the most rows one unit can have in the rows a query reads, from the
  most rows per entity key value of each table (``countyos.engine.profile``: one
  ``GROUP BY key`` per set of data files, kept for as long as the files are unchanged). 1 means every row is
  a different unit (a register): the per-unit grouping is skipped; more lets the bounded checks
  of :mod:`.bounded` decide most cells without it.
- :func:`query_recipe`: the canonical text of a query and the exact data it read (developer SQL
  as planned, table policies, data files, granted columns). From it the entity set of every cell
  can be recomputed exactly (:func:`materialise_recipe`), so a release can be recorded *deferred*
  (sizes and digests only) and its sets recomputed only when a later cell comes close in size.
  A query calling a volatile function (``random()``, ``now()``, ``current_date`` …) has no
  recipe: recomputing it could give another set.
- :func:`cell_digest`: a hash of the recipe, output column and cell key; equal digests mean equal
  sets (the same deterministic query on the same immutable files), so the same query asked
  again is known to be the same group without any set.

This module must not decide on disclosure or release anything.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import sqlglot.expressions as exp

from countyos.engine import Engine, QueryLimits, TableSource, parse_read_only
from countyos.engine.profile import rows_per_key
from countyos.errors import InternalError
from countyos.lab.checked_sql.plan import CheckedPlan
from countyos.lab.checked_sql.policy import TablePolicy

RECIPE_SCHEME = "countyos-checked-sql-recipe/1"

#: Function names whose value changes between runs (sqlglot class or SQL names, lower case).
VOLATILE = frozenset({
    "rand", "random", "uuid", "gen_random_uuid", "uuidv4", "uuidv7", "now", "today", "age",
    "currentdate", "current_date", "currenttime", "current_time", "currenttimestamp",
    "current_timestamp", "current_localtime", "current_localtimestamp", "get_current_time",
    "get_current_timestamp", "transaction_timestamp", "localtime", "localtimestamp",
    "currentdatetime", "setseed", "nextval",
})

def unit_rows(engine: Engine, source: TableSource, key: str, limits: QueryLimits) -> int | None:
    """The most rows one value of ``key`` has in ``source`` (``None`` if some row's key is NULL,
    or the files cannot be profiled); see ``countyos.engine.profile.rows_per_key``."""
    profile = rows_per_key(source.name, source, key, lambda sql: engine.execute(
        parse_read_only(sql), {source.name: source}, limits=limits).table)
    if profile is None or profile.nulls:
        return None
    return max(1, profile.most)


def row_multiplicity(
    plan: CheckedPlan, engine: Engine, sources: Mapping[str, TableSource], limits: QueryLimits
) -> int | None:
    """The most rows one unit can have in the rows a plan reads (1: every row is a unit).

    Each table read contributes the most rows one entity key value has in it (:func:`unit_rows`);
    joins are on entity keys only, so a unit's joined rows are at most the product over the
    tables and views in its FROM clause (a LEFT join keeps at least one row; WHERE only drops
    rows). ``None`` when it cannot be told (a NULL entity key, an unknown table).
    """
    policies = dict(plan.policies)
    views = dict(plan.views)
    per_table: dict[str, int | None] = {}
    for table in plan.tables:
        source, policy = sources.get(table), policies.get(table)
        if source is None or policy is None:
            return None
        per_table[table] = unit_rows(engine, source, policy.entity_key, limits)
    return _multiplicity(plan.rows, views, per_table, depth=0)


def _multiplicity(select: exp.Expression, views: Mapping[str, exp.Select],
                  per_table: Mapping[str, int | None], depth: int) -> int | None:
    if not isinstance(select, exp.Select) or depth > 32:
        return None
    origin = select.args.get("from_") or select.args.get("from")
    if origin is None:
        return None
    total = 1
    for node in [origin.this, *(join.this for join in select.args.get("joins") or [])]:
        if isinstance(node, exp.Subquery):
            factor = _multiplicity(node.this, views, per_table, depth + 1)
        elif isinstance(node, exp.Table) and not node.args.get("db"):
            name = node.name.lower()
            factor = (_multiplicity(views[name], views, per_table, depth + 1) if name in views
                      else per_table.get(name))
        else:
            factor = None
        if factor is None:
            return None
        total *= factor
    return total


def _function_names(plan: CheckedPlan) -> set[str]:
    trees = [plan.rows, *(select for _, select in plan.views)]
    trees += [part for spec in plan.aggregates for part in (spec.argument, spec.condition)
              if part is not None]
    trees += [key.expression for key in plan.keys]
    names: set[str] = set()
    for tree in trees:
        for node in tree.find_all(exp.Func):
            names.add(type(node).__name__.lower())
            names.add(node.sql_name().lower())
            if isinstance(node, exp.Anonymous):
                names.add(str(node.name).lower())
    return names


def query_recipe(plan: CheckedPlan, sources: Mapping[str, TableSource]) -> str | None:
    """The canonical recipe text of a plan over ``sources`` (``None`` for volatile queries)."""
    policies = dict(plan.policies)
    if _function_names(plan) & VOLATILE:
        return None
    tables = sorted(plan.tables)
    if any(table not in sources or table not in policies for table in tables):
        return None
    body: dict[str, Any] = {
        "scheme": RECIPE_SCHEME,
        "sql": plan.sql,
        "policies": {table: _policy_dict(policies[table]) for table in tables},
        "sources": {table: {"files": list(sources[table].files),
                            "columns": list(sources[table].columns or [])} for table in tables},
    }
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _policy_dict(policy: TablePolicy) -> dict[str, Any]:
    return {"entity_key": policy.entity_key, "roles": dict(sorted(dict(policy.roles).items())),
            "key_domain": policy.key_domain, "entity_key_unique": policy.entity_key_unique}


def key_text(key: tuple) -> str:
    """A canonical text of a cell key (type and value of each part)."""
    return json.dumps([[type(part).__name__, str(part)] for part in key], ensure_ascii=False)


def cell_digest(recipe: str, column: str, key: tuple) -> str:
    """The digest naming one cell of one output column of a recipe's query:
    ``sha256(json([sha256(recipe), column, key_text(key)]))``."""
    text = json.dumps([_recipe_hash(recipe), column, key_text(key)], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@functools.lru_cache(maxsize=64)
def _recipe_hash(recipe: str) -> str:
    return hashlib.sha256(recipe.encode("utf-8")).hexdigest()


def read_recipe(recipe: str) -> tuple[str, dict[str, TablePolicy], dict[str, TableSource]]:
    """The developer SQL, policies and sources of a recipe."""
    try:
        body = json.loads(recipe)
        if body.get("scheme") != RECIPE_SCHEME:
            raise ValueError(body.get("scheme"))
        policies = {name: TablePolicy(**value) for name, value in body["policies"].items()}
        sources = {name: TableSource(name, tuple(value["files"]), tuple(value["columns"]) or None)
                   for name, value in body["sources"].items()}
        return str(body["sql"]), policies, sources
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise InternalError("a released cell's recipe cannot be read") from error


def materialise_recipe(
    recipe: str, *, engine: Engine, secret: bytes, limits: QueryLimits | None = None
) -> dict[str, np.ndarray]:
    """Recompute the entity set of every cell of a recipe's query, by cell digest."""
    from countyos.lab.checked_sql.planner import plan_checked_query
    from countyos.lab.checked_sql.runner import run_checked_query

    sql, policies, sources = read_recipe(recipe)
    plan = plan_checked_query(sql, policies=policies)
    result = run_checked_query(plan, engine=engine, sources=sources, secret=secret,
                               table_id="recipe", limits=limits, entity_sets=True,
                               exact_sets=True)
    sets: dict[str, np.ndarray] = {}
    for column, per_cell in (result.entity_sets or {}).items():
        for key, entities in per_cell.items():
            sets[cell_digest(recipe, column, key)] = entities
    return sets
