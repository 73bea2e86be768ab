"""The stated accuracy matches the noise: statistical checks with fixed-seed data.

OpenDP samples its noise from the operating system's secure generator and cannot be seeded (by
design), so these tests are made non-flaky by their bands, not by a seed: each compares an
empirical frequency over thousands of draws with the exact probability computed from the noise
distribution, within 5 standard errors (a false failure about once in 1.7 million runs). The
data are generated from fixed seeds.
"""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest
from tests.unit.lab.dp.dp_testdata import write_table

from countyos.errors import InvalidInputError
from countyos.lab.dp import (
    Accounting,
    AccuracyTarget,
    Budget,
    ColumnMetadata,
    InMemoryAnswerCache,
    InMemoryBudgetLedger,
    PrivacyParams,
    QueryContext,
    TableMetadata,
    answer_query,
    plan_budget,
    preview_accuracy,
)
from countyos.lab.dp.mechanisms import interval_half_width, vector_noise

SIGMAS = 5.0


def coverage_probability(accounting: Accounting, scale: float, half_width: float) -> float:
    """P(|Z| ≤ half_width) for OpenDP's discrete Laplace / Gaussian of ``scale``."""
    limit = math.floor(half_width)
    if accounting is Accounting.PURE:
        ratio = math.exp(-1.0 / scale)
        return 1.0 - 2.0 * ratio ** (limit + 1) / (1.0 + ratio)
    support = np.arange(-int(60 * scale) - 60, int(60 * scale) + 61)
    weights = np.exp(-(support.astype(float) ** 2) / (2 * scale**2))
    return float(weights[np.abs(support) <= limit].sum() / weights.sum())


def assert_close(successes: int, trials: int, probability: float) -> None:
    error = math.sqrt(probability * (1 - probability) / trials)
    observed = successes / trials
    assert abs(observed - probability) <= SIGMAS * error + 1e-12, (observed, probability)


@pytest.mark.parametrize(("accounting", "target"), [(Accounting.PURE, 0.5),
                                                     (Accounting.ZCDP, 0.02)])
def test_noise_spread_agrees_with_the_reported_interval(accounting: Accounting,
                                                        target: float) -> None:
    noise = vector_noise(accounting, 3, 3.0, target)
    assert noise.loss <= target
    draws = noise.release(np.zeros(20_000, dtype=np.int64))
    half = interval_half_width(accounting, noise.scale)
    probability = coverage_probability(accounting, noise.scale, half)
    assert probability >= 0.95  # the stated 95% interval is valid ...
    assert probability < 0.975  # ... and not needlessly wide
    assert_close(int((np.abs(draws) <= half).sum()), draws.size, probability)
    if accounting is Accounting.PURE:
        ratio = math.exp(-1.0 / noise.scale)
        variance = 2 * ratio / (1 - ratio) ** 2
    else:
        variance = noise.scale**2
    assert float(np.var(draws)) == pytest.approx(variance, rel=0.1)
    assert abs(float(np.mean(draws))) < SIGMAS * math.sqrt(variance / draws.size)


