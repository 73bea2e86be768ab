"""Datasets, columns and departments are described in Chinese and English, with safe types."""

from __future__ import annotations

import re

import pyarrow as pa
import pytest

from countyos.demo import ICEBERG_FRIENDLY_TYPES
from countyos.errors import NotFoundError

DEPARTMENTS = {
    "public_security": "公安局", "market_regulation": "市场监管局", "statistics": "统计局",
    "power_supply": "供电公司", "hotline_12345": "12345政务服务热线",
    "human_resources": "人力资源和社会保障局", "health": "卫生健康局", "data_bureau": "大数据局",
}
DATASETS = {
    "population_registry": "public_security", "enterprise_registry": "market_regulation",
    "industrial_output_monthly": "statistics", "electricity_daily": "power_supply",
    "hotline_events": "hotline_12345", "social_insurance": "human_resources",
    "outpatient_visits": "health",
}
CJK = re.compile(r"[\u4e00-\u9fff]")


def test_departments(county):
    assert {d.code: d.name_zh for d in county.departments} == DEPARTMENTS
    assert all(d.name_en.isascii() and d.name_en for d in county.departments)


def test_datasets_and_their_owners(county):
    assert {d.name: d.department for d in county.datasets} == DATASETS
    owners = {d.department for d in county.datasets}
    assert "data_bureau" not in owners


def test_only_iceberg_friendly_types(county):
    for dataset in county.datasets:
        for field in dataset.table.schema:
            assert field.type in ICEBERG_FRIENDLY_TYPES, (dataset.name, field.name, field.type)
            assert not pa.types.is_dictionary(field.type)
            if not field.nullable:
                assert dataset.table.column(field.name).null_count == 0


def test_every_table_and_column_is_described_in_both_languages(county):
    for dataset in county.datasets:
        assert re.fullmatch(r"[a-z][a-z0-9_]{0,62}", dataset.name)
        assert CJK.search(dataset.title_zh) and CJK.search(dataset.description_zh)
        assert dataset.title_en.isascii() and len(dataset.description_en) > 40
        assert [c.name for c in dataset.columns] == dataset.table.column_names
        for described in dataset.columns:
            assert CJK.search(described.description_zh), (dataset.name, described.name)
            assert re.search("[A-Za-z]{3}", described.description_en), (dataset.name,
                                                                        described.name)
        assert dataset.num_rows > 0


def test_power_dataset_says_electricity(county):
    assert "electricity" in county.dataset("electricity_daily").description_en.lower()


def test_lookup_of_unknown_names_raises_not_found(county):
    for lookup in (county.dataset, county.township, county.department):
        with pytest.raises(NotFoundError):
            lookup("no_such_thing")
    with pytest.raises(NotFoundError):
        county.dataset("population_registry").column("no_such_column")
