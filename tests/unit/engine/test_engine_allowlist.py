"""The function allowlist holds on both layers: sqlglot's tree and DuckDB's own parse tree."""

from __future__ import annotations

import duckdb
import pytest

from countyos.engine import functions, parse_read_only
from countyos.engine.duckdb_verify import verify_statement
from countyos.errors import QueryRefusedError

# Allowlisted names that DuckDB implements as syntax, not as catalog functions.
SYNTAX_ONLY = {"coalesce", "ifnull", "try"}  # special forms, not in duckdb_functions()


@pytest.fixture(scope="module")
def connection():
    with duckdb.connect() as con:
        yield con


@pytest.fixture(scope="module")
def duckdb_function_names(connection) -> set[str]:
    rows = connection.sql("SELECT DISTINCT function_name FROM duckdb_functions()").fetchall()
    return {str(row[0]).lower() for row in rows}


def _calls(name: str) -> list[str]:
    return [f"SELECT {name}({', '.join(['a', 'b', 'c'][:arity])})" for arity in range(4)]


def test_every_allowlisted_function_exists_in_duckdb(duckdb_function_names: set[str]) -> None:
    missing = functions.ALLOWED_FUNCTIONS - duckdb_function_names - SYNTAX_ONLY
    assert not missing


def test_allowlist_excludes_functions_that_reach_outside() -> None:
    outside = {
        "getenv", "current_setting", "getvariable", "read_csv", "read_parquet", "read_text",
        "read_blob", "glob", "query", "query_table", "json_serialize_plan", "json_serialize_sql",
        "json_execute_serialized_sql", "sleep_ms", "setseed", "nextval", "duckdb_tables",
        "write_log", "error", "version", "current_database", "parquet_metadata",
    }
    assert not outside & functions.ALLOWED_FUNCTIONS
    for name in outside:
        assert not functions.is_allowed_function(name.upper())
        assert not functions.is_allowed_table_function(name)


def test_no_refused_duckdb_function_is_reachable_through_the_guard(
    connection, duckdb_function_names: set[str]
) -> None:
    """For every DuckDB function outside the allowlist, whatever sqlglot makes of a call to it is
    either refused by the guard or, if it passes, refused by DuckDB's own parse of the SQL."""
    reachable = []
    for name in sorted(duckdb_function_names - functions.ALLOWED_FUNCTIONS):
        if not name.isidentifier():
            continue  # operators
        for sql in _calls(name):
            try:
                query = parse_read_only(sql)
            except QueryRefusedError:
                continue
            try:
                verify_statement(connection, query.sql, frozenset())
            except QueryRefusedError:
                continue
            reachable.append(query.sql)
    assert not reachable


def test_every_allowlisted_function_can_be_called(connection) -> None:
    unusable = []
    for name in sorted(functions.ALLOWED_FUNCTIONS):
        accepted = False
        for sql in _calls(name):
            try:
                query = parse_read_only(sql)
                verify_statement(connection, query.sql, frozenset())
            except QueryRefusedError:
                continue
            accepted = True
            break
        if not accepted:
            unusable.append(name)
    assert not unusable


@pytest.mark.parametrize(
    ("sql", "fragment"),
    [
        ("SELECT * FROM read_csv('/etc/passwd')", "read_csv"),
        ("SELECT * FROM read_parquet('/lake/other.parquet')", "read_parquet"),
        ("SELECT * FROM '/etc/passwd'", "/etc/passwd"),
        ("SELECT * FROM glob('/*')", "glob"),
        ("SELECT * FROM query('SELECT 1')", "query"),
        ("SELECT getenv('HOME')", "getenv"),
        ("SELECT current_setting('allowed_paths')", "current_setting"),
        ("SELECT * FROM firms WHERE a IN (SELECT * FROM read_text('/etc/passwd'))", "read_text"),
        ("SELECT 1; SELECT 2", "2 statements"),
        ("DROP TABLE firms", "single SELECT"),
        ("COPY firms TO '/tmp/x.csv'", "single SELECT"),
        ("SELECT * FROM main.firms", "qualified"),
        ("SELECT * FROM other.main.firms", "qualified"),
        ("SELECT main.upper('a')", "qualified"),
        ("SELECT * FROM (DESCRIBE firms)", "SHOW_REF"),
        ("SELECT * FROM (SUMMARIZE firms)", "SHOW_REF"),
        ("SELECT ?", "parameters"),
        ("SELECT * FROM salaries", "salaries"),
        ("SELECT * FROM sqlite_master", "sqlite_master"),
        ("SELECT * FROM duckdb_views", "duckdb_views"),
    ],
)
def test_duckdb_parse_tree_check_refuses_attacks_that_bypass_sqlglot(
    connection, sql: str, fragment: str
) -> None:
    with pytest.raises(QueryRefusedError) as caught:
        verify_statement(connection, sql, frozenset({"firms"}))
    assert fragment in caught.value.message


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT township, sum(output) FROM firms GROUP BY 1",
        "WITH x AS (SELECT * FROM firms) SELECT * FROM x, range(3) r(i)",
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) "
        "SELECT * FROM r",
        "SELECT row_number() OVER (ORDER BY output), [x + 1 FOR x IN [1, 2]] FROM firms",
        "SELECT * FROM firms PIVOT (sum(output) FOR township IN ('城关镇'))",
    ],
)
def test_duckdb_parse_tree_check_accepts_granted_queries(connection, sql: str) -> None:
    verify_statement(connection, parse_read_only(sql).sql, frozenset({"firms"}))
