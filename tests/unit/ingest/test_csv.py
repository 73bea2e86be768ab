"""CSV imports: encodings, header, inference and widening, overrides, and every bad input."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from countyos.errors import ImportFileError, InvalidInputError, TooLargeError
from countyos.ingest import stage_file

from .conftest import MAX, column, read_staged, staged_files

CHINESE_ROWS = (
    "姓名,身份证号,户籍地\n"
    "张三,110101199003077777,余姚市阳明街道\n"
    "李四,11010119900307123X,余姚市梨洲街道\n"
)


def write(path: Path, content: str | bytes, encoding: str = "utf-8") -> Path:
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path


# --- encodings ----------------------------------------------------------------------------------


def test_utf8_with_chinese_names_and_values(tmp_path: Path, staging: Path) -> None:
    result = stage_file(write(tmp_path / "people.csv", CHINESE_ROWS), staging, max_bytes=MAX)
    assert result.encoding == "utf-8"
    assert result.source_format == "csv"
    assert result.schema.names == ["姓名", "身份证号", "户籍地"]
    assert column(result, "户籍地") == ["余姚市阳明街道", "余姚市梨洲街道"]
    assert all(path.is_relative_to(staging) for path in result.files)


def test_utf8_bom_is_removed_from_the_first_column_name(tmp_path: Path, staging: Path) -> None:
    path = write(tmp_path / "bom.csv", b"\xef\xbb\xbf" + CHINESE_ROWS.encode("utf-8"))
    result = stage_file(path, staging, max_bytes=MAX)
    assert result.encoding == "utf-8"
    assert result.schema.names[0] == "姓名"
    assert column(result, "姓名") == ["张三", "李四"]


def test_gbk_file_is_detected_and_transcoded(tmp_path: Path, staging: Path) -> None:
    result = stage_file(write(tmp_path / "gbk.csv", CHINESE_ROWS, "gbk"), staging, max_bytes=MAX)
    assert result.encoding == "gb18030"
    assert result.schema.names == ["姓名", "身份证号", "户籍地"]
    assert column(result, "姓名") == ["张三", "李四"]
    assert column(result, "户籍地") == ["余姚市阳明街道", "余姚市梨洲街道"]


def test_gb18030_only_characters_survive(tmp_path: Path, staging: Path) -> None:
    # 䶮 (a character of personal names) and 𠀀 are not in GBK: GB18030 encodes them in 4 bytes.
    content = "姓名,备注\n刘䶮,𠀀字\n张三,普通\n"
    with pytest.raises(UnicodeEncodeError):
        content.encode("gbk")
    result = stage_file(write(tmp_path / "gb18030.csv", content, "gb18030"), staging, max_bytes=MAX)
    assert result.encoding == "gb18030"
    assert column(result, "姓名") == ["刘䶮", "张三"]
    assert column(result, "备注") == ["𠀀字", "普通"]


def test_gbk_after_a_long_ascii_start_is_detected_in_stream(tmp_path: Path, staging: Path) -> None:
    # The first 1 MiB sample is pure ASCII; the Chinese text comes later.
    ascii_rows = "".join(f"{i},row-{i:08d}-padding-padding-padding\n" for i in range(40_000))
    content = "id,note\n" + ascii_rows + "40000,余姚市\n"
    assert len(ascii_rows) > 1024 * 1024
    result = stage_file(write(tmp_path / "late.csv", content, "gbk"), staging, max_bytes=MAX)
    assert result.encoding == "gb18030"
    assert result.rows == 40_001
    assert column(result, "note")[-1] == "余姚市"


def test_bytes_in_neither_encoding_are_unreadable(tmp_path: Path, staging: Path) -> None:
    path = write(tmp_path / "latin.csv", "name,city\nJosé,Zürich\n".encode("utf-16"))
    with pytest.raises(ImportFileError, match="unreadable encoding") as caught:
        stage_file(path, staging, max_bytes=MAX)
    assert caught.value.file == "latin.csv"
    assert staged_files(staging) == []


def test_a_late_undecodable_byte_is_unreadable_and_names_the_row(
    tmp_path: Path, staging: Path
) -> None:
    good = "".join(f"{i},值{i:07d}\n" for i in range(80_000)).encode("utf-8")
    assert len(good) > 1024 * 1024  # the sample decides UTF-8; the bad byte comes after it
    path = write(tmp_path / "broken.csv", b"id,v\n" + good + b"80000,\xff\xfe\n")
    with pytest.raises(ImportFileError, match="unreadable encoding") as caught:
        stage_file(path, staging, max_bytes=MAX, batch_rows=10_000)
    assert caught.value.row == 80_001
    assert staged_files(staging) == []


def test_utf16_text_with_nul_bytes_is_unreadable(tmp_path: Path, staging: Path) -> None:
    path = write(tmp_path / "u16.csv", "a,b\n1,2\n".encode("utf-16-le"))
    with pytest.raises(ImportFileError, match="unreadable encoding"):
        stage_file(path, staging, max_bytes=MAX)
    assert staged_files(staging) == []


# --- header and parsing -------------------------------------------------------------------------


def test_column_names_are_stripped_of_spaces(tmp_path: Path, staging: Path) -> None:
    path = write(tmp_path / "spaces.csv", " 姓名 ,\u3000年龄\t, code\n张三,30,A\n")
    result = stage_file(path, staging, max_bytes=MAX)
    assert result.schema.names == ["姓名", "年龄", "code"]


def test_quoted_fields_keep_delimiters_quotes_and_newlines(tmp_path: Path, staging: Path) -> None:
    content = 'id,address\n1,"余姚市, 阳明街道"\n2,"第一行\n第二行"\n3,"he said ""hi"""\n'
    result = stage_file(write(tmp_path / "quoted.csv", content), staging, max_bytes=MAX)
    assert column(result, "address") == ["余姚市, 阳明街道", "第一行\n第二行", 'he said "hi"']
    assert column(result, "id") == [1, 2, 3]


