"""Fixtures for the lake tests: a `Lake` on SQLite and on PostgreSQL, and staged Parquet files.

PostgreSQL: the server named by ``COUNTYOS_TEST_POSTGRES_URL`` (default: the local ``test``
database, trust auth). Each test uses its own namespace, dropped with its tables afterwards. When
the server is absent the PostgreSQL variants skip, or fail under ``COUNTYOS_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from countyos.lake import Lake

from tests.conftest import POSTGRES_URL, REQUIRE_SERVICES  # noqa: E402
from tests.conftest import postgres_available as _postgres_problem  # noqa: E402


def open_lake(backend: str, tmp_path: Path, namespace: str | None = None) -> Lake:
    """A lake on ``backend`` (``sqlite`` or ``postgres``) with its warehouse under ``tmp_path``."""
    if backend == "sqlite":
        return Lake(f"sqlite:///{tmp_path / 'countyos.db'}", tmp_path / "warehouse", namespace=namespace or "hub")
    problem = _postgres_problem()
    if problem:
        if REQUIRE_SERVICES:
            pytest.fail(f"{problem}; COUNTYOS_REQUIRE_SERVICES=1 forbids skipping")
        pytest.skip(problem)
    return Lake(POSTGRES_URL, tmp_path / "warehouse", namespace=namespace or f"t_{uuid.uuid4().hex[:16]}")


def _drop_everything(lake: Lake) -> None:
    for table in lake.tables():
        lake.drop(table)
    lake._catalog.drop_namespace(lake.namespace)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def lake(backend: str, tmp_path: Path) -> Iterator[Lake]:
    """A lake on each catalog backend in turn; on PostgreSQL its namespace is removed after."""
    opened = open_lake(backend, tmp_path)
    yield opened
    if backend == "postgres":
        _drop_everything(opened)
    opened.close()


@pytest.fixture
def sqlite_lake(tmp_path: Path) -> Iterator[Lake]:
    opened = open_lake("sqlite", tmp_path)
    yield opened
    opened.close()


@pytest.fixture
def staging(tmp_path: Path) -> Path:
    path = tmp_path / "staging"
    path.mkdir()
    return path


@pytest.fixture
def stage(staging: Path) -> Callable[..., Path]:
    """Write a table (or a dict of columns with a schema) as a staged Parquet file."""

    def write(name: str, data: pa.Table | dict, schema: pa.Schema | None = None) -> Path:
        table = data if isinstance(data, pa.Table) else pa.table(data, schema=schema)
        path = staging / name
        pq.write_table(table, path)
        return path

    return write
