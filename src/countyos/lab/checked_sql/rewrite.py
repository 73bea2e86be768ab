"""The rewritten query: the developer's GROUP BY turned into per-cell disclosure statistics.

Owns the SQL text the engine runs for a :class:`~countyos.lab.checked_sql.plan.CheckedPlan`.
Shape (names prefixed ``__countyos_``)::

    WITH <developer's row views, each with a hidden unit column>,
    rows  AS (SELECT key_i AS k_i, TRUE AS p_i, <unit> AS e, arg_j AS x_j, filter_j AS f_j
              FROM <developer's FROM / joins> WHERE <developer's WHERE>),
    pairs AS (SELECT k…, p…, e, hash(e) AS h, <per-unit partial of each aggregate>
              FROM rows GROUP BY GROUPING SETS ((k…, p…, e), …))
    SELECT k…, p…, COUNT(*) AS units, <per cell: value, n units, sum |unit total|,
           top-K |unit totals|, LIST(h) of the contributing units per family> FROM pairs
    GROUP BY k…, p…

so every statistic the checks need is computed inside DuckDB: a unit's contribution to a cell is
the total of its rows there, and dominance uses absolute unit totals (a large negative total
dominates like a large positive one). For SUM / AVG cells a unit counts as contributing only
when its total is non-zero (``SUM(CASE WHEN … THEN x ELSE 0 END)`` cannot hide a small group
among zeros). ``p_i`` marks whether key ``i`` is grouped (NULL in margins), so a margin is never
confused with a NULL group value. When every table read is a register (one row per unit) the
``pairs`` step is skipped: rows are already unit totals and ``h`` is computed per row (the runner
proves the register claim on the data first).

Entity sets: ``h`` is the keyed entity hash of ``countyos.lab.disclosure.entity_sets``
(:func:`~countyos.lab.disclosure.entity_sets.keyed_hash_sql`), computed once per unit and cell
after the per-unit grouping, so DuckDB returns one ``LIST(UBIGINT)`` per family and cell and no
unit key leaves the query. The SQL text embeds the key block of that hash: it is as secret as the
installation's hashing key, and :func:`redact_hash_key` gives the text that may be shown.

This module must not run queries or decide anything about disclosure.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot.expressions as exp

from countyos.errors import InternalError
from countyos.lab.checked_sql.plan import AggregateSpec, CheckedPlan
from countyos.lab.disclosure.entity_sets import keyed_hash_sql

P = "__countyos_"
ROWS, PAIRS, ENTITY, HASH = f"{P}rows", f"{P}pairs", f"{P}e", f"{P}h"
HASHED = f"{P}hashed"
UNITS, NULL_UNITS = f"{P}units", f"{P}null_units"
#: Prefix of the list-of-hashes columns (:func:`set_column`).
SET_PREFIX = f"{P}set"
#: What :func:`redact_hash_key` puts in place of the hash key block.
KEY_PLACEHOLDER = "<entity-hash-key>"


def key_column(position: int) -> str:
    """Name of key ``position`` in the statistics result."""
    return f"{P}k{position}"


def set_column(family: int) -> str:
    """Name of the list of contributing unit hashes of family ``family``."""
    return f"{SET_PREFIX}{family}"


def redact_hash_key(sql: str, key_block: str) -> str:
    """The statistics SQL with the hash key block replaced by :data:`KEY_PLACEHOLDER`."""
    return sql.replace(key_block, KEY_PLACEHOLDER) if key_block else sql


def sign_column(which: str, family: int) -> str:
    """Name of the smallest (``"min"``) or largest (``"max"``) row value of a sum family."""
    return f"{P}{which}{family}"


def marker_column(position: int) -> str:
    """Name of the "key is grouped" marker of ``position`` (NULL in margins)."""
    return f"{P}p{position}"


@dataclass(frozen=True)
class StatisticColumns:
    """Result columns of one aggregate: value, units, |total|, top-K and entity list.

    Aggregates over the same argument and filter (``SUM(x)`` and ``AVG(x)``; ``COUNT(*)`` and
    ``COUNT(DISTINCT key)``) share one *family*: their per-unit partials, units, |total|, top-K
    and entity list are computed once.
    """

    value: str
    units: str
    abs_total: str | None
    top: str | None
    entities: str  # the family's list of contributing unit hashes (one per cell)


@dataclass(frozen=True)
class _Family:
    number: int
    kind: str  # "count" or "sum"
    x: str | None
    f: str | None


@dataclass(frozen=True)
class Layout:
    """Column names of the rewritten query, shared between the rewrite and the reader."""

    arguments: dict[str, str]  # argument SQL -> rows column
    conditions: dict[str, str]  # condition SQL -> rows column
    families: dict[int, _Family]  # aggregate index -> family

    def columns(self, spec: AggregateSpec) -> StatisticColumns:
        family = self.families[spec.index]
        magnitude = family.kind == "sum"
        return StatisticColumns(
            value=f"{P}v{spec.index}",
            units=f"{P}n{family.number}",
            abs_total=f"{P}abs{family.number}" if magnitude else None,
            top=f"{P}top{family.number}" if magnitude else None,
            entities=set_column(family.number),
        )


def layout(plan: CheckedPlan) -> Layout:
    """Name the row columns and partial families of a plan (deduplicated by SQL text)."""
    arguments: dict[str, str] = {}
    conditions: dict[str, str] = {}
    by_signature: dict[tuple, _Family] = {}
    families: dict[int, _Family] = {}
    for spec in plan.aggregates:
        x = f = None
        if spec.argument is not None:
            x = arguments.setdefault(_sql(spec.argument), f"{P}x{len(arguments)}")
        if spec.condition is not None:
            f = conditions.setdefault(_sql(spec.condition), f"{P}f{len(conditions)}")
        kind = "sum" if spec.kind in ("sum", "mean") else "count"
        signature = (kind, x, f)
        if signature not in by_signature:
            by_signature[signature] = _Family(len(by_signature), kind, x, f)
        families[spec.index] = by_signature[signature]
    return Layout(arguments, conditions, families)


def _q(name: str) -> str:
    return f'"{name}"'


def _sql(expression: exp.Expression) -> str:
    return expression.sql(dialect="duckdb")


def _filtered(call: str, condition: str | None) -> str:
    return f"{call} FILTER (WHERE {condition})" if condition else call


def _guard(sql: str, guard_errors: bool, safe: frozenset[str] = frozenset()) -> str:
    return f"TRY({sql})" if guard_errors and sql not in safe else sql


def _cannot_fail(expression: exp.Expression) -> bool:
    """A bare column or constant: evaluating it cannot raise, so TRY(…) would only cost time."""
    while isinstance(expression, exp.Paren):
        expression = expression.this
    return isinstance(expression, (exp.Column, exp.Literal, exp.Boolean, exp.Null))


def _guard_selects(tree: exp.Expression) -> exp.Expression:
    """Wrap the WHERE and computed columns of every SELECT in ``tree`` in TRY(…), in place."""
    for select in list(tree.find_all(exp.Select)):
        where = select.args.get("where")
        if where is not None:
            where.set("this", exp.Try(this=where.this))
        for item in select.expressions:
            if isinstance(item, exp.Alias) and not isinstance(item.this, exp.Column):
                item.set("this", exp.Try(this=item.this))
    return tree


def _rows_cte(plan: CheckedPlan, names: Layout, guard_errors: bool) -> str:
    expressions = [key.expression for key in plan.keys] + [
        part
        for spec in plan.aggregates
        for part in (spec.argument, spec.condition)
        if part is not None
    ]
    safe = frozenset(_sql(part) for part in expressions if _cannot_fail(part))
    items = []
    for key in plan.keys:
        key_sql = _guard(_sql(key.expression), guard_errors, safe)
        items.append(f"{key_sql} AS {_q(key_column(key.position))}")
        if plan.has_margins:
            items.append(f"TRUE AS {_q(marker_column(key.position))}")
    items.append(f"{_sql(plan.entity)} AS {_q(ENTITY)}")
    for sql, column in names.arguments.items():
        items.append(f"{_guard(sql, guard_errors, safe)} AS {_q(column)}")
    for sql, column in names.conditions.items():
        items.append(f"{_guard(sql, guard_errors, safe)} AS {_q(column)}")
    rows = plan.rows.copy()
    if guard_errors:
        _guard_selects(rows)
    rows.set("expressions", [exp.maybe_parse(item, dialect="duckdb") for item in items])
    return _sql(rows)


def _group_clause(plan: CheckedPlan, with_entity: bool) -> str:
    """GROUP BY of the keys (plus the unit), as grouping sets when margins are asked for."""
    extra = [_q(ENTITY)] if with_entity else []
    if not plan.has_margins:
        columns = [_q(key_column(k.position)) for k in plan.keys] + extra
        return f" GROUP BY {', '.join(columns)}" if columns else ""
    sets = []
    for grouping_set in plan.grouping_sets:
        columns = [
            name
            for position in grouping_set
            for name in (_q(key_column(position)), _q(marker_column(position)))
        ] + extra
        sets.append(f"({', '.join(columns)})")
    return f" GROUP BY GROUPING SETS ({', '.join(sets)})"


def _cell_columns(plan: CheckedPlan) -> list[str]:
    columns = []
    for key in plan.keys:
        columns.append(_q(key_column(key.position)))
        if plan.has_margins:
            columns.append(_q(marker_column(key.position)))
    return columns


def _partials(family: _Family) -> list[str]:
    n = family.number
    x = _q(family.x) if family.x else None
    f = _q(family.f) if family.f else None
    if family.kind == "count":
        call = f"COUNT({x})" if x else "COUNT(*)"
        return [f"{_filtered(call, f)} AS {_q(f'{P}c{n}')}"]
    return [
        f"{_filtered(f'SUM({x})', f)} AS {_q(f'{P}s{n}')}",
        f"{_filtered(f'COUNT({x})', f)} AS {_q(f'{P}m{n}')}",
    ]


def _contributes(family: _Family, per_entity: bool) -> str | None:
    """When a unit (pairs) or a row (registers) contributes to the family's cells."""
    n = family.number
    if per_entity:
        return f"{_q(f'{P}s{n}')} <> 0" if family.kind == "sum" else f"{_q(f'{P}c{n}')} > 0"
    parts = []
    if family.kind == "sum":
        parts.append(f"{_q(family.x)} <> 0")
    elif family.x:
        parts.append(f"{_q(family.x)} IS NOT NULL")
    if family.f:
        parts.append(_q(family.f))
    return " AND ".join(parts) or None


