"""Checked SQL against the same SQL run bare in DuckDB, on the same Parquet files.

Owns the overhead measurement of the lab's aggregate mode: each query goes through
``plan_checked_query`` + ``run_checked_query`` exactly as the worker runs it (the hub's locked-down
engine, the installation's entity-hash secret, entity sets computed, the project's released cells
compared for differencing) and, alternating with it, through a plain DuckDB connection
(``threads`` as the engine's) over the lake's data files of the same version. The released-cell
store holds one earlier release of the same query (recorded from the warm-up run), as in a
project that already released it. A diagnostic variant skips entity sets and differencing
(``entity_sets=False``, no store) to show what the rewrite and checks cost without them.

Must not write to the home: it reads the lake's files and the metadata DB only.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb

from countyos.catalog.datasets import get_dataset, get_version
from countyos.engine import TableSource
from countyos.hub import Hub
from countyos.lab.checked_sql import plan_checked_query, run_checked_query
from countyos.lab.disclosure import InMemoryReleasedCellStore
from countyos.lab.job_context import table_policy
from countyos.lab.released_cells import lab_secret
from countyos.settings import Settings

QUERIES = {
    "population_by_township_sex": (
        "SELECT township_code, sex, count(*) AS people FROM population_registry "
        "GROUP BY township_code, sex"
    ),
    "visit_cost_by_hospital": (
        "SELECT hospital, count(*) AS visits, sum(cost) AS cost FROM outpatient_visits "
        "GROUP BY hospital"
    ),
    "electricity_by_month": (
        "SELECT date_trunc('month', date) AS month, sum(kwh) AS kwh FROM electricity_daily "
        "GROUP BY 1"
    ),
    "visit_cost_by_sex_age_join": (
        "SELECT p.sex, (2025 - year(p.birth_date)) // 10 AS age_band, count(*) AS visits, "
        "avg(v.cost) AS cost FROM outpatient_visits v "
        "JOIN population_registry p ON v.person_id = p.person_id GROUP BY 1, 2"
    ),
}
TABLES = ("population_registry", "outpatient_visits", "electricity_daily")


def measure(home: Path, runs: int) -> dict:
    """Median-ready timings per query: ``checked``, ``checked_no_sets`` and ``bare`` lists."""
    hub = Hub(Settings(home=home))
    files, policies, rows = {}, {}, {}
    with hub.db.session() as session:
        for name in TABLES:
            dataset = get_dataset(session, name)
            version = get_version(session, dataset)
            files[name] = hub.lake.data_files(dataset.lake_table, version.snapshot_id)
            # a grant of every column, as the worker builds the policy from a grant
            policies[name] = table_policy(list(dataset.columns), [c.name for c in dataset.columns])
            rows[name] = version.rows
    sources = {name: TableSource(name, tuple(paths)) for name, paths in files.items()}
    secret = lab_secret(hub.settings.lab_private_dir)
    limits = hub.query_limits()
    bare = duckdb.connect()
    bare.execute(f"SET threads = {hub.settings.engine.threads}")
    for name, paths in files.items():
        bare.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet({paths!r})")

    def checked(sql: str, store: InMemoryReleasedCellStore | None,  # type: ignore[no-untyped-def]
                entity_sets: bool):
        plan = plan_checked_query(sql, policies=policies)
        return run_checked_query(plan, engine=hub.engine, sources=sources, secret=secret,
                                 table_id="bench", limits=limits, rules=None,
                                 released=store, entity_sets=entity_sets)

    timings: dict[str, dict] = {}
    for key, sql in QUERIES.items():
        store = InMemoryReleasedCellStore()
        warm = checked(sql, None, True)            # warm-up, and the project's earlier release
        warm.record(store)
        checked(sql, None, False)
        expected = bare.sql(sql).to_arrow_table()
        _agree(key, warm.table, expected)
        result: dict[str, list[float]] = {"checked": [], "checked_no_sets": [], "bare": []}
        for _ in range(runs):
            started = time.perf_counter()
            checked(sql, store, True)
            result["checked"].append(time.perf_counter() - started)
            started = time.perf_counter()
            bare.sql(sql).to_arrow_table()
            result["bare"].append(time.perf_counter() - started)
            started = time.perf_counter()
            checked(sql, None, False)
            result["checked_no_sets"].append(time.perf_counter() - started)
        timings[key] = {**result, "cells": expected.num_rows,
                        "released_cells_in_store": len(store)}
    bare.close()
    hub.close()
    return {"timings": timings, "rows": rows}


def _agree(key: str, checked, bare) -> None:  # type: ignore[no-untyped-def]
    """Released cells of the population count equal DuckDB's (rare groups may be withheld)."""
    if key != "population_by_township_sex":
        return
    ours = {(r["township_code"], r["sex"]): r["people"] for r in checked.to_pylist()}
    theirs = {(r["township_code"], r["sex"]): r["people"] for r in bare.to_pylist()}
    released = {k: v for k, v in ours.items() if v is not None}
    if not released or any(theirs.get(k) != v for k, v in released.items()):
        raise RuntimeError(f"{key}: checked SQL released values that differ from DuckDB's")
