"""compute_cell_stats / cell_entity_sets against an independent DuckDB computation."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from countyos.errors import InvalidInputError
from countyos.lab.disclosure import (
    TOTAL,
    cell_entity_sets,
    compute_cell_stats,
    entity_hashes,
)

SECRET = b"stats-test-secret-0123456789abcdef"


@pytest.fixture(scope="module")
def firms() -> pa.Table:
    rng = np.random.default_rng(21)
    n = 3000
    firm = rng.integers(0, 400, size=n)
    township = np.array(["east", "west", "north", "south"])[firm % 4]
    sector = rng.choice(["farm", "mill", "shop"], size=n)
    value = np.round(rng.normal(50, 400, size=n), 2)
    value[rng.random(n) < 0.05] = np.nan
    return pa.table(
        {
            "township": township,
            "sector": sector,
            "firm": firm,
            "value": pa.array(value, from_pandas=True),
        }
    )


def duck(sql: str, data: pa.Table) -> list[tuple]:
    connection = duckdb.connect()
    connection.register("data", data)
    return connection.execute(sql).fetchall()


def test_sum_cells_match_sql(firms):
    table = compute_cell_stats(firms, ["township", "sector"], "firm", "sum", "value")
    rows = duck(
        """
        with units as (
            select township, sector, firm, sum(value) as unit_total
            from data where value is not null and not isnan(value)
            group by all)
        select township, sector, sum(unit_total), count(*), sum(abs(unit_total)),
               list(abs(unit_total) order by abs(unit_total) desc)[1:2]
        from units group by all
        """,
        firms,
    )
    assert len(rows) == 12
    for township, sector, total, units, abs_total, top in rows:
        cell = table.cell((township, sector))
        assert cell.value == pytest.approx(total)
        assert cell.n_entities == units
        assert cell.abs_total == pytest.approx(abs_total)
        assert cell.top_contributions == pytest.approx(tuple(top))


@pytest.mark.parametrize("statistic, sql", [
    ("mean", "avg(value)"), ("min", "min(value)"), ("max", "max(value)"),
    ("median", "median(value)"),
])
def test_value_statistics_match_sql(firms, statistic, sql):
    table = compute_cell_stats(firms, ["sector"], "firm", statistic, "value")
    rows = duck(
        f"select sector, {sql} from data where value is not null and not isnan(value) group by all",
        firms,
    )
    for sector, expected in rows:
        assert table.cell((sector,)).value == pytest.approx(expected)


def test_counts_with_margins_match_sql(firms):
    table = compute_cell_stats(firms, ["township", "sector"], "firm", "count", margins=True)
    rows = duck(
        """
        select township, sector, count(*), count(distinct firm)
        from data group by grouping sets ((township, sector), (township), (sector), ())
        """,
        firms,
    )
    assert len(rows) == len(table.cells) == 4 * 3 + 4 + 3 + 1
    for township, sector, count, units in rows:
        key = (township if township is not None else TOTAL, sector if sector is not None else TOTAL)
        cell = table.cell(key)
        assert cell.value == count and cell.n_entities == units


def test_empty_cells_and_declared_levels():
    data = pa.table({"a": ["x", "x", "y"], "b": ["p", "q", "p"], "unit": [1, 2, 3]})
    table = compute_cell_stats(data, ["a", "b"], "unit", levels={"b": ["p", "q", "r"]})
    keys = {cell.key for cell in table.cells}
    assert keys == {(a, b) for a in "xy" for b in "pqr"}
    empty = table.cell(("y", "q"))
    assert empty.n_entities == 0 and empty.value == 0.0
    observed_only = compute_cell_stats(data, ["a", "b"], "unit", include_empty=False)
    assert {cell.key for cell in observed_only.cells} == {("x", "p"), ("x", "q"), ("y", "p")}


def test_null_group_values_are_a_group():
    data = pa.table({"a": ["x", None, None], "unit": [1, 2, 3]})
    table = compute_cell_stats(data, ["a"], "unit")
    assert table.cell((None,)).n_entities == 2


def test_entity_sets_match_hashes_of_each_group(firms):
    sets = cell_entity_sets(firms, ["township", "sector"], "firm", SECRET, margins=True)
    for (township, sector), entities in sets.items():
        mask = np.ones(firms.num_rows, dtype=bool)
        if township is not TOTAL:
            mask &= np.asarray(firms["township"].to_pylist()) == township
        if sector is not TOTAL:
            mask &= np.asarray(firms["sector"].to_pylist()) == sector
        expected = entity_hashes(firms["firm"].filter(pa.array(mask)), SECRET)
        assert np.array_equal(entities, expected)
    assert len(sets) == 4 * 3 + 4 + 3 + 1


def test_entity_sets_with_value_skip_null_rows(firms):
    sets = cell_entity_sets(firms, ["sector"], "firm", SECRET, value="value")
    table = compute_cell_stats(firms, ["sector"], "firm", "sum", "value")
    for cell in table.cells:
        assert sets[cell.key].size == cell.n_entities


@pytest.mark.parametrize(
    "kwargs",
    [
        {"group_by": ["nope"]},
        {"group_by": []},
        {"group_by": ["a", "a"]},
        {"statistic": "sum", "value": None},
        {"statistic": "sum", "value": "a"},
        {"statistic": "mode", "value": "v"},
        {"entity_key": "missing"},
    ],
)
def test_bad_arguments_are_refused(kwargs):
    data = pa.table({"a": ["x"], "unit": [1], "v": [1.0]})
    arguments = {"group_by": ["a"], "entity_key": "unit", "statistic": "count"} | kwargs
    with pytest.raises(InvalidInputError):
        compute_cell_stats(data, **arguments)


def test_null_entity_keys_are_refused():
    data = pa.table({"a": ["x", "y"], "unit": pa.array([1, None])})
    with pytest.raises(InvalidInputError, match="nulls"):
        compute_cell_stats(data, ["a"], "unit")


def test_too_many_empty_cells_are_refused_not_enumerated():
    from countyos.errors import TooLargeError

    n = 1100
    data = pa.table({"a": list(range(n)), "b": list(range(n)), "unit": list(range(n))})
    with pytest.raises(TooLargeError):
        compute_cell_stats(data, ["a", "b"], "unit")
    table = compute_cell_stats(data, ["a", "b"], "unit", include_empty=False)
    assert len(table.cells) == n
