"""From exact bounded aggregates to the noisy answer: collect in DuckDB, noise with OpenDP.

Owns running the bounding SQL of ``rewrite`` / ``quantiles`` through the caller's runner,
fixing the answer's groups (the declared domains' combinations, or the keys released by DP key
selection), invoking the calibrated measurements of ``design`` on the group vectors, and
assembling values with their 95% accuracy, post-processed only in ways that keep the intervals
valid and never move a value away from the truth: a count is clamped at 0, a sum of a column
whose bounds have one sign is clamped to that sign (the truth lies there, so clamping can only
shrink the error), an average is kept within its column's bounds.
ORDER BY and LIMIT are applied to the noisy values. Must not charge budgets: ``service`` charges
between ``collect`` (exact, unreleased) and ``release``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from countyos.lab.dp.answer import ValueAccuracy
from countyos.lab.dp.design import Design, MeasurementKey, measurement_keys
from countyos.lab.dp.mechanisms import MechanismRecord, interval_half_width
from countyos.lab.dp.metadata import ColumnKind, domain_token
from countyos.lab.dp.plan import AggregateKind, QueryPlan, ValueColumn
from countyos.lab.dp.quantiles import histogram_sql, scores
from countyos.lab.dp.rewrite import AggregateColumns, aggregate_sql, bounded_cte, midpoint_units

#: Runs trusted bounding SQL over the granted tables and returns its (small) result.
SqlRunner = Callable[[str], pa.Table]

Token = tuple[Any, ...]
ALPHA = 0.05


@dataclass
class Exact:
    """Exact aggregates per group (never released as such)."""

    groups: dict[Token, dict[str, int]] = field(default_factory=dict)
    key_values: dict[Token, tuple[Any, ...]] = field(default_factory=dict)
    histograms: dict[MeasurementKey, dict[Token, tuple[np.ndarray, ...]]] = field(
        default_factory=dict
    )
    names: AggregateColumns | None = None


def collect(plan: QueryPlan, design: Design, run: SqlRunner) -> Exact:
    """Run the bounding SQL and gather the exact aggregates per group."""
    sql, names = aggregate_sql(plan)
    table = run(sql).to_pydict()
    exact = Exact(names=names)
    columns = [c for c in table if c not in names.keys]
    size = len(table[names.rows]) if names.rows in table else 0
    for i in range(size):
        values = tuple(table[key][i] for key in names.keys)
        token = tuple(domain_token(v) for v in values)
        exact.key_values[token] = values
        exact.groups[token] = {c: int(table[c][i] or 0) for c in columns}
    index = {value.sql: j for j, value in enumerate(plan.value_columns)}
    cte = bounded_cte(plan) if design.quantiles else ""
    for key, selection in design.quantiles.items():
        j = index[str(key[1])]
        result = run(histogram_sql(cte, len(plan.keys), j, selection.grid)).to_pydict()
        per_group: dict[Token, list[list[Any]]] = {}
        for i in range(len(result["__n"])):
            token = tuple(domain_token(result[f"__k{g}"][i]) for g in range(len(plan.keys)))
            entry = per_group.setdefault(token, [[], [], []])
            entry[0].append(result["__p"][i])
            entry[1].append(bool(result["__eq"][i]))
            entry[2].append(result["__n"][i])
        exact.histograms[key] = {
            token: (np.asarray(p, dtype=np.int64), np.asarray(e, dtype=bool),
                    np.asarray(n, dtype=np.int64))
            for token, (p, e, n) in per_group.items()
        }
    return exact


def _groups(plan: QueryPlan, design: Design, exact: Exact) -> tuple[list[Token], list[tuple],
                                                                      dict[Token, int] | None]:
    if not plan.keys:
        return [()], [()], None
    if design.keys is None:
        domains = [key.domain or () for key in plan.keys]
        combos = list(itertools.product(*domains))
        return [tuple(domain_token(v) for v in combo) for combo in combos], combos, None
    counts = {repr(token): exact.groups[token]["__rows"] for token in exact.groups}
    released = design.keys.release(counts)
    by_text = {repr(token): token for token in exact.groups}
    tokens = sorted((by_text[text] for text in released), key=repr)
    noisy_rows = {by_text[text]: value for text, value in released.items()}
    return tokens, [exact.key_values[t] for t in tokens], noisy_rows


def _exact_vector(exact: Exact, tokens: list[Token], column: str) -> list[int]:
    return [exact.groups.get(token, {}).get(column, 0) for token in tokens]


def _column_of(key: MeasurementKey, names: AggregateColumns) -> str:
    kind = key[0]
    if kind == "rows":
        return names.rows
    if kind == "entities" and names.entities is not None:
        return names.entities
    sql = str(key[1]) if len(key) > 1 else ""
    if kind == "nonnull":
        return names.counted.get(sql) or names.value_counts[sql]
    if kind == "sum":
        return names.sums[sql]
    if kind == "csum":
        return names.centred_sums[sql]
    raise KeyError(f"no aggregate column for measurement {key!r}")


def release(
    plan: QueryPlan, design: Design, exact: Exact
) -> tuple[list[tuple[Any, ...]], list[tuple[ValueAccuracy | None, ...]], list[MechanismRecord]]:
    """Noise every measurement and assemble rows, accuracy and mechanism records."""
    tokens, key_values, noisy_rows = _groups(plan, design, exact)
    noisy: dict[MeasurementKey, np.ndarray] = {}
    records: list[MechanismRecord] = []
    if design.keys is not None:
        selection = design.keys
        records.append(MechanismRecord(
            "GROUP BY keys" + (" and COUNT(*)" if ("rows",) in measurement_keys(plan) else ""),
            selection.name, selection.scale, float(selection.distance[1]), selection.loss,
            selection.delta, f"keys released only if their noisy count ≥ {selection.threshold}",
        ))
        noisy[("rows",)] = np.asarray([noisy_rows[t] for t in tokens], dtype=np.int64) if (
            noisy_rows) else np.zeros(0, dtype=np.int64)
    for key, mechanism in design.vectors.items():
        assert exact.names is not None
        values = _exact_vector(exact, tokens, _column_of(key, exact.names))
        noisy[key] = mechanism.release(values)
        records.append(MechanismRecord(
            _describe(key), mechanism.name, mechanism.scale, float(mechanism.distance),
            mechanism.loss,
        ))
    picked: dict[MeasurementKey, list[float]] = {}
    for key, selection in design.quantiles.items():
        histogram = exact.histograms.get(key, {})
        empty = (np.zeros(0, np.int64), np.zeros(0, bool), np.zeros(0, np.int64))
        picked[key] = [
            selection.select(scores(*histogram.get(token, empty), len(selection.grid.values),
                                    selection.alpha))
            for token in tokens
        ]
        records.append(MechanismRecord(
            _describe(key), "quantile score + noisy max (OpenDP make_quantile_score_candidates "
            ">> make_noisy_max)", selection.scale, float(selection.distance), selection.loss,
            note=f"{len(selection.grid.values)} candidates from {selection.grid.values[0]:g} to "
            f"{selection.grid.values[-1]:g}",
        ))
    rows: list[tuple[Any, ...]] = []
    accuracy: list[tuple[ValueAccuracy | None, ...]] = []
    for g, values in enumerate(key_values):
        row: list[Any] = []
        cells: list[ValueAccuracy | None] = []
        for output in plan.outputs:
            if output.source == "key":
                row.append(values[output.index])
                cells.append(None)
                continue
            value, cell = _value(plan, design, output.index, g, noisy, picked)
            row.append(value)
            cells.append(cell)
        rows.append(tuple(row))
        accuracy.append(tuple(cells))
    return _order_and_limit(plan, rows, accuracy) + (records,)


def _label(sql: object) -> str:
    return str(sql).rsplit(".", 1)[-1].strip('"')


def _describe(key: MeasurementKey) -> str:
    kind = key[0]
    if len(key) > 1:
        key = (key[0], _label(key[1]), *key[2:])
    if kind == "rows":
        return "COUNT(*)"
    if kind == "entities":
        return "COUNT(DISTINCT entity)"
    if kind == "nonnull":
        return f"COUNT({key[1]})"
    if kind == "sum":
        return f"SUM({key[1]})"
    if kind == "csum":
        return f"AVG({key[1]}) numerator (sum centred on the bounds' midpoint)"
    return f"quantile {key[2]:g} of {key[1]}"


def _half(design: Design, key: MeasurementKey, alpha: float) -> float:
    if key == ("rows",) and design.keys is not None:
        return interval_half_width(design.accounting, design.keys.scale, alpha)
    return interval_half_width(design.accounting, design.vectors[key].scale, alpha)


def _count_cell(noisy: int, half: float) -> tuple[int, ValueAccuracy]:
    """A count is never negative: the noisy value and its interval are clamped at 0."""
    low, high = max(noisy - half, 0.0), max(noisy + half, 0.0)
    return max(noisy, 0), ValueAccuracy("interval", low, high, half)


def _value(
    plan: QueryPlan, design: Design, index: int, g: int,
    noisy: dict[MeasurementKey, np.ndarray], picked: dict[MeasurementKey, list[float]],
) -> tuple[Any, ValueAccuracy]:
    aggregate = plan.aggregates[index]
    kind = aggregate.kind
    if kind is AggregateKind.COUNT:
        key: MeasurementKey = (
            ("nonnull", aggregate.counted_sql) if aggregate.counted_sql else ("rows",)
        )
        return _count_cell(int(noisy[key][g]), _half(design, key, ALPHA))
    if kind is AggregateKind.COUNT_ENTITIES:
        return _count_cell(int(noisy[("entities",)][g]), _half(design, ("entities",), ALPHA))
    column = aggregate.value
    assert column is not None
    if kind is AggregateKind.SUM:
        key = ("sum", column.sql)
        half = _half(design, key, ALPHA) * column.resolution
        return _sum_cell(_from_units(int(noisy[key][g]), column), half, column)
    if kind is AggregateKind.AVG:
        return _average(design, column, g, noisy)
    key = ("quantile", column.sql, aggregate.quantile)
    selection = design.quantiles[key]
    return _from_grid(picked[key][g], column), ValueAccuracy(
        "rank", rank_error=selection.rank_error(ALPHA)
    )


def _sum_cell(total: float | int, half: float,
              column: ValueColumn) -> tuple[float | int, ValueAccuracy]:
    """A sum of values clipped to [lower ≥ 0, …] is ≥ 0 (of […, upper ≤ 0] ≤ 0): clamp to it."""
    zero = 0 if isinstance(total, int) else 0.0
    low, high = total - half, total + half
    if column.lower >= 0:
        total, low, high = max(total, zero), max(low, 0.0), max(high, 0.0)
    elif column.upper <= 0:
        total, low, high = min(total, zero), min(low, 0.0), min(high, 0.0)
    return total, ValueAccuracy("interval", low, high, half)


def _from_units(units: int, column: ValueColumn) -> float | int:
    if column.kind is ColumnKind.INTEGER:
        return int(units)
    return float(units) * column.resolution


def _from_grid(value: float, column: ValueColumn) -> float | int:
    if column.kind is ColumnKind.INTEGER and float(value).is_integer():
        return int(value)
    return float(value)


def _average(
    design: Design, column: ValueColumn, g: int, noisy: dict[MeasurementKey, np.ndarray]
) -> tuple[float, ValueAccuracy]:
    """AVG = midpoint + noisy centred sum / noisy count; its interval holds both at α/2."""
    centred = float(noisy[("csum", column.sql)][g])
    count = float(noisy[("nonnull", column.sql)][g])
    middle = midpoint_units(column)
    lower_units, upper_units = column.lower / column.resolution, column.upper / column.resolution
    if count >= 1:
        estimate = min(max(middle + centred / count, lower_units), upper_units)
    else:
        estimate = float(middle)
    half_sum = _half(design, ("csum", column.sql), ALPHA / 2)
    half_count = _half(design, ("nonnull", column.sql), ALPHA / 2)
    low_count = count - half_count
    if low_count <= 0:
        low, high = lower_units, upper_units
    else:
        high_count = count + half_count
        low_sum, high_sum = centred - half_sum, centred + half_sum
        low = middle + (low_sum / low_count if low_sum < 0 else low_sum / high_count)
        high = middle + (high_sum / low_count if high_sum > 0 else high_sum / high_count)
        low, high = max(low, lower_units), min(high, upper_units)
    scale = column.resolution
    half = (high - low) * scale / 2
    return estimate * scale, ValueAccuracy("interval", low * scale, high * scale, half)


def _order_and_limit(
    plan: QueryPlan, rows: list[tuple[Any, ...]], accuracy: list[tuple[ValueAccuracy | None, ...]]
) -> tuple[list[tuple[Any, ...]], list[tuple[ValueAccuracy | None, ...]]]:
    paired = list(zip(rows, accuracy))
    for index, descending in reversed(plan.order_by):
        paired.sort(key=lambda pair: _sort_key(pair[0][index]), reverse=descending)
    if plan.limit is not None:
        paired = paired[: plan.limit]
    return [row for row, _ in paired], [cells for _, cells in paired]


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, (int, float)):
        return (1, value)
    return (2, str(value))
