"""Clipping and grid units in DuckDB: the integer fast path equals the DOUBLE path exactly."""

from __future__ import annotations

import pyarrow as pa
import pytest
from tests.unit.lab.dp.dp_testdata import write_table

from countyos.lab.dp import (
    Budget,
    ColumnMetadata,
    InMemoryBudgetLedger,
    PrivacyParams,
    QueryContext,
    TableMetadata,
    prepare_query,
)
from countyos.lab.dp.release import collect
from countyos.lab.dp.rewrite import aggregate_sql

SQL = "SELECT COUNT(x) AS n, SUM(x) AS s, AVG(x) AS a FROM t"


def _exact(tmp_path, runner, values: pa.Array, kind: str = "integer"):  # type: ignore[no-untyped-def]
    table = pa.table({"pid": pa.array(range(len(values)), pa.int64()), "x": values})
    source = write_table(tmp_path, "t", table)
    meta = {"t": TableMetadata("t", "pid", [ColumnMetadata("x", kind, 0, 100)])}
    ledger = InMemoryBudgetLedger()
    ledger.set_budget("p", "t", Budget("pure", epsilon=10), steward="s")
    prepared = prepare_query(SQL, context=QueryContext("p", "m"), metadata=meta, budget=ledger,
                             privacy=PrivacyParams(epsilon=1))
    groups = collect(prepared.plan, prepared.design, lambda sql: runner(sql, {"t": source}))
    found = groups.groups[()]
    return found["__v0_n"], found["__v0_sum"], found["__v0_csum"], prepared.plan


@pytest.mark.parametrize("arrow_type", [pa.int8(), pa.int32(), pa.int64(), pa.uint32()])
def test_integer_storage_takes_the_fast_path_with_clipping_and_nulls(
    tmp_path, runner, arrow_type  # type: ignore[no-untyped-def]
) -> None:
    signed = arrow_type != pa.uint32()
    raw = [None, -5, 0, 50, 100, 120] if signed else [None, 0, 50, 100, 120, 4_000_000_000]
    n, total, centred, plan = _exact(tmp_path, runner, pa.array(raw, arrow_type))
    clipped = [min(max(v, 0), 100) for v in raw if v is not None]
    assert "typeof" in aggregate_sql(plan)[0]
    assert (n, total, centred) == (len(clipped), sum(clipped), sum(clipped) - 50 * len(clipped))


def test_double_storage_of_an_integer_column_rounds_and_drops_nan(tmp_path, runner) -> None:  # type: ignore[no-untyped-def]
    raw = pa.array([None, float("nan"), -5.0, 0.4, 50.6, 100.0, 1e300], pa.float64())
    n, total, centred, _ = _exact(tmp_path, runner, raw)
    assert (n, total, centred) == (5, 0 + 0 + 51 + 100 + 100, 251 - 250)


def test_huge_unsigned_and_text_storage_take_the_double_path(tmp_path, runner) -> None:  # type: ignore[no-untyped-def]
    huge = pa.array([2**64 - 1, 3, None], pa.uint64())  # would overflow BIGINT
    assert _exact(tmp_path / "u", runner, huge)[:2] == (2, 103)
    text = pa.array(["7", None, "200"], pa.string())
    assert _exact(tmp_path / "s", runner, text)[:2] == (2, 107)


def test_float_columns_never_take_the_integer_path(tmp_path, runner) -> None:  # type: ignore[no-untyped-def]
    n, total, _, plan = _exact(tmp_path, runner, pa.array([1, 2, 300], pa.int64()), kind="float")
    assert "typeof" not in aggregate_sql(plan)[0]
    resolution = plan.aggregates[1].value.resolution
    assert n == 3 and total * resolution == pytest.approx(103.0)


@pytest.mark.parametrize(("sql", "wrapped"), [
    ('"t"."hwusual" <= 98', False),
    ('("a" <= 98) AND NOT "b" IS NULL', False),
    ('"x" IN (1, 2) OR "x" BETWEEN 4 AND 5', False),
    ('"age" * 4611686018427387904 > 0', True),     # arithmetic can overflow
    ('CAST("job" AS INTEGER) > 0', True),          # a cast can fail on a value
    ('lower("job") = \'x\'', True),                # any function: guarded
])
def test_only_expressions_that_cannot_fail_go_unguarded(sql, wrapped) -> None:
    from countyos.lab.dp.rewrite import guarded

    assert guarded(sql).startswith("TRY(") is wrapped