def _family_statistics(family: _Family, per_entity: bool, top: int, rows: bool) -> list[str]:
    """Units, |total| and top-K of one family. ``rows``: row statistics for the bounded checks
    (the same counts, written the cheaper way; the K largest rows, zeros allowed)."""
    n = family.number
    contributes = _contributes(family, per_entity)
    count = _filtered("COUNT(*)", contributes)
    if rows and family.kind == "sum":
        count = _filtered(f"COUNT(NULLIF({_q(str(family.x))}, 0))", _q(family.f) if family.f else None)
    items = [f"{count} AS {_q(f'{P}n{n}')}"]
    if family.kind == "sum":
        if per_entity:
            magnitude, where = f"ABS({_q(f'{P}s{n}')})", None
        else:
            magnitude, where = f"ABS({_q(family.x)})", _q(family.f) if family.f else None
        items.append(f"{_filtered(f'SUM({magnitude})', where)} AS {_q(f'{P}abs{n}')}")
        largest = _filtered(f"MAX({magnitude}, {int(top)})", where if rows else contributes)
        items.append(f"{largest} AS {_q(f'{P}top{n}')}")
    return items


def _value(spec: AggregateSpec, family: _Family, per_entity: bool) -> str:
    n = family.number
    x = _q(family.x) if family.x else None
    f = _q(family.f) if family.f else None
    if per_entity:
        c, s, m = _q(f"{P}c{n}"), _q(f"{P}s{n}"), _q(f"{P}m{n}")
        if spec.kind in ("count_rows", "count_value"):
            return f"CAST(SUM({c}) AS BIGINT)"
        if spec.kind == "count_entities":
            return _filtered("COUNT(*)", _contributes(family, per_entity))
        if spec.kind == "sum":
            return f"SUM({s})"
        return f"CAST(SUM({s}) AS DOUBLE) / NULLIF(SUM({m}), 0)"
    if spec.kind in ("count_rows", "count_entities"):
        return _filtered("COUNT(*)", f)
    if spec.kind == "count_value":
        return _filtered(f"COUNT({x})", f)
    return _filtered(f"{'SUM' if spec.kind == 'sum' else 'AVG'}({x})", f)


