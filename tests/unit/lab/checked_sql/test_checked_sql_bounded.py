"""The bounded fast path decides exactly as the exact per-unit path, or steps aside.

Over many seeded tables with several rows per unit (dominant units, units just below and above
the threshold, negative values, margins), the developer's table of a default run (which may take
the bounded path) must equal the table of an exact run: the same cells, values and statuses. And
when the bounded path is taken, the recorded size bounds hold the exact unit counts.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from countyos.lab.checked_sql import TablePolicy, plan_checked_query, run_checked_query
from countyos.lab.disclosure import DisclosureRules, compute_cell_stats

SECRET = b"bounded-path-secret-0123456789ab"
QUERIES = (
    "SELECT grp, COUNT(*) AS n, SUM(x) AS s FROM t GROUP BY grp",
    "SELECT grp, sub, AVG(x) AS a FROM t GROUP BY ROLLUP (grp, sub)",
    "SELECT grp, SUM(x) FILTER (WHERE x > 50) AS big, COUNT(x) AS c FROM t GROUP BY CUBE (grp)",
    "SELECT sub, SUM(x) AS s FROM t WHERE grp <> 'g0' GROUP BY sub",
)


def table_for(seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    groups = int(rng.integers(2, 6))
    rows: dict[str, list] = {"unit": [], "grp": [], "sub": [], "x": []}
    unit = 0
    for group in range(groups):
        units = int(rng.choice([3, 9, 10, 11, 25, 80, 400]))
        for _ in range(units):
            unit += 1
            for _ in range(int(rng.integers(1, 5))):
                rows["unit"].append(f"u{unit}")
                rows["grp"].append(f"g{group}")
                rows["sub"].append(f"s{int(rng.integers(0, 3))}")
                rows["x"].append(float(rng.gamma(2.0, 30.0)))
        if rng.random() < 0.4:  # one dominant unit in the group
            index = rows["grp"].index(f"g{group}")
            rows["x"][index] = float(rng.choice([1e3, 1e4, 1e6]))
    if seed % 5 == 0:  # some negative values (refunds)
        for index in rng.choice(len(rows["x"]), size=max(1, len(rows["x"]) // 20)):
            rows["x"][index] = -rows["x"][index]
    return pa.table(rows)


def assert_same_table(ours: list[dict], theirs: list[dict], sql: str) -> None:
    """Same cells, statuses and values (floats up to summation order)."""
    assert len(ours) == len(theirs), sql
    for mine, other in zip(ours, theirs, strict=True):
        assert mine.keys() == other.keys(), sql
        for name, value in mine.items():
            if isinstance(value, float):
                assert value == pytest.approx(other[name], rel=1e-12), (sql, name)
            else:
                assert value == other[name], (sql, name)


POLICY = {"t": TablePolicy("unit", {"grp": "dimension", "sub": "dimension", "x": "measure"})}


@pytest.mark.parametrize("seed", range(40))
def test_the_fast_path_never_decides_otherwise(seed, write_dataset, engine) -> None:
    data = table_for(seed)
    sources = {"t": write_dataset("t", data)}
    rules = DisclosureRules()
    for sql in QUERIES:
        plan = plan_checked_query(sql, policies=POLICY)
        fast = run_checked_query(plan, engine=engine, sources=sources, secret=SECRET,
                                 table_id="f", rules=rules)
        exact = run_checked_query(plan, engine=engine, sources=sources, secret=SECRET,
                                  table_id="f", rules=rules, exact_sets=True)
        assert exact.per_entity and not exact.size_bounds
        assert_same_table(fast.table.to_pylist(), exact.table.to_pylist(), sql)
        for column, report in exact.reports.items():
            assert fast.reports[column].released_keys() == report.released_keys()
        for column, bounds in fast.size_bounds.items():
            for key, (low, high) in bounds.items():
                assert low <= exact.output_tables[column].cell(key).n_entities <= high


def test_the_fast_path_is_taken_where_it_can_decide(write_dataset, engine) -> None:
    rng = np.random.default_rng(1)
    units = np.repeat(np.arange(3000), 3)
    data = pa.table({"unit": units.astype(str), "grp": rng.choice(["a", "b"], units.size),
                     "sub": rng.choice(["x", "y"], units.size),
                     "x": rng.uniform(1, 10, units.size)})
    sources = {"t": write_dataset("t", data)}
    plan = plan_checked_query(QUERIES[0], policies=POLICY)
    fast = run_checked_query(plan, engine=engine, sources=sources, secret=SECRET, table_id="f")
    assert fast.size_bounds and not fast.per_entity
    reference = compute_cell_stats(data, ["grp"], "unit", "count")
    for cell in reference.cells:
        low, high = fast.size_bounds["n"][cell.key]
        assert low <= cell.n_entities <= high


def test_one_dominant_unit_spread_over_rows_is_caught(write_dataset, engine) -> None:
    # every row is small, but one unit has many of them in one cell: only the per-unit total
    # dominates; the bound (rows per unit x largest row) must not let it through
    rows = {"unit": [], "grp": [], "sub": [], "x": []}
    for unit in range(30):
        rows["unit"] += [f"u{unit}"]
        rows["grp"] += ["a"]
        rows["sub"] += ["x"]
        rows["x"] += [1.0]
    rows["unit"] += ["whale"] * 500
    rows["grp"] += ["a"] * 500
    rows["sub"] += ["x"] * 500
    rows["x"] += [1.0] * 500
    sources = {"t": write_dataset("t", pa.table(rows))}
    plan = plan_checked_query("SELECT grp, SUM(x) AS s FROM t GROUP BY grp", policies=POLICY)
    result = run_checked_query(plan, engine=engine, sources=sources, secret=SECRET, table_id="w")
    outcome = result.reports["s"].outcome(("a",))
    assert not outcome.released
    assert {"dominance_p", "dominance_nk"} & {s.value for s in outcome.failed_checks}