def test_tab_delimited_txt(tmp_path: Path, staging: Path) -> None:
    result = stage_file(
        write(tmp_path / "export.txt", "a\tb\n1\tx,y\n2\tz\n"), staging, max_bytes=MAX
    )
    assert result.schema.names == ["a", "b"]
    assert column(result, "b") == ["x,y", "z"]


def test_null_tokens_and_blank_cells_are_null(tmp_path: Path, staging: Path) -> None:
    content = "n,s\n1,x\nNULL,N/A\n,\n4,#N/A\n"
    result = stage_file(write(tmp_path / "nulls.csv", content), staging, max_bytes=MAX)
    assert column(result, "n") == [1, None, None, 4]
    assert column(result, "s") == ["x", None, None, None]


def test_inferred_types_of_a_typical_government_file(tmp_path: Path, staging: Path) -> None:
    content = (
        "身份证号,手机,邮编,金额,人数,登记日期,更新时间,在册\n"
        "110101199003077777,13812345678,010020,12.50,3,2024/1/5,2024-01-05 08:30:00,true\n"
        "11010119900307123X,13912345678,315400,7,12,2024/1/6,2024-01-06 09:00:00,false\n"
    )
    result = stage_file(write(tmp_path / "gov.csv", content), staging, max_bytes=MAX)
    assert result.inferred_types == {
        "身份证号": "string",
        "手机": "int64",
        "邮编": "string",
        "金额": "float64",
        "人数": "int64",
        "登记日期": "date",
        "更新时间": "timestamp",
        "在册": "bool",
    }
    table = read_staged(result)
    assert table.column("身份证号").to_pylist() == ["110101199003077777", "11010119900307123X"]
    assert table.column("邮编").to_pylist() == ["010020", "315400"]
    assert table.column("登记日期").to_pylist() == [dt.date(2024, 1, 5), dt.date(2024, 1, 6)]


def test_all_digit_id_numbers_are_never_int64(tmp_path: Path, staging: Path) -> None:
    # Every value is 18 digits (no X) and the first block has only those: still a string.
    rows = "".join(f"33028119900307{i:04d}\n" for i in range(100))
    result = stage_file(
        write(tmp_path / "ids.csv", "id\n" + rows), staging, max_bytes=MAX, batch_rows=10
    )
    assert result.inferred_types == {"id": "string"}
    assert column(result, "id")[0] == "330281199003070000"


