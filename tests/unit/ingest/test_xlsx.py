"""XLSX imports: cell typing, header position, blank rows, bad and hostile workbooks."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from countyos.errors import ImportFileError
from countyos.ingest import stage_file
from countyos.ingest.xlsx_file import check_zip_expansion

from .conftest import MAX, column, read_staged, staged_files


def workbook(path: Path, rows: list[list[Any]], *, second_sheet: bool = False) -> Path:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    if second_sheet:
        book.create_sheet("other").append(["ignored"])
    book.save(path)
    return path


def test_cells_are_typed(tmp_path: Path, staging: Path) -> None:
    rows = [
        ["身份证号", "姓名", "人数", "金额", "出生日期", "登记时间", "在册", "邮编"],
        [
            "110101199003077777",
            "张三",
            3,
            12.5,
            dt.datetime(1990, 3, 7),
            dt.datetime(2024, 1, 5, 8, 30),
            True,
            "010020",
        ],
        [
            "11010119900307123X",
            "李四",
            4,
            7,
            dt.date(1990, 3, 8),
            dt.datetime(2024, 1, 6, 9, 0),
            False,
            "315400",
        ],
    ]
    result = stage_file(
        workbook(tmp_path / "people.xlsx", rows, second_sheet=True), staging, max_bytes=MAX
    )
    assert result.source_format == "xlsx"
    assert result.encoding is None
    assert result.inferred_types == {
        "身份证号": "string",
        "姓名": "string",
        "人数": "int64",
        "金额": "float64",
        "出生日期": "date",
        "登记时间": "timestamp",
        "在册": "bool",
        "邮编": "string",
    }
    table = read_staged(result)
    assert table.column("出生日期").to_pylist() == [dt.date(1990, 3, 7), dt.date(1990, 3, 8)]
    assert table.column("邮编").to_pylist() == ["010020", "315400"]
    assert table.column("金额").to_pylist() == [12.5, 7.0]


def test_header_below_empty_rows_trailing_blank_headers_and_blank_rows(
    tmp_path: Path, staging: Path
) -> None:
    rows = [[None], [None], [" 名称 ", "数量", None, None], ["甲", 1], [None, None], ["乙", 2]]
    result = stage_file(workbook(tmp_path / "h.xlsx", rows), staging, max_bytes=MAX)
    assert result.schema.names == ["名称", "数量"]
    assert column(result, "名称") == ["甲", "乙"]
    assert result.rows == 2


def test_override_mismatch_reports_row_relative_to_the_header(
    tmp_path: Path, staging: Path
) -> None:
    # Header on sheet row 2, a blank sheet row 4: the bad value is on sheet row 6 = data row 4.
    rows = [[None], ["day"], ["2024/1/5"], [None], ["2024-01-06"], ["someday"]]
    with pytest.raises(ImportFileError) as caught:
        stage_file(
            workbook(tmp_path / "o.xlsx", rows),
            staging,
            max_bytes=MAX,
            batch_rows=2,
            type_overrides={"day": "date"},
        )
    assert (caught.value.file, caught.value.row, caught.value.column) == ("o.xlsx", 4, "day")
    assert staged_files(staging) == []


def test_date_override_on_text_cells(tmp_path: Path, staging: Path) -> None:
    rows = [["day"], ["2024/1/5"], ["2024年1月6日"]]
    result = stage_file(
        workbook(tmp_path / "d.xlsx", rows), staging, max_bytes=MAX, type_overrides={"day": "date"}
    )
    assert column(result, "day") == [dt.date(2024, 1, 5), dt.date(2024, 1, 6)]


def test_value_right_of_the_header_is_a_malformed_row(tmp_path: Path, staging: Path) -> None:
    rows = [["a", "b"], [1, 2], [3, 4, "stray"]]
    with pytest.raises(ImportFileError, match="right of the last header column") as caught:
        stage_file(workbook(tmp_path / "m.xlsx", rows), staging, max_bytes=MAX)
    assert caught.value.row == 2
    assert staged_files(staging) == []


def test_duplicate_header_names(tmp_path: Path, staging: Path) -> None:
    with pytest.raises(ImportFileError, match="same name") as caught:
        stage_file(workbook(tmp_path / "d.xlsx", [["a", "a "], [1, 2]]), staging, max_bytes=MAX)
    assert caught.value.column == "a"


def test_empty_sheet_and_header_only(tmp_path: Path, staging: Path) -> None:
    with pytest.raises(ImportFileError, match="empty"):
        stage_file(workbook(tmp_path / "e.xlsx", []), staging, max_bytes=MAX)
    with pytest.raises(ImportFileError, match="no data rows"):
        stage_file(workbook(tmp_path / "h.xlsx", [["a", "b"]]), staging, max_bytes=MAX)
    assert staged_files(staging) == []


@pytest.mark.parametrize("make", ["random", "truncated", "zip_without_workbook"])
def test_corrupt_workbook(tmp_path: Path, staging: Path, make: str) -> None:
    path = tmp_path / "bad.xlsx"
    if make == "random":
        path.write_bytes(b"PK\x03\x04 not really a zip" * 50)
    elif make == "truncated":
        good = workbook(tmp_path / "good.xlsx", [["a"], [1]]).read_bytes()
        path.write_bytes(good[: len(good) // 2])
    else:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("hello.txt", "not a workbook")
    with pytest.raises(ImportFileError, match="not a readable XLSX") as caught:
        stage_file(path, staging, max_bytes=MAX)
    assert caught.value.file == "bad.xlsx"
    assert staged_files(staging) == []


def test_zip_bomb_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * 4_000_000)
    assert path.stat().st_size < 20_000
    with pytest.raises(ImportFileError, match="zip bomb"):
        check_zip_expansion(path, max_ratio=2, max_bytes=10**12)  # 4 MB > 2 x 1 MiB
    with pytest.raises(ImportFileError, match="zip bomb"):
        check_zip_expansion(path, max_ratio=10**6, max_bytes=1_000_000)
    check_zip_expansion(path, max_ratio=10, max_bytes=10**12)  # 4 MB is under 10 x 1 MiB


def _claim_huge_size(path: Path, member: str) -> None:
    """Rewrite the central directory so ``member`` claims to expand to about 2 GiB."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    start = 0
    while (start := data.find(b"PK\x01\x02", start)) >= 0:
        name_length = int.from_bytes(data[start + 28 : start + 30], "little")
        if bytes(data[start + 46 : start + 46 + name_length]) == name:
            data[start + 24 : start + 28] = (2**31 - 1).to_bytes(4, "little")
        start += 4
    path.write_bytes(bytes(data))


def test_workbook_claiming_a_huge_expansion_is_refused(tmp_path: Path, staging: Path) -> None:
    path = workbook(tmp_path / "bomb.xlsx", [["a"], [1]])
    _claim_huge_size(path, "xl/worksheets/sheet1.xml")
    with pytest.raises(ImportFileError, match="zip bomb") as caught:
        stage_file(path, staging, max_bytes=MAX)
    assert caught.value.details["expanded_bytes"] > 2**30
    assert staged_files(staging) == []
