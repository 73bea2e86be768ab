"""Parquet imports: every Arrow type brought to an Iceberg type, overrides, bad files."""

from __future__ import annotations

import base64
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from countyos.errors import ImportFileError, InvalidInputError
from countyos.ingest import stage_file

from .conftest import MAX, column, read_staged, staged_files

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def exotic_table() -> pa.Table:
    return pa.table(
        {
            "large": pa.array(["甲", None], pa.large_string()),
            "tiny": pa.array([-5, 7], pa.int8()),
            "u32": pa.array([4_000_000_000, 1], pa.uint32()),
            "u64": pa.array([2**64 - 1, 0], pa.uint64()),
            "f32": pa.array([1.5, None], pa.float32()),
            "dict": pa.array(["a", "b"]).dictionary_encode(),
            "ns": pa.array([1_700_000_000_123_456_789, None], pa.timestamp("ns")),
            "zoned": pa.array(
                [dt.datetime(2024, 1, 5, 8, 30, tzinfo=SHANGHAI), None],
                pa.timestamp("ms", tz="Asia/Shanghai"),
            ),
            "d64": pa.array([dt.date(2024, 1, 5), None], pa.date64()),
            "clock": pa.array([dt.time(8, 30), None], pa.time64("us")),
            "blob": pa.array([b"\x00\xff", None], pa.binary()),
            "d256": pa.array([Decimal("1.25"), None], pa.decimal256(20, 2)),
            "huge_dec": pa.array([Decimal("1.5"), None], pa.decimal256(50, 1)),
            "nested": pa.array(
                [{"k": 1, "v": [1, 2]}, None],
                pa.struct([("k", pa.int64()), ("v", pa.list_(pa.int64()))]),
            ),
            "lst": pa.array([["x", "y"], []], pa.list_(pa.string())),
            "empty": pa.nulls(2),
            " 名称 ": pa.array(["张三", "李四"]),
        }
    )


def test_types_are_brought_to_iceberg_types(tmp_path: Path, staging: Path) -> None:
    path = tmp_path / "exotic.parquet"
    pq.write_table(exotic_table(), path)
    result = stage_file(path, staging, max_bytes=MAX)
    assert result.source_format == "parquet"
    assert result.inferred_types == {
        "large": "string",
        "tiny": "int32",
        "u32": "int64",
        "u64": "decimal(20,0)",
        "f32": "float64",
        "dict": "string",
        "ns": "timestamp",
        "zoned": "timestamptz",
        "d64": "date",
        "clock": "string",
        "blob": "string",
        "d256": "decimal(20,2)",
        "huge_dec": "string",
        "nested": "string",
        "lst": "string",
        "empty": "string",
        "名称": "string",
    }
    table = read_staged(result)
    row = table.to_pylist()[0]
    assert row["u64"] == Decimal(2**64 - 1)
    assert row["u32"] == 4_000_000_000
    assert row["ns"] == dt.datetime(2023, 11, 14, 22, 13, 20, 123456)  # sub-µs truncated
    assert row["zoned"] == dt.datetime(2024, 1, 5, 0, 30, tzinfo=dt.timezone.utc)
    assert row["blob"] == base64.b64encode(b"\x00\xff").decode()
    assert json.loads(row["nested"]) == {"k": 1, "v": [1, 2]}
    assert json.loads(row["lst"]) == ["x", "y"]
    assert row["d256"] == Decimal("1.25")
    assert row["名称"] == "张三"


def test_staged_files_append_to_an_iceberg_table(tmp_path: Path, staging: Path) -> None:
    from pyiceberg.catalog.sql import SqlCatalog

    path = tmp_path / "exotic.parquet"
    pq.write_table(exotic_table(), path)
    result = stage_file(path, staging, max_bytes=MAX)
    catalog = SqlCatalog(
        "t", uri=f"sqlite:///{tmp_path / 'catalog.db'}", warehouse=f"file://{tmp_path / 'wh'}"
    )
    catalog.create_namespace("ingest")
    iceberg = catalog.create_table("ingest.exotic", schema=result.schema)
    for staged in result.files:
        iceberg.append(pq.read_table(staged))
    assert iceberg.scan().to_arrow().num_rows == result.rows


