"""Skipping bounding only when the data prove it is the identity (attack tests included)."""

from __future__ import annotations

import os
from dataclasses import replace

import pyarrow as pa
import pytest
from tests.unit.lab.dp.dp_testdata import (
    Spy,
    make_people,
    people_metadata,
    visits_metadata,
    write_table,
)

from countyos.engine import RANK_COLUMN, TableSource
from countyos.lab.dp import (
    Budget,
    ColumnMetadata,
    InMemoryAnswerCache,
    InMemoryBudgetLedger,
    PrivacyParams,
    QueryContext,
    TableMetadata,
    answer_query,
    plan_query,
)
from countyos.lab.dp.entities import clear_profiles, max_rows_per_entity, skip_identity_bounding

COUNT_SQL = "SELECT township, COUNT(*) AS n, SUM(age) AS s FROM people GROUP BY township"


def _ledger() -> InMemoryBudgetLedger:
    ledger = InMemoryBudgetLedger()
    for name in ("people", "visits"):
        ledger.set_budget("proj", name, Budget("pure", epsilon=10**6), steward="li")
    return ledger


def ask(sql, sources, metadata, spy, k=None):  # type: ignore[no-untyped-def]
    return answer_query(
        sql, context=QueryContext("proj", "wang"), tables=sources, metadata=metadata,
        budget=_ledger(), privacy=PrivacyParams(epsilon=1, max_contributions=k), run=spy,
        cache=InMemoryAnswerCache(),
    )


@pytest.fixture(autouse=True)
def _fresh_profiles():  # type: ignore[no-untyped-def]
    clear_profiles()
    yield
    clear_profiles()


def test_unique_data_skip_the_window_and_give_the_bounded_result(tmp_path, runner) -> None:  # type: ignore[no-untyped-def]
    source = write_table(tmp_path, "people", make_people(rows=400, seed=5))
    meta = {"people": people_metadata()}
    spy = Spy(runner)
    ask(COUNT_SQL, {"people": source}, meta, spy)
    skipped_sql, skipped = spy.aggregate()
    assert not bounds(skipped_sql)
    bounded_sql, _ = plan_sql(meta)
    forced = runner(bounded_sql, {"people": source}).to_pydict()
    assert "row_number" in bounded_sql
    assert sorted(zip(*skipped.values())) == sorted(zip(*forced.values()))


def bounds(sql: str) -> bool:
    """Whether the aggregate SQL bounds rows per entity (a window, or the engine's rank)."""
    return "row_number" in sql or f'"{RANK_COLUMN}" <=' in sql


def plan_sql(meta):  # type: ignore[no-untyped-def]
    from countyos.lab.dp.rewrite import aggregate_sql

    return aggregate_sql(plan_query(COUNT_SQL, meta))


@pytest.mark.parametrize("k", [1, 3])
def test_one_entity_with_k_plus_one_rows_is_still_bounded(tmp_path, runner, k) -> None:  # type: ignore[no-untyped-def]
    people = make_people(rows=300, seed=9)
    heavy = people.slice(0, 1).to_pylist()[0]
    extra = pa.Table.from_pylist([heavy] * k, schema=people.schema)  # entity 0 has k + 1 rows
    source = write_table(tmp_path, "people", pa.concat_tables([people, extra]))
    spy = Spy(runner)
    ask(COUNT_SQL, {"people": source}, {"people": people_metadata()}, spy, k=k)
    sql, result = spy.aggregate()
    assert bounds(sql)
    assert sum(result["__rows"]) == 300 - 1 + k  # entity 0 keeps k of its k + 1 rows


def test_an_entity_with_1000_rows_moves_the_answer_by_at_most_k_end_to_end(
    tmp_path, runner  # type: ignore[no-untyped-def]
) -> None:
    people = make_people(rows=500, seed=3)
    crowd = pa.Table.from_pylist([people.slice(0, 1).to_pylist()[0]] * 1000, schema=people.schema)
    with_heavy = write_table(tmp_path / "a", "people", pa.concat_tables([people, crowd]))
    without = write_table(tmp_path / "b", "people", people.slice(1))
    for k in (1, 2):
        totals = []
        for source in (with_heavy, without):
            spy = Spy(runner)
            ask(COUNT_SQL, {"people": source}, {"people": people_metadata()}, spy, k=k)
            _, result = spy.aggregate()
            totals.append((sum(result["__rows"]), sum(result["__v0_sum"])))
        assert 1 <= totals[0][0] - totals[1][0] <= k
        assert 0 <= totals[0][1] - totals[1][1] <= k * 100  # age is clipped to [0, 100]


def test_a_join_is_bounded_even_over_unique_tables(sources, runner) -> None:  # type: ignore[no-untyped-def]
    spy = Spy(runner)
    sql = "SELECT COUNT(*) AS n FROM people p JOIN people q ON p.pid = q.pid"
    ask(sql, sources, {"people": people_metadata()}, spy)
    assert bounds(spy.aggregate()[0])
    visits = "SELECT COUNT(*) AS n FROM people p JOIN visits v ON p.pid = v.pid"
    spy = Spy(runner)
    ask(visits, sources, {"people": people_metadata(), "visits": visits_metadata()}, spy)
    sql_text, result = spy.aggregate()
    assert bounds(sql_text) and result["__rows"] == [3000]  # 3 visits each, 1 kept


