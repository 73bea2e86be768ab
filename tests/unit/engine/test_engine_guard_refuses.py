"""Attacks on the guard: everything but one read-only query over datasets is refused."""

from __future__ import annotations

import pytest

from countyos.engine import parse_read_only
from countyos.engine.sql import MAX_SQL_CHARS
from countyos.errors import QueryRefusedError, UserError


def refused(sql: object) -> str:
    with pytest.raises(QueryRefusedError) as caught:
        parse_read_only(sql)  # type: ignore[arg-type]
    assert isinstance(caught.value, UserError)
    assert caught.value.status == 400
    return caught.value.message


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("INSERT INTO firms VALUES (1)", "INSERT"),
        ("insert into firms select * from towns", "INSERT"),
        ("UPDATE firms SET output = 0", "UPDATE"),
        ("DELETE FROM firms", "DELETE"),
        ("MERGE INTO firms USING towns ON firms.a = towns.a WHEN MATCHED THEN DELETE", "MERGE"),
        ("CREATE TABLE x AS SELECT 1", "CREATE"),
        ("CREATE VIEW v AS SELECT * FROM firms", "CREATE"),
        ("CREATE MACRO m(x) AS x + 1", "CREATE"),
        ("CREATE SECRET (TYPE s3, KEY_ID 'k', SECRET 's')", "CREATE"),
        ("DROP TABLE firms", "DROP"),
        ("ALTER TABLE firms ADD COLUMN x INT", "ALTER"),
        ("TRUNCATE firms", "TRUNCATE"),
        ("COPY firms TO '/tmp/out.csv'", "COPY"),
        ("COPY (SELECT * FROM firms) TO '/tmp/out.parquet' (FORMAT parquet)", "COPY"),
        ("COPY firms FROM '/etc/passwd'", "COPY"),
        ("ATTACH '/tmp/other.duckdb' AS other", "ATTACH"),
        ("ATTACH 'postgres:dbname=x' AS pg (TYPE postgres)", "ATTACH"),
        ("DETACH other", "DETACH"),
        ("INSTALL httpfs", "INSTALL"),
        ("FORCE INSTALL httpfs", "INSTALL"),
        ("LOAD httpfs", "LOAD"),
        ("PRAGMA version", "PRAGMA"),
        ("PRAGMA enable_profiling", "PRAGMA"),
        ("SET threads = 64", "SET"),
        ("SET enable_external_access = true", "SET"),
        ("SET GLOBAL memory_limit = '100GB'", "SET"),
        ("SET VARIABLE x = 1", "SET"),
        ("RESET threads", "RESET"),
        ("CALL pragma_version()", "CALL"),
        ("EXPORT DATABASE '/tmp/dump'", "EXPORT"),
        ("IMPORT DATABASE '/tmp/dump'", "IMPORT"),
        ("EXPLAIN ANALYZE SELECT * FROM firms", "EXPLAIN ANALYZE"),
        ("EXPLAIN SELECT 1", "EXPLAIN"),
        ("BEGIN TRANSACTION", "BEGIN"),
        ("COMMIT", "COMMIT"),
        ("ROLLBACK", "ROLLBACK"),
        ("CHECKPOINT", "CHECKPOINT"),
        ("VACUUM", "VACUUM"),
        ("PREPARE p AS SELECT 1", "PREPARE"),
        ("EXECUTE p", "EXECUTE"),
        ("USE other", "USE"),
        ("DESCRIBE firms", "DESCRIBE"),
        ("SHOW TABLES", "SHOW"),
        ("SUMMARIZE firms", "SUMMARIZE"),
        ("SELECT * FROM (DESCRIBE firms)", "DESCRIBE"),
        ("SELECT * FROM (SUMMARIZE firms)", "SUMMARIZE"),
    ],
)
def test_refuses_statements_naming_their_kind(sql: str, kind: str) -> None:
    message = refused(sql)
    assert kind in message
    assert "not allowed" in message


def test_show_in_a_subquery_is_read_as_a_table_name_not_a_statement() -> None:
    # sqlglot reads "(SHOW TABLES)" as a table named show; the SQL DuckDB runs is regenerated from
    # that tree, so it names a table (unknown unless granted), never the SHOW statement.
    query = parse_read_only("SELECT * FROM (SHOW TABLES)")
    assert query.tables == frozenset({"show"})
    assert '"SHOW"' in query.sql