def test_zoned_timestamps_are_stored_in_utc(tmp_path: Path, staging: Path) -> None:
    content = "t\n2024-01-05T08:30:00+08:00\n2024-01-05T00:00:00Z\n"
    result = stage_file(write(tmp_path / "tz.csv", content), staging, max_bytes=MAX)
    assert result.schema.field("t").type == pa.timestamp("us", tz="UTC")
    assert column(result, "t")[0] == dt.datetime(2024, 1, 5, 0, 30, tzinfo=dt.timezone.utc)


# --- widening across blocks ---------------------------------------------------------------------


def test_int_widens_to_float_in_a_later_block(tmp_path: Path, staging: Path) -> None:
    content = "n\n1\n2\n3\n4\n5.25\n6\n"
    result = stage_file(write(tmp_path / "w.csv", content), staging, max_bytes=MAX, batch_rows=2)
    assert result.inferred_types == {"n": "float64"}
    assert column(result, "n") == [1.0, 2.0, 3.0, 4.0, 5.25, 6.0]


def test_number_widens_to_string_keeping_the_source_text(tmp_path: Path, staging: Path) -> None:
    content = "n,m\n1.50,1\n2.0,2\n3,3\n4e2,0042\n"
    result = stage_file(write(tmp_path / "w.csv", content), staging, max_bytes=MAX, batch_rows=2)
    assert result.inferred_types == {"n": "float64", "m": "string"}
    assert column(result, "m") == ["1", "2", "3", "0042"]
    assert column(result, "n") == [1.5, 2.0, 3.0, 400.0]

    content = "code\n1.50\n2.25\n3.00\nA-7\n"
    result = stage_file(write(tmp_path / "w2.csv", content), staging, max_bytes=MAX, batch_rows=2)
    assert column(result, "code") == ["1.50", "2.25", "3.00", "A-7"]


def test_empty_first_block_takes_the_type_of_later_values(tmp_path: Path, staging: Path) -> None:
    content = "id,later\n1,\n2,\n3,17\n4,18\n"
    result = stage_file(write(tmp_path / "late.csv", content), staging, max_bytes=MAX, batch_rows=2)
    assert result.inferred_types == {"id": "int64", "later": "int64"}
    assert column(result, "later") == [None, None, 17, 18]


def test_date_widens_to_timestamp(tmp_path: Path, staging: Path) -> None:
    content = "t\n2024-01-05\n2024-01-06\n2024-01-07 08:00:00\n"
    result = stage_file(write(tmp_path / "d.csv", content), staging, max_bytes=MAX, batch_rows=2)
    assert result.inferred_types == {"t": "timestamp"}
    assert column(result, "t") == [
        dt.datetime(2024, 1, 5),
        dt.datetime(2024, 1, 6),
        dt.datetime(2024, 1, 7, 8),
    ]


def test_a_column_never_filled_is_string(tmp_path: Path, staging: Path) -> None:
    result = stage_file(write(tmp_path / "e.csv", "a,b\n1,\n2,\n"), staging, max_bytes=MAX)
    assert result.schema.field("b").type == pa.string()
    assert column(result, "b") == [None, None]


def test_progress_reaches_the_file_size(tmp_path: Path, staging: Path) -> None:
    path = write(tmp_path / "p.csv", "n\n" + "".join(f"{i}\n" for i in range(5000)))
    seen: list[tuple[int, int]] = []
    stage_file(
        path, staging, max_bytes=MAX, batch_rows=500, progress=lambda d, t: seen.append((d, t))
    )
    assert seen[-1] == (path.stat().st_size, path.stat().st_size)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


# --- type overrides -----------------------------------------------------------------------------


