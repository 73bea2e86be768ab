"""Shared helpers of the ingest tests: a staging directory and readers of what was staged."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from countyos.ingest import StagedImport

MAX = 1024**3


@pytest.fixture
def staging(tmp_path: Path) -> Path:
    directory = tmp_path / "staging"
    directory.mkdir()
    return directory


def staged_files(staging: Path) -> list[Path]:
    """Every file (at any depth) under the staging directory."""
    return [path for path in staging.rglob("*") if path.is_file()]


def read_staged(result: StagedImport) -> pa.Table:
    """All staged files as one table, checking each file has exactly the declared schema."""
    tables = []
    for path in result.files:
        table = pq.read_table(path)
        assert table.schema.remove_metadata().equals(result.schema), path
        tables.append(table)
    table = pa.concat_tables(tables)
    assert table.num_rows == result.rows
    return table


def column(result: StagedImport, name: str) -> list:
    return read_staged(result).column(name).to_pylist()


# --- PostgreSQL (the server named by COUNTYOS_TEST_POSTGRES_URL) -------------------------------

import os  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402

from sqlalchemy import create_engine, text  # noqa: E402

from tests.conftest import POSTGRES_URL, REQUIRE_SERVICES  # noqa: E402
from tests.conftest import postgres_available as _postgres_problem  # noqa: E402


@pytest.fixture
def postgres_schema() -> Iterator[tuple[str, str]]:
    """``(url, schema)``: a fresh schema in the test database, dropped afterwards."""
    problem = _postgres_problem()
    if problem:
        if REQUIRE_SERVICES:
            pytest.fail(f"{problem} and COUNTYOS_REQUIRE_SERVICES=1")
        pytest.skip(problem)
    schema = f"ingest_{uuid.uuid4().hex[:10]}"
    engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield POSTGRES_URL, schema
    finally:
        with engine.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()
