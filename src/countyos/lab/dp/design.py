"""The mechanism design of a query: which OpenDP measurements it needs and their calibration.

Owns splitting one query's ε (or ρ) evenly over its distinct measurements, computing each one's
sensitivity from k (rows per entity) and the column bounds, calibrating it with OpenDP, and
checking with exact arithmetic that the OpenDP-mapped losses add up to no more than what is
charged. Everything here depends only on public inputs (plan, metadata, parameters), so the
design is also what ``accuracy`` uses to tell the accuracy of an answer before spending.
Measurements are shared: COUNT(x) and the count behind AVG(x) are one measurement, and with DP
key selection the threshold mechanism's noisy counts are the COUNT(*) answer.

Sensitivities (adding or removing one entity with at most k rows, spread over the groups):
rows and non-null counts L1 = L2 = k; distinct entities L1 = min(k, G), L2 = √min(k, G); sums
on the grid L1 = L2 = k · max|value|; centred sums (for AVG) k · max|value − midpoint|.
Must not read data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

from countyos.errors import InternalError, QueryRefusedError
from countyos.lab.dp.mechanisms import KeySelection, VectorNoise, key_selection, vector_noise
from countyos.lab.dp.params import Accounting, PrivacyParams, float_at_most, to_amount
from countyos.lab.dp.plan import AggregateKind, QueryPlan, ValueColumn
from countyos.lab.dp.quantiles import QuantileSelection, candidates_for, quantile_selection
from countyos.lab.dp.rewrite import midpoint_units

#: Measurement identities: ("rows",), ("nonnull", sql), ("entities",), ("sum", sql),
#: ("csum", sql), ("quantile", sql, q).
MeasurementKey = tuple[object, ...]


@dataclass
class Design:
    """The calibrated measurements of one query."""

    plan: QueryPlan
    accounting: Accounting
    target: float
    share: float
    vectors: dict[MeasurementKey, VectorNoise] = field(default_factory=dict)
    quantiles: dict[MeasurementKey, QuantileSelection] = field(default_factory=dict)
    keys: KeySelection | None = None
    total_loss: float = 0.0
    total_delta: float = 0.0

    @property
    def rows_from_key_selection(self) -> bool:
        """Whether the COUNT(*) values are the key selection's noisy counts."""
        return self.keys is not None


def measurement_keys(plan: QueryPlan) -> list[MeasurementKey]:
    """The distinct measurements the plan's aggregates need, in first-use order."""
    keys: list[MeasurementKey] = []

    def add(key: MeasurementKey) -> None:
        if key not in keys:
            keys.append(key)

    for aggregate in plan.aggregates:
        value = aggregate.value
        if aggregate.kind is AggregateKind.COUNT:
            add(("nonnull", aggregate.counted_sql) if aggregate.counted_sql else ("rows",))
        elif aggregate.kind is AggregateKind.COUNT_ENTITIES:
            add(("entities",))
        elif aggregate.kind is AggregateKind.SUM and value is not None:
            add(("sum", value.sql))
        elif aggregate.kind is AggregateKind.AVG and value is not None:
            add(("csum", value.sql))
            add(("nonnull", value.sql))
        elif aggregate.kind is AggregateKind.QUANTILE and value is not None:
            add(("quantile", value.sql, aggregate.quantile))
    return keys


def _group_bound(plan: QueryPlan) -> int | None:
    if not plan.keys:
        return 1
    if plan.needs_key_selection:
        return None
    return math.prod(len(key.domain or ()) for key in plan.keys)


def _sum_bound(value: ValueColumn, centred: bool) -> int:
    lower, upper = value.unit_bounds
    if centred:
        middle = midpoint_units(value)
        return max(upper - middle, middle - lower)
    return max(abs(lower), abs(upper))


def design_query(plan: QueryPlan, params: PrivacyParams, accounting: Accounting) -> Design:
    """Calibrate every measurement of the plan within the query's ε (or ρ) and δ.

    Args:
        plan: the analysed query.
        params: checked parameters (``PrivacyParams.checked``).
        accounting: the budget's accounting.

    Raises:
        QueryRefusedError: key selection is needed but δ is 0.
        InternalError: the OpenDP-mapped losses exceed the query's budget (a bug).
    """
    amount = params.epsilon if accounting is Accounting.PURE else params.rho
    target = float_at_most(to_amount(amount, "privacy amount"))
    delta = float_at_most(to_amount(params.delta, "delta"))
    if plan.needs_key_selection and delta <= 0:
        unnamed = [key.name for key in plan.keys if key.domain is None]
        raise QueryRefusedError(
            f"GROUP BY {', '.join(unnamed)} has no declared public domain, so its keys must be "
            "chosen by DP key selection, which needs delta > 0 (e.g. 1e-6); or ask the steward "
            "to declare the column's values"
        )
    wanted = measurement_keys(plan)
    selection = plan.needs_key_selection
    slots = len(wanted) + (1 if selection else 0) - (1 if selection and ("rows",) in wanted
                                                        else 0)
    share = math.nextafter(target / slots, 0.0)
    design = Design(plan=plan, accounting=accounting, target=target, share=share)
    k = plan.max_contributions
    groups = _group_bound(plan)
    values = {value.sql: value for value in plan.value_columns}
    losses: list[float] = []
    if selection:
        design.keys = key_selection(accounting, k, share, delta)
        losses.append(design.keys.loss)
        design.total_delta = design.keys.delta
    for key in wanted:
        kind = key[0]
        if kind == "rows" and selection:
            continue
        if kind in ("rows", "nonnull"):
            design.vectors[key] = vector_noise(accounting, k, k, share)
        elif kind == "entities":
            touched = k if groups is None else min(k, groups)
            design.vectors[key] = vector_noise(accounting, touched, math.sqrt(touched), share)
        elif kind in ("sum", "csum"):
            bound = k * _sum_bound(values[str(key[1])], centred=kind == "csum")
            design.vectors[key] = vector_noise(accounting, bound, bound, share)
        elif kind == "quantile":
            value = values[str(key[1])]
            grid = candidates_for(value, params.max_quantile_candidates)
            design.quantiles[key] = quantile_selection(
                accounting, grid, float(key[2]), k, share  # type: ignore[arg-type]
            )
        losses.append(
            design.vectors[key].loss if key in design.vectors else design.quantiles[key].loss
        )
    total = sum((Fraction(loss) for loss in losses), Fraction(0))
    if total > Fraction(target) or design.total_delta > delta:
        raise InternalError("the calibrated mechanisms exceed the query's privacy budget")
    design.total_loss = float(total)
    return design
