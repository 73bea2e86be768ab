"""DuckDBEngine end to end over real Parquet files: results, grants, limits and errors."""

from __future__ import annotations

import math
import os
import threading
from collections import Counter, defaultdict

import pytest
import sqlglot

from countyos.engine import ParsedQuery, QueryLimits, TableSource, parse_read_only
from countyos.engine.duckdb import DuckDBEngine
from countyos.errors import (
    InternalError,
    InvalidInputError,
    NotFoundError,
    QueryRefusedError,
    TooLargeError,
)


def run(engine, sql, tables, **limits):
    query_limits = QueryLimits(**limits) if limits else None
    return engine.execute(parse_read_only(sql), tables, limits=query_limits)


def test_group_by_aggregates_match_python(engine, firms) -> None:
    result = run(
        engine,
        "SELECT township, count(*) AS n, sum(output) AS total, max(output) AS top "
        "FROM firms GROUP BY township ORDER BY township",
        {"firms": firms.source()},
    )
    expected_n: Counter[str] = Counter()
    expected_total: defaultdict[str, float] = defaultdict(float)
    expected_top: dict[str, float] = {}
    for row in firms.rows:
        expected_n[row["township"]] += 1
        expected_total[row["township"]] += row["output"]
        expected_top[row["township"]] = max(expected_top.get(row["township"], -1), row["output"])
    rows = result.table.to_pylist()
    assert [r["township"] for r in rows] == sorted(expected_n)
    for r in rows:
        assert r["n"] == expected_n[r["township"]]
        assert math.isclose(r["total"], expected_total[r["township"]], rel_tol=1e-9)
        assert r["top"] == expected_top[r["township"]]
    assert result.truncated is False
    assert result.elapsed_s > 0


def test_cte_join_and_window_function(engine, firms) -> None:
    result = run(
        engine,
        "WITH ranked AS (SELECT township, firm_id, output, "
        "row_number() OVER (PARTITION BY township ORDER BY output DESC, firm_id) AS rk FROM firms) "
        "SELECT township, firm_id FROM ranked WHERE rk = 1 ORDER BY township",
        {"firms": firms.source()},
    )
    best: dict[str, tuple[float, int]] = {}
    for row in firms.rows:
        key = (-row["output"], row["firm_id"])
        if row["township"] not in best or key < best[row["township"]]:
            best[row["township"]] = key
    assert [(r["township"], r["firm_id"]) for r in result.table.to_pylist()] == [
        (town, best[town][1]) for town in sorted(best)
    ]


def test_later_version_column_is_read_by_name(engine, firms) -> None:
    result = run(
        engine,
        "SELECT count(*) AS n, count(employees) AS with_employees, sum(employees) AS staff "
        "FROM firms",
        {"firms": firms.source()},
    )
    row = result.table.to_pylist()[0]
    assert row["n"] == len(firms.rows)
    assert row["with_employees"] == len(firms.rows_v2)
    assert row["staff"] == sum(r["employees"] for r in firms.rows_v2)


def test_projection_returns_only_granted_columns(engine, firms) -> None:
    grant = {"firms": firms.source(("township", "output"))}
    result = run(engine, "SELECT * FROM firms", grant, max_rows=5)
    assert result.table.column_names == ["township", "output"]
    with pytest.raises(InvalidInputError) as caught:
        run(engine, "SELECT resident_id FROM firms", grant)
    assert "firm_id" not in caught.value.message  # other hidden columns are not suggested
    with pytest.raises(InvalidInputError):
        run(engine, "SELECT count(DISTINCT firm_id) FROM firms", grant)


def test_unknown_tables_are_not_found_without_naming_granted_ones(engine, firms) -> None:
    for sql, name in [
        ("SELECT * FROM salaries", "salaries"),
        ("SELECT * FROM firms JOIN salaries ON true", "salaries"),
        ("SELECT * FROM sqlite_master", "sqlite_master"),
        ("SELECT * FROM duckdb_views", "duckdb_views"),
        ("SELECT * FROM information_schema", "information_schema"),
    ]:
        with pytest.raises(NotFoundError) as caught:
            run(engine, sql, {"firms": firms.source()})
        assert caught.value.message == f"unknown dataset {name!r}"


def test_other_files_stay_unreadable_even_when_named_in_sql(engine, firms) -> None:
    with pytest.raises(QueryRefusedError):
        run(engine, f"SELECT * FROM read_parquet('{firms.other_file}')", {"firms": firms.source()})