def _set_lists(families: list[_Family], per_entity: bool) -> list[str]:
    """Per family, the list of its contributing units' hashes."""
    items = []
    for family in families:
        hashes = _filtered(f"LIST({_q(HASH)})", _contributes(family, per_entity))
        items.append(f"{hashes} AS {_q(set_column(family.number))}")
    return items


def build_statistics_sql(
    plan: CheckedPlan,
    *,
    per_entity: bool,
    entity_sets: bool,
    top: int,
    guard_errors: bool,
    hash_key: str | None = None,
    entities_not_null: bool = False,
    signs: bool = False,
) -> str:
    """The SQL computing every cell's statistics (and, when asked, its contributing units).

    Args:
        plan: the checked plan.
        per_entity: add up rows per unit first (always correct); ``False`` only when every row
            is a different unit (registers).
        entity_sets: also return, per family and cell, the keyed hashes of the contributing units
            (:func:`set_column`).
        top: how many of the largest absolute unit totals to return per cell.
        guard_errors: wrap every row expression of the developer (keys, aggregate arguments,
            filters, WHERE, computed view columns) in ``TRY(…)``, so that no value in the data
            can make the query fail (a failure would tell the developer something about it).
            Bare columns and constants cannot fail and are left unwrapped (TRY costs time).
        hash_key: the entity hash key block (``entity_hash_key(secret)``); required with
            ``entity_sets``.
        entities_not_null: the data was proven to have no NULL entity key (registers): the
            NULL count is a constant 0, so a query without entity sets need not read the key.
        signs: with ``per_entity=False``, also the smallest and largest row value of every
            sum family (:func:`sign_column`), for the bounded checks of
            :mod:`countyos.lab.checked_sql.bounded`.

    Returns:
        One DuckDB query; result columns are named by :func:`key_column`,
        :func:`marker_column`, :data:`UNITS`, :data:`NULL_UNITS` and ``layout(plan).columns``.
    """
    if entity_sets and not hash_key:
        raise InternalError("entity sets need the entity hash key block")
    names = layout(plan)
    families = sorted(set(names.families.values()), key=lambda family: family.number)
    ctes = [
        f"{_q(name)} AS ({_sql(_guard_selects(select.copy()) if guard_errors else select)})"
        for name, select in plan.views
    ]
    ctes.append(f"{_q(ROWS)} AS ({_rows_cte(plan, names, guard_errors)})")
    source = ROWS
    if entity_sets and not per_entity:  # registers: one hash per row
        hashed = keyed_hash_sql(_q(ENTITY), str(hash_key))
        ctes.append(f"{_q(HASHED)} AS (SELECT *, {hashed} AS {_q(HASH)} FROM {_q(ROWS)})")
        source = HASHED
    if per_entity:
        partials = [item for family in families for item in _partials(family)]
        pair_items = [*_cell_columns(plan), _q(ENTITY), *partials]
        if entity_sets:
            pair_items.append(f"{keyed_hash_sql(_q(ENTITY), str(hash_key))} AS {_q(HASH)}")
        ctes.append(
            f"{_q(PAIRS)} AS (SELECT {', '.join(pair_items)} FROM {_q(ROWS)}"
            f"{_group_clause(plan, with_entity=True)})"
        )
        source = PAIRS
    items = [*_cell_columns(plan)]
    items.append(f"COUNT(*) AS {_q(UNITS)}")
    if entities_not_null:
        items.append(f"CAST(0 AS BIGINT) AS {_q(NULL_UNITS)}")
    else:
        items.append(f"COUNT(*) FILTER (WHERE {_q(ENTITY)} IS NULL) AS {_q(NULL_UNITS)}")
    for family in families:
        items.extend(_family_statistics(family, per_entity, top, signs and not per_entity))
        if signs and family.kind == "sum" and not per_entity:
            where = _q(family.f) if family.f else None
            for name in ("MIN", "MAX"):
                items.append(f"{_filtered(f'{name}({_q(str(family.x))})', where)} AS "
                             f"{_q(sign_column(name.lower(), family.number))}")
    if entity_sets:
        items.extend(_set_lists(families, per_entity))
    for spec in plan.aggregates:
        value = _value(spec, names.families[spec.index], per_entity)
        items.append(f"{value} AS {_q(names.columns(spec).value)}")
    cells = _cell_columns(plan)
    if per_entity:
        group = f" GROUP BY {', '.join(cells)}" if cells else ""
    else:
        group = _group_clause(plan, with_entity=False)
    return f"WITH {', '.join(ctes)} SELECT {', '.join(items)} FROM {_q(source)}{group}"