def test_refuses_dml_hidden_in_a_cte() -> None:
    message = refused("WITH gone AS (DELETE FROM firms RETURNING *) SELECT * FROM gone")
    assert "DELETE" in message or "parsed" in message


def test_refuses_select_into() -> None:
    assert "INTO" in refused("SELECT * INTO copy_of_firms FROM firms")


def test_refuses_simplified_pivot_statement_with_hint() -> None:
    assert "PIVOT" in refused("PIVOT firms ON township USING sum(output)")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1; DROP TABLE firms",
        "SELECT 1; SELECT 2",
        "SELECT * FROM firms; COPY firms TO '/tmp/x.csv'",
        # DuckDB strings have no backslash escape: this is three statements, not one literal.
        "SELECT 'a\\'; DROP TABLE firms; --'",
    ],
)
def test_refuses_more_than_one_statement(sql: str) -> None:
    assert "exactly one" in refused(sql)


@pytest.mark.parametrize(
    ("sql", "fragment"),
    [
        ("SELECT * FROM read_csv('/etc/passwd')", "read_csv"),
        ("SELECT * FROM READ_CSV_AUTO('/etc/passwd')", "read_csv"),
        ("SELECT * FROM read_parquet('/data/lake/firms.parquet')", "read_parquet"),
        ("SELECT * FROM read_parquet(['/a.parquet', '/b.parquet'])", "read_parquet"),
        ("SELECT * FROM parquet_scan('/a.parquet')", "parquet_scan"),
        ("SELECT * FROM read_json('/etc/x.json')", "read_json"),
        ("SELECT * FROM read_json_objects('/etc/x.json')", "read_json_objects"),
        ("SELECT * FROM read_text('/etc/passwd')", "read_text"),
        ("SELECT * FROM read_blob('/etc/shadow')", "read_blob"),
        ("SELECT * FROM glob('/home/*')", "glob"),
        ("SELECT * FROM query('SELECT * FROM firms')", "query"),
        ("SELECT * FROM query_table('firms')", "query_table"),
        ("SELECT * FROM duckdb_tables()", "duckdb_tables"),
        ("SELECT * FROM duckdb_views()", "duckdb_views"),
        ("SELECT * FROM duckdb_settings()", "duckdb_settings"),
        ("SELECT * FROM duckdb_secrets()", "duckdb_secrets"),
        ("SELECT * FROM duckdb_functions()", "duckdb_functions"),
        ("SELECT * FROM pragma_table_info('firms')", "pragma_table_info"),
        ("SELECT * FROM parquet_metadata('/a.parquet')", "parquet_metadata"),
        ("SELECT * FROM sniff_csv('/etc/passwd')", "sniff_csv"),
        ("SELECT * FROM json_execute_serialized_sql('{}')", "json_execute_serialized_sql"),
        ("SELECT * FROM firms, LATERAL read_csv('/etc/passwd')", "read_csv"),
        ("SELECT * FROM firms JOIN read_csv('/etc/passwd') ON true", "read_csv"),
        ("SELECT (SELECT count(*) FROM read_text('/etc/passwd'))", "read_text"),
        ("WITH x AS (SELECT * FROM read_text('/etc/passwd')) SELECT * FROM x", "read_text"),
        ("SELECT * FROM firms WHERE a IN (SELECT * FROM glob('/*'))", "glob"),
    ],
)
def test_refuses_table_functions_that_read_outside(sql: str, fragment: str) -> None:
    message = refused(sql)
    assert fragment in message.lower()
    assert "not allowed" in message


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM '/etc/passwd'",
        "SELECT * FROM 'firms.parquet'",
        'SELECT * FROM "/data/lake/firms-00001.parquet"',
        'SELECT * FROM "s3://bucket/x.parquet"',
        "SELECT * FROM 'https://example.com/x.csv'",
        "SELECT * FROM 人员",
        'SELECT * FROM "Firms 2024"',
        'SELECT * FROM "firms\n"',
    ],
)
def test_refuses_paths_and_non_dataset_names(sql: str) -> None:
    assert "not a dataset name" in refused(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM information_schema.tables",
        "SELECT * FROM information_schema.columns",
        "SELECT * FROM pg_catalog.pg_class",
        "SELECT * FROM main.firms",
        "SELECT * FROM memory.main.firms",
        "SELECT * FROM system.main.duckdb_tables",
        "SELECT * FROM other_db.main.salaries",
        "SELECT * FROM temp.main.x",
        "SELECT * FROM firms JOIN other_db.salaries s ON true",
    ],
)
def test_refuses_qualified_table_names(sql: str) -> None:
    assert "qualified table name" in refused(sql)