def test_overrides_for_date_decimal_and_leading_zero_codes(tmp_path: Path, staging: Path) -> None:
    content = "code,amount,day,flag\n0123,1234.5,20240105,是\n0456,7,2024/1/6,否\n"
    result = stage_file(
        write(tmp_path / "o.csv", content),
        staging,
        max_bytes=MAX,
        type_overrides={"code": "string", "amount": "decimal(12,2)", "day": "date", "flag": "bool"},
    )
    assert result.inferred_types == {
        "code": "string",
        "amount": "decimal(12,2)",
        "day": "date",
        "flag": "bool",
    }
    table = read_staged(result)
    assert table.column("code").to_pylist() == ["0123", "0456"]
    assert table.column("amount").to_pylist() == [Decimal("1234.50"), Decimal("7.00")]
    assert table.column("day").to_pylist() == [dt.date(2024, 1, 5), dt.date(2024, 1, 6)]
    assert table.column("flag").to_pylist() == [True, False]


def test_string_override_keeps_digits_inference_would_make_numbers(
    tmp_path: Path, staging: Path
) -> None:
    result = stage_file(
        write(tmp_path / "s.csv", "zip\n315400\n 315401\n"),
        staging,
        max_bytes=MAX,
        type_overrides={"zip": "string"},
    )
    assert column(result, "zip") == ["315400", " 315401"]


def test_value_not_fitting_an_override_names_file_row_and_column(
    tmp_path: Path, staging: Path
) -> None:
    rows = "".join(f"{i},2024-01-{1 + i % 28:02d}\n" for i in range(1, 21))
    content = "id,day\n" + rows + "21,SECRET-330281\n22,2024-01-02\n"
    with pytest.raises(ImportFileError) as caught:
        stage_file(
            write(tmp_path / "bad.csv", content),
            staging,
            max_bytes=MAX,
            batch_rows=4,
            type_overrides={"day": "date"},
        )
    error = caught.value
    assert (error.file, error.row, error.column) == ("bad.csv", 21, "day")
    assert "SECRET" not in error.message and "330281" not in str(error.details)
    assert staged_files(staging) == []


def test_decimal_override_that_would_round_is_refused(tmp_path: Path, staging: Path) -> None:
    with pytest.raises(ImportFileError) as caught:
        stage_file(
            write(tmp_path / "d.csv", "amount\n1.25\n1.255\n"),
            staging,
            max_bytes=MAX,
            type_overrides={"amount": "decimal(10,2)"},
        )
    assert (caught.value.row, caught.value.column) == (2, "amount")


def test_override_of_unknown_column_or_type_is_invalid_input(tmp_path: Path, staging: Path) -> None:
    path = write(tmp_path / "o.csv", "a,b\n1,2\n")
    with pytest.raises(InvalidInputError, match="'c'"):
        stage_file(path, staging, max_bytes=MAX, type_overrides={"c": "int64"})
    with pytest.raises(InvalidInputError, match="unknown type name"):
        stage_file(path, staging, max_bytes=MAX, type_overrides={"a": "integer128"})
    assert staged_files(staging) == []


# --- bad files ----------------------------------------------------------------------------------


def test_row_with_wrong_field_count_is_named(tmp_path: Path, staging: Path) -> None:
    # A quoted multi-line value before the bad row must not shift the row number.
    content = 'a,b,c\n1,"two\nlines",3\n4,5,6\n7,8\n9,10,11\n'
    with pytest.raises(ImportFileError) as caught:
        stage_file(write(tmp_path / "short.csv", content), staging, max_bytes=MAX)
    assert (caught.value.file, caught.value.row) == ("short.csv", 3)
    assert caught.value.details["fields"] == 2
    assert staged_files(staging) == []


def test_extra_field_deep_in_a_file_leaves_nothing_staged(tmp_path: Path, staging: Path) -> None:
    rows = "".join(f"{i},x\n" for i in range(1, 3001))
    content = "a,b\n" + rows + "3001,x,EXTRA\n"
    with pytest.raises(ImportFileError) as caught:
        stage_file(write(tmp_path / "long.csv", content), staging, max_bytes=MAX, batch_rows=100)
    assert caught.value.row == 3001
    assert "EXTRA" not in caught.value.message
    assert staged_files(staging) == []


