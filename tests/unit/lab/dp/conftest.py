"""Fixtures of the DP tests: seeded people/visits tables as Parquet, an engine, a ledger."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pytest
from tests.unit.lab.dp.dp_testdata import (
    make_people,
    make_visits,
    people_metadata,
    visits_metadata,
    write_table,
)

from countyos.engine import TableSource
from countyos.engine.duckdb import DuckDBEngine
from countyos.lab.dp import (
    Budget,
    EngineRunner,
    InMemoryAnswerCache,
    InMemoryBudgetLedger,
    QueryContext,
    TableMetadata,
)


@pytest.fixture(scope="module")
def engine() -> Iterator[DuckDBEngine]:
    with DuckDBEngine(max_idle_databases=2) as db:
        yield db


@pytest.fixture(scope="module")
def runner(engine: DuckDBEngine) -> EngineRunner:
    return EngineRunner(engine)


@pytest.fixture(scope="module")
def people() -> pa.Table:
    return make_people()


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory, people: pa.Table) -> dict[str, TableSource]:
    directory = tmp_path_factory.mktemp("dp-data")
    return {
        "people": write_table(directory, "people", people),
        "visits": write_table(directory, "visits", make_visits(people)),
    }


@pytest.fixture
def metadata() -> dict[str, TableMetadata]:
    return {"people": people_metadata(), "visits": visits_metadata()}


@pytest.fixture
def ledger() -> InMemoryBudgetLedger:
    book = InMemoryBudgetLedger()
    for dataset in ("people", "visits"):
        book.set_budget("proj", dataset, Budget("pure", epsilon=5, delta="1e-5"), steward="li")
    return book


@pytest.fixture
def cache() -> InMemoryAnswerCache:
    return InMemoryAnswerCache()


@pytest.fixture
def context() -> QueryContext:
    return QueryContext(project="proj", member="wang")
