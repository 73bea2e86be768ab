"""The staging area: file rotation, schema changes, rewrite to the final schema, clean-up."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from countyos.errors import InternalError
from countyos.ingest.staging import StagingArea

from .conftest import staged_files


def batch(values: list, dtype: pa.DataType = pa.int64()) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array(values, dtype)], names=["v"])


def test_files_rotate_past_the_target_size(staging: Path) -> None:
    with StagingArea(staging, target_file_bytes=1) as area:
        for start in range(0, 30, 10):
            area.write(batch(list(range(start, start + 10))))
        files = area.finish(pa.schema([pa.field("v", pa.int64())]))
    assert len(files) == 3
    assert pa.concat_tables([pq.read_table(f) for f in files]).column("v").to_pylist() == list(
        range(30)
    )


def test_a_schema_change_starts_a_new_file_and_finish_rewrites_it(staging: Path) -> None:
    final = pa.schema([pa.field("v", pa.float64())])
    with StagingArea(staging) as area:
        area.write(batch([1, 2]))
        area.write(batch([2.5], pa.float64()))
        files = area.finish(
            final,
            lambda b, s: pa.RecordBatch.from_arrays([pc.cast(b.column(0), pa.float64())], schema=s),
        )
    assert len(files) == 2
    assert all(pq.read_schema(f).remove_metadata().equals(final) for f in files)
    assert sorted(staged_files(staging)) == sorted(files)  # no rewrite leftovers


def test_finish_without_adapter_refuses_mismatched_files(staging: Path) -> None:
    with pytest.raises(InternalError), StagingArea(staging) as area:
        area.write(batch([1]))
        area.finish(pa.schema([pa.field("v", pa.float64())]))
    assert staged_files(staging) == []


def test_non_iceberg_schema_is_a_bug(staging: Path) -> None:
    with pytest.raises(InternalError, match="non-Iceberg"):
        with StagingArea(staging) as area:
            area.write(pa.RecordBatch.from_arrays([pa.array([1], pa.timestamp("ns"))], names=["t"]))
            area.finish(pa.schema([pa.field("t", pa.timestamp("ns"))]))


def test_an_exception_removes_everything(staging: Path) -> None:
    with pytest.raises(RuntimeError), StagingArea(staging) as area:
        area.write(batch([1, 2, 3]))
        assert staged_files(staging)
        raise RuntimeError("boom")
    assert list(staging.iterdir()) == []


def test_reset_deletes_written_files(staging: Path) -> None:
    with StagingArea(staging) as area:
        area.write(batch([1]))
        area.reset()
        assert staged_files(staging) == []
        area.write(batch([2]))
        files = area.finish(pa.schema([pa.field("v", pa.int64())]))
    assert pq.read_table(files[0]).column("v").to_pylist() == [2]
    assert area.rows == 1
