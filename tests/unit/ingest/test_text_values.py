"""Inference of column types from text and parsing of text into them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest

from countyos.ingest.text_values import (
    TextParseError,
    first_unparsable_index,
    infer_text_type,
    parse_text,
)


def infer(values: list[str | None]) -> pa.DataType | None:
    return infer_text_type(pa.array(values, type=pa.string()))


@pytest.mark.parametrize(
    "values",
    [
        ["110101199003077777", "110101199003071234"],  # 18-digit resident IDs, all digits
        ["6222021234567890123"],  # bank card number
        ["1234567890123456"],  # 16 digits: no longer exact in float64
        ["007", "12"],  # a leading zero anywhere keeps the codes as text
        ["0123.5"],
        ["-0"],
        ["1,234"],
        ["2024-02-30"],  # not a real date
        ["true", "1"],
        ["2024-01-05 08:00:00", "2024-01-05 08:00:00+08:00"],  # naive and zoned mixed
    ],
)
def test_values_that_would_lose_information_stay_strings(values: list[str]) -> None:
    assert infer(values) == pa.string()


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["1", "-2", "123456789012345", None, ""], pa.int64()),
        (["1", "2.50", "-.5", "1e-3", "0.1"], pa.float64()),
        (["TRUE", "false", "True"], pa.bool_()),
        (["2024-01-05", "2024/1/6", "2024.01.07", "2024年1月8日"], pa.date32()),
        (
            ["2024-01-05 08:00", "2024-01-06T09:30:01.123456", "2024/1/7 7:05:00"],
            pa.timestamp("us"),
        ),
        (["2024-01-05T08:00:00Z", "2024-01-06 09:30:00+08:00"], pa.timestamp("us", tz="UTC")),
        ([" 12 ", "13"], pa.int64()),
    ],
)
def test_inference_finds_the_narrowest_type(values: list[str], expected: pa.DataType) -> None:
    assert infer(values) == expected


def test_blank_column_has_no_type_yet() -> None:
    assert infer([None, "", "   "]) is None


def test_zoned_timestamps_are_converted_to_utc() -> None:
    parsed = parse_text(
        pa.array(["2024-01-05 08:30:00+08:00"]), pa.timestamp("us", tz="UTC"), strict=True
    )
    assert parsed[0].as_py() == dt.datetime(2024, 1, 5, 0, 30, tzinfo=dt.timezone.utc)


def test_strict_int_parsing_rejects_leading_zeros_but_override_accepts_them() -> None:
    values = pa.array(["007", "+5", "1,234"])
    with pytest.raises(TextParseError):
        parse_text(values, pa.int64(), strict=True)
    assert parse_text(values, pa.int64(), strict=False).to_pylist() == [7, 5, 1234]


def test_string_parsing_keeps_the_text_exactly() -> None:
    values = pa.array([" 007 ", "1.50", None, ""])
    assert parse_text(values, pa.string(), strict=True).to_pylist() == [" 007 ", "1.50", None, ""]


def test_lenient_booleans_and_compact_dates() -> None:
    assert parse_text(
        pa.array(["是", "否", "Y", "0", None]), pa.bool_(), strict=False
    ).to_pylist() == [
        True,
        False,
        True,
        False,
        None,
    ]
    assert parse_text(pa.array(["20240105"]), pa.date32(), strict=False).to_pylist() == [
        dt.date(2024, 1, 5)
    ]
    with pytest.raises(TextParseError):
        parse_text(pa.array(["20240105"]), pa.date32(), strict=True)


def test_decimal_override_refuses_to_round() -> None:
    dtype = pa.decimal128(10, 2)
    assert parse_text(pa.array(["1,234.5", "3", "-0.01"]), dtype, strict=False).to_pylist() == [
        Decimal("1234.50"),
        Decimal("3.00"),
        Decimal("-0.01"),
    ]
    for bad in ("1.555", "123456789.1", "abc"):
        with pytest.raises(TextParseError):
            parse_text(pa.array([bad]), dtype, strict=False)


def test_first_unparsable_index_finds_the_first_bad_value() -> None:
    values = pa.array(["1"] * 1000 + ["x"] + ["2"] * 500 + ["y"])
    assert first_unparsable_index(values, pa.int64(), strict=True) == 1000
    assert first_unparsable_index(pa.array(["1", "2"]), pa.int64(), strict=True) is None
