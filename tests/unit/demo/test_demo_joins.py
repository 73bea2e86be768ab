"""Keys of the Demo County's datasets join."""

from __future__ import annotations

from collections import defaultdict

from tests.unit.demo.demo_helpers import column, table

PERSON_DATASETS = ("social_insurance", "outpatient_visits")
FIRM_DATASETS = (("social_insurance", "employer_uscc"), ("industrial_output_monthly", "uscc"),
                 ("electricity_daily", "uscc"))
TOWNSHIP_DATASETS = ("population_registry", "enterprise_registry", "hotline_events")


def test_primary_keys_are_unique(county):
    for dataset, key in (("population_registry", "person_id"), ("enterprise_registry", "uscc"),
                         ("hotline_events", "event_id"), ("outpatient_visits", "visit_id")):
        values = column(county, dataset, key)
        assert len(set(values)) == len(values), dataset


def test_person_ids_exist_in_the_registry(county):
    registry = set(column(county, "population_registry", "person_id"))
    for dataset in PERSON_DATASETS:
        people = set(column(county, dataset, "person_id"))
        assert people, dataset
        assert people <= registry, dataset


def test_credit_codes_exist_in_the_enterprise_registry(county):
    registry = set(column(county, "enterprise_registry", "uscc"))
    for dataset, key in FIRM_DATASETS:
        codes = set(column(county, dataset, key))
        assert codes, dataset
        assert codes <= registry, dataset


def test_township_codes_exist(county):
    codes = {t.code for t in county.townships}
    assert len(codes) == len(county.townships)
    for dataset in TOWNSHIP_DATASETS:
        assert set(column(county, dataset, "township_code")) <= codes, dataset
    features = {f["properties"]["code"] for f in county.geojson["features"]}
    assert features == codes


def test_output_is_reported_by_manufacturers_above_designated_size(county):
    firms = table(county, "enterprise_registry").to_pylist()
    reporting = {f["uscc"] for f in firms if f["above_designated_size"]}
    assert reporting
    assert set(column(county, "industrial_output_monthly", "uscc")) <= reporting
    for firm in firms:
        if firm["above_designated_size"]:
            assert firm["industry_section"] == "C"


def test_households_share_township_and_address_and_have_an_adult(county):
    names = {t.code: t.name_zh for t in county.townships}
    members = defaultdict(list)
    for person in table(county, "population_registry").to_pylist():
        members[person["household_id"]].append(person)
    sizes = [len(m) for m in members.values()]
    assert 2.0 <= sum(sizes) / len(sizes) <= 3.2
    assert max(sizes) <= 6
    for household_id, people in members.items():
        assert len({p["address"] for p in people}) == 1
        assert len({p["township_code"] for p in people}) == 1
        assert household_id.startswith(people[0]["township_code"])
        assert people[0]["address"].startswith(names[household_id[:9]])
        assert any(p["birth_date"].year <= 2025 - 18 for p in people)

