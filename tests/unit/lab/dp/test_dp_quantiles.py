"""DP quantiles: DuckDB-computed scores equal OpenDP's own quantile score transformation."""

from __future__ import annotations

import duckdb
import numpy as np
import opendp.prelude as dp
import pyarrow as pa
import pytest

from countyos.lab.dp.metadata import ColumnKind
from countyos.lab.dp.params import Accounting
from countyos.lab.dp.plan import ValueColumn
from countyos.lab.dp.quantiles import (
    CandidateGrid,
    alpha_fraction,
    candidates_for,
    histogram_sql,
    quantile_selection,
    scores,
)

dp.enable_features("contrib")


def opendp_scores(values: np.ndarray, candidates: tuple[float, ...], alpha: float) -> list[int]:
    transformation = dp.t.make_quantile_score_candidates(
        dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.symmetric_distance(),
        list(candidates), alpha,
    )
    return [int(s) for s in transformation([float(v) for v in values])]


def duckdb_scores(values: np.ndarray, grid: CandidateGrid, alpha: float) -> list[int]:
    connection = duckdb.connect()
    connection.register("data", pa.table({"x": values}))
    cte = "WITH __bounded AS (SELECT CAST(x AS DOUBLE) AS __v0 FROM data)"
    result = connection.sql(histogram_sql(cte, 0, 0, grid)).to_arrow_table().to_pydict()
    connection.close()
    return scores(np.asarray(result["__p"], dtype=np.int64), np.asarray(result["__eq"], bool),
                  np.asarray(result["__n"], dtype=np.int64), len(grid.values), alpha)


@pytest.mark.parametrize("alpha", [0.5, 0.1, 0.25, 0.9, 0.37])
def test_integer_grid_scores_equal_opendp(alpha: float) -> None:
    rng = np.random.default_rng(1)
    values = rng.integers(0, 101, size=2000).astype(float)  # many ties, many on candidates
    column = ValueColumn("t.age", "x", ColumnKind.INTEGER, 0.0, 100.0, 1.0)
    grid = candidates_for(column, 40)
    assert grid.step == 3.0 and grid.values[0] == 0.0
    assert duckdb_scores(values, grid, alpha) == opendp_scores(values, grid.values, alpha)


def test_float_grid_scores_equal_opendp_also_on_candidate_values() -> None:
    rng = np.random.default_rng(2)
    column = ValueColumn("t.income", "x", ColumnKind.FLOAT, -3.5, 1234.25, 2.0**-10)
    grid = candidates_for(column, 97)
    on_candidates = np.asarray(grid.values)[rng.integers(0, len(grid.values), size=300)]
    values = np.concatenate([rng.uniform(-3.5, 1234.25, size=1500), on_candidates,
                             np.nextafter(on_candidates, np.inf), [-3.5, 1234.25]])
    assert duckdb_scores(values, grid, 0.5) == opendp_scores(values, grid.values, 0.5)
    assert duckdb_scores(values, grid, 0.95) == opendp_scores(values, grid.values, 0.95)


def test_explicit_candidates_with_values_below_all_of_them() -> None:
    values = np.asarray([-5.0, 0.0, 1.0, 1.0, 2.5, 10.0, 99.0, 100.0, 3.0, 3.0])
    grid = CandidateGrid((1.0, 3.0, 10.0, 50.0), 1.0, None)
    for alpha in (0.2, 0.5, 0.8):
        assert duckdb_scores(values, grid, alpha) == opendp_scores(values, grid.values, alpha)


def test_alpha_fraction_is_opendps() -> None:
    num, den = alpha_fraction(0.25)
    assert num / den == pytest.approx(0.25)
    num, den = alpha_fraction(0.9)
    assert num / den == pytest.approx(0.9)


@pytest.mark.parametrize("accounting", [Accounting.PURE, Accounting.ZCDP])
def test_selection_stays_within_its_share_and_finds_a_clear_median(accounting: Accounting) -> None:
    column = ValueColumn("t.age", "x", ColumnKind.INTEGER, 0.0, 100.0, 1.0)
    grid = candidates_for(column, 512)
    target = 1.0 if accounting is Accounting.PURE else 0.5
    selection = quantile_selection(accounting, grid, 0.5, 2, target)
    assert 0 < selection.loss <= target
    values = np.full(5000, 42.0)
    result = selection.select(opendp_scores(values, grid.values, 0.5))
    # With 5,000 rows at 42 any other candidate's score is ≥ 2,500 away: OpenDP picks 42.
    assert result == 42.0
