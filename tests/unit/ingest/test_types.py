"""User-facing type names, their Arrow types, and the widening join."""

from __future__ import annotations

import pyarrow as pa
import pytest

from countyos.errors import InvalidInputError
from countyos.ingest import TYPE_NAMES, parse_type_name, type_name
from countyos.ingest.types import is_iceberg_compatible, join_types, widening_is_lossless


@pytest.mark.parametrize("name", [n for n in TYPE_NAMES if n != "decimal(p,s)"])
def test_every_type_name_round_trips(name: str) -> None:
    dtype = parse_type_name(name)
    assert type_name(dtype) == name
    assert is_iceberg_compatible(dtype)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("decimal(12,2)", pa.decimal128(12, 2)),
        (" DECIMAL( 38 , 0 ) ", pa.decimal128(38, 0)),
        ("numeric(5)", pa.decimal128(5, 0)),
        ("Int", pa.int64()),
        ("double", pa.float64()),
        ("TEXT", pa.string()),
        ("datetime", pa.timestamp("us")),
    ],
)
def test_type_names_accept_aliases_and_spacing(text: str, expected: pa.DataType) -> None:
    assert parse_type_name(text) == expected


@pytest.mark.parametrize(
    "bad",
    ["varchar2", "decimal(0,0)", "decimal(39,2)", "decimal(5,6)", "decimal(a,b)", "", "int128"],
)
def test_unknown_or_out_of_range_type_names_are_invalid_input(bad: str) -> None:
    with pytest.raises(InvalidInputError):
        parse_type_name(bad)


def test_no_nanosecond_large_or_null_types_are_iceberg_compatible() -> None:
    for dtype in (
        pa.timestamp("ns"),
        pa.large_string(),
        pa.null(),
        pa.list_(pa.int64()),
        pa.float32(),
    ):
        assert not is_iceberg_compatible(dtype)


def test_join_widens_int_to_float_to_string() -> None:
    assert join_types(pa.int64(), pa.float64()) == pa.float64()
    assert join_types(pa.float64(), pa.int64()) == pa.float64()
    assert join_types(pa.float64(), pa.string()) == pa.string()
    assert join_types(pa.date32(), pa.timestamp("us")) == pa.timestamp("us")
    assert join_types(pa.bool_(), pa.int64()) == pa.string()
    assert join_types(None, pa.date32()) == pa.date32()
    assert join_types(pa.int64(), None) == pa.int64()


def test_only_exact_widenings_count_as_lossless() -> None:
    assert widening_is_lossless(pa.int64(), pa.float64())
    assert widening_is_lossless(None, pa.string())
    assert widening_is_lossless(pa.date32(), pa.timestamp("us"))
    assert not widening_is_lossless(pa.float64(), pa.string())
    assert not widening_is_lossless(pa.int64(), pa.string())
