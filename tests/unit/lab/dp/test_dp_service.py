"""End to end on real Parquet files and the DuckDB engine: bounding, charging, caching."""

from __future__ import annotations

import threading
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest
from tests.unit.lab.dp.dp_testdata import make_people, people_metadata, write_table

from countyos.engine import TableSource
from countyos.errors import QueryRefusedError
from countyos.lab.dp import (
    Budget,
    BudgetExhaustedError,
    InMemoryAnswerCache,
    InMemoryBudgetLedger,
    PrivacyParams,
    QueryContext,
    TableMetadata,
    answer_query,
    prepare_query,
)
from countyos.lab.dp.release import collect


def ask(sql: str, *, sources, metadata, ledger, cache, runner, context=None, **privacy):  # type: ignore[no-untyped-def]
    return answer_query(
        sql, context=context or QueryContext("proj", "wang"), tables=sources,
        metadata=metadata, budget=ledger, privacy=PrivacyParams(**privacy), run=runner,
        cache=cache,
    )


def exact(sql: str, sources, metadata, ledger, runner, k: int | None = None):  # type: ignore[no-untyped-def]
    prepared = prepare_query(sql, context=QueryContext("proj", "wang"), metadata=metadata,
                             budget=ledger, privacy=PrivacyParams(epsilon=1,
                                                                  max_contributions=k))
    return collect(prepared.plan, prepared.design, lambda text: runner(text, sources))


def test_answers_are_close_to_the_truth_at_large_epsilon(
    sources, metadata, ledger, cache, runner, people: pa.Table  # type: ignore[no-untyped-def]
) -> None:
    answer = ask("SELECT township, COUNT(*) AS n, AVG(age) AS age FROM people "
                 "GROUP BY township ORDER BY township", sources=sources, metadata=metadata,
                 ledger=ledger, cache=cache, runner=runner, epsilon=4)
    assert answer.columns == ("township", "n", "age")
    assert answer.column("township") == sorted(["east", "west", "north", "south"])
    townships = people.column("township").to_numpy(zero_copy_only=False)
    ages = people.column("age").to_numpy()
    for row, cells in zip(answer.rows, answer.accuracy):
        truth = int((townships == row[0]).sum())
        assert cells[0] is None and cells[1].kind == "interval"
        assert abs(row[1] - truth) <= 30
        assert cells[1].half_width < 10
        assert abs(row[2] - ages[townships == row[0]].mean()) < 3
        assert cells[2].lower <= row[2] <= cells[2].upper
    assert answer.cost.epsilon == Decimal(4)
    assert not answer.from_cache


def test_an_entity_with_1000_rows_moves_a_count_by_at_most_k(
    tmp_path, metadata, ledger, runner  # type: ignore[no-untyped-def]
) -> None:
    people = make_people(rows=500, seed=3)
    heavy = people.slice(0, 1).to_pylist()[0]
    crowd = pa.Table.from_pylist([heavy] * 1000, schema=people.schema)
    with_heavy = write_table(tmp_path / "a", "people", pa.concat_tables([people, crowd]))
    without = write_table(tmp_path / "b", "people", people.slice(1))
    for k in (1, 3, 7):
        meta = {"people": people_metadata(max_contributions=k)}
        sql = "SELECT township, COUNT(*) AS n, SUM(age) AS s FROM people GROUP BY township"
        big = exact(sql, {"people": with_heavy}, meta, ledger, runner)
        small = exact(sql, {"people": without}, meta, ledger, runner)
        count_moves = sum(abs(big.groups[t]["__rows"] - small.groups.get(t, {}).get("__rows", 0))
                          for t in big.groups)
        sum_moves = sum(abs(big.groups[t]["__v0_sum"] - small.groups.get(t, {}).get("__v0_sum", 0))
                        for t in big.groups)
        assert 1 <= count_moves <= k
        assert sum_moves <= k * 100  # age is clipped to [0, 100]


def test_bounding_after_a_join_on_the_entity_key(
    sources, metadata, ledger, runner, people: pa.Table  # type: ignore[no-untyped-def]
) -> None:
    sql = ("SELECT COUNT(*) AS n, SUM(v.cost) AS s FROM people p JOIN visits v ON p.pid = v.pid")
    one = exact(sql, sources, metadata, ledger, runner, k=1)
    two = exact(sql, sources, metadata, ledger, runner, k=2)
    persons = people.num_rows
    assert one.groups[()]["__rows"] == persons  # three visits each, one kept
    assert two.groups[()]["__rows"] == 2 * persons
    assert 0 <= one.groups[()]["__v0_sum"] <= 1000 * persons


