"""Previews: inferred schema and first rows of each format, with overrides."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from openpyxl import Workbook

from countyos.errors import ImportFileError, TooLargeError
from countyos.ingest import preview_file

from .conftest import MAX


def test_csv_preview_shows_types_and_first_rows(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    rows = "".join(
        f"{i},33028119900307{i:04d},{i}.5,2024-01-{1 + i % 28:02d}\n" for i in range(100)
    )
    path.write_bytes(("编号,身份证号,金额,日期\n" + rows).encode("gbk"))
    preview = preview_file(path, rows=3, max_bytes=MAX)
    assert preview.source_format == "csv"
    assert preview.encoding == "gb18030"
    assert preview.inferred_types == {
        "编号": "int64",
        "身份证号": "string",
        "金额": "float64",
        "日期": "date",
    }
    assert preview.rows == [
        {"编号": 0, "身份证号": "330281199003070000", "金额": 0.5, "日期": dt.date(2024, 1, 1)},
        {"编号": 1, "身份证号": "330281199003070001", "金额": 1.5, "日期": dt.date(2024, 1, 2)},
        {"编号": 2, "身份证号": "330281199003070002", "金额": 2.5, "日期": dt.date(2024, 1, 3)},
    ]
    assert preview.sample_rows == 100


def test_preview_types_come_from_the_sample_not_only_the_shown_rows(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("n\n1\n2\n2.5\n")
    preview = preview_file(path, rows=1, max_bytes=MAX)
    assert preview.inferred_types == {"n": "float64"}
    assert preview.rows == [{"n": 1.0}]


def test_preview_applies_overrides_and_reports_misfits(tmp_path: Path) -> None:
    path = tmp_path / "o.csv"
    path.write_text("code,amount\n007,1.5\n008,x\n")
    preview = preview_file(path, rows=1, max_bytes=MAX, type_overrides={"code": "string"})
    assert preview.rows == [{"code": "007", "amount": "1.5"}]
    with pytest.raises(ImportFileError) as caught:
        preview_file(path, max_bytes=MAX, type_overrides={"amount": "decimal(5,2)"})
    assert (caught.value.row, caught.value.column) == (2, "amount")
    assert preview_file(path, max_bytes=MAX, type_overrides={"code": "int64"}).rows[0]["code"] == 7


def test_preview_of_each_other_format(tmp_path: Path) -> None:
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text('{"a": 1, "b": {"x": 1}}\n{"a": 2, "b": null}\n')
    preview = preview_file(jsonl, max_bytes=MAX)
    assert preview.inferred_types == {"a": "int64", "b": "string"}
    assert json.loads(preview.rows[0]["b"]) == {"x": 1}

    book = Workbook()
    book.active.append(["名称", "金额"])
    book.active.append(["甲", 1.25])
    xlsx = tmp_path / "p.xlsx"
    book.save(xlsx)
    preview = preview_file(xlsx, max_bytes=MAX, type_overrides={"金额": "decimal(8,2)"})
    assert preview.rows == [{"名称": "甲", "金额": Decimal("1.25")}]
    assert preview.encoding is None

    parquet = tmp_path / "p.parquet"
    pq.write_table(pa.table({"t": pa.array([1, 2, 3], pa.timestamp("ns"))}), parquet)
    preview = preview_file(parquet, rows=2, max_bytes=MAX)
    assert preview.inferred_types == {"t": "timestamp"}
    assert preview.schema.field("t").type == pa.timestamp("us")
    assert len(preview.rows) == 2


def test_preview_checks_size_first(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text("a\n" + "1\n" * 100)
    with pytest.raises(TooLargeError):
        preview_file(path, max_bytes=10)