@pytest.fixture(scope="module")
def grouped(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(20261122)
    rows = 40_000
    table = pa.table({
        "pid": np.arange(rows, dtype=np.int64),
        "g": rng.integers(0, 400, size=rows),
        "hours": rng.integers(0, 99, size=rows),
    })
    source = write_table(tmp_path_factory.mktemp("grouped"), "lfs", table)
    meta = TableMetadata("lfs", "pid", [
        ColumnMetadata("g", "categorical", public_domain=tuple(range(400))),
        ColumnMetadata("hours", "integer", 0, 98),
    ])
    frame = table.to_pandas()
    frame["hours"] = frame["hours"].clip(0, 98)
    truth = frame.groupby("g").agg(n=("pid", "size"), s=("hours", "sum"), a=("hours", "mean"))
    return {"lfs": source}, {"lfs": meta}, truth


@pytest.mark.parametrize("budget", [Budget("pure", 100), Budget("zcdp", 100, "1e-6")])
def test_answer_intervals_cover_the_bounded_truth_as_stated(grouped, runner, budget) -> None:  # type: ignore[no-untyped-def]
    sources, metadata, truth = grouped
    ledger = InMemoryBudgetLedger()
    ledger.set_budget("proj", "lfs", budget, steward="li")
    covered = {"n": 0, "s": 0, "a": 0}
    trials = 0
    probability = {}
    for repeat in range(5):
        privacy = (PrivacyParams(epsilon="0.6") if budget.accounting is Accounting.PURE
                   else PrivacyParams(rho="0.01"))
        answer = answer_query(
            f"SELECT g, COUNT(*) AS n, SUM(hours) AS s, AVG(hours) AS a FROM lfs "
            f"WHERE hours >= -{repeat} GROUP BY g",
            context=QueryContext("proj", "wang"), tables=sources, metadata=metadata,
            budget=ledger, privacy=privacy, run=runner, cache=InMemoryAnswerCache(),
        )
        records = {record.target: record for record in answer.mechanisms}
        for name, target in (("n", "COUNT(*)"), ("s", "SUM(hours)")):
            record = records[target]
            half = interval_half_width(budget.accounting, record.scale)
            probability[name] = coverage_probability(budget.accounting, record.scale, half)
        for row, cells in zip(answer.rows, answer.accuracy):
            exact = truth.loc[row[0]]
            for index, name in ((1, "n"), (2, "s"), (3, "a")):
                cell = cells[index]
                covered[name] += cell.lower - 1e-9 <= exact[name] <= cell.upper + 1e-9
            trials += 1
    assert trials == 2000
    assert_close(covered["n"], trials, probability["n"])
    assert_close(covered["s"], trials, probability["s"])
    # The AVG interval holds the sum and the count at 97.5% each: at least 95% jointly.
    assert covered["a"] / trials >= 0.95 - SIGMAS * math.sqrt(0.95 * 0.05 / trials)


def test_planned_epsilon_meets_the_target_without_waste(grouped) -> None:  # type: ignore[no-untyped-def]
    _, metadata, _ = grouped
    sql = "SELECT COUNT(*) AS n, SUM(hours) AS s FROM lfs"
    plan = plan_budget(sql, metadata=metadata, accounting=Accounting.PURE,
                       targets={"n": AccuracyTarget(relative=0.05, expected_value=2000)})
    n_accuracy = next(c for c in plan.per_column if c.column == "n")
    assert n_accuracy.half_width <= 100.0  # ±5% of 2,000
    assert n_accuracy.half_width > 80.0  # rounded up to 3 digits, not wasteful
    smaller = PrivacyParams(epsilon=plan.amount * Decimal("0.9"))
    worse = preview_accuracy(sql, metadata=metadata, accounting=Accounting.PURE,
                             privacy=smaller)
    assert worse[0].half_width > 100.0  # 10% less ε misses the target


def test_planned_rho_meets_an_average_target(grouped) -> None:  # type: ignore[no-untyped-def]
    _, metadata, _ = grouped
    plan = plan_budget("SELECT AVG(hours) AS a FROM lfs", metadata=metadata,
                       accounting=Accounting.ZCDP,
                       targets={"a": AccuracyTarget(absolute=0.5, expected_count=40_000)})
    assert plan.accounting is Accounting.ZCDP and plan.amount > 0
    assert plan.per_column[0].half_width <= 0.5
    assert plan.params().rho == plan.amount


def test_planning_needs_what_it_cannot_know(grouped) -> None:  # type: ignore[no-untyped-def]
    _, metadata, _ = grouped
    with pytest.raises(InvalidInputError, match="expected value"):
        plan_budget("SELECT COUNT(*) AS n FROM lfs", metadata=metadata,
                    accounting=Accounting.PURE, targets={"n": AccuracyTarget(relative=0.05)})
    with pytest.raises(InvalidInputError, match="expected_count"):
        plan_budget("SELECT AVG(hours) AS a FROM lfs", metadata=metadata,
                    accounting=Accounting.PURE, targets={"a": AccuracyTarget(absolute=1)})
    with pytest.raises(InvalidInputError, match="ranks"):
        plan_budget("SELECT MEDIAN(hours) AS m FROM lfs", metadata=metadata,
                    accounting=Accounting.PURE, targets={"m": AccuracyTarget(absolute=1)})


@pytest.mark.parametrize("scale", [20_001.0, 250_000.0])
def test_wide_gaussian_shortcut_is_conservative(scale: float) -> None:
    import opendp.prelude as dp

    shortcut = interval_half_width(Accounting.ZCDP, scale)
    exact = float(dp.discrete_gaussian_scale_to_accuracy(scale, 0.05))
    assert exact <= shortcut <= exact + 1
