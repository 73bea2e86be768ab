"""Rows per key value of a table, computed once per set of unchanged files."""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.parquet as pq

from countyos.engine import QueryLimits, TableSource, parse_read_only
from countyos.engine.duckdb import DuckDBEngine
from countyos.engine.profile import RowsPerKey, clear_profiles, rows_per_key


def test_most_rows_per_key_nulls_and_the_cache(tmp_path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"k": pa.array([1, 1, 1, 2, None, None], pa.int64())}), path)
    source = TableSource("t", (str(path),))
    engine = DuckDBEngine(limits=QueryLimits())
    queries: list[str] = []

    def run(sql: str) -> pa.Table:
        queries.append(sql)
        return engine.execute(parse_read_only(sql), {"t": source}).table

    clear_profiles()
    assert rows_per_key("t", source, "k", run) == RowsPerKey(most=3, nulls=2)
    assert rows_per_key("t", source, "K", run) == RowsPerKey(most=3, nulls=2)
    assert len(queries) == 1                                   # cached per files and key
    pq.write_table(pa.table({"k": pa.array([5, 6], pa.int64())}), path)
    os.utime(path, ns=(1, 1))                                  # rewritten in place: new profile
    assert rows_per_key("t", source, "k", run) == RowsPerKey(most=1, nulls=0)
    assert len(queries) == 2
    missing = TableSource("t", (str(tmp_path / "gone.parquet"),))
    assert rows_per_key("t", missing, "k", run) is None and len(queries) == 2
    engine.close()
