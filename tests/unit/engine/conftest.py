"""Fixtures of the engine tests: small Parquet datasets with values known in Python."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from countyos.engine import TableSource
from countyos.engine.duckdb import DuckDBEngine

TOWNSHIPS = ["城关镇", "梨洲街道", "马渚镇", "泗门镇"]


@dataclass(frozen=True)
class FirmsData:
    """Rows of the ``firms`` dataset (two versions' files) and the files themselves."""

    rows_v1: list[dict]
    rows_v2: list[dict]
    file_v1: str
    file_v2: str
    other_file: str  # a Parquet file of another dataset, never granted

    @property
    def rows(self) -> list[dict]:
        return self.rows_v1 + self.rows_v2

    def source(self, columns: tuple[str, ...] | None = None) -> TableSource:
        return TableSource("firms", (self.file_v1, self.file_v2), columns)


def _firm_rows(rng: random.Random, start: int, count: int, with_employees: bool) -> list[dict]:
    rows = []
    for firm_id in range(start, start + count):
        row = {
            "firm_id": firm_id,
            "township": rng.choice(TOWNSHIPS),
            "output": round(rng.uniform(0, 1000), 2),
            "resident_id": f"33028119800101{firm_id:04d}",  # protected, never granted in tests
        }
        if with_employees:
            row["employees"] = rng.randint(1, 500)
        rows.append(row)
    return rows


@pytest.fixture(scope="session")
def firms(tmp_path_factory: pytest.TempPathFactory) -> FirmsData:
    """The ``firms`` dataset: version 1 file without ``employees``, a later file with it."""
    directory = tmp_path_factory.mktemp("lake")
    rng = random.Random(20240601)
    rows_v1 = _firm_rows(rng, 0, 600, with_employees=False)
    rows_v2 = _firm_rows(rng, 600, 400, with_employees=True)
    file_v1 = directory / "firms-00001.parquet"
    file_v2 = directory / "firms-00002.parquet"
    pq.write_table(pa.Table.from_pylist(rows_v1), file_v1)
    pq.write_table(pa.Table.from_pylist(rows_v2), file_v2)
    other = directory / "salaries-00001.parquet"
    pq.write_table(pa.table({"person": ["张三", "李四"], "salary": [91000, 88000]}), other)
    return FirmsData(rows_v1, rows_v2, str(file_v1), str(file_v2), str(other))


@pytest.fixture(scope="session")
def people_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A dataset with Chinese column names and values."""
    path = Path(tmp_path_factory.mktemp("people")) / "people.parquet"
    pq.write_table(
        pa.table(
            {
                "姓名": ["张三", "李四", "王五", "张三"],
                "性别": ["男", "女", "女", "男"],
                "年龄": [34, 28, 45, 34],
            }
        ),
        path,
    )
    return str(path)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory):
    """One DuckDB engine shared by a test module, spilling under a temporary directory."""
    duckdb_engine = DuckDBEngine(temp_root=str(tmp_path_factory.mktemp("spill")))
    yield duckdb_engine
    duckdb_engine.close()
