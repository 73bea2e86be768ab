"""The DP planner: what it accepts, how it rewrites, and what it refuses with which reason."""

from __future__ import annotations

import pytest
from tests.unit.lab.dp.dp_testdata import people_metadata, visits_metadata

from countyos.errors import NotFoundError, QueryRefusedError, TooLargeError
from countyos.lab.dp import ColumnMetadata, TableMetadata, plan_query
from countyos.lab.dp.plan import AggregateKind
from countyos.lab.dp.rewrite import aggregate_sql

META = {"people": people_metadata(), "visits": visits_metadata()}


def kinds(sql: str) -> list[tuple[AggregateKind, float | None]]:
    return [(a.kind, a.quantile) for a in plan_query(sql, META).aggregates]


def test_supported_aggregates_are_recognised() -> None:
    sql = (
        "SELECT COUNT(*), COUNT(age), COUNT(DISTINCT pid), SUM(age), AVG(income), MEDIAN(age), "
        "quantile_cont(income, 0.9), quantile_disc(age, 0.25), "
        "percentile_cont(0.75) WITHIN GROUP (ORDER BY age), mean(age) FROM people"
    )
    assert kinds(sql) == [
        (AggregateKind.COUNT, None), (AggregateKind.COUNT, None),
        (AggregateKind.COUNT_ENTITIES, None), (AggregateKind.SUM, None),
        (AggregateKind.AVG, None), (AggregateKind.QUANTILE, 0.5),
        (AggregateKind.QUANTILE, 0.9), (AggregateKind.QUANTILE, 0.25),
        (AggregateKind.QUANTILE, 0.75), (AggregateKind.AVG, None),
    ]


def test_declared_domains_and_histogram_bins_become_public_keys() -> None:
    plan = plan_query(
        "SELECT township, floor(age / 10) * 10 AS band, COUNT(*) AS n FROM people "
        "GROUP BY township, band ORDER BY n DESC LIMIT 3",
        META,
    )
    township, band = plan.keys
    assert township.domain == ("east", "west", "north", "south")
    assert band.domain == tuple(range(0, 101, 10))
    assert not plan.needs_key_selection
    assert plan.order_by == ((2, True),) and plan.limit == 3
    assert [o.name for o in plan.outputs] == ["township", "band", "n"]


def test_undeclared_key_needs_selection() -> None:
    plan = plan_query("SELECT job, COUNT(*) FROM people GROUP BY job", META)
    assert plan.needs_key_selection
    assert plan.keys[0].domain is None


def test_join_on_entity_key_is_bounded_after_the_join() -> None:
    plan = plan_query(
        "SELECT p.township, SUM(v.cost) FROM people p JOIN visits v ON p.pid = v.pid "
        "WHERE v.clinic = 'a' GROUP BY p.township",
        META,
    )
    sql, _ = aggregate_sql(plan)
    assert '"__t0"."pid" = "__t1"."pid"' in plan.from_sql
    assert "PARTITION BY __entity" in sql and "row_number()" in sql
    assert plan.max_contributions == 1  # the smaller default of the two tables
    assert plan.tables == ("people", "visits")


def test_bounding_sql_clips_and_limits_rows_per_entity() -> None:
    plan = plan_query("SELECT SUM(cost) FROM visits", META, max_contributions=3)
    sql, _ = aggregate_sql(plan)
    assert "<= 3" in sql
    assert "least(CAST(\"__t0\".\"cost\" AS DOUBLE), CAST('1000.0' AS DOUBLE))" in sql
    assert "greatest(" in sql