@pytest.mark.parametrize("content", [b"", b"\n\n  \n", b"\xef\xbb\xbf"])
def test_empty_file_without_header(tmp_path: Path, staging: Path, content: bytes) -> None:
    with pytest.raises(ImportFileError, match="empty") as caught:
        stage_file(write(tmp_path / "empty.csv", content), staging, max_bytes=MAX)
    assert caught.value.file == "empty.csv"
    assert staged_files(staging) == []


@pytest.mark.parametrize("content", ["a,b,c\n", "a,b,c", "\ufeffa,b,c\r\n\r\n"])
def test_header_without_data_rows(tmp_path: Path, staging: Path, content: str) -> None:
    with pytest.raises(ImportFileError, match="no data rows") as caught:
        stage_file(write(tmp_path / "header.csv", content), staging, max_bytes=MAX)
    assert caught.value.file == "header.csv"
    assert staged_files(staging) == []


def test_duplicate_column_names_after_stripping(tmp_path: Path, staging: Path) -> None:
    with pytest.raises(ImportFileError, match="same name") as caught:
        stage_file(write(tmp_path / "dup.csv", "姓名,age, 姓名\n1,2,3\n"), staging, max_bytes=MAX)
    assert (caught.value.file, caught.value.column) == ("dup.csv", "姓名")
    assert staged_files(staging) == []


def test_empty_column_name(tmp_path: Path, staging: Path) -> None:
    with pytest.raises(ImportFileError, match="empty name") as caught:
        stage_file(write(tmp_path / "noname.csv", "a, ,c\n1,2,3\n"), staging, max_bytes=MAX)
    assert caught.value.details["position"] == 2


def test_file_over_max_bytes_is_refused_before_reading(tmp_path: Path, staging: Path) -> None:
    # Unreadable content proves the size is checked first.
    path = write(tmp_path / "big.csv", b"\xff\xfe" * 600)
    with pytest.raises(TooLargeError) as caught:
        stage_file(path, staging, max_bytes=1000)
    assert caught.value.details == {"file": "big.csv", "bytes": 1200, "max_bytes": 1000}
    assert staged_files(staging) == []


@pytest.mark.parametrize("name", ["data.xls", "data.json", "data", "data.csv.gz"])
def test_unknown_extension_is_invalid_input(tmp_path: Path, staging: Path, name: str) -> None:
    path = write(tmp_path / name, "a\n1\n")
    with pytest.raises(InvalidInputError, match="unsupported file type") as caught:
        stage_file(path, staging, max_bytes=MAX)
    assert not isinstance(caught.value, ImportFileError)


def test_missing_file_is_invalid_input(tmp_path: Path, staging: Path) -> None:
    with pytest.raises(InvalidInputError, match="no such file"):
        stage_file(tmp_path / "absent.csv", staging, max_bytes=MAX)


def test_staging_dir_is_created_and_each_import_gets_its_own_directory(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "a\n1\n")
    staging = tmp_path / "new" / "staging"
    first = stage_file(path, staging, max_bytes=MAX)
    second = stage_file(path, staging, max_bytes=MAX)
    assert first.files[0].parent != second.files[0].parent
    assert first.files[0].parent.parent == staging


def test_a_long_cell_in_the_sample_is_read(tmp_path: Path, staging: Path) -> None:
    long_text = "长" * (1024 * 1024)  # 3 MiB in UTF-8, longer than a default read block
    result = stage_file(
        write(tmp_path / "long.csv", f"id,text\n1,{long_text}\n2,x\n"), staging, max_bytes=MAX
    )
    assert column(result, "text") == [long_text, "x"]


def test_a_row_over_the_block_limit_is_refused(tmp_path: Path, staging: Path) -> None:
    path = tmp_path / "huge.csv"
    with open(path, "wb") as handle:
        handle.write(
            b"id,text\n" + b"1,x\n" * 1000 + b'2,"unterminated' + b"y" * (17 * 1024**2) + b"\n"
        )
    with pytest.raises(ImportFileError, match="longer than") as caught:
        stage_file(path, staging, max_bytes=MAX, batch_rows=100)
    assert caught.value.file == "huge.csv"
    assert staged_files(staging) == []
