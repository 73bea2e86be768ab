"""The Demo County looks like an ageing, manufacturing eastern Chinese county."""

from __future__ import annotations

from collections import Counter
from datetime import date

import numpy as np
import pytest

from tests.unit.demo.demo_helpers import age_on, column, table

SNAPSHOT = date(2025, 12, 31)


def _ages(county):
    return np.array([age_on(b, SNAPSHOT) for b in column(county, "population_registry",
                                                         "birth_date")])


@pytest.mark.parametrize("which", ["county", "small_county"])
def test_share_of_people_65_and_over(which, request):
    ages = _ages(request.getfixturevalue(which))
    assert 0.15 <= (ages >= 65).mean() <= 0.30


def test_age_pyramid_has_the_cohort_bulges_and_few_young_children(county):
    ages = _ages(county)
    def per_year(low, high):
        return ((ages >= low) & (ages <= high)).sum() / (high - low + 1)
    bulge_1960s = per_year(2025 - 1969, 2025 - 1962)
    bulge_1980s = per_year(2025 - 1990, 2025 - 1985)
    young_children = per_year(0, 4)
    teenagers = per_year(13, 19)
    assert bulge_1960s > 1.4 * teenagers
    assert bulge_1980s > 1.3 * teenagers
    assert young_children < teenagers


def test_sex_ratio_and_women_outliving_men(county):
    rows = table(county, "population_registry").select(["sex", "birth_date"]).to_pylist()
    men = sum(r["sex"] == "男" for r in rows)
    assert 0.45 < men / len(rows) < 0.55
    old = [r for r in rows if age_on(r["birth_date"], SNAPSHOT) >= 80]
    assert sum(r["sex"] == "女" for r in old) > len(old) / 2


def test_names_are_chinese_and_surnames_follow_frequencies(county):
    names = column(county, "population_registry", "name")
    assert all(2 <= len(n) <= 4 for n in names)
    assert all("\u4e00" <= c <= "\u9fff" for n in names for c in n)
    top = Counter(n[0] for n in names).most_common(3)
    assert {c for c, _ in top} <= {"陈", "王", "张", "李", "徐"}


@pytest.mark.parametrize("which", ["county", "small_county"])
def test_manufacturing_is_the_largest_section(which, request):
    sections = Counter(column(request.getfixturevalue(which), "enterprise_registry",
                              "industry_section"))
    assert sections.most_common(1)[0][0] == "C"
    assert len(sections) >= 8


@pytest.mark.parametrize("which", ["county", "small_county"])
def test_firm_size_is_heavy_tailed(which, request):
    employees = np.sort(column(request.getfixturevalue(which), "enterprise_registry",
                               "employees"))[::-1]
    top = max(1, len(employees) // 100)
    assert employees[:top].sum() > 0.2 * employees.sum()
    assert np.median(employees) < employees.mean() / 2
    assert employees.min() >= 1


def test_registered_capital_is_positive_and_heavy_tailed(county):
    capital = np.array(column(county, "enterprise_registry", "registered_capital"))
    assert (capital > 0).all()
    assert capital.max() > 20 * np.median(capital)


def test_distinctions_are_rare_and_skewed_to_manufacturing(county):
    firms = table(county, "enterprise_registry").to_pylist()
    n = len(firms)
    champions = [f for f in firms if f["single_champion"]]
    specialized = [f for f in firms if f["specialized_sme"]]
    giants = [f for f in firms if f["little_giant"]]
    assert 1 <= len(champions) <= max(2, n // 1000 + 1)
    assert 1 <= len(specialized) < 0.03 * n
    assert 1 <= len(giants) <= len(specialized)
    assert all(f["specialized_sme"] for f in giants)
    assert all(f["industry_section"] == "C" for f in champions)
    manufacturing = sum(f["industry_section"] == "C" for f in specialized)
    assert manufacturing >= 0.6 * len(specialized)
    assert all(f["has_rd_institution"] for f in champions)


def test_single_champions_have_the_largest_output_of_their_industry(county):
    firms = {f["uscc"]: f for f in table(county, "enterprise_registry").to_pylist()}
    output = Counter()
    for row in table(county, "industrial_output_monthly").to_pylist():
        if row["month"].year == 2025:
            output[row["uscc"]] += row["output_value"]
    champions = [code for code, f in firms.items() if f["single_champion"]]
    assert champions
    for code in champions:
        industry = firms[code]["industry_code"]
        rivals = [v for c, v in output.items()
                  if firms[c]["industry_code"] == industry and not firms[c]["single_champion"]]
        assert output[code] > max(rivals, default=0.0)


def test_industrial_output_level_is_plausible_for_the_scale(county):
    total_2025 = sum(r["output_value"] for r in table(county, "industrial_output_monthly")
                     .to_pylist() if r["month"].year == 2025)
    # 240 billion yuan = 24,000,000 wan yuan at F = 1; small counties are lumpy.
    expected = 24_000_000 * county.scale
    assert 0.3 * expected < total_2025 < 4 * expected
