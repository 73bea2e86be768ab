"""Fidelity: marginals and pairwise dependencies of twins, and the report's own arithmetic."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from countyos.errors import InvalidInputError, NotFoundError
from countyos.lab.twins import TwinBuilder, TwinColumn, fidelity_report
from countyos.lab.twins.copula import average_ranks, nearest_correlation, norm_cdf, norm_ppf, rank_normal_scores
from tests.unit.lab.twins.twins_testdata import ENTERPRISE_COLUMNS, PERSON_COLUMNS, VISIT_COLUMNS

MAX_CATEGORY_TV = 0.05
MAX_NUMERIC_KS = 0.05
MAX_ASSOCIATION_MEAN_DIFF = 0.05


@pytest.fixture(scope="module")
def person_report(persons):
    twin = TwinBuilder(seed=2).add("persons", persons, PERSON_COLUMNS)
    return fidelity_report(persons, twin, PERSON_COLUMNS)


@pytest.fixture(scope="module")
def enterprise_report(enterprises):
    twin = TwinBuilder(seed=2).add("enterprises", enterprises, ENTERPRISE_COLUMNS)
    return fidelity_report(enterprises, twin, ENTERPRISE_COLUMNS)


def test_marginals_are_close(person_report, enterprise_report):
    for report in (person_report, enterprise_report):
        for entry in report.columns:
            if entry.kind == "categorical":
                assert entry.distance < MAX_CATEGORY_TV, entry
            elif entry.kind == "numeric":
                assert entry.distance < MAX_NUMERIC_KS, entry
                assert entry.wasserstein < 0.1, entry
            assert abs(entry.null_rate_real - entry.null_rate_twin) < 0.03, entry


def test_age_and_income_keep_their_correlation(person_report):
    real, twin = person_report.association("age", "income")
    assert real > 0.5
    assert twin > 0 and abs(real - twin) < 0.05
    real, twin = person_report.association("age", "birth_date")
    assert real < -0.95 and twin < -0.95  # the sign of a negative dependency survives too


def test_industry_and_output_keep_their_association(enterprise_report):
    real, twin = enterprise_report.association("industry", "output")
    assert real > 0.5
    assert abs(real - twin) < 0.08


def test_association_matrices_are_close(person_report, enterprise_report):
    for report in (person_report, enterprise_report):
        assert report.association_mean_abs_diff < MAX_ASSOCIATION_MEAN_DIFF
        assert report.association_max_abs_diff < 0.12
        assert report.worst_pair is not None


def test_industry_output_ordering_beats_an_independent_twin(enterprises):
    # the copula carries the dependency: shuffling output independently destroys it
    rng = np.random.default_rng(0)
    shuffled = enterprises.set_column(2, "output", pa.array(rng.permutation(enterprises.column("output").to_numpy())))
    report = fidelity_report(enterprises, shuffled, ENTERPRISE_COLUMNS)
    real, twin = report.association("industry", "output")
    assert twin < 0.15 < real
    assert report.column("output").distance == 0.0  # same values: the marginal alone is perfect


def test_identical_tables_have_zero_distances(visits):
    report = fidelity_report(visits, visits, VISIT_COLUMNS)
    assert report.max_column_distance == 0.0
    assert report.association_mean_abs_diff == 0.0
    assert report.column("person_id").metric == "fanout_ks"
    assert set(report.to_dict()) >= {"columns", "association_mean_abs_diff", "association_max_abs_diff"}


def test_distances_on_constructed_cases():
    real = pa.table({"c": ["a"] * 50 + ["b"] * 50, "x": np.arange(100, dtype=np.float64)})
    twin = pa.table({"c": ["a"] * 100, "x": np.arange(100, 200, dtype=np.float64)})
    columns = [TwinColumn("c", "dimension", None), TwinColumn("x", "measure", None)]
    report = fidelity_report(real, twin, columns)
    assert report.column("c").distance == pytest.approx(0.5)
    assert report.column("x").distance == pytest.approx(1.0)
    # Wasserstein-1 between two ranges shifted by 100, over the real standard deviation
    assert report.column("x").wasserstein == pytest.approx(100 / np.arange(100).std())
    shifted = pa.table({"c": ["a"] * 50 + ["b"] * 50, "x": np.arange(100, dtype=np.float64) + 0.5})
    assert fidelity_report(real, shifted, columns).column("x").distance == pytest.approx(0.01)


def test_report_refuses_mismatched_inputs(visits):
    with pytest.raises(InvalidInputError):
        fidelity_report(visits, visits.drop(["cost"]), VISIT_COLUMNS)
    with pytest.raises(InvalidInputError):
        fidelity_report(visits, visits.set_column(2, "cost", pa.array(["x"] * visits.num_rows)), VISIT_COLUMNS)
    with pytest.raises(NotFoundError):
        fidelity_report(visits, visits, VISIT_COLUMNS).column("nope")


def test_normal_functions_match_the_standard_library():
    z = np.linspace(-6, 6, 241)
    exact = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in z])
    assert np.allclose(norm_cdf(z), exact, rtol=1e-6, atol=1e-12)
    p = np.array([1e-10, 1e-4, 0.01, 0.3, 0.5, 0.9, 0.999])
    assert np.allclose(norm_cdf(norm_ppf(p)), p, rtol=1e-5)
    assert norm_ppf(np.array([0.5]))[0] == pytest.approx(0.0, abs=1e-12)


def test_ranks_with_ties_and_missing_values():
    ranks = average_ranks(np.array([10.0, 20.0, 10.0, np.nan, 30.0]))
    assert ranks[:3].tolist() == [1.5, 3.0, 1.5] and np.isnan(ranks[3]) and ranks[4] == 4.0
    scores = rank_normal_scores(np.array([1.0, 2.0, 3.0]))
    assert scores[1] == pytest.approx(0.0, abs=1e-9) and scores[0] == pytest.approx(-scores[2])


def test_nearest_correlation_repairs_an_invalid_matrix():
    invalid = np.array([[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]])
    assert np.linalg.eigvalsh(invalid).min() < 0
    repaired = nearest_correlation(invalid)
    assert np.linalg.eigvalsh(repaired).min() > 0
    assert np.allclose(np.diag(repaired), 1.0)
    np.linalg.cholesky(repaired)
