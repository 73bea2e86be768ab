"""Allowed queries plan, run through the engine, and release exactly what the bare query gives.

The bare query runs in a separate plain DuckDB connection over the same Parquet files; every
released cell of the checked result must hold the bare value, withheld cells hold NULL, and the
column names and types are the bare query's.
"""

from __future__ import annotations

import math

import duckdb
import pytest

from countyos.engine import QueryLimits
from countyos.lab.checked_sql import plan_checked_query, run_checked_query
from countyos.lab.disclosure import DisclosureRules

SECRET = b"checked-sql-test-secret-0123456789"

ACCEPTED = [
    "SELECT township, COUNT(*) AS n FROM persons GROUP BY township",
    "SELECT township AS t, sex, COUNT(*) AS n, SUM(income) AS s, AVG(income) AS a "
    "FROM persons GROUP BY t, sex",
    "SELECT CASE WHEN age < 40 THEN 'young' ELSE 'old' END AS band, COUNT(*) AS n, "
    "SUM(income) AS s FROM persons GROUP BY band ORDER BY band DESC",
    "SELECT date_trunc('year', birth_date) AS y, COUNT(*) AS n FROM persons "
    "WHERE age BETWEEN 20 AND 60 GROUP BY 1",
    "SELECT township, year, COUNT(*) AS n, COUNT(DISTINCT person_id) AS people, "
    "SUM(cost) AS total, SUM(days) AS days FROM visits GROUP BY ALL",
    "SELECT township, year, SUM(cost) AS total FROM visits GROUP BY CUBE (township, year)",
    "SELECT township, sex, COUNT(*) AS n FROM persons GROUP BY ROLLUP (township, sex)",
    "SELECT township, COUNT(*) FILTER (WHERE sex = 'F') AS women, "
    "ROUND(AVG(income), 2) AS mean_income, mean(income) AS m FROM persons GROUP BY township",
    "SELECT p.sex, SUM(v.cost) AS total, COUNT(*) AS n FROM persons p "
    "JOIN visits v ON p.person_id = v.person_id GROUP BY p.sex",
    "SELECT p.township, COUNT(v.cost) AS with_visits FROM persons p "
    "LEFT JOIN visits v USING (person_id) GROUP BY p.township",
    "WITH adults AS (SELECT township, income FROM persons WHERE age >= 18) "
    "SELECT township, SUM(income) AS s FROM adults GROUP BY township",
    "SELECT a.township, COUNT(*) AS n FROM "
    "(SELECT township, cost FROM visits WHERE year = 2022) AS a GROUP BY a.township",
    "SELECT COUNT(*) AS n, SUM(income) AS s FROM persons",
    "SELECT township, SUM(income) AS s FROM persons GROUP BY GROUPING SETS ((township), ())",
    "SELECT township, COUNT(*) AS n FROM visits WHERE township IN ('A', 'B') AND cost > 0 "
    "GROUP BY township",
    "SELECT floor(age / 10) * 10 AS decade, COUNT(*) AS n FROM persons GROUP BY decade",
    "WITH v AS (SELECT person_id, cost FROM visits) SELECT p.sex, SUM(v.cost) AS s "
    "FROM persons p JOIN v ON p.person_id = v.person_id GROUP BY p.sex",
    "SELECT township, COUNT(*) * 100 AS n100 FROM persons GROUP BY township",
]


def bare(lab, sql: str):
    connection = duckdb.connect()
    for name, source in lab.sources.items():
        connection.execute(
            f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{source.files[0]}')"
        )
    return connection.sql(sql).to_arrow_table()


def _same(left, right) -> bool:
    if isinstance(left, float) or isinstance(right, float):
        return math.isclose(float(left), float(right), rel_tol=1e-9, abs_tol=1e-6)
    return left == right


@pytest.mark.parametrize("sql", ACCEPTED)
def test_released_cells_equal_the_bare_query(sql, lab, engine, policies) -> None:
    plan = plan_checked_query(sql, policies=policies)
    rules = DisclosureRules(threshold=3)
    result = run_checked_query(
        plan, engine=engine, sources=lab.sources, secret=SECRET, table_id="t", rules=rules
    )
    expected = bare(lab, sql)
    outputs = [column.name for column in plan.outputs]
    assert result.table.column_names[: len(outputs)] == expected.column_names
    for name in expected.column_names:
        assert result.table.schema.field(name).type == expected.schema.field(name).type, name
    key_names = [c.name for c in plan.outputs if c.kind != "aggregate"]
    aggregate_names = [c.name for c in plan.outputs if c.kind == "aggregate"]
    truth = {
        tuple(row[k] for k in key_names): row for row in expected.to_pylist()
    }
    released = 0
    for row in result.table.to_pylist():
        key = tuple(row[k] for k in key_names)
        for name in aggregate_names:
            status = row[f"{name}_status"]
            assert status in ("ok", "suppressed")
            if status == "suppressed":
                assert row[name] is None
                continue
            released += 1
            if key in truth:
                assert _same(row[name], truth[key][name]), (key, name)
            else:  # an empty cell the group-by did not return
                assert row[name] in (0, None)
    assert released > 0


def _runs(plan, lab, engine, limits=None, count=3):
    return [
        run_checked_query(
            plan, engine=engine, sources=lab.sources, secret=SECRET, table_id="d", limits=limits,
            exact_sets=True,
        )
        for _ in range(count)
    ]


def _assert_same_decisions(runs) -> None:
    first = runs[0]
    for other in runs[1:]:
        assert other.sql_rewritten == first.sql_rewritten
        for name in first.reports:
            assert other.reports[name].to_dict() == first.reports[name].to_dict()
            assert other.digests == first.digests
            assert other.entity_sets[name].keys() == first.entity_sets[name].keys()
            for key, entities in first.entity_sets[name].items():
                assert (other.entity_sets[name][key] == entities).all()


def test_exact_measures_give_identical_results(lab, engine, policies) -> None:
    sql = (
        "SELECT township, year, COUNT(*) AS n, SUM(days) AS d, COUNT(DISTINCT person_id) AS p "
        "FROM visits GROUP BY CUBE (township, year)"
    )
    plan = plan_checked_query(sql, policies=policies)
    runs = _runs(plan, lab, engine)
    _assert_same_decisions(runs)
    for other in runs[1:]:
        assert other.table.equals(runs[0].table)
    assert plan_checked_query(sql, policies=policies).rows.sql() == plan.rows.sql()


def test_floating_sums_are_identical_on_one_thread(lab, engine, policies) -> None:
    sql = (
        "SELECT township, year, SUM(cost) AS s, AVG(cost) AS a FROM visits "
        "GROUP BY CUBE (township, year)"
    )
    plan = plan_checked_query(sql, policies=policies)
    one_thread = QueryLimits(timeout_s=60, max_rows=5000, memory_limit="1GB", threads=1)
    runs = _runs(plan, lab, engine, limits=one_thread)
    _assert_same_decisions(runs)
    for other in runs[1:]:
        assert other.table.equals(runs[0].table)
    parallel = _runs(plan, lab, engine, count=2)
    _assert_same_decisions([runs[0], *parallel])
    for other in parallel:
        for name in ("s", "a"):
            for left, right in zip(
                runs[0].table.column(name).to_pylist(), other.table.column(name).to_pylist(),
                strict=True,
            ):
                assert (left is None) == (right is None)
                if left is not None:
                    assert math.isclose(left, right, rel_tol=1e-12)