def test_nothing_is_charged_for_a_refused_query(sources, metadata, ledger, cache, runner) -> None:  # type: ignore[no-untyped-def]
    for sql, privacy in [
        ("SELECT MAX(age) FROM people", {"epsilon": 1}),
        ("SELECT job, COUNT(*) FROM people GROUP BY job", {"epsilon": 1}),  # needs δ
        ("SELECT COUNT(*) FROM people", {"rho": 1}),  # pure budget
        ("SELECT COUNT(*) FROM people", {"epsilon": -1}),
    ]:
        with pytest.raises((QueryRefusedError, Exception)) as refused:
            ask(sql, sources=sources, metadata=metadata, ledger=ledger, cache=cache,
                runner=runner, **privacy)
        assert getattr(refused.value, "status", 500) < 500
    assert ledger.entries("proj") == []
    assert ledger.status("proj", "people").spent.epsilon == 0


def test_exhausted_budget_refuses_and_charges_nothing(sources, metadata, cache, runner) -> None:  # type: ignore[no-untyped-def]
    ledger = InMemoryBudgetLedger()
    ledger.set_budget("proj", "people", Budget("pure", epsilon=1), steward="li")
    ask("SELECT COUNT(*) FROM people", sources=sources, metadata=metadata, ledger=ledger,
        cache=cache, runner=runner, epsilon="0.6")
    with pytest.raises(BudgetExhaustedError, match="0.4 of 1 left, the query needs 0.6"):
        ask("SELECT SUM(age) FROM people", sources=sources, metadata=metadata, ledger=ledger,
            cache=cache, runner=runner, epsilon="0.6")
    assert ledger.status("proj", "people").spent.epsilon == Decimal("0.6")
    assert len(cache) == 1


def test_repeating_a_query_returns_the_stored_answer_without_a_new_charge(
    sources, metadata, ledger, cache, runner  # type: ignore[no-untyped-def]
) -> None:
    sql = "SELECT sex, COUNT(*) AS n FROM people GROUP BY sex"
    first = ask(sql, sources=sources, metadata=metadata, ledger=ledger, cache=cache,
                runner=runner, epsilon="0.5")
    again = ask("select SEX, count(*) as n from PEOPLE group by SEX  ;", sources=sources,
                metadata=metadata, ledger=ledger, cache=cache, runner=runner, epsilon="0.5",
                context=QueryContext("proj", "zhang"))
    assert again.from_cache and again.rows == first.rows
    assert len(ledger.entries("proj", "people")) == 1
    other = ask(sql, sources=sources, metadata=metadata, ledger=ledger, cache=cache,
                runner=runner, epsilon="0.25")
    assert not other.from_cache
    assert ledger.status("proj", "people").spent.epsilon == Decimal("0.75")
    entry = ledger.entries("proj", "people")[0]
    assert entry.member == "wang" and entry.query_key == first.query_key
    assert "GROUP BY" in entry.description