@pytest.mark.parametrize(
    ("sql", "fragment"),
    [
        ("SELECT getenv('HOME')", "getenv"),
        ("SELECT current_setting('allowed_paths')", "current_setting"),
        ("SELECT getvariable('x')", "getvariable"),
        ("SELECT nextval('seq')", "nextval"),
        ("SELECT currval('seq')", "currval"),
        ("SELECT setseed(0.5)", "setseed"),
        ("SELECT sleep_ms(100000)", "sleep_ms"),
        ("SELECT pg_sleep(100)", "pg_sleep"),
        ("SELECT version()", "version"),
        ("SELECT current_database()", "current_database"),
        ("SELECT current_schema()", "current_schema"),
        ("SELECT current_user", "current_user"),
        ("SELECT current_query()", "current_query"),
        (
            "SELECT json_serialize_plan('SELECT * FROM read_csv(''/etc/passwd'')')",
            "json_serialize_plan",
        ),
        ("SELECT json_serialize_sql('SELECT 1')", "json_serialize_sql"),
        ("SELECT error('boom')", "error"),
        ("SELECT write_log('x')", "write_log"),
        ("SELECT txid_current()", "txid_current"),
        ("SELECT has_table_privilege('firms', 'select')", "has_table_privilege"),
        ("SELECT pg_get_viewdef('firms')", "pg_get_viewdef"),
        ("SELECT stats(output) FROM firms", "stats"),
        ("SELECT read_csv('/etc/passwd')", "read_csv"),
        ("SELECT 'HOME'.getenv()", "getenv"),
        ("SELECT system.main.upper('a')", "upper"),
        ("SELECT main.read_csv('/etc/passwd')", "read_csv"),
        ("SELECT township.upper() FROM firms", "upper"),
        ("SELECT upper(getenv('HOME'))", "getenv"),
        ("SELECT list_transform([1], x -> current_setting('threads'))", "current_setting"),
        ("SELECT * FROM firms WHERE township = getenv('USER')", "getenv"),
        ("SELECT * FROM firms ORDER BY current_setting('memory_limit')", "current_setting"),
        ("SELECT sum(output) OVER (PARTITION BY getenv('X')) FROM firms", "getenv"),
        ("SELECT my_macro(1)", "my_macro"),
    ],
)
def test_refuses_functions_outside_the_allowlist(sql: str, fragment: str) -> None:
    message = refused(sql)
    assert fragment in message.lower()
    assert "not allowed" in message


@pytest.mark.parametrize("sql", ["SELECT ?", "SELECT $1", "SELECT * FROM firms WHERE a = $name"])
def test_refuses_parameters(sql: str) -> None:
    assert "parameter" in refused(sql)


@pytest.mark.parametrize("sql", ["", "   ", "-- only a comment", ";", "/* */"])
def test_refuses_empty_input(sql: str) -> None:
    refused(sql)


def test_refuses_non_text_and_nul() -> None:
    refused(None)
    refused(b"SELECT 1")
    assert "NUL" in refused("SELECT 1\x00; DROP TABLE firms")


def test_refuses_oversized_sql() -> None:
    sql = "SELECT " + ", ".join(["1"] * (MAX_SQL_CHARS // 3 + 1))
    assert str(MAX_SQL_CHARS) in refused(sql)


def test_refuses_deep_nesting_without_crashing() -> None:
    refused("SELECT " + "(" * 20_000 + "1" + ")" * 20_000)


@pytest.mark.parametrize(
    "sql",
    [
        "SELEC * FROM firms",
        "SELECT * FROM firms WHERE",
        "SELECT 1；DROP TABLE firms",  # full-width semicolon
    ],
)
def test_refuses_unparseable_sql(sql: str) -> None:
    refused(sql)