def test_batches_stream_across_row_groups(tmp_path: Path, staging: Path) -> None:
    path = tmp_path / "many.parquet"
    pq.write_table(pa.table({"n": list(range(1000))}), path, row_group_size=128)
    seen: list[int] = []
    result = stage_file(
        path, staging, max_bytes=MAX, batch_rows=100, progress=lambda d, t: seen.append(d)
    )
    assert column(result, "n") == list(range(1000))
    assert len(seen) >= 10 and seen[-1] == path.stat().st_size


def test_overrides_on_typed_columns(tmp_path: Path, staging: Path) -> None:
    path = tmp_path / "o.parquet"
    pq.write_table(
        pa.table({"day": ["2024/1/5", "20240106"], "code": [123, 45], "amount": [1.25, 3.0]}), path
    )
    result = stage_file(
        path,
        staging,
        max_bytes=MAX,
        type_overrides={"day": "date", "code": "string", "amount": "decimal(10,2)"},
    )
    table = read_staged(result)
    assert table.column("day").to_pylist() == [dt.date(2024, 1, 5), dt.date(2024, 1, 6)]
    assert table.column("code").to_pylist() == ["123", "45"]
    assert table.column("amount").to_pylist() == [Decimal("1.25"), Decimal("3.00")]


@pytest.mark.parametrize(
    ("values", "override", "bad_row"),
    [
        (["1", "2", "3", "4", "x5", "6"], "int64", 5),
        ([1.0, 2.0, 3.5, 4.0, 5.0], "int64", 3),
        ([1.25, 2.5, 3.125], "decimal(10,2)", 3),
        ([1, 2, 3, 4, 5, 100_000], "decimal(6,2)", 6),
    ],
)
def test_value_not_fitting_override_names_the_row(
    tmp_path: Path, staging: Path, values: list, override: str, bad_row: int
) -> None:
    path = tmp_path / "o.parquet"
    pq.write_table(pa.table({"v": values}), path)
    with pytest.raises(ImportFileError) as caught:
        stage_file(path, staging, max_bytes=MAX, batch_rows=2, type_overrides={"v": override})
    assert (caught.value.file, caught.value.row, caught.value.column) == ("o.parquet", bad_row, "v")
    assert staged_files(staging) == []


def test_unknown_override_column(tmp_path: Path, staging: Path) -> None:
    path = tmp_path / "o.parquet"
    pq.write_table(pa.table({"v": [1]}), path)
    with pytest.raises(InvalidInputError, match="'w'"):
        stage_file(path, staging, max_bytes=MAX, type_overrides={"w": "string"})
    assert staged_files(staging) == []


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_parquet(tmp_path: Path, staging: Path, damage: str) -> None:
    path = tmp_path / "bad.parquet"
    if damage == "garbage":
        path.write_bytes(b"PAR1" + b"\x13" * 500)
    else:
        pq.write_table(pa.table({"v": list(range(10_000))}), path)
        path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ImportFileError, match="not a readable Parquet") as caught:
        stage_file(path, staging, max_bytes=MAX)
    assert caught.value.file == "bad.parquet"
    assert staged_files(staging) == []


def test_corrupt_data_page_after_good_batches_leaves_nothing(tmp_path: Path, staging: Path) -> None:
    path = tmp_path / "pages.parquet"
    pq.write_table(
        pa.table({"v": [f"value-{i}" for i in range(20_000)]}),
        path,
        row_group_size=2_000,
        compression="none",
        use_dictionary=False,
    )
    data = bytearray(path.read_bytes())
    middle = len(data) * 3 // 4
    data[middle : middle + 64] = b"\xff" * 64  # smash a data page late in the file
    path.write_bytes(bytes(data))
    with pytest.raises(ImportFileError):
        stage_file(path, staging, max_bytes=MAX, batch_rows=1_000)
    assert staged_files(staging) == []


def test_parquet_without_rows(tmp_path: Path, staging: Path) -> None:
    path = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"v": pa.array([], pa.int64())}), path)
    with pytest.raises(ImportFileError, match="no data rows"):
        stage_file(path, staging, max_bytes=MAX)
    assert staged_files(staging) == []


def test_duplicate_names_after_stripping(tmp_path: Path, staging: Path) -> None:
    path = tmp_path / "dup.parquet"
    pq.write_table(pa.table({"a": [1], " a": [2]}), path)
    with pytest.raises(ImportFileError, match="same name") as caught:
        stage_file(path, staging, max_bytes=MAX)
    assert caught.value.column == "a"
