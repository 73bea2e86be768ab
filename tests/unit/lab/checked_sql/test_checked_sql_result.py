"""The developer-facing result: columns, status columns, margins, ordering, pre-flight on twins
(same checks, explained) and recording a release."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from countyos.errors import InvalidInputError
from countyos.lab.checked_sql import (
    plan_checked_query,
    preflight_checked_query,
    run_checked_query,
)
from countyos.lab.disclosure import InMemoryReleasedCellStore

SECRET = b"checked-sql-test-secret-0123456789"


def run(sql, lab, engine, policies, **kwargs):
    plan = plan_checked_query(sql, policies=policies)
    return run_checked_query(
        plan, engine=engine, sources=lab.sources, secret=SECRET,
        table_id=kwargs.pop("table_id", "r"), **kwargs,
    )


def test_columns_follow_the_select_list_then_statuses(lab, engine, policies) -> None:
    result = run(
        "SELECT COUNT(*) AS n, township AS t, ROUND(AVG(income), 1) AS mean_income "
        "FROM persons GROUP BY t",
        lab, engine, policies,
    )
    assert result.table.column_names == ["n", "t", "mean_income", "n_status", "mean_income_status"]
    statuses = set(result.table.column("n_status").to_pylist())
    assert statuses <= {"ok", "suppressed"} and statuses == {"ok", "suppressed"}
    for row in result.table.to_pylist():
        for name in ("n", "mean_income"):
            assert (row[name] is None) == (row[f"{name}_status"] == "suppressed")
        if row["mean_income"] is not None:
            assert round(row["mean_income"], 1) == row["mean_income"]
    with pytest.raises(InvalidInputError):
        _ = result.report  # two aggregate columns


def test_status_column_names_never_collide(lab, engine, policies) -> None:
    result = run(
        "SELECT township AS n_status, COUNT(*) AS n FROM persons GROUP BY 1", lab, engine, policies
    )
    assert result.table.column_names == ["n_status", "n", "n_status_"]
    assert result.report.table_id == "r/n"


def test_margins_show_null_keys_and_come_last(lab, engine, policies) -> None:
    result = run(
        "SELECT township, sex, COUNT(*) AS n FROM persons GROUP BY ROLLUP (township, sex)",
        lab, engine, policies,
    )
    rows = result.table.to_pylist()
    assert rows[-1]["township"] is None and rows[-1]["sex"] is None
    assert rows[-1]["n"] == lab.persons.num_rows  # the grand total is safe
    a_rows = [r for r in rows if r["township"] == "A"]
    assert [r["sex"] for r in a_rows] == ["F", "M", None]


def test_order_by_a_key_descending(lab, engine, policies) -> None:
    result = run(
        "SELECT township, COUNT(*) AS n FROM persons GROUP BY township ORDER BY township DESC",
        lab, engine, policies,
    )
    townships = result.table.column("township").to_pylist()
    assert townships == sorted(townships, reverse=True)
    assert len(townships) == 4  # C has 5 persons: too rare to list


def test_global_aggregate_is_one_cell(lab, engine, policies) -> None:
    result = run("SELECT COUNT(*) AS n, SUM(income) AS s FROM persons", lab, engine, policies)
    assert result.table.num_rows == 1
    row = result.table.to_pylist()[0]
    assert row["n"] == lab.persons.num_rows
    assert result.overall == "pass"
    assert all(report.overall == "pass" for report in result.reports.values())


def test_preflight_on_twins_explains_every_suppression(lab, engine, policies, write_dataset):
    rng = random.Random(5)
    twin = lab.persons.to_pylist()
    for row in twin:
        row["person_id"] = row["person_id"] + 500_000
        row["income"] = round(rng.uniform(1000, 9000), 2)
    twin_sources = dict(lab.sources)
    twin_sources["persons"] = write_dataset(
        "persons", pa.Table.from_pylist(twin, schema=lab.persons.schema)
    )
    plan = plan_checked_query(
        "SELECT township, sex, COUNT(*) AS n, SUM(income) AS s FROM persons GROUP BY ALL",
        policies=policies,
    )
    preview = preflight_checked_query(
        plan, engine=engine, twin_sources=twin_sources, secret=SECRET
    )
    real = run_checked_query(
        plan, engine=engine, sources=lab.sources, secret=SECRET, table_id="real"
    )
    assert preview.explain and not real.explain
    assert preview.sql_rewritten == real.sql_rewritten
    assert preview.recipe is not None and preview.recipe != real.recipe  # twins: other files
    codes = set(preview.table.column("s_status").to_pylist())
    assert "ok" in codes and codes - {"ok"}
    assert codes <= {"ok", "zero", "threshold", "dominance_p", "dominance_nk", "complementary"}
    explained = {(e["column"], e["cell"]) for e in preview.explanations()}
    withheld = {
        (column, outcome.label)
        for column, report in preview.reports.items()
        for outcome in report.cells
        if not outcome.released
    }
    assert explained == withheld and withheld
    for entry in preview.explanations():
        assert entry["reason_en"] and entry["reason_zh"]
    # the twin has no dominant income: the real dominated cell passes dominance on the twin
    rich = next(r for r in lab.persons.to_pylist() if r["income"] == 2_000_000.0)
    key = (rich["township"], rich["sex"])
    real_checks = {s.value for s in real.reports["s"].outcome(key).failed_checks}
    twin_checks = {s.value for s in preview.reports["s"].outcome(key).failed_checks}
    assert real_checks & {"dominance_p", "dominance_nk"}
    assert not twin_checks & {"dominance_p", "dominance_nk"}


def test_a_volatile_query_without_entity_sets_cannot_be_recorded(
    lab, engine, policies, monkeypatch
) -> None:
    # aggregate mode allows no clock or random function; pretend lower() were one
    from countyos.lab.checked_sql import recipes

    monkeypatch.setattr(recipes, "VOLATILE", recipes.VOLATILE | {"lower"})
    sql = "SELECT lower(township) AS t, COUNT(*) AS n FROM persons GROUP BY 1"
    result = run(sql, lab, engine, policies, entity_sets=False)
    assert result.entity_sets is None and result.recipe is None
    with pytest.raises(InvalidInputError):
        result.record(InMemoryReleasedCellStore())
    recordable = run(sql, lab, engine, policies)
    assert recordable.recipe is None and recordable.entity_sets is not None
    store = InMemoryReleasedCellStore()
    assert recordable.record(store) > 0
    assert not any(entry.deferred for entry, _, _ in store.entries())


def test_record_without_sets_is_deferred_with_the_recipe(lab, engine, policies) -> None:
    result = run(
        "SELECT township, COUNT(*) AS n FROM persons GROUP BY 1", lab, engine, policies,
        entity_sets=False, table_id="job-3",
    )
    assert result.entity_sets is None and result.recipe is not None
    store = InMemoryReleasedCellStore()
    recorded = result.record(store)
    released = [o for o in result.report.cells if o.released]
    assert recorded == len(released) > 0
    entries = [entry for entry, _, _ in store.entries()]
    assert all(entry.deferred and entry.digest for entry in entries)
    assert {e.digest for e in entries} == {result.digests["n"][o.key] for o in released}
    assert all(store.recipe_of(e.cell_id) == result.recipe for e in entries)


def test_record_stores_released_cells_only(lab, engine, policies) -> None:
    result = run(
        "SELECT township, COUNT(*) AS n FROM persons GROUP BY 1", lab, engine, policies,
        table_id="job-9",
    )
    store = InMemoryReleasedCellStore()
    recorded = result.record(store)
    assert recorded == len(result.report.released_keys())
    assert "job-9/n (township=A)" in store
    assert "job-9/n (township=C)" not in store