def test_concurrent_members_never_overspend(sources, metadata, runner) -> None:  # type: ignore[no-untyped-def]
    ledger = InMemoryBudgetLedger()
    ledger.set_budget("proj", "people", Budget("pure", epsilon=1), steward="li")
    cache = InMemoryAnswerCache()
    results: list[str] = []
    guard = threading.Lock()
    start = threading.Barrier(4)

    def member(index: int) -> None:
        start.wait()
        for round_ in range(4):
            sql = f"SELECT COUNT(*) FROM people WHERE age >= {index * 10 + round_}"
            try:
                ask(sql, sources=sources, metadata=metadata, ledger=ledger, cache=cache,
                    runner=runner, epsilon="0.1", context=QueryContext("proj", f"m{index}"))
                outcome = "answered"
            except BudgetExhaustedError:
                outcome = "refused"
            with guard:
                results.append(outcome)

    threads = [threading.Thread(target=member, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count("answered") == 10 and results.count("refused") == 6
    assert ledger.status("proj", "people").spent.epsilon == Decimal("1.0")


def test_identical_concurrent_queries_are_charged_once(sources, metadata, ledger, runner) -> None:  # type: ignore[no-untyped-def]
    cache = InMemoryAnswerCache()
    answers = []
    start = threading.Barrier(4)

    def member(index: int) -> None:
        start.wait()
        answers.append(ask("SELECT AVG(income) FROM people", sources=sources,
                           metadata=metadata, ledger=ledger, cache=cache, runner=runner,
                           epsilon="0.3", context=QueryContext("proj", f"m{index}")))

    threads = [threading.Thread(target=member, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({answer.rows for answer in answers}) == 1
    assert sum(not answer.from_cache for answer in answers) == 1
    assert len(ledger.entries("proj", "people")) == 1


def test_key_selection_never_reveals_a_one_person_group(
    sources, metadata, ledger, cache, runner  # type: ignore[no-untyped-def]
) -> None:
    seen: set[str] = set()
    for i in range(5):
        answer = ask(f"SELECT job, COUNT(*) AS n FROM people WHERE age >= {i} GROUP BY job",
                     sources=sources, metadata=metadata, ledger=ledger, cache=cache,
                     runner=runner, epsilon="0.5", delta="1e-7")
        seen.update(answer.column("job"))
        assert answer.cost.delta == Decimal("1e-7")
        assert "threshold" in answer.mechanisms[0].mechanism
    assert seen == {"farmer", "teacher", "worker"}  # the astronaut (one row) never shows


def test_histogram_and_quantiles_over_a_declared_domain(
    sources, metadata, ledger, cache, runner  # type: ignore[no-untyped-def]
) -> None:
    answer = ask("SELECT floor(age / 25) * 25 AS band, COUNT(*) AS n, MEDIAN(income) AS m "
                 "FROM people GROUP BY band", sources=sources, metadata=metadata,
                 ledger=ledger, cache=cache, runner=runner, epsilon=3)
    assert answer.column("band") == [0, 25, 50, 75, 100]
    assert all(cell.kind == "rank" and cell.rank_error > 0 for cell in answer.accuracy_of("m"))
    assert all(0 <= m <= 200_000 for m in answer.column("m"))


def test_a_missing_table_source_is_not_granted(metadata, ledger, cache, runner) -> None:  # type: ignore[no-untyped-def]
    from countyos.errors import NotFoundError

    with pytest.raises(NotFoundError):
        ask("SELECT COUNT(*) FROM people", sources={}, metadata=metadata, ledger=ledger,
            cache=cache, runner=runner, epsilon=1)
    assert ledger.entries("proj") == []


def test_zcdp_budget_answers_with_discrete_gaussian(sources, metadata, cache, runner) -> None:  # type: ignore[no-untyped-def]
    ledger = InMemoryBudgetLedger()
    ledger.set_budget("proj", "people", Budget("zcdp", epsilon=2, delta="1e-6"), steward="li")
    answer = ask("SELECT sex, COUNT(*) AS n, SUM(income) AS s FROM people GROUP BY sex",
                 sources=sources, metadata=metadata, ledger=ledger, cache=cache,
                 runner=runner, rho="0.05")
    assert all("Gaussian" in record.mechanism for record in answer.mechanisms)
    assert sum(record.loss for record in answer.mechanisms) <= 0.05
    status = ledger.status("proj", "people")
    assert status.spent.rho == Decimal("0.05") and 0 < status.epsilon_spent < 2
    with pytest.raises(BudgetExhaustedError, match="zCDP"):
        ask("SELECT COUNT(*) FROM people", sources=sources, metadata=metadata, ledger=ledger,
            cache=cache, runner=runner, rho="1")


def test_null_entities_and_values_are_handled(tmp_path, ledger, cache, runner) -> None:  # type: ignore[no-untyped-def]
    table = pa.table({"pid": pa.array([1, 2, None, 4], pa.int64()),
                      "age": pa.array([10, None, 30, 40], pa.int64())})
    source = write_table(tmp_path, "people", table)
    meta = {"people": TableMetadata("people", "pid", [people_metadata().column("age")])}
    prepared = prepare_query("SELECT COUNT(*), COUNT(age), AVG(age) FROM people",
                             context=QueryContext("proj", "w"), metadata=meta, budget=ledger,
                             privacy=PrivacyParams(epsilon=1))
    found = collect(prepared.plan, prepared.design, lambda sql: runner(sql, {"people": source}))
    groups = found.groups[()]
    assert groups["__rows"] == 3  # the row without an entity is dropped
    assert groups["__v0_n"] == 2  # AVG counts non-null values only
    assert np.isclose(groups["__v0_csum"], (10 - 50) + (40 - 50))


def test_runner_refuses_unknown_tables(runner) -> None:  # type: ignore[no-untyped-def]
    from countyos.errors import NotFoundError

    with pytest.raises(NotFoundError):
        runner("SELECT COUNT(*) FROM secret", {"people": TableSource("people", ("/nope.parquet",))})


def test_preview_states_the_accuracy_the_answer_then_carries(
    sources, metadata, ledger, cache, runner  # type: ignore[no-untyped-def]
) -> None:
    from countyos.lab.dp import Accounting, preview_accuracy

    sql = "SELECT township, COUNT(*) AS n, SUM(income) AS s FROM people GROUP BY township"
    preview = {c.column: c for c in preview_accuracy(
        sql, metadata=metadata, accounting=Accounting.PURE, privacy=PrivacyParams(epsilon=1))}
    answer = ask(sql, sources=sources, metadata=metadata, ledger=ledger, cache=cache,
                 runner=runner, epsilon=1)
    assert {cell.half_width for cell in answer.accuracy_of("n")} == {preview["n"].half_width}
    assert {cell.half_width for cell in answer.accuracy_of("s")} == {preview["s"].half_width}


def test_a_new_dataset_version_is_a_new_charged_query(
    sources, metadata, ledger, cache, runner  # type: ignore[no-untyped-def]
) -> None:
    import json

    sql = "SELECT COUNT(*) AS n FROM people"
    first = ask(sql, sources=sources, metadata=metadata, ledger=ledger, cache=cache,
                runner=runner, epsilon="0.2", context=QueryContext("proj", "w", {"people": "v1"}))
    again = ask(sql, sources=sources, metadata=metadata, ledger=ledger, cache=cache,
                runner=runner, epsilon="0.2", context=QueryContext("proj", "w", {"people": "v1"}))
    newer = ask(sql, sources=sources, metadata=metadata, ledger=ledger, cache=cache,
                runner=runner, epsilon="0.2", context=QueryContext("proj", "w", {"people": "v2"}))
    assert again.from_cache and not newer.from_cache
    assert first.query_key != newer.query_key
    assert ledger.status("proj", "people").spent.epsilon == Decimal("0.4")
    payload = json.loads(json.dumps(first.to_dict()))
    assert payload["cost"]["epsilon"] == "0.2" and payload["columns"] == ["n"]
    assert payload["accuracy"][0][0]["kind"] == "interval"


def test_another_project_pays_for_its_own_answer(sources, metadata, cache, runner) -> None:  # type: ignore[no-untyped-def]
    ledger = InMemoryBudgetLedger()
    for project in ("proj", "other"):
        ledger.set_budget(project, "people", Budget("pure", epsilon=1), steward="li")
    sql = "SELECT COUNT(*) FROM people"
    ask(sql, sources=sources, metadata=metadata, ledger=ledger, cache=cache, runner=runner,
        epsilon="0.5")
    answer = ask(sql, sources=sources, metadata=metadata, ledger=ledger, cache=cache,
                 runner=runner, epsilon="0.5", context=QueryContext("other", "li"))
    assert not answer.from_cache
    assert ledger.status("other", "people").spent.epsilon == Decimal("0.5")


def test_unique_key_path_gives_the_bounded_result_on_unique_data(
    sources, ledger, runner  # type: ignore[no-untyped-def]
) -> None:
    from dataclasses import replace

    sql = "SELECT township, COUNT(*) AS n, SUM(age) AS s, AVG(income) AS a FROM people " \
          "GROUP BY township"
    bounded = exact(sql, sources, {"people": people_metadata()}, ledger, runner)
    registry = {"people": replace(people_metadata(), entity_key_unique=True)}
    skipped = exact(sql, sources, registry, ledger, runner)
    assert skipped.groups == bounded.groups


@pytest.mark.parametrize("where", [
    "age * 4611686018427387904 > 0",        # overflows BIGINT exactly when some age >= 2
    "CAST(job AS INTEGER) > 0",             # a text that is not a number fails the cast
])
def test_a_where_that_fails_on_some_values_never_fails_the_query(
    where, sources, metadata, ledger, cache, runner  # type: ignore[no-untyped-def]
) -> None:
    # a failure would tell one bit about the data (does some row make it fail?), uncharged
    try:
        answer = ask(f"SELECT sex, COUNT(*) AS n FROM people WHERE {where} GROUP BY sex",
                     sources=sources, metadata=metadata, ledger=ledger, cache=cache,
                     runner=runner, epsilon=1)
    except QueryRefusedError:
        return  # refused by the planner before any data is read: nothing learnt, fine
    assert answer.cost.epsilon == Decimal(1)
    assert len(answer.rows) == 2
