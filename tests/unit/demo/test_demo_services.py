"""Hotline work orders, social insurance and outpatient visits behave like the real ones."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime

import numpy as np

from countyos.demo.social import CONTRIBUTION_CEILING, CONTRIBUTION_FLOOR
from tests.unit.demo.demo_helpers import age_on, column, table

REQUIRED_CATEGORIES = {"环境保护", "城市管理", "交通出行", "劳动保障", "住房", "教育", "医疗卫生",
                       "市场监管"}


def test_hotline_times_are_ordered_and_open_orders_have_no_close_time(county):
    rows = table(county, "hotline_events").to_pylist()
    assert len(rows) == round(100_000 * county.scale)
    end = datetime(2026, 1, 1)
    for row in rows:
        assert datetime(2025, 1, 1) <= row["created_at"] < end
        if row["responded_at"] is not None:
            assert row["created_at"] <= row["responded_at"] < end
        if row["closed_at"] is not None:
            assert row["responded_at"] is not None
            assert row["responded_at"] <= row["closed_at"] < end
            assert row["status"] == "已办结"
        else:
            assert row["status"] != "已办结"
            assert row["satisfaction"] is None
        if row["satisfaction"] is not None:
            assert 1 <= row["satisfaction"] <= 5
    open_orders = sum(r["closed_at"] is None for r in rows)
    assert 0 < open_orders < 0.1 * len(rows)


def test_hotline_categories_and_sentences(county):
    rows = table(county, "hotline_events").to_pylist()
    assert set(Counter(r["category"] for r in rows)) >= REQUIRED_CATEGORIES
    names = {t.name_zh for t in county.townships}
    for row in rows:
        content = row["content"]
        assert content.endswith(("。", "？")) and "{" not in content and "}" not in content
        assert len(content) >= 12
        if row["handling_department"].endswith(("办事处", "人民政府")):
            office = row["handling_department"].removesuffix("办事处").removesuffix("人民政府")
            assert office in names
    ids = [r["event_id"] for r in rows]
    assert all(i[1:9] == r["created_at"].strftime("%Y%m%d") for i, r in zip(ids, rows))


def test_hotline_busier_by_day_than_by_night(county):
    hours = Counter(c.hour for c in column(county, "hotline_events", "created_at"))
    assert sum(hours[h] for h in range(9, 12)) > 5 * sum(hours[h] for h in range(1, 4))


def test_social_insurance_covers_working_age_residents_only(county):
    people = {r["person_id"]: r for r in table(county, "population_registry").select(
        ["person_id", "birth_date", "sex"]).to_pylist()}
    firms = {r["uscc"]: r for r in table(county, "enterprise_registry").select(
        ["uscc", "founded_date", "employees"]).to_pylist()}
    rows = table(county, "social_insurance").to_pylist()
    assert rows
    for row in rows:
        person = people[row["person_id"]]
        age = age_on(person["birth_date"], date(2025, 12, 31))
        assert 18 <= age < (60 if person["sex"] == "男" else 55)
        assert CONTRIBUTION_FLOOR <= row["contribution_base"] <= CONTRIBUTION_CEILING
        assert firms[row["employer_uscc"]]["founded_date"] <= row["insured_since"]
        assert row["insured_since"] <= date(2025, 12, 31)
        assert age_on(person["birth_date"], row["insured_since"]) >= 18
    kinds = Counter(r["insurance_type"] for r in rows)
    assert kinds.most_common(1)[0][0] == "企业职工基本养老保险"
    per_person = Counter((r["person_id"], r["insurance_type"]) for r in rows)
    assert max(per_person.values()) == 1
    employers = {r["person_id"]: r["employer_uscc"] for r in rows}
    assert len(set(employers.values())) > 10


def test_social_insurance_employers_weighted_by_size(county):
    insured = Counter(r["employer_uscc"] for r in table(county, "social_insurance").select(
        ["person_id", "employer_uscc"]).to_pylist())
    employees = dict(zip(column(county, "enterprise_registry", "uscc"),
                         column(county, "enterprise_registry", "employees")))
    big = [c for c, e in employees.items() if e >= np.percentile(list(employees.values()), 90)]
    small = [c for c, e in employees.items() if e <= np.percentile(list(employees.values()), 50)]
    assert np.mean([insured[c] for c in big]) > 5 * np.mean([insured[c] for c in small])


def test_outpatient_visits_per_person_and_cost_by_age(county):
    births = dict(zip(column(county, "population_registry", "person_id"),
                      column(county, "population_registry", "birth_date")))
    sexes = dict(zip(column(county, "population_registry", "person_id"),
                     column(county, "population_registry", "sex")))
    rows = table(county, "outpatient_visits").to_pylist()
    assert 2.6 < len(rows) / len(births) < 3.4
    costs = {"young": [], "old": []}
    for row in rows:
        assert row["visit_date"].year == 2025
        assert row["cost"] > 0
        age = age_on(births[row["person_id"]], row["visit_date"])
        if row["diagnosis_group"] == "妊娠、分娩和产褥期":
            assert sexes[row["person_id"]] == "女" and 17 <= age <= 46
        if 18 <= age < 45:
            costs["young"].append(row["cost"])
        elif age >= 65:
            costs["old"].append(row["cost"])
    assert np.mean(costs["old"]) > 1.2 * np.mean(costs["young"])
    all_costs = np.array([r["cost"] for r in rows])
    assert np.percentile(all_costs, 99) > 5 * np.median(all_costs)


def test_respiratory_visits_peak_in_winter(county):
    months = Counter(r["visit_date"].month for r in table(county, "outpatient_visits").to_pylist()
                     if r["diagnosis_group"] == "呼吸系统疾病")
    assert months[12] + months[1] > 1.5 * (months[7] + months[8])


def test_hospitals_are_fictional_county_or_township_facilities(county):
    hospitals = set(column(county, "outpatient_visits", "hospital"))
    townships = {t.name_zh for t in county.townships}
    for hospital in hospitals:
        assert hospital.startswith(county.name_zh) or any(hospital.startswith(t) for t in townships)
