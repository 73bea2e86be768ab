"""Accuracy before spending: what an ε buys, and what ε an accuracy target needs.

Owns the two questions a developer asks before charging a budget, answered from public inputs
only (the SQL, the metadata and OpenDP's accuracy utilities, never the data):

- ``preview_accuracy``: for given parameters, the 95% ± of each output column (counts and sums
  exactly as the answer will state it; averages for an expected count; quantiles in ranks);
- ``plan_budget``: the inverse, "what ε (or ρ) does ±5% on this count need?": for each output
  with a target, OpenDP's ``accuracy_to_discrete_laplacian_scale`` (pure) or
  ``accuracy_to_discrete_gaussian_scale`` (zCDP) gives the largest noise scale that meets it; the
  privacy map of that mechanism at the output's sensitivity is the loss it needs, and because a
  query splits its budget evenly over its measurements the query needs the largest such loss
  times their number. A relative target needs the expected size of the value (e.g. from the
  synthetic twin), since the true value is private.

Must not read data or charge budgets.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

import opendp.prelude as dp

from countyos.errors import InvalidInputError
from countyos.lab.dp.design import design_query, measurement_keys
from countyos.lab.dp.mechanisms import _vector_measurement, interval_half_width
from countyos.lab.dp.metadata import TableMetadata, check_metadata
from countyos.lab.dp.params import Accounting, PrivacyParams
from countyos.lab.dp.plan import AggregateKind, QueryPlan
from countyos.lab.dp.planner import plan_query
from countyos.lab.dp.rewrite import midpoint_units

dp.enable_features("contrib")


@dataclass(frozen=True)
class ColumnAccuracy:
    """The expected accuracy of one output column.

    Attributes:
        column: output column name.
        kind: ``interval`` (± in the value's units) or ``rank`` (quantiles, in rows).
        half_width: the ± at the confidence level (None for an average without an expected
            count).
        rank_error: rows (quantiles).
        note: how it was derived.
    """

    column: str
    kind: str
    half_width: float | None = None
    rank_error: float | None = None
    note: str = ""


@dataclass(frozen=True)
class AccuracyTarget:
    """The accuracy wanted for one output column, at 95% confidence.

    Attributes:
        absolute: ± in the value's units (rows for a count).
        relative: ± as a fraction of ``expected_value`` (0.05 is ±5%).
        expected_value: the value's expected size (e.g. from the synthetic twin); needed with
            ``relative``.
        expected_count: rows expected behind an average (needed for AVG).
    """

    absolute: float | None = None
    relative: float | None = None
    expected_value: float | None = None
    expected_count: float | None = None

    def tolerance(self, column: str) -> float:
        """The absolute ± this target asks for."""
        if self.absolute is not None:
            if not self.absolute > 0:
                raise InvalidInputError(f"{column}: the absolute accuracy must be positive")
            return float(self.absolute)
        if self.relative is None or self.expected_value is None:
            raise InvalidInputError(
                f"{column}: give an absolute accuracy, or a relative one with the expected "
                "value (for example from the synthetic twin)"
            )
        tolerance = float(self.relative) * abs(float(self.expected_value))
        if not tolerance > 0:
            raise InvalidInputError(f"{column}: the relative accuracy must be positive")
        return tolerance


@dataclass(frozen=True)
class BudgetPlan:
    """What a query needs to meet accuracy targets.

    Attributes:
        accounting: the unit of ``amount``.
        amount: ε (pure) or ρ (zCDP) for the whole query, rounded up to 3 significant digits.
        per_column: the accuracy each output column will then have.
    """

    accounting: Accounting
    amount: Decimal
    per_column: tuple[ColumnAccuracy, ...]

    def params(self, **extra: object) -> PrivacyParams:
        """``PrivacyParams`` spending ``amount`` (extra fields such as delta passed through)."""
        if self.accounting is Accounting.PURE:
            return PrivacyParams(epsilon=self.amount, **extra)  # type: ignore[arg-type]
        return PrivacyParams(rho=self.amount, **extra)  # type: ignore[arg-type]


def preview_accuracy(
    sql: str,
    *,
    metadata: Mapping[str, TableMetadata],
    accounting: Accounting,
    privacy: PrivacyParams,
    expected_counts: Mapping[str, float] | None = None,
) -> list[ColumnAccuracy]:
    """The 95% accuracy each aggregate of ``sql`` will have under ``privacy``.

    Args:
        sql: the query.
        metadata: DP metadata by table.
        accounting: the budget's accounting.
        privacy: what the query would spend.
        expected_counts: output column → expected rows behind an AVG (for its ±).

    Raises:
        QueryRefusedError: the query cannot be answered under DP.
        InvalidInputError: bad parameters.
    """
    params = privacy.checked(accounting)
    plan = plan_query(sql, check_metadata(metadata), max_contributions=params.max_contributions)
    design = design_query(plan, params, accounting)
    result: list[ColumnAccuracy] = []
    for aggregate in plan.aggregates:
        value = aggregate.value
        if aggregate.kind is AggregateKind.QUANTILE and value is not None:
            selection = design.quantiles[("quantile", value.sql, aggregate.quantile)]
            result.append(ColumnAccuracy(aggregate.name, "rank",
                                         rank_error=selection.rank_error()))
            continue
        if aggregate.kind is AggregateKind.AVG and value is not None:
            count = (expected_counts or {}).get(aggregate.name)
            half_sum = interval_half_width(
                accounting, design.vectors[("csum", value.sql)].scale, 0.025)
            half_count = interval_half_width(
                accounting, design.vectors[("nonnull", value.sql)].scale, 0.025)
            if count is None or count <= half_count:
                result.append(ColumnAccuracy(aggregate.name, "interval", None,
                                             note="give the expected count behind the average"))
                continue
            spread = max(abs(u - midpoint_units(value)) for u in value.unit_bounds)
            half = (half_sum + spread * half_count) / (count - half_count) * value.resolution
            result.append(ColumnAccuracy(aggregate.name, "interval", half,
                                         note=f"for about {count:g} rows"))
            continue
        key = _key_of(aggregate.kind, aggregate.counted_sql, value.sql if value else None)
        scale = design.keys.scale if key == ("rows",) and design.keys else design.vectors[
            key].scale
        resolution = value.resolution if aggregate.kind is AggregateKind.SUM and value else 1.0
        result.append(ColumnAccuracy(
            aggregate.name, "interval", interval_half_width(accounting, scale) * resolution,
        ))
    return result


def _key_of(kind: AggregateKind, counted: str | None, value_sql: str | None) -> tuple[object, ...]:
    if kind is AggregateKind.COUNT:
        return ("nonnull", counted) if counted else ("rows",)
    if kind is AggregateKind.COUNT_ENTITIES:
        return ("entities",)
    return ("sum", value_sql)


def plan_budget(
    sql: str,
    *,
    metadata: Mapping[str, TableMetadata],
    accounting: Accounting,
    targets: Mapping[str, AccuracyTarget],
    max_contributions: int | None = None,
    delta: float = 0.0,
) -> BudgetPlan:
    """The ε (or ρ) a query needs so each targeted output meets its 95% accuracy.

    Args:
        sql: the query.
        metadata: DP metadata by table.
        accounting: the budget's accounting (``pure`` → ε, ``zcdp`` → ρ).
        targets: output column name → its accuracy target; outputs without a target follow.
        max_contributions: k; ``None`` uses the tables' default.
        delta: δ for key selection, if the query needs it.

    Raises:
        InvalidInputError: no target, a target on an unknown or quantile column, or a target
            without what it needs (expected value, expected count).
        QueryRefusedError: the query cannot be answered under DP.
    """
    if not targets:
        raise InvalidInputError("give an accuracy target for at least one output column")
    plan = plan_query(sql, check_metadata(metadata), max_contributions=max_contributions)
    by_name = {aggregate.name: aggregate for aggregate in plan.aggregates}
    slots = len(measurement_keys(plan))
    if plan.needs_key_selection and ("rows",) not in measurement_keys(plan):
        slots += 1
    needed = 0.0
    for name, target in targets.items():
        aggregate = by_name.get(name)
        if aggregate is None:
            raise InvalidInputError(f"{name!r} is not an aggregate output of the query")
        needed = max(needed, _loss_for(plan, aggregate, target, accounting))
    amount = _round_up(Decimal(repr(needed * slots)))
    params = PrivacyParams(
        epsilon=amount if accounting is Accounting.PURE else None,
        rho=amount if accounting is Accounting.ZCDP else None,
        delta=delta, max_contributions=max_contributions,
    )
    counts = {name: t.expected_count for name, t in targets.items() if t.expected_count}
    per_column = preview_accuracy(sql, metadata=metadata, accounting=accounting,
                                  privacy=params, expected_counts=counts)  # type: ignore[arg-type]
    return BudgetPlan(accounting, amount, tuple(per_column))


def _loss_for(plan: QueryPlan, aggregate, target: AccuracyTarget,  # type: ignore[no-untyped-def]
              accounting: Accounting) -> float:
    k = plan.max_contributions
    tolerance = target.tolerance(aggregate.name)
    value = aggregate.value
    if aggregate.kind is AggregateKind.QUANTILE:
        raise InvalidInputError(
            f"{aggregate.name}: quantile accuracy is stated in ranks; plan it with "
            "preview_accuracy"
        )
    if aggregate.kind in (AggregateKind.COUNT, AggregateKind.COUNT_ENTITIES):
        return _loss(accounting, tolerance, k, 0.05)
    assert value is not None
    if aggregate.kind is AggregateKind.SUM:
        bound = k * max(abs(u) for u in value.unit_bounds)
        return _loss(accounting, tolerance / value.resolution, bound, 0.05)
    if not target.expected_count:
        raise InvalidInputError(f"{aggregate.name}: an AVG target needs expected_count")
    count = float(target.expected_count)
    spread = max(abs(u - midpoint_units(value)) for u in value.unit_bounds)
    # Half the error to the sum, half to the count, shrunk by f so that the interval's
    # (h_s + spread·h_c) / (count − h_c) ≤ tolerance: f = 1 / (1 + tolerance / (2·spread)).
    units = tolerance / value.resolution
    shrink = 1.0 / (1.0 + units / (2 * spread))
    half_sum, half_count = units * count * shrink / 2, units * count * shrink / (2 * spread)
    return max(_loss(accounting, half_sum, k * spread, 0.025),
               _loss(accounting, half_count, k, 0.025))


def _loss(accounting: Accounting, half_width: float, sensitivity: float, alpha: float) -> float:
    if accounting is Accounting.PURE:
        scale = float(dp.accuracy_to_discrete_laplacian_scale(float(half_width), alpha))
        return float(_vector_measurement(accounting, scale).map(int(math.ceil(sensitivity))))
    scale = float(dp.accuracy_to_discrete_gaussian_scale(float(half_width), alpha))
    return float(_vector_measurement(accounting, scale).map(float(sensitivity)))


def _round_up(amount: Decimal) -> Decimal:
    if amount <= 0:
        raise InvalidInputError("the accuracy target needs no privacy budget")
    exponent = amount.adjusted() - 2
    step = Decimal(1).scaleb(exponent)
    return (amount / step).to_integral_value(rounding=ROUND_CEILING) * step
