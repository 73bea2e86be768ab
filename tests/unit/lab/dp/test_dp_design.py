"""Mechanism design: OpenDP-mapped losses never exceed what is charged; metadata is checked."""

from __future__ import annotations

from fractions import Fraction

import opendp.prelude as dp
import pytest
from tests.unit.lab.dp.dp_testdata import people_metadata, visits_metadata

from countyos.errors import InvalidInputError, QueryRefusedError
from countyos.lab.dp import Accounting, ColumnMetadata, PrivacyParams, TableMetadata, plan_query
from countyos.lab.dp.design import design_query
from countyos.lab.dp.mechanisms import key_selection

META = {"people": people_metadata(), "visits": visits_metadata()}
QUERIES = [
    "SELECT COUNT(*) FROM people",
    "SELECT township, COUNT(*), SUM(income), AVG(age), MEDIAN(income) FROM people "
    "GROUP BY township",
    "SELECT job, COUNT(*), AVG(income), COUNT(DISTINCT pid) FROM people GROUP BY job",
    "SELECT p.sex, SUM(v.cost), quantile_cont(v.cost, 0.9) FROM people p JOIN visits v "
    "ON p.pid = v.pid GROUP BY p.sex",
]


@pytest.mark.parametrize("sql", QUERIES)
@pytest.mark.parametrize(("accounting", "privacy"), [
    (Accounting.PURE, PrivacyParams(epsilon="0.3", delta="1e-7", max_contributions=3)),
    (Accounting.ZCDP, PrivacyParams(rho="0.07", delta="1e-8")),
])
def test_mapped_losses_stay_within_the_charge(sql: str, accounting: Accounting,
                                              privacy: PrivacyParams) -> None:
    params = privacy.checked(accounting)
    plan = plan_query(sql, META, max_contributions=params.max_contributions)
    design = design_query(plan, params, accounting)
    losses = [m.loss for m in design.vectors.values()]
    losses += [q.loss for q in design.quantiles.values()]
    if design.keys is not None:
        losses.append(design.keys.loss)
        assert design.keys.delta <= float(params.delta)
    amount = params.epsilon if accounting is Accounting.PURE else params.rho
    assert sum(map(Fraction, losses)) <= Fraction(amount)
    assert sum(losses) > 0.99 * float(amount)  # the budget is used, not wasted


def test_count_sensitivity_is_k_as_opendp_counts_it() -> None:
    dp.enable_features("contrib")
    count = dp.t.make_count(dp.vector_domain(dp.atom_domain(T="i64")), dp.symmetric_distance())
    plan = plan_query("SELECT COUNT(*) FROM visits", META, max_contributions=4)
    design = design_query(plan, PrivacyParams(epsilon=1).checked(Accounting.PURE),
                          Accounting.PURE)
    assert design.vectors[("rows",)].distance == count.map(4) == 4


def test_sum_sensitivity_matches_opendps_bounded_sum() -> None:
    dp.enable_features("contrib")
    bounded_sum = dp.t.make_sum(
        dp.vector_domain(dp.atom_domain(bounds=(0, 1000), T="i64")), dp.symmetric_distance()
    )
    plan = plan_query("SELECT SUM(cost) FROM visits", META, max_contributions=2)
    design = design_query(plan, PrivacyParams(epsilon=1).checked(Accounting.PURE),
                          Accounting.PURE)
    assert design.vectors[("sum", plan.aggregates[0].value.sql)].distance == bounded_sum.map(2)


def test_key_selection_threshold_grows_as_delta_shrinks() -> None:
    loose = key_selection(Accounting.PURE, 1, 0.5, 1e-4)
    tight = key_selection(Accounting.PURE, 1, 0.5, 1e-10)
    assert tight.threshold > loose.threshold
    assert loose.delta <= 1e-4 and tight.delta <= 1e-10
    assert key_selection(Accounting.PURE, 1, 0.5, 1e-10).threshold == tight.threshold


def test_key_selection_without_delta_is_refused() -> None:
    plan = plan_query("SELECT job, COUNT(*) FROM people GROUP BY job", META)
    with pytest.raises(QueryRefusedError, match="delta > 0"):
        design_query(plan, PrivacyParams(epsilon=1).checked(Accounting.PURE), Accounting.PURE)


@pytest.mark.parametrize("column", [
    ColumnMetadata("x", "integer", 5, 1),
    ColumnMetadata("x", "integer", 0.5, 3),
    ColumnMetadata("x", "categorical", 0, 3),
    ColumnMetadata("x", "float", 0, float("inf")),
    ColumnMetadata("x", "float", 0, None),
    ColumnMetadata("x", public_domain=()),
    ColumnMetadata("x", public_domain=(1, 1.0)),
    ColumnMetadata("x", "float", 0, 1, resolution=-1),
    ColumnMetadata("x y"),
])
def test_bad_column_metadata_is_refused(column: ColumnMetadata) -> None:
    with pytest.raises(InvalidInputError):
        plan_query("SELECT COUNT(*) FROM t", {"t": TableMetadata("t", "id", [column])})


def test_bad_privacy_parameters_are_refused() -> None:
    for params, accounting in [
        (PrivacyParams(), Accounting.PURE),
        (PrivacyParams(epsilon=0), Accounting.PURE),
        (PrivacyParams(epsilon=1, delta=1), Accounting.PURE),
        (PrivacyParams(epsilon=1), Accounting.ZCDP),
        (PrivacyParams(rho=1), Accounting.PURE),
        (PrivacyParams(epsilon=1, max_contributions=0), Accounting.PURE),
    ]:
        with pytest.raises(InvalidInputError):
            params.checked(accounting)