def test_a_filter_never_skips_bounding_of_a_table_with_repeated_entities(
    tmp_path, runner  # type: ignore[no-untyped-def]
) -> None:
    people = make_people(rows=200, seed=4)
    twin = people.slice(0, 1).to_pylist()[0]
    twin["township"] = "nowhere"  # the repeat lies outside the filter below
    source = write_table(tmp_path, "people", pa.concat_tables(
        [people, pa.Table.from_pylist([twin], schema=people.schema)]))
    spy = Spy(runner)
    ask("SELECT COUNT(*) AS n FROM people WHERE township = 'east'", {"people": source},
        {"people": people_metadata()}, spy)
    assert bounds(spy.aggregate()[0])


def test_a_file_rewritten_in_place_is_profiled_again(tmp_path, runner) -> None:  # type: ignore[no-untyped-def]
    people = make_people(rows=200, seed=6)
    source = write_table(tmp_path, "people", people)
    meta = {"people": people_metadata()}
    spy = Spy(runner)
    ask(COUNT_SQL, {"people": source}, meta, spy)
    assert not bounds(spy.aggregate()[0])
    doubled = pa.concat_tables([people, people])  # every entity now has two rows
    write_table(tmp_path, "people", doubled)
    stat = os.stat(source.files[0])
    os.utime(source.files[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    spy = Spy(runner)
    ask(COUNT_SQL, {"people": source}, meta, spy)
    sql, result = spy.aggregate()
    assert bounds(sql) and sum(result["__rows"]) == 200


def test_the_profile_is_per_entity_column(tmp_path, runner) -> None:  # type: ignore[no-untyped-def]
    people = make_people(rows=300, seed=8)
    people = people.append_column("hh", pa.array([i // 3 for i in range(300)], pa.int64()))
    source = write_table(tmp_path, "people", people)
    assert max_rows_per_entity("people", source, "pid", lambda s: runner(s, {"people": source})) == 1
    by_household = {"people": TableMetadata(
        "people", "hh", [ColumnMetadata("township", "categorical",
                                        public_domain=("east", "west", "north", "south"))])}
    spy = Spy(runner)
    ask("SELECT COUNT(*) AS n FROM people", {"people": source}, by_household, spy, k=2)
    sql, result = spy.aggregate()
    assert bounds(sql) and result["__rows"] == [200]  # 100 households × 2 rows
    spy = Spy(runner)
    ask("SELECT COUNT(*) AS n FROM people", {"people": source}, by_household, spy, k=3)
    sql, result = spy.aggregate()
    assert not bounds(sql) and result["__rows"] == [300]  # 3 ≤ k: identity


def test_a_source_that_cannot_be_profiled_keeps_bounding() -> None:
    plan = plan_query(COUNT_SQL, {"people": people_metadata()})

    def refuse(sql: str) -> pa.Table:
        raise AssertionError("no profile query may run for an unreadable file")

    missing = TableSource("people", ("/nonexistent/people.parquet",))
    assert skip_identity_bounding(plan, missing, "pid", refuse) is plan
    assert skip_identity_bounding(plan, None, "pid", refuse) is plan
    unique = plan_query(COUNT_SQL, {"people": replace(people_metadata(), entity_key_unique=True)})
    assert skip_identity_bounding(unique, missing, "pid", refuse) is unique


def test_null_entities_do_not_count_as_one_entity(tmp_path, runner) -> None:  # type: ignore[no-untyped-def]
    table = pa.table({"pid": pa.array([1, None, None, 4], pa.int64()),
                      "age": pa.array([10, 20, 30, 40], pa.int64())})
    source = write_table(tmp_path, "people", table)
    assert max_rows_per_entity("people", source, "pid", lambda s: runner(s, {"people": source})) == 1
    twice = write_table(tmp_path / "b", "people", pa.table({"pid": pa.array([1, 1], pa.int64())}))
    assert max_rows_per_entity("people", twice, "pid", lambda s: runner(s, {"people": twice})) == 2


def test_plans_are_cached_per_sql_metadata_and_k() -> None:
    meta = {"people": people_metadata()}
    first = plan_query(COUNT_SQL, meta)
    assert plan_query(COUNT_SQL, {"people": people_metadata()}) is first
    assert plan_query(COUNT_SQL, meta, max_contributions=2).max_contributions == 2
    narrower = replace(people_metadata(), columns={
        **people_metadata().columns, "age": ColumnMetadata("age", "integer", 0, 50)})
    other = plan_query(COUNT_SQL, {"people": narrower})
    assert other is not first and other.aggregates[1].value.upper == 50
    assert first.aggregates[1].value.upper == 100