def test_chinese_identifiers_and_literals(engine, people_file) -> None:
    result = run(
        engine,
        "SELECT \"姓名\" AS 名字, count(*) AS 次数, avg(\"年龄\") FROM people "
        "WHERE \"性别\" = '男' GROUP BY 1",
        {"people": TableSource("people", (people_file,))},
    )
    assert result.table.column_names[:2] == ["名字", "次数"]
    assert result.table.to_pylist()[0]["名字"] == "张三"
    assert result.table.to_pylist()[0]["次数"] == 2


@pytest.mark.parametrize("max_rows", [0, 1, 10, 999])
def test_truncation_returns_the_first_rows(engine, firms, max_rows: int) -> None:
    result = run(
        engine, "SELECT firm_id FROM firms ORDER BY firm_id DESC", {"firms": firms.source()},
        max_rows=max_rows,
    )
    expected = sorted((r["firm_id"] for r in firms.rows), reverse=True)[:max_rows]
    assert result.table.column("firm_id").to_pylist() == expected
    assert result.truncated is True


def test_no_truncation_when_rows_fit(engine, firms) -> None:
    total = len(firms.rows)
    result = run(engine, "SELECT firm_id FROM firms", {"firms": firms.source()}, max_rows=total)
    assert result.table.num_rows == total and result.truncated is False


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT i FROM range(100) r(i) ORDER BY i LIMIT 50 OFFSET 7", list(range(7, 17))),
        ("SELECT i FROM range(5) r(i) UNION ALL SELECT i FROM range(100, 120) r(i) ORDER BY 1",
         [0, 1, 2, 3, 4, 100, 101, 102, 103, 104]),
        ("(SELECT i FROM range(1000) r(i) ORDER BY i DESC LIMIT 500)", list(range(999, 989, -1))),
        ("VALUES (1), (2), (3), (4), (5), (6), (7), (8), (9), (10), (11)", list(range(1, 11))),
        ("(SELECT i FROM range(1000) r(i)) ORDER BY i DESC", list(range(999, 989, -1))),
        ("(SELECT i FROM range(1000) r(i) ORDER BY i) ORDER BY i DESC LIMIT 20",
         list(range(999, 989, -1))),
        ("SELECT * FROM (SELECT i FROM range(1000) r(i) ORDER BY i DESC LIMIT 20) ORDER BY i",
         list(range(980, 990))),
    ],
)
def test_row_cap_keeps_query_semantics(engine, sql: str, expected: list[int]) -> None:
    result = run(engine, sql, {}, max_rows=10)
    assert result.table.column(0).to_pylist() == expected
    assert result.truncated is True


def test_user_limit_below_the_cap_is_kept(engine) -> None:
    result = run(engine, "SELECT i FROM range(100) r(i) ORDER BY i LIMIT 3", {}, max_rows=10)
    assert result.table.column(0).to_pylist() == [0, 1, 2]
    assert result.truncated is False


def test_timeout_interrupts_long_query_and_engine_keeps_working(engine, firms) -> None:
    with pytest.raises(QueryRefusedError) as caught:
        run(
            engine,
            "SELECT count(*) FROM range(10000000000) r(i) WHERE i % 7 = 3",
            {"firms": firms.source()},
            timeout_s=0.3,
        )
    assert caught.value.message == "query exceeded the time limit of 0.3 s"
    after = run(engine, "SELECT count(*) AS n FROM firms", {"firms": firms.source()}, timeout_s=0.3)
    assert after.table.to_pylist() == [{"n": len(firms.rows)}]


def test_timeout_while_rows_are_streaming(engine) -> None:
    # Rows trickle out, so the interrupt lands while the result is being streamed.
    with pytest.raises(QueryRefusedError) as caught:
        run(
            engine,
            "SELECT i FROM range(10000000000) r(i) WHERE i % 100000000 = 0",
            {},
            timeout_s=0.3,
            max_rows=1_000_000,
        )
    assert caught.value.message == "query exceeded the time limit of 0.3 s"


def test_error_while_rows_are_streaming_does_not_quote_data(engine) -> None:
    with pytest.raises(InvalidInputError) as caught:
        run(
            engine,
            "SELECT CAST(CASE WHEN i < 200000 THEN CAST(i AS VARCHAR) ELSE 'secret-42' END AS INT) "
            "FROM range(300000) r(i)",
            {},
            max_rows=1_000_000,
        )
    assert "secret-42" not in caught.value.message
    assert caught.value.details == {"kind": "ConversionException"}


