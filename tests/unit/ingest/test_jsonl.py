"""JSON Lines imports: scalar typing, nested values as JSON text, late keys, bad lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from countyos.errors import ImportFileError
from countyos.ingest import stage_file

from .conftest import MAX, column, read_staged, staged_files


def write_lines(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def test_scalars_are_typed_and_nested_values_become_json_text(
    tmp_path: Path, staging: Path
) -> None:
    lines = [
        json.dumps(
            {
                "名称": "阳明街道",
                "人口": 1200,
                "面积": 12.5,
                "启用": True,
                "坐标": {"lat": 30.05, "lon": 121.15},
                "标签": ["a", "b"],
            },
            ensure_ascii=False,
        ),
        json.dumps(
            {"名称": "梨洲街道", "人口": 800, "面积": 7, "启用": False, "坐标": None, "标签": []},
            ensure_ascii=False,
        ),
    ]
    result = stage_file(write_lines(tmp_path / "towns.jsonl", lines), staging, max_bytes=MAX)
    assert result.source_format == "jsonl"
    assert result.inferred_types == {
        "名称": "string",
        "人口": "int64",
        "面积": "float64",
        "启用": "bool",
        "坐标": "string",
        "标签": "string",
    }
    table = read_staged(result)
    assert json.loads(table.column("坐标")[0].as_py()) == {"lat": 30.05, "lon": 121.15}
    assert table.column("坐标")[1].as_py() is None
    assert json.loads(table.column("标签")[1].as_py()) == []
    assert table.column("面积").to_pylist() == [12.5, 7.0]


def test_numbers_keep_their_written_form_when_the_column_is_text(
    tmp_path: Path, staging: Path
) -> None:
    lines = ['{"v": 1.50}', '{"v": "abc"}', '{"v": 110101199003077777}']
    result = stage_file(write_lines(tmp_path / "v.ndjson", lines), staging, max_bytes=MAX)
    assert column(result, "v") == ["1.50", "abc", "110101199003077777"]


def test_a_key_first_seen_in_a_later_block_is_null_before(tmp_path: Path, staging: Path) -> None:
    lines = ['{"a": 1}', '{"a": 2}', '{"a": 3, "b": "x"}', '{"b": "y", "a": 4}']
    result = stage_file(
        write_lines(tmp_path / "late.jsonl", lines), staging, max_bytes=MAX, batch_rows=2
    )
    assert result.schema.names == ["a", "b"]
    assert column(result, "b") == [None, None, "x", "y"]
    assert column(result, "a") == [1, 2, 3, 4]


def test_widening_to_string_rereads_the_source(tmp_path: Path, staging: Path) -> None:
    lines = ['{"a": 1.50}', '{"a": 2.25}', '{"a": "n/a-code"}']
    result = stage_file(
        write_lines(tmp_path / "w.jsonl", lines), staging, max_bytes=MAX, batch_rows=1
    )
    assert column(result, "a") == ["1.50", "2.25", "n/a-code"]


def test_gbk_json_lines(tmp_path: Path, staging: Path) -> None:
    lines = ['{"姓名": "刘䶮"}', '{"姓名": "张三"}']
    result = stage_file(write_lines(tmp_path / "g.jsonl", lines, "gb18030"), staging, max_bytes=MAX)
    assert result.encoding == "gb18030"
    assert column(result, "姓名") == ["刘䶮", "张三"]


def test_blank_lines_are_skipped_and_rows_count_records(tmp_path: Path, staging: Path) -> None:
    lines = ['{"a": 1}', "", '{"a": 2}', "   ", '{"a": "x", "b": }']
    with pytest.raises(ImportFileError, match="not valid JSON") as caught:
        stage_file(write_lines(tmp_path / "bad.jsonl", lines), staging, max_bytes=MAX)
    assert caught.value.row == 3
    assert caught.value.details["line"] == 5
    assert staged_files(staging) == []


@pytest.mark.parametrize("line", ["[1, 2]", '"text"', "42"])
def test_a_line_that_is_not_an_object(tmp_path: Path, staging: Path, line: str) -> None:
    with pytest.raises(ImportFileError, match="not a JSON object") as caught:
        stage_file(write_lines(tmp_path / "x.jsonl", ['{"a": 1}', line]), staging, max_bytes=MAX)
    assert caught.value.row == 2


def test_repeated_key_in_one_object(tmp_path: Path, staging: Path) -> None:
    with pytest.raises(ImportFileError, match="repeats a key") as caught:
        stage_file(write_lines(tmp_path / "d.jsonl", ['{"a": 1, "a": 2}']), staging, max_bytes=MAX)
    assert caught.value.column == "a"


def test_deeply_nested_json_is_refused_not_crashing(tmp_path: Path, staging: Path) -> None:
    bomb = '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(ImportFileError) as caught:
        stage_file(write_lines(tmp_path / "deep.jsonl", [bomb]), staging, max_bytes=MAX)
    assert caught.value.row == 1
    assert staged_files(staging) == []


def test_override_mismatch_names_the_record(tmp_path: Path, staging: Path) -> None:
    lines = ['{"d": "2024-01-05"}', '{"d": "2024-01-06"}', '{"d": "not a date"}']
    with pytest.raises(ImportFileError) as caught:
        stage_file(
            write_lines(tmp_path / "o.jsonl", lines),
            staging,
            max_bytes=MAX,
            batch_rows=2,
            type_overrides={"d": "date"},
        )
    assert (caught.value.row, caught.value.column) == (3, "d")
    assert staged_files(staging) == []


def test_override_of_a_key_that_never_appears(tmp_path: Path, staging: Path) -> None:
    from countyos.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="'missing'"):
        stage_file(
            write_lines(tmp_path / "o.jsonl", ['{"a": 1}']),
            staging,
            max_bytes=MAX,
            type_overrides={"missing": "string"},
        )
    assert staged_files(staging) == []
