"""Twin generation: the benchmark table, CountyOS ``TwinBuilder`` timing, fidelity of any twin.

Owns the 9-column table both generators learn from — one row per resident of the Demo County
(``population_registry``) with derived household size, social-insurance facts and outpatient
totals: categorical (sex, township, main hospital), small integers (household size, visits),
numbers (contribution base with nulls, visit cost) and dates (birth date, insured since with
nulls); the main hospital (most visits) is a category that is null for people without visits — a
fixed subsample of it for a comparator too slow for all rows, the timing of CountyOS's twin, and
``fidelity_report`` (``countyos.lab.twins``) applied to either generator's output, converted back
to the real table's schema. Must not read anything but the benchmark's own home and files.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from countyos.catalog.datasets import get_dataset, get_version
from countyos.hub import Hub
from countyos.lab.twins import TwinBuilder, TwinColumn, fidelity_report
from countyos.settings import Settings

COLUMNS = [
    TwinColumn("sex", "quasi_identifier", "sex"),
    TwinColumn("birth_date", "quasi_identifier", "birth_date"),
    TwinColumn("township_code", "quasi_identifier", "township"),
    TwinColumn("household_size", "measure", None),
    TwinColumn("main_hospital", "dimension", None),
    TwinColumn("contribution_base", "measure", "income"),
    TwinColumn("insured_since", "dimension", None),
    TwinColumn("visits", "measure", None),
    TwinColumn("visit_cost", "measure", None),
]
#: Columns the comparator gets as days since 1970 (see mst_worker.py for its column kinds).
DATES = ["birth_date", "insured_since"]

TABLE_SQL = """
WITH hh AS (SELECT household_id, count(*)::BIGINT AS household_size
            FROM population_registry GROUP BY household_id),
si AS (SELECT person_id, max(contribution_base) AS contribution_base,
              min(insured_since) AS insured_since
       FROM social_insurance GROUP BY person_id),
vh AS (SELECT person_id, hospital, count(*) AS n FROM outpatient_visits GROUP BY ALL),
v AS (SELECT person_id, sum(n)::BIGINT AS visits,
             first(hospital ORDER BY n DESC, hospital) AS main_hospital
      FROM vh GROUP BY person_id),
vc AS (SELECT person_id, sum(cost) AS visit_cost FROM outpatient_visits GROUP BY person_id)
SELECT p.sex, p.birth_date, p.township_code, hh.household_size, v.main_hospital,
       si.contribution_base, si.insured_since, coalesce(v.visits, 0)::BIGINT AS visits,
       coalesce(vc.visit_cost, 0.0) AS visit_cost
FROM population_registry p LEFT JOIN hh USING (household_id) LEFT JOIN si USING (person_id)
LEFT JOIN v USING (person_id) LEFT JOIN vc USING (person_id) ORDER BY p.person_id
"""


def build_table(home: Path, out: Path, sample_rows: int, sample_out: Path) -> dict:
    """Write the benchmark table (and a seeded subsample of ``sample_rows``) as Parquet."""
    hub = Hub(Settings(home=home))
    connection = duckdb.connect()
    connection.execute("SET threads = 2")
    with hub.db.session() as session:
        for name in ("population_registry", "social_insurance", "outpatient_visits"):
            dataset = get_dataset(session, name)
            files = hub.lake.data_files(dataset.lake_table, get_version(session, dataset).snapshot_id)
            connection.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet({files!r})")
    table = connection.sql(TABLE_SQL).to_arrow_table()
    connection.close()
    hub.close()
    pq.write_table(table, out)
    rng = np.random.default_rng(20261122)
    rows = min(sample_rows, table.num_rows)
    picked = np.sort(rng.choice(table.num_rows, size=rows, replace=False))
    pq.write_table(table.take(pa.array(picked)), sample_out)
    return {"rows": table.num_rows, "sample_rows": rows, "columns": table.num_columns}


def countyos_twin(path: Path, runs: int, twin_out: Path) -> dict:
    """Time ``TwinBuilder.add`` (fit + sample) ``runs`` times; fidelity of the last twin."""
    real = pq.read_table(path)
    seconds, twin = [], None
    for attempt in range(runs + 1):
        started = time.perf_counter()
        twin = TwinBuilder(seed=2026 + attempt).add("residents", real, COLUMNS)
        if attempt:  # attempt 0 is the warm-up
            seconds.append(time.perf_counter() - started)
    assert twin is not None
    pq.write_table(twin, twin_out)
    return {"rows": real.num_rows, "seconds": seconds,
            "rows_per_s": [real.num_rows / s for s in seconds], **fidelity(real, twin)}


def fidelity(real: pa.Table, twin: pa.Table) -> dict:
    """``fidelity_report`` of a twin, summarised: mean column distance and association error."""
    report = fidelity_report(real, twin, COLUMNS)
    return {
        "mean_column_distance": statistics.fmean(c.distance for c in report.columns),
        "max_column_distance": report.max_column_distance,
        "association_mean_abs_diff": report.association_mean_abs_diff,
        "association_max_abs_diff": report.association_max_abs_diff,
        "columns": {c.name: round(c.distance, 4) for c in report.columns},
    }


def comparator_fidelity(real_path: Path, twin_path: Path) -> dict:
    """Fidelity of the comparator's twin (days back to dates, types back to the real schema)."""
    real = pq.read_table(real_path)
    raw = pq.read_table(twin_path)
    if raw.num_rows != real.num_rows:
        raise RuntimeError(f"the comparator made {raw.num_rows} rows for {real.num_rows}")
    arrays = []
    for field in real.schema:
        column = raw.column(field.name)
        if field.name in DATES:
            days = pc.round(pc.cast(column, pa.float64()))
            column = pc.cast(pc.cast(days, pa.int32()), pa.date32())
        elif pa.types.is_integer(field.type):
            column = pc.cast(pc.round(pc.cast(column, pa.float64())), field.type)
        else:
            column = pc.cast(column, field.type)
        arrays.append(column)
    twin = pa.Table.from_arrays(arrays, schema=real.schema)
    return fidelity(real, twin)