def test_memory_limit_is_enforced(engine) -> None:
    with pytest.raises(TooLargeError) as caught:
        run(engine, "SELECT list(i) FROM range(50000000) r(i)", {}, memory_limit="50MB")
    assert "50MB" in caught.value.message


def test_runtime_errors_do_not_quote_data(engine, firms) -> None:
    with pytest.raises(InvalidInputError) as caught:
        run(engine, "SELECT CAST(resident_id AS INTEGER) FROM firms", {"firms": firms.source()})
    assert "330281" not in caught.value.message
    assert caught.value.details == {"kind": "ConversionException"}


def test_sql_errors_are_reported(engine, firms) -> None:
    with pytest.raises(InvalidInputError) as caught:
        run(engine, "SELECT no_such_column FROM firms", {"firms": firms.source()})
    assert "no_such_column" in caught.value.message


def forged(sql: str, tables: set[str]) -> ParsedQuery:
    """A ParsedQuery that never went through the guard, as if the guard had a bug."""
    expression = sqlglot.parse_one(sql, read="duckdb")
    return ParsedQuery(expression, frozenset(tables), expression.sql("duckdb"))


@pytest.mark.parametrize(
    "sql",
    [
        # The granted file itself, read past the column projection.
        "SELECT resident_id FROM read_parquet('{file}')",
        "SELECT * FROM firms, read_parquet('{file}') AS raw",
        # Anything else.
        "SELECT * FROM read_parquet('{other}')",
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT current_setting('allowed_paths') FROM firms",
        "SELECT * FROM firms, duckdb_views()",
    ],
)
def test_engine_refuses_forged_queries_that_bypass_the_guard(engine, firms, sql: str) -> None:
    query = forged(sql.format(file=firms.file_v1, other=firms.other_file), {"firms"})
    with pytest.raises(QueryRefusedError):
        engine.execute(query, {"firms": firms.source(("township",))})


def test_table_source_accepts_lists(engine, firms) -> None:
    source = TableSource("firms", [firms.file_v1, firms.file_v2], ["township"])
    assert source == firms.source(("township",))
    result = run(engine, "SELECT count(*) AS n FROM firms", {"firms": source})
    assert result.table.to_pylist() == [{"n": len(firms.rows)}]


def test_bad_grants_and_limits_are_refused(engine, firms) -> None:
    query = parse_read_only("SELECT * FROM firms")
    with pytest.raises(InvalidInputError):
        engine.execute(query, {"firms": TableSource("firms", ("relative/path.parquet",))})
    with pytest.raises(InvalidInputError):
        engine.execute(query, {"firms": TableSource("firms", (firms.file_v1 + "*",))})
    with pytest.raises(InvalidInputError):
        engine.execute(query, {"firms": TableSource("other", (firms.file_v1,))})
    with pytest.raises(InvalidInputError):
        engine.execute(query, {"firms": firms.source()}, limits=QueryLimits(timeout_s=0))


def test_databases_are_pooled_by_grant_and_removed_on_close(firms, tmp_path) -> None:
    spill_root = tmp_path / "spill"
    spill_root.mkdir()
    engine = DuckDBEngine(max_idle_databases=2, temp_root=str(spill_root))
    try:
        for _ in range(3):
            run(engine, "SELECT count(*) FROM firms", {"firms": firms.source()})
        assert len(engine._pool) == 1
        assert len(os.listdir(spill_root)) == 1
        run(engine, "SELECT count(*) FROM firms", {"firms": firms.source(("township",))})
        run(engine, "SELECT count(*) FROM firms", {"firms": firms.source(("output",))})
        assert len(engine._pool) == 2  # the least recently used was closed
        assert len(os.listdir(spill_root)) == 2
    finally:
        engine.close()
    assert os.listdir(spill_root) == []
    with pytest.raises(InternalError):
        run(engine, "SELECT 1", {})


def test_concurrent_queries_on_one_engine(engine, firms) -> None:
    expected = Counter(r["township"] for r in firms.rows)
    results: list[dict[str, int]] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            table = run(
                engine, "SELECT township, count(*) AS n FROM firms GROUP BY 1",
                {"firms": firms.source()},
            ).table
            results.append({r["township"]: r["n"] for r in table.to_pylist()})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert results == [dict(expected)] * 4


def test_dropped_engine_removes_its_spill_directories(tmp_path) -> None:
    import gc

    spill_root = tmp_path / "not-yet-created"
    engine = DuckDBEngine(temp_root=str(spill_root))
    run(engine, "SELECT 1", {})
    assert len(os.listdir(spill_root)) == 1
    del engine
    gc.collect()
    assert os.listdir(spill_root) == []
