"""Errors are an oracle: data values must not decide whether a checked query fails.

Casts run as TRY_CAST, ``//`` and ``%`` need a constant divisor, expressions around an aggregate
only see released values, and with ``guard_errors`` every row expression is wrapped in TRY(…).
"""

from __future__ import annotations

import duckdb
import pytest
import sqlglot.expressions as exp

from countyos.errors import InvalidInputError, QueryRefusedError
from countyos.lab.checked_sql import plan_checked_query, run_checked_query
from countyos.lab.checked_sql.rewrite import build_statistics_sql
from countyos.lab.checked_sql.statistics import engine_allows_try
from countyos.lab.disclosure.entity_sets import entity_hash_key

SECRET = b"checked-sql-test-secret-0123456789"
# fails in plain SQL as soon as one selected person is 36 or older (INT32 overflow)
OVERFLOW = (
    "SELECT township, COUNT(*) AS n FROM persons "
    "WHERE age * age * age * age * age * age > 0 GROUP BY township"
)


def run(sql, lab, engine, policies, **kwargs):
    plan = plan_checked_query(sql, policies=policies)
    return run_checked_query(
        plan, engine=engine, sources=lab.sources, secret=SECRET, table_id="e", **kwargs
    )


def plain_duckdb(lab) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    for name, source in lab.sources.items():
        connection.execute(
            f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{source.files[0]}')"
        )
    return connection


def test_casts_never_fail_on_data(lab, engine, policies) -> None:
    sql = (
        "SELECT CAST(age AS VARCHAR) AS a, COUNT(*) FILTER (WHERE CAST(sex AS INTEGER) = 1) AS n, "
        "CAST(COUNT(*) AS TINYINT) AS small FROM persons GROUP BY 1"
    )
    plan = plan_checked_query(sql, policies=policies)
    parts = [key.expression for key in plan.keys]
    parts += [spec.condition for spec in plan.aggregates if spec.condition is not None]
    parts += [column.wrapper for column in plan.outputs if column.wrapper is not None]
    casts = [node for part in parts for node in part.walk() if isinstance(node, exp.Cast)]
    assert len(casts) == 3 and all(isinstance(node, exp.TryCast) for node in casts)
    result = run(
        "SELECT township, COUNT(*) FILTER (WHERE CAST(sex AS INTEGER) = 1) AS n, "
        "CAST(COUNT(*) AS TINYINT) AS small FROM persons GROUP BY 1",
        lab, engine, policies,
    )
    rows = {row["township"]: row for row in result.table.to_pylist()}
    assert rows["A"]["small"] is None  # 150 does not fit a TINYINT: NULL, not an error
    assert rows["B"]["small"] == 120 or rows["B"]["small_status"] == "suppressed"


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT age // (age - 37) AS b, COUNT(*) FROM persons GROUP BY 1",
        "SELECT age % 0 AS b, COUNT(*) FROM persons GROUP BY 1",
        "SELECT township, COUNT(*) FROM persons WHERE income % age = 1 GROUP BY 1",
        "SELECT township, COUNT(*) FROM persons "
        "WHERE birth_date + INTERVAL (age) YEAR > DATE '2000-01-01' GROUP BY 1",
    ],
)
def test_divisions_and_intervals_from_data_are_refused(sql, policies) -> None:
    with pytest.raises(QueryRefusedError) as caught:
        plan_checked_query(sql, policies=policies)
    assert caught.value.details["rule"] == "syntax_not_allowed"


def test_constant_divisors_are_fine(lab, engine, policies) -> None:
    result = run(
        "SELECT age // 10 * 10 AS decade, COUNT(*) AS n FROM persons GROUP BY 1",
        lab, engine, policies,
    )
    assert set(result.table.column("decade").to_pylist()) <= set(range(0, 100, 10))


def test_wrappers_never_show_withheld_values(lab, engine, policies) -> None:
    result = run(
        "SELECT township, COALESCE(SUM(income), 0) AS s FROM persons GROUP BY 1",
        lab, engine, policies,
    )
    for row in result.table.to_pylist():
        assert (row["s"] is None) == (row["s_status"] == "suppressed")
    assert "COALESCE" not in result.sql_rewritten  # evaluated after the checks, on released values


def test_guarded_rewrite_cannot_fail_on_data(lab, policies) -> None:
    plan = plan_checked_query(OVERFLOW, policies=policies)
    connection = plain_duckdb(lab)
    unguarded = build_statistics_sql(
        plan, per_entity=True, entity_sets=True, top=2, guard_errors=False,
        hash_key=entity_hash_key(SECRET),
    )
    with pytest.raises(duckdb.OutOfRangeException):
        connection.sql(unguarded).fetchall()
    guarded = build_statistics_sql(
        plan, per_entity=True, entity_sets=True, top=2, guard_errors=True,
        hash_key=entity_hash_key(SECRET),
    )
    rows = connection.sql(guarded).fetchall()
    assert rows  # the young persons' rows count, the overflowing ones drop out


def test_row_expression_errors_through_the_engine(lab, engine, policies) -> None:
    if engine_allows_try():
        result = run(OVERFLOW, lab, engine, policies)
        assert "TRY(" in result.sql_rewritten
    else:  # until the engine admits TRY(): the failure says nothing about the value
        with pytest.raises(InvalidInputError) as caught:
            run(OVERFLOW, lab, engine, policies)
        assert "withheld" in caught.value.message
