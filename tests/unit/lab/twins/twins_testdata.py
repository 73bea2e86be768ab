"""Small seeded real-like tables for the synthetic-twin tests (imported by the tests)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from countyos.catalog.identifiers import resident_id_check_char
from countyos.lab.twins import TwinColumn

PERSON_ROWS = 3000
INDUSTRIES = ("制造业", "批发零售", "建筑业", "农业", "信息技术")
INDUSTRY_LEVEL = {"农业": 0.0, "批发零售": 0.4, "建筑业": 0.8, "制造业": 1.2, "信息技术": 1.6}
RARE_TOWNS = ("孤山村", "张三诊所")  # rare values that must never reach a twin


def _resident_ids(rng: np.random.Generator, born: np.ndarray, male: np.ndarray) -> list[str]:
    ids = []
    for day, is_male in zip(born.astype("datetime64[D]").astype(str), male):
        sequence = 2 * int(rng.integers(0, 500)) + (1 if is_male else 2)
        first17 = "330281" + day.replace("-", "") + f"{min(sequence, 999):03d}"
        ids.append(first17 + resident_id_check_char(first17))
    return ids


def make_persons(rows: int = PERSON_ROWS, seed: int = 11) -> pa.Table:
    """Persons: keys, identifiers, and age that drives income."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 90, rows)
    male = rng.random(rows) < 0.5
    born = np.datetime64("2024-06-30") - (age * 365.25).astype(np.int64) - rng.integers(0, 365, rows)
    income = np.round(np.exp(9.0 + 0.025 * (age - 18) + rng.normal(0.0, 0.4, rows)), 2)
    income[np.argmax(income)] = 98_765_432.1  # the county's single richest person
    towns = np.array([f"第{i}镇" for i in range(6)], dtype=object)[rng.integers(0, 6, rows)]
    towns[:2] = RARE_TOWNS
    mobiles = [f"13{v:09d}" for v in rng.choice(10**9, rows, replace=False)]
    return pa.table(
        {
            "person_id": pa.array(np.arange(1, rows + 1), pa.int64()),
            "resident_id": pa.array(_resident_ids(rng, born, male)),
            "name": pa.array([f"王{'伟芳'[i % 2]}{i}" for i in range(rows)]),
            "mobile": pa.array(mobiles),
            "sex": pa.array(np.where(male, "男", "女")),
            "birth_date": pa.array(born.astype("datetime64[D]")),
            "age": pa.array(age, pa.int32()),
            "income": pa.array(income, mask=rng.random(rows) < 0.1),
            "township": pa.array(list(towns)),
        }
    )


PERSON_COLUMNS = (
    TwinColumn("person_id", "entity_key", None, "person"),
    TwinColumn("resident_id", "identifier", "resident_id"),
    TwinColumn("name", "identifier", "person_name"),
    TwinColumn("mobile", "quasi_identifier", "mobile"),
    TwinColumn("sex", "quasi_identifier", None),
    TwinColumn("birth_date", "quasi_identifier", None),
    TwinColumn("age", "quasi_identifier", None),
    TwinColumn("income", "measure", None),
    TwinColumn("township", "quasi_identifier", None),
)


def make_visits(persons: pa.Table, seed: int = 12) -> pa.Table:
    """Visits of persons: a skewed fan-out, 30% of persons without any visit."""
    rng = np.random.default_rng(seed)
    person_ids = persons.column("person_id").to_numpy()
    per_person = np.where(rng.random(person_ids.size) < 0.3, 0, rng.geometric(0.25, person_ids.size))
    visitor = np.repeat(person_ids, per_person)
    rng.shuffle(visitor)
    rows = visitor.size
    return pa.table(
        {
            "visit_id": pa.array([f"V{i:07d}" for i in range(rows)]),
            "person_id": pa.array(visitor, pa.int64()),
            "cost": pa.array(np.round(rng.gamma(2.0, 120.0, rows), 2)),
            "visit_date": pa.array((np.datetime64("2024-01-01") + rng.integers(0, 366, rows)).astype("datetime64[D]")),
        }
    )


VISIT_COLUMNS = (
    TwinColumn("visit_id", "entity_key", None),
    TwinColumn("person_id", "entity_key", None, "person"),
    TwinColumn("cost", "measure", None),
    TwinColumn("visit_date", "dimension", None),
)


def make_enterprises(rows: int = 2000, seed: int = 13) -> pa.Table:
    """Enterprises: industry drives output."""
    rng = np.random.default_rng(seed)
    industry = np.array(INDUSTRIES, dtype=object)[rng.integers(0, len(INDUSTRIES), rows)]
    level = np.array([INDUSTRY_LEVEL[i] for i in industry])
    output = np.round(np.exp(6.0 + level + rng.normal(0.0, 0.5, rows)), 1)
    return pa.table(
        {
            "enterprise_code": pa.array([f"E{i:06d}" for i in range(rows)]),
            "industry": pa.array(list(industry)),
            "output": pa.array(output),
            "little_giant": pa.array(rng.random(rows) < 0.05),
        }
    )


ENTERPRISE_COLUMNS = (
    TwinColumn("enterprise_code", "entity_key", None, "enterprise"),
    TwinColumn("industry", "dimension", None),
    TwinColumn("output", "measure", None),
    TwinColumn("little_giant", "dimension", None),
)
