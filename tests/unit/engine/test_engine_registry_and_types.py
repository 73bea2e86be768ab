"""The engine registry, default limits from settings, and checks on table sources and limits."""

from __future__ import annotations

import pytest

from countyos.engine import (
    Engine,
    QueryLimits,
    TableSource,
    available_engines,
    get_engine,
    limits_from_settings,
    parse_read_only,
    register_engine,
)
from countyos.engine import registry
from countyos.engine.duckdb import DuckDBEngine
from countyos.errors import InvalidInputError
from countyos.settings import EngineSettings, Settings


def test_default_settings_give_duckdb_with_configured_limits() -> None:
    settings = Settings(
        engine=EngineSettings(timeout_s=5, max_result_rows=7, threads=1, memory_limit="1GB")
    )
    engine = get_engine(settings.engine)
    try:
        assert isinstance(engine, DuckDBEngine)
        assert engine.name == "duckdb" and engine.dialect == "duckdb"
        assert engine.default_limits == QueryLimits(
            timeout_s=5, max_rows=7, memory_limit="1GB", threads=1
        )
        result = engine.execute(parse_read_only("SELECT * FROM range(100)"), {})
        assert result.table.num_rows == 7 and result.truncated
    finally:
        engine.close()


def test_unknown_engine_is_refused_listing_available_ones() -> None:
    with pytest.raises(InvalidInputError) as caught:
        get_engine(EngineSettings(name="oracle"))
    assert "oracle" in caught.value.message and "duckdb" in caught.value.message


def test_registered_engine_is_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_FACTORIES", dict(registry._FACTORIES))

    class EchoEngine(Engine):
        name = "echo-test"
        dialect = "duckdb"

        def __init__(self, settings: EngineSettings) -> None:
            self.settings = settings

        def execute(self, query, tables, *, limits=None):  # pragma: no cover - not run
            raise NotImplementedError

        def close(self) -> None:
            pass

    register_engine("echo-test", EchoEngine)
    assert "echo-test" in available_engines()
    settings = EngineSettings(name="ECHO-test")
    engine = get_engine(settings)
    assert isinstance(engine, EchoEngine) and engine.settings is settings


def test_limits_from_settings_are_validated() -> None:
    with pytest.raises(InvalidInputError):
        limits_from_settings(EngineSettings(memory_limit="a lot"))
    with pytest.raises(InvalidInputError):
        limits_from_settings(EngineSettings(threads=0))


@pytest.mark.parametrize(
    "limits",
    [
        QueryLimits(timeout_s=0),
        QueryLimits(timeout_s=-1),
        QueryLimits(max_rows=-1),
        QueryLimits(max_rows=True),
        QueryLimits(threads=0),
        QueryLimits(memory_limit="4 gigs"),
        QueryLimits(memory_limit="4GB; SET threads=9"),
    ],
)
def test_bad_limits_are_refused(limits: QueryLimits) -> None:
    with pytest.raises(InvalidInputError):
        limits.validate()


@pytest.mark.parametrize("memory_limit", ["4GB", "512MB", "1.5GiB", "100 mb"])
def test_good_memory_limits_pass(memory_limit: str) -> None:
    QueryLimits(memory_limit=memory_limit).validate()


@pytest.mark.parametrize(
    "source",
    [
        TableSource("Firms", ("/lake/a.parquet",)),
        TableSource("1firms", ("/lake/a.parquet",)),
        TableSource("firms; drop", ("/lake/a.parquet",)),
        TableSource("f" * 64, ("/lake/a.parquet",)),
        TableSource("firms\n", ("/lake/a.parquet",)),
        TableSource("firms", ()),
        TableSource("firms", "/lake/a.parquet"),  # a string, not a tuple of paths
        TableSource("firms", ("lake/a.parquet",)),
        TableSource("firms", ("/lake/*.parquet",)),
        TableSource("firms", ("/lake/a?.parquet",)),
        TableSource("firms", ("/lake/{a,b}.parquet",)),
        TableSource("firms", ("/lake/a.parquet",), ()),
        TableSource("firms", ("/lake/a.parquet",), ("a", "A")),
        TableSource("firms", ("/lake/a.parquet",), ("a", " ")),
    ],
)
def test_malformed_table_sources_are_refused(source: TableSource) -> None:
    with pytest.raises(InvalidInputError):
        source.validate()


def test_quotes_in_paths_and_columns_are_escaped(tmp_path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "it's a \"dir\""
    path.mkdir()
    file = path / "o'brien.parquet"
    pq.write_table(pa.table({'we"ird': [1, 2], "x'y": [3, 4]}), file)
    with DuckDBEngine(max_idle_databases=0) as engine:
        result = engine.execute(
            parse_read_only('SELECT sum("we""ird") AS a, sum("x\'y") AS b FROM odd'),
            {"odd": TableSource("odd", (str(file),), ('we"ird', "x'y"))},
        )
    assert result.table.to_pylist() == [{"a": 3, "b": 7}]
