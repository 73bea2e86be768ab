"""Post-processing of released values: clamped to where the truth must lie, intervals kept."""

from __future__ import annotations

import pyarrow as pa
from tests.unit.lab.dp.dp_testdata import write_table

from countyos.lab.dp import (
    Budget,
    ColumnMetadata,
    InMemoryAnswerCache,
    InMemoryBudgetLedger,
    PrivacyParams,
    QueryContext,
    TableMetadata,
    answer_query,
)

META = TableMetadata("people", "pid", [
    ColumnMetadata("town", "categorical", public_domain=("a", "empty")),
    ColumnMetadata("age", "integer", 0, 100),
    ColumnMetadata("debt", "float", -1000.0, 0.0),
    ColumnMetadata("change", "integer", -10, 10),
])


def _answers(tmp_path, runner, sql: str, times: int = 40):  # type: ignore[no-untyped-def]
    table = pa.table({"pid": pa.array(range(3), pa.int64()), "town": ["a", "a", "a"],
                      "age": [1, 2, 3], "debt": [-1.0, -2.0, -3.0], "change": [1, -1, 0]})
    source = write_table(tmp_path, "people", table)
    ledger = InMemoryBudgetLedger()
    ledger.set_budget("p", "people", Budget("pure", epsilon=10**6), steward="s")
    for _ in range(times):
        yield answer_query(sql, context=QueryContext("p", "m"), tables={"people": source},
                           metadata={"people": META}, budget=ledger,
                           privacy=PrivacyParams(epsilon="0.05"), run=runner,
                           cache=InMemoryAnswerCache())


def test_counts_and_nonnegative_sums_are_never_below_zero(tmp_path, runner) -> None:  # type: ignore[no-untyped-def]
    sql = "SELECT town, COUNT(*) AS n, SUM(age) AS s FROM people GROUP BY town"
    clamped = {"n": 0, "s": 0}
    for answer in _answers(tmp_path, runner, sql):
        for name in ("n", "s"):
            for value, cell in zip(answer.column(name), answer.accuracy_of(name)):
                assert value >= 0 and 0 <= cell.lower <= value <= cell.upper
                clamped[name] += value == 0
    # At ε = 0.05 the empty group's noise (scale 20 and 2000) is negative about half the time.
    assert clamped["n"] >= 5 and clamped["s"] >= 5


def test_sums_of_nonpositive_columns_are_never_above_zero(tmp_path, runner) -> None:  # type: ignore[no-untyped-def]
    sql = "SELECT town, SUM(debt) AS d FROM people GROUP BY town"
    zeros = 0
    for answer in _answers(tmp_path, runner, sql):
        for value, cell in zip(answer.column("d"), answer.accuracy_of("d")):
            assert value <= 0 and cell.lower <= value <= cell.upper <= 0
            zeros += value == 0
    assert zeros >= 5


def test_sums_of_columns_with_both_signs_are_left_alone(tmp_path, runner) -> None:  # type: ignore[no-untyped-def]
    sql = "SELECT town, SUM(change) AS c FROM people GROUP BY town"
    values = [v for answer in _answers(tmp_path, runner, sql) for v in answer.column("c")]
    assert min(values) < 0 < max(values)