REFUSALS = [
    ("SELECT MAX(age) FROM people", "MAX is not supported under DP"),
    ("SELECT MAX(age) FROM people", "use a quantile"),
    ("SELECT MIN(income) FROM people", "MIN is not supported"),
    ("SELECT STDDEV(age) FROM people", "not supported under DP"),
    ("SELECT string_agg(job, ',') FROM people", "releases row values"),
    ("SELECT * FROM people", "SELECT * releases rows"),
    ("SELECT age FROM people", "neither an aggregate"),
    ("SELECT township FROM people GROUP BY township", "no aggregate"),
    ("SELECT COUNT(DISTINCT job) FROM people", "only on the entity key"),
    ("SELECT SUM(job) FROM people", "categorical"),
    ("SELECT SUM(pid) FROM people", "needs declared bounds"),
    ("SELECT SUM(age * 2) FROM people", "over an expression"),
    ("SELECT SUM(DISTINCT age) FROM people", "DISTINCT"),
    ("SELECT COUNT(*) * 2 FROM people", "combines aggregates"),
    ("SELECT SUM(age) / COUNT(*) FROM people", "combines aggregates"),
    ("SELECT COUNT(*) FILTER (WHERE age > 3) FROM people", "FILTER"),
    ("SELECT quantile_cont(age, [0.1, 0.9]) FROM people", "one quantile per column"),
    ("SELECT quantile_cont(age, 1.5) FROM people", "in [0, 1]"),
    ("SELECT township, COUNT(*) FROM people GROUP BY township HAVING COUNT(*) > 5", "HAVING"),
    ("SELECT DISTINCT township FROM people", "DISTINCT"),
    ("SELECT COUNT(*) FROM (SELECT * FROM people) s", "subqueries"),
    ("SELECT COUNT(*) FROM people WHERE pid IN (SELECT pid FROM visits)", "subqueries"),
    ("WITH x AS (SELECT * FROM people) SELECT COUNT(*) FROM x", "WITH"),
    ("SELECT COUNT(*) OVER () FROM people", "window functions"),
    ("SELECT COUNT(*) FROM people UNION ALL SELECT COUNT(*) FROM visits", "UNION"),
    ("SELECT COUNT(*) FROM people, visits", "on the entity keys"),
    ("SELECT COUNT(*) FROM people p CROSS JOIN visits v", "JOIN is not supported"),
    ("SELECT COUNT(*) FROM people p FULL JOIN visits v ON p.pid = v.pid", "FULL"),
    ("SELECT COUNT(*) FROM people p JOIN visits v ON p.age = v.cost", "on the entity keys"),
    ("SELECT COUNT(*) FROM people p JOIN visits v ON p.pid = v.pid AND v.cost > 3",
     "on the entity keys"),
    ("SELECT COUNT(*) FROM people p JOIN visits v ON p.pid < v.pid", "on the entity keys"),
    ("SELECT COUNT(*) FROM people GROUP BY ALL", "GROUP BY ALL"),
    ("SELECT township, COUNT(*) FROM people GROUP BY ROLLUP (township)", "ROLLUP"),
    ("SELECT COUNT(*) FROM people LIMIT 1 OFFSET 1", "OFFSET"),
    ("SELECT COUNT(*) FROM people ORDER BY age", "ORDER BY may only name output columns"),
    ("SELECT COUNT(*) FROM people WHERE COUNT(*) > 1", "aggregate"),
    ("SELECT COUNT(*) FROM range(10)", "only datasets"),
    ("SELECT p.township, COUNT(*) FROM people p JOIN visits v USING (pid) GROUP BY clinic, "
     "p.township", "must also be selected"),
]


@pytest.mark.parametrize(("sql", "reason"), REFUSALS)
def test_unsupported_queries_are_refused_with_their_reason(sql: str, reason: str) -> None:
    with pytest.raises(QueryRefusedError) as refused:
        plan_query(sql, META)
    assert reason.lower() in refused.value.message.lower()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT COUNT(*) FROM read_parquet('/etc/passwd')",
        "SELECT COUNT(*) FROM '/tmp/x.parquet'",
        "SELECT COUNT(*) FROM people; DROP TABLE people",
        "COPY people TO '/tmp/out.csv'",
        "SELECT COUNT(*) FROM people WHERE current_setting('threads') = '2'",
        "SELECT COUNT(*) FROM information_schema.tables",
    ],
)
def test_guard_attacks_are_refused_before_planning(sql: str) -> None:
    with pytest.raises(QueryRefusedError):
        plan_query(sql, META)


def test_join_of_different_entity_kinds_is_refused() -> None:
    firms = TableMetadata("firms", "uscc", [ColumnMetadata("staff", "integer", 0, 1000)],
                          entity_kind="enterprise")
    with pytest.raises(QueryRefusedError, match="same kind of entity"):
        plan_query("SELECT COUNT(*) FROM people p JOIN firms f ON p.pid = f.uscc",
                   {**META, "firms": firms})


def test_table_without_metadata_is_not_found() -> None:
    with pytest.raises(NotFoundError, match="no DP metadata"):
        plan_query("SELECT COUNT(*) FROM salaries", META)


def test_user_aliases_cannot_collide_with_private_names() -> None:
    plan = plan_query(
        'SELECT "__rows".township, COUNT(*) AS __bounded FROM people AS "__rows" '
        'GROUP BY "__rows".township',
        META,
    )
    assert '"people" AS "__t0"' == plan.from_sql
    assert plan.keys[0].sql == '"__t0"."township"'


def test_ambiguous_unqualified_column_in_join_is_refused() -> None:
    with pytest.raises(QueryRefusedError, match="ambiguous"):
        plan_query("SELECT COUNT(pid) FROM people p JOIN visits v ON p.pid = v.pid", META)


def test_too_many_declared_groups_are_refused() -> None:
    wide = TableMetadata("t", "id", [ColumnMetadata("a", public_domain=tuple(range(1000))),
                                     ColumnMetadata("b", public_domain=tuple(range(1000)))])
    with pytest.raises(TooLargeError):
        plan_query("SELECT a, b, COUNT(*) FROM t GROUP BY a, b", {"t": wide})


def test_unique_entity_keys_skip_bounding_only_when_every_table_has_one() -> None:
    from dataclasses import replace

    registry = replace(people_metadata(), entity_key_unique=True)
    plan = plan_query("SELECT COUNT(*) FROM people", {"people": registry})
    sql, _ = aggregate_sql(plan)
    assert not plan.bounding_needed and "row_number" not in sql
    joined = plan_query("SELECT COUNT(*) FROM people p JOIN visits v ON p.pid = v.pid",
                        {"people": registry, "visits": visits_metadata()})
    assert joined.bounding_needed and "row_number" in aggregate_sql(joined)[0]
