"""Bounding on the engine's per-entity ranks: the same rows kept as the window keeps, attacks.

A count grouped by a key that is constant per entity has a bounded value that does not depend on
which rows are kept: Σ over entities of min(rows passing the filter, k). So the exact aggregates
of the ranked path can be checked against Python, and against the window path, row for row.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np
import pyarrow as pa
import pytest
from tests.unit.lab.dp.dp_testdata import Spy, write_table

from countyos.engine import KEY_ROWS_COLUMN, RANK_COLUMN
from countyos.errors import QueryRefusedError
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
from countyos.lab.dp.entities import clear_profiles
from countyos.lab.dp.release import collect
from countyos.lab.dp.service import prepare_query

TOWNS = ("east", "west", "north")
META = TableMetadata("t", "pid", [
    ColumnMetadata("town", "categorical", public_domain=TOWNS),
    ColumnMetadata("flag", "categorical", public_domain=(0, 1)),
    ColumnMetadata("amount", "integer", 0, 100),
])
QUERIES = {
    "plain": "SELECT town, COUNT(*) AS n FROM t GROUP BY town",
    "filtered": "SELECT town, COUNT(*) AS n FROM t WHERE flag = 1 GROUP BY town",
}


def _data(seed: int) -> pa.Table:
    """Entities with 1–40 rows (town fixed per entity), a per-row flag, NULL entities too."""
    rng = np.random.default_rng(seed)
    pids, towns, flags = [], [], []
    for pid in range(300):
        rows = int(min(40, rng.zipf(1.6)))
        town = TOWNS[rng.integers(0, 3)]
        pids += [pid] * rows
        towns += [town] * rows
        flags += list(rng.integers(0, 2, size=rows))
    pids += [None] * 7
    towns += ["east"] * 7
    flags += [1] * 7
    order = rng.permutation(len(pids))  # rows of one entity scattered over the file
    return pa.table({
        "pid": pa.array([pids[i] for i in order], pa.int64()),
        "town": pa.array([towns[i] for i in order]),
        "flag": pa.array([int(flags[i]) for i in order], pa.int64()),
        "amount": pa.array(rng.integers(0, 101, size=len(pids)), pa.int64()),
    })


def _expected(table: pa.Table, k: int, filtered: bool) -> dict[str, int]:
    rows = Counter()
    town_of = {}
    for pid, town, flag in zip(*(table.column(c).to_pylist() for c in ("pid", "town", "flag"))):
        if pid is None or (filtered and flag != 1):
            continue
        rows[pid] += 1
        town_of[pid] = town
    totals: Counter[str] = Counter()
    for pid, count in rows.items():
        totals[town_of[pid]] += min(count, k)
    return dict(totals)


def _ask(sql, source, runner, k, ledger=None):  # type: ignore[no-untyped-def]
    spy = Spy(runner)
    book = ledger or InMemoryBudgetLedger()
    if ledger is None:
        book.set_budget("proj", "t", Budget("pure", epsilon=10**6), steward="li")
    answer_query(sql, context=QueryContext("proj", "wang"), tables={"t": source},
                 metadata={"t": META}, budget=book,
                 privacy=PrivacyParams(epsilon=1, max_contributions=k), run=spy,
                 cache=InMemoryAnswerCache())
    return spy


@pytest.fixture(autouse=True)
def _fresh_profiles():  # type: ignore[no-untyped-def]
    clear_profiles()
    yield
    clear_profiles()


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("k", [1, 2, 5])
@pytest.mark.parametrize("query", sorted(QUERIES))
def test_ranked_bounding_keeps_min_rows_k_per_entity_after_the_filter(
    tmp_path, runner, seed, k, query  # type: ignore[no-untyped-def]
) -> None:
    table = _data(seed)
    source = write_table(tmp_path, "t", table)
    spy = _ask(QUERIES[query], source, runner, k)
    sql, tables, result = spy.calls[-1]
    assert tables["t"].resident and tables["t"].rank_by == "pid"
    assert (RANK_COLUMN in sql) is (query == "plain")      # no filter: a filter on the rank
    assert (KEY_ROWS_COLUMN in sql) is (query == "filtered")  # filter: light rows + window
    got = dict(zip(result.column("__k0").to_pylist(), result.column("__rows").to_pylist()))
    assert got == _expected(table, k, query == "filtered")


@pytest.mark.parametrize("query", sorted(QUERIES))
def test_the_ranked_and_the_window_path_give_the_same_exact_aggregates(
    tmp_path, runner, query  # type: ignore[no-untyped-def]
) -> None:
    table = _data(9)
    source = write_table(tmp_path, "t", table)
    ledger = InMemoryBudgetLedger()
    ledger.set_budget("proj", "t", Budget("pure", epsilon=10**6), steward="li")
    prepared = prepare_query(QUERIES[query], context=QueryContext("proj", "wang"),
                             metadata={"t": META}, budget=ledger,
                             privacy=PrivacyParams(epsilon=1, max_contributions=3))
    plain = {"t": source}
    ranked = {"t": replace(source, resident=True, rank_by="pid")}
    window = collect(prepared.plan, prepared.design, lambda s: runner(s, plain))
    by_rank = collect(replace(prepared.plan, ranked=True), prepared.design,
                      lambda s: runner(s, ranked))
    assert window.groups == by_rank.groups


@pytest.mark.parametrize("where", ["", " WHERE flag = 1"])
@pytest.mark.parametrize("k", [1, 3])
def test_an_entity_with_1000_rows_moves_count_and_sum_by_at_most_k(
    tmp_path, runner, where, k  # type: ignore[no-untyped-def]
) -> None:
    base = _data(4)
    pids = base.column("pid").to_pylist()  # amount fixed per entity: the kept rows do not matter
    base = base.set_column(3, "amount", pa.array([(p or 0) % 101 for p in pids], pa.int64()))
    crowd = pa.table({"pid": pa.array([10_000] * 1000, pa.int64()),
                      "town": pa.array(["west"] * 1000), "flag": pa.array([1] * 1000, pa.int64()),
                      "amount": pa.array([100] * 1000, pa.int64())})
    sql = f"SELECT COUNT(*) AS n, SUM(amount) AS s FROM t{where}"
    totals = []
    for name, table in (("with", pa.concat_tables([base, crowd])), ("without", base)):
        spy = _ask(sql, write_table(tmp_path / name, "t", table), runner, k)
        _, _, result = spy.calls[-1]
        totals.append((result.column("__rows")[0].as_py(), result.column("__v0_sum")[0].as_py()))
    assert totals[0][0] - totals[1][0] == k
    assert totals[0][1] - totals[1][1] == 100 * k


@pytest.mark.parametrize("sql", [
    f"SELECT COUNT(*) AS n FROM t WHERE {RANK_COLUMN} <= 1000",
    f"SELECT {KEY_ROWS_COLUMN}, COUNT(*) AS n FROM t GROUP BY {KEY_ROWS_COLUMN}",
    f"SELECT COUNT(*) AS n FROM t AS x WHERE x.{KEY_ROWS_COLUMN.upper()} > 1",
])
def test_the_rank_columns_cannot_be_read_and_the_refusal_costs_nothing(
    tmp_path, runner, sql  # type: ignore[no-untyped-def]
) -> None:
    source = write_table(tmp_path, "t", _data(5))
    ledger = InMemoryBudgetLedger()
    ledger.set_budget("proj", "t", Budget("pure", epsilon=3), steward="li")
    with pytest.raises(QueryRefusedError, match="reserved"):
        _ask(sql, source, runner, 1, ledger)
    with pytest.raises(QueryRefusedError, match="reserved"):
        plan_query(sql, {"t": META})
    assert ledger.entries("proj", "t") == []
