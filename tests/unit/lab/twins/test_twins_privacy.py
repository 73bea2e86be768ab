"""Privacy report: exact matches, nearest-record distances, leaks; and attacks on the twin."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from countyos.errors import InvalidInputError
from countyos.lab.twins import TwinBuilder, TwinColumn, privacy_report
from tests.unit.lab.twins.twins_testdata import PERSON_COLUMNS, RARE_TOWNS

SMALL_SAMPLE = 800


@pytest.fixture(scope="module")
def person_twin(persons):
    return TwinBuilder(seed=4).add("persons", persons, PERSON_COLUMNS)


def test_a_copy_of_the_real_table_matches_everything(persons):
    report = privacy_report(persons, persons, PERSON_COLUMNS, sample=SMALL_SAMPLE, seed=1)
    assert report.exact_match_share == 1.0
    assert report.exact_match_rows == persons.num_rows
    assert report.match_columns == ("sex", "birth_date", "age", "township")
    assert report.dcr_median == 0.0 and report.dcr_p05 == 0.0 and report.dcr_zero_share == 1.0
    assert report.identifiers_leaked
    assert report.identifier_overlaps["resident_id"] == persons.num_rows
    assert report.rare_category_rows["township"] == len(RARE_TOWNS)


def test_exact_match_share_on_a_constructed_case():
    real = pa.table({"sex": ["M", "F", "M", "F"], "age": [30, 40, 50, 60], "pay": [1.0, 2.0, 3.0, 4.0]})
    twin = pa.table({"sex": ["M", "F", "F", "M", None], "age": [30, 40, 50, 61, 30], "pay": [9.0, 9.0, 9.0, 9.0, 9.0]})
    columns = [TwinColumn("sex", "quasi_identifier", None), TwinColumn("age", "quasi_identifier", None), TwinColumn("pay", "measure", None)]
    report = privacy_report(real, twin, columns, sample=10, seed=0)
    # rows 0 and 1 equal a real row on (sex, age); (F, 50), (M, 61) and (null, 30) do not
    assert report.exact_match_rows == 2
    assert report.exact_match_share == pytest.approx(2 / 5)
    assert report.unique_match_share == pytest.approx(2 / 5)
    assert report.baseline_match_share == 0.0  # every real row is unique on (sex, age)
    doubled = pa.concat_tables([real, real.slice(0, 1)])
    again = privacy_report(doubled, twin, columns, sample=10, seed=0)
    assert again.baseline_match_share == pytest.approx(2 / 5)  # (M, 30) twice among 5 real rows
    assert again.unique_match_share == pytest.approx(1 / 5)  # only (F, 40) is still unique
    no_quasi = [TwinColumn("sex", "dimension", None), TwinColumn("age", "measure", None), TwinColumn("pay", "measure", None)]
    assert privacy_report(real, twin, no_quasi, sample=10, seed=0).match_columns == ("sex", "age", "pay")


def test_nulls_match_nulls_and_distances_are_gower():
    real = pa.table({"c": ["a", None, "b"], "x": [0.0, 10.0, None]})
    twin = pa.table({"c": [None, "a", "b"], "x": [10.0, 0.0, 5.0]})
    columns = [TwinColumn("c", "quasi_identifier", None), TwinColumn("x", "quasi_identifier", None)]
    report = privacy_report(real, twin, columns, sample=3, seed=0, min_category_count=1)
    assert report.exact_match_rows == 2  # (null, 10) and (a, 0) are real rows
    # third twin row (b, 5): nearest is (b, null) at (0 + 1) / 2, or (a, 0) at (1 + 5/9.8) / 2
    assert report.dcr_zero_share == pytest.approx(2 / 3)
    assert report.dcr_median == 0.0


def test_a_twin_keeps_no_real_identifier_or_rare_value(persons, person_twin):
    report = privacy_report(persons, person_twin, PERSON_COLUMNS, sample=SMALL_SAMPLE, seed=1)
    assert not report.identifiers_leaked
    assert set(report.identifier_overlaps) == {"person_id", "resident_id", "name", "mobile"}
    assert all(count == 0 for count in report.rare_category_rows.values())
    assert report.exact_match_share < report.baseline_match_share + 0.05
    assert report.dcr_zero_share < 0.05
    # a twin is no closer to the real rows than real rows are to each other
    assert report.dcr_median >= 0.5 * report.baseline_dcr_median
    assert report.to_dict()["sample_size"] == SMALL_SAMPLE


def test_attack_unique_outliers_leave_no_trace():
    # one person with a unique township, sex, age and a huge income: none of it may reappear
    rng = np.random.default_rng(9)
    rows = 2000
    table = pa.table(
        {
            "township": ["甲镇", "乙镇"] * (rows // 2 - 1) + ["独户岛", "甲镇"],
            "age": np.concatenate([rng.integers(20, 60, rows - 1), [104]]),
            "income": np.concatenate([rng.normal(50_000, 8_000, rows - 1).round(), [123_456_789.0]]),
        }
    )
    columns = [
        TwinColumn("township", "quasi_identifier", None),
        TwinColumn("age", "quasi_identifier", None),
        TwinColumn("income", "measure", None),
    ]
    twin = TwinBuilder(seed=1).add("t", table, columns, rows=20_000)
    assert "独户岛" not in set(twin.column("township").to_pylist())
    assert pc.max(twin.column("age")).as_py() < 104
    assert pc.max(twin.column("income")).as_py() < 1_000_000
    report = privacy_report(table, twin, columns, sample=500, seed=2)
    assert report.rare_category_rows["township"] == 0


def test_attack_identifier_guessing_from_a_small_real_space():
    # real mobiles fill almost a whole 10,000-number block; twin mobiles must still avoid them all
    block = [f"1391234{i:04d}" for i in range(9990)]
    table = pa.table({"mobile": block})
    twin = TwinBuilder(seed=1).add("t", table, [TwinColumn("mobile", "identifier", "mobile")])
    assert not pc.any(pc.is_in(twin.column("mobile"), value_set=table.column("mobile"))).as_py()


def test_bad_privacy_arguments(persons):
    with pytest.raises(InvalidInputError):
        privacy_report(persons, persons, PERSON_COLUMNS, sample=1, seed=0)
    with pytest.raises(TypeError):
        privacy_report(persons, persons, PERSON_COLUMNS)  # the seed is required
