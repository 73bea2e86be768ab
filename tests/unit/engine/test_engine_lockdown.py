"""The DuckDB lockdown holds on its own: user SQL run straight on a locked database, with the
guard bypassed, cannot reach any file, setting or extension outside the granted tables."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from countyos.engine import KEY_ROWS_COLUMN, RANK_COLUMN, QueryLimits, TableSource
from countyos.engine.duckdb_pool import open_locked_database
from countyos.errors import InternalError, InvalidInputError


@pytest.fixture(params=["view", "resident"])
def locked(firms, tmp_path: Path, request):
    """A locked database holding the grant as a view, or as a resident table ranked by firm."""
    spill = tmp_path / "spill"
    spill.mkdir()
    grant = firms.source(("firm_id", "township"))
    resident = frozenset()
    if request.param == "resident":
        grant = replace(grant, resident=True, rank_by="firm_id")
        resident = frozenset({grant.name})
    database = open_locked_database([grant], QueryLimits(), str(spill), resident)
    cursor = database.cursor()
    yield cursor
    cursor.close()
    database.close()


def test_granted_view_is_readable(locked, firms) -> None:
    assert locked.sql("SELECT count(*) FROM firms").fetchall() == [(len(firms.rows),)]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_parquet('{other}')",
        "SELECT * FROM '{other}'",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM read_blob('/etc/hostname')",
        "SELECT * FROM glob('/etc/*')",
        "SELECT * FROM glob('{lake}/*')",
        "SELECT * FROM read_parquet('{lake}/*.parquet')",
        "SELECT * FROM parquet_metadata('{other}')",
        "ATTACH '{tmp}/other.duckdb' AS other",
        "COPY (SELECT * FROM firms) TO '{tmp}/leak.csv'",
        "EXPORT DATABASE '{tmp}/dump'",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SELECT * FROM read_csv('https://example.com/x.csv')",
    ],
)
def test_file_and_extension_access_is_blocked(locked, firms, tmp_path: Path, sql: str) -> None:
    statement = sql.format(
        other=firms.other_file, lake=str(Path(firms.other_file).parent), tmp=str(tmp_path)
    )
    with pytest.raises(duckdb.PermissionException):
        locked.sql(statement).fetchall()
    assert not (tmp_path / "leak.csv").exists()
    assert not (tmp_path / "dump").exists()
    assert not (tmp_path / "other.duckdb").exists()


@pytest.mark.parametrize(
    "sql",
    [
        "SET enable_external_access = true",
        "SET allowed_paths = ['/etc/passwd']",
        "SET allowed_directories = ['/']",
        "SET lock_configuration = false",
        "SET memory_limit = '100GB'",
        "SET threads = 64",
        "SET autoload_known_extensions = true",
        "RESET enable_external_access",
    ],
)
def test_configuration_is_locked(locked, sql: str) -> None:
    with pytest.raises(duckdb.Error):
        locked.execute(sql)
    assert locked.sql("SELECT current_setting('enable_external_access')").fetchall() == [(False,)]


def test_python_variables_are_not_scanned(locked) -> None:
    secret_frame = pa.table({"secret": [1, 2, 3]})  # noqa: F841 - the bait of a replacement scan
    with pytest.raises(duckdb.CatalogException):
        locked.sql("SELECT * FROM secret_frame").fetchall()


def test_projection_hides_columns_that_were_not_granted(locked) -> None:
    columns = [row[0] for row in locked.sql("DESCRIBE firms").fetchall()]
    assert [c for c in columns if c not in (RANK_COLUMN, KEY_ROWS_COLUMN)] == ["firm_id", "township"]
    with pytest.raises(duckdb.BinderException) as caught:
        locked.sql("SELECT resident_id FROM firms").fetchall()
    assert "330281" not in str(caught.value)


def test_watchdog_interrupt_stops_a_running_query(locked) -> None:
    import threading

    timer = threading.Timer(0.2, locked.interrupt)
    timer.start()
    try:
        with pytest.raises(duckdb.InterruptException):
            locked.sql("SELECT sum(i * i % 7) FROM range(10000000000) r(i)").fetchall()
    finally:
        timer.cancel()
    assert locked.sql("SELECT 42").fetchall() == [(42,)]


def test_missing_granted_column_is_named(firms, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as caught:
        open_locked_database([firms.source(("firm_id", "no_such"))], QueryLimits(), str(tmp_path))
    assert "no_such" in caught.value.message


def test_missing_data_file_is_an_internal_error(tmp_path: Path) -> None:
    source = TableSource("firms", (str(tmp_path / "gone.parquet"),))
    with pytest.raises(InternalError):
        open_locked_database([source], QueryLimits(), str(tmp_path))


def test_bad_memory_limit_is_refused(firms, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError):
        open_locked_database([firms.source()], QueryLimits(memory_limit="lots"), str(tmp_path))
