"""Checked SQL against the same SQL run bare in DuckDB, on the same Parquet files.

Owns the overhead measurement of the lab's aggregate mode: each query goes through
``plan_checked_query`` + ``run_checked_query`` exactly as the worker runs it (the hub's locked-down
engine, table policies built from the grant and the version's profile as the worker builds them,
the installation's entity-hash secret, the project's released cells compared for differencing)
and, alternating with it, through a plain DuckDB connection (``threads`` as the engine's) over the
lake's data files of the same version. Three set-ups of the project's released cells:

- ``checked``: the store holds one earlier release of the same query (recorded from the warm-up
  run, deferred as the worker records it), as in a project that re-runs its query;
- ``checked_no_sets`` (first release): an empty store, the project's first release;
- ``checked_all_close``: the store holds, for every cell, a released set one unit away (the real
  set minus one unit): the worst case, where every cell must be compared exactly, so the units
  of every cell are hashed (and every cell is flagged).

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
from countyos.lab.checked_sql.recipes import row_multiplicity
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
            # a grant of every column, as the worker builds the policy from a grant and profile
            policies[name] = table_policy(list(dataset.columns), [c.name for c in dataset.columns],
                                          profile=version.profile)
            rows[name] = version.rows
    sources = {name: TableSource(name, tuple(paths)) for name, paths in files.items()}
    secret = lab_secret(hub.settings.lab_private_dir)
    limits = hub.query_limits()
    bare = duckdb.connect()
    bare.execute(f"SET threads = {hub.settings.engine.threads}")
    for name, paths in files.items():
        bare.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet({paths!r})")

    def checked(sql: str, store: InMemoryReleasedCellStore | None,  # type: ignore[no-untyped-def]
                exact: bool = False):
        plan = plan_checked_query(sql, policies=policies)
        return run_checked_query(plan, engine=hub.engine, sources=sources, secret=secret,
                                 table_id="bench", limits=limits, rules=None,
                                 released=store, exact_sets=exact)

    timings: dict[str, dict] = {}
    for key, sql in QUERIES.items():
        store = InMemoryReleasedCellStore()
        warm = checked(sql, None)            # warm-up, and the project's earlier release
        warm.record(store)
        close = _one_unit_away(checked(sql, None, exact=True))
        expected = bare.sql(sql).to_arrow_table()
        _agree(key, warm.table, expected)
        result: dict[str, list[float]] = {"checked": [], "checked_no_sets": [], "bare": [],
                                          "checked_all_close": []}
        for _ in range(runs):
            started = time.perf_counter()
            checked(sql, store)
            result["checked"].append(time.perf_counter() - started)
            started = time.perf_counter()
            bare.sql(sql).to_arrow_table()
            result["bare"].append(time.perf_counter() - started)
            started = time.perf_counter()
            checked(sql, None)
            result["checked_no_sets"].append(time.perf_counter() - started)
            started = time.perf_counter()
            checked(sql, close)
            result["checked_all_close"].append(time.perf_counter() - started)
        timings[key] = {**result, "cells": expected.num_rows,
                        "released_cells_in_store": len(store), "close_cells": len(close),
                        "per_entity": warm.per_entity,
                        "multiplicity": row_multiplicity(
                            plan_checked_query(sql, policies=policies), hub.engine, sources,
                            limits)}
    bare.close()
    hub.close()
    return {"timings": timings, "rows": rows}


def _one_unit_away(result) -> InMemoryReleasedCellStore:  # type: ignore[no-untyped-def]
    """A store holding, for every cell of every family, its real set minus one unit."""
    store = InMemoryReleasedCellStore()
    for column in result.recorded_columns:
        for number, entities in enumerate(result.entity_sets[column].values()):
            if entities.size > 1:
                store.add(f"close/{column}/{number}", entities[1:])
    return store


def _agree(key: str, checked, bare) -> None:  # type: ignore[no-untyped-def]
    """Released cells of the population count equal DuckDB's (rare groups may be withheld)."""
    if key != "population_by_township_sex":
        return
    ours = {(r["township_code"], r["sex"]): r["people"] for r in checked.to_pylist()}
    theirs = {(r["township_code"], r["sex"]): r["people"] for r in bare.to_pylist()}
    released = {k: v for k, v in ours.items() if v is not None}
    if not released or any(theirs.get(k) != v for k, v in released.items()):
        raise RuntimeError(f"{key}: checked SQL released values that differ from DuckDB's")
