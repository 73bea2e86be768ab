"""Fixtures of the checked-SQL tests: small Parquet datasets with known shapes, and helpers.

``persons`` is a register (one row per person) with direct identifiers and townships built to
trigger each check: ``A`` and ``B`` are large, ``C`` has 5 persons (threshold), ``D`` has one
dominant income, ``E`` one huge negative income. Exactly three persons of ``A`` are 29 (a
differencing pair: ``age >= 30`` vs ``age >= 29``). ``visits`` has several rows per person
(township ``Z``: 4 persons with 5 visits each, so 20 rows but 4 units). ``firms`` names another
kind of unit. Values are never zero, so "units with a non-null value" and "units with a non-zero
total" coincide when comparing with ``compute_cell_stats``.
"""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from countyos.engine import QueryLimits, TableSource
from countyos.engine.duckdb import DuckDBEngine
from countyos.lab.checked_sql import TablePolicy

SECRET = b"checked-sql-test-secret-0123456789"
LIMITS = QueryLimits(timeout_s=60, max_rows=5000, memory_limit="1GB", threads=2)

PERSON_ROLES = {
    "name": "identifier",
    "id_number": "identifier",
    "phone": "identifier",
    "township": "dimension",
    "sex": "quasi_identifier",
    "age": "quasi_identifier",
    "birth_date": "quasi_identifier",
    "income": "measure",
}
VISIT_ROLES = {
    "visit_id": "identifier",
    "township": "dimension",
    "year": "dimension",
    "cost": "measure",
    "days": "measure",
}
FIRM_ROLES = {"township": "dimension", "output": "measure", "legal_person": "identifier"}

POLICIES = {
    "persons": TablePolicy("person_id", PERSON_ROLES, key_domain="person", entity_key_unique=True),
    "visits": TablePolicy("person_id", VISIT_ROLES, key_domain="person"),
    "firms": TablePolicy("uscc", FIRM_ROLES, key_domain="enterprise", entity_key_unique=True),
}


def write_parquet(directory: Path, name: str, table: pa.Table) -> TableSource:
    """Write ``table`` as the single data file of dataset ``name``."""
    path = directory / f"{name}.parquet"
    pq.write_table(table, path)
    return TableSource(name, (str(path),))


def _nonzero(value: float) -> float:
    return value if value != 0 else 1.0


def _person_rows(rng: random.Random) -> list[dict]:
    sizes = {"A": 150, "B": 120, "C": 5, "D": 40, "E": 30}
    rows = []
    person_id = 1000
    for township, size in sizes.items():
        for index in range(size):
            person_id += 1
            age = rng.choice([a for a in range(18, 90) if a != 29])
            income = _nonzero(round(rng.uniform(-2000, 12000), 2))
            if township == "A" and index < 3:
                age = 29
            if township == "D" and index == 0:
                income = 2_000_000.0
            if township == "E" and index == 0:
                income = -2_000_000.0
            birth = datetime.date(2024 - age, rng.randint(1, 12), rng.randint(1, 28))
            rows.append(
                {
                    "person_id": person_id,
                    "name": f"姓名{person_id}",
                    "id_number": f"330281{birth:%Y%m%d}{person_id % 1000:03d}X",
                    "phone": f"138{person_id:08d}",
                    "township": township,
                    "sex": rng.choice(["F", "M"]),
                    "age": age,
                    "birth_date": birth,
                    "income": income,
                }
            )
    return rows


def _visit_rows(rng: random.Random, persons: list[dict]) -> list[dict]:
    rows = []
    visit = 0
    for person in persons[:260]:
        for _ in range(rng.randint(1, 6)):
            visit += 1
            rows.append(
                {
                    "visit_id": f"V{visit:06d}",
                    "person_id": person["person_id"],
                    "township": person["township"],
                    "year": rng.choice([2021, 2022, 2023]),
                    "cost": _nonzero(round(rng.uniform(-300, 3000), 2)),
                    "days": rng.randint(1, 10),
                }
            )
    for person_id in range(9001, 9005):
        for _ in range(5):
            visit += 1
            rows.append(
                {
                    "visit_id": f"V{visit:06d}",
                    "person_id": person_id,
                    "township": "Z",
                    "year": 2022,
                    "cost": _nonzero(round(rng.uniform(10, 500), 2)),
                    "days": rng.randint(1, 10),
                }
            )
    return rows


def _firm_rows(rng: random.Random) -> list[dict]:
    return [
        {
            "uscc": f"91330281MA{index:08d}",
            "township": rng.choice(["A", "B"]),
            "output": round(rng.uniform(100, 5000), 2),
            "legal_person": f"法人{index}",
        }
        for index in range(60)
    ]


PERSON_SCHEMA = pa.schema(
    [
        ("person_id", pa.int64()),
        ("name", pa.string()),
        ("id_number", pa.string()),
        ("phone", pa.string()),
        ("township", pa.string()),
        ("sex", pa.string()),
        ("age", pa.int32()),
        ("birth_date", pa.date32()),
        ("income", pa.float64()),
    ]
)
VISIT_SCHEMA = pa.schema(
    [
        ("visit_id", pa.string()),
        ("person_id", pa.int64()),
        ("township", pa.string()),
        ("year", pa.int32()),
        ("cost", pa.float64()),
        ("days", pa.int64()),
    ]
)


@dataclass(frozen=True)
class Lab:
    """The test datasets: Arrow tables (for reference computations) and granted sources."""

    persons: pa.Table
    visits: pa.Table
    firms: pa.Table
    sources: dict[str, TableSource]
    directory: Path


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    directory = tmp_path_factory.mktemp("checked_sql")
    rng = random.Random(20241122)
    person_rows = _person_rows(rng)
    persons = pa.Table.from_pylist(person_rows, schema=PERSON_SCHEMA)
    visits = pa.Table.from_pylist(_visit_rows(rng, person_rows), schema=VISIT_SCHEMA)
    firms = pa.Table.from_pylist(_firm_rows(rng))
    sources = {
        "persons": write_parquet(directory, "persons", persons),
        "visits": write_parquet(directory, "visits", visits),
        "firms": write_parquet(directory, "firms", firms),
    }
    return Lab(persons, visits, firms, sources, directory)


@pytest.fixture
def write_dataset(tmp_path: Path):
    """Write an Arrow table as a one-file dataset under ``tmp_path``; returns its source."""

    def write(name: str, table: pa.Table) -> TableSource:
        return write_parquet(tmp_path, name, table)

    return write


@pytest.fixture(scope="session")
def policies() -> dict[str, TablePolicy]:
    return dict(POLICIES)


@pytest.fixture(scope="session")
def engine():
    engine = DuckDBEngine(limits=LIMITS, max_idle_databases=2)
    yield engine
    engine.close()


@pytest.fixture
def scored(write_dataset):
    """Group a: 40 units with 3 rows each, group b: 30 units with 2 rows; a unit's score is its
    number, so ``score >= k`` drops exactly the units 0 .. k-1 of both groups."""
    rows = {"unit": [], "grp": [], "score": [], "x": []}
    for group, units, per_unit in (("a", 40, 3), ("b", 30, 2)):
        for number in range(units):
            for _ in range(per_unit):
                rows["unit"].append(f"{group}-{number:05d}")
                rows["grp"].append(group)
                rows["score"].append(number)
                rows["x"].append(10.0 + number)
    data = pa.table(rows)
    roles = {"grp": "dimension", "score": "quasi_identifier", "x": "measure"}
    sources = {"multi": write_dataset("multi", data)}
    policies = {"multi": TablePolicy("unit", roles, key_domain="person")}
    return data, sources, policies
