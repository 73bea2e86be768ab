"""Typed values (Parquet columns, database rows) brought to Iceberg-compatible Arrow types.

Owns the mapping of any Arrow type to the one an import stages (``large_string`` -> string,
small integers -> int32, ``ns`` timestamps -> ``us``, zoned timestamps -> UTC, nested values ->
JSON text, binary -> base64 text, null -> string), the matching value conversion, casts for user
overrides of typed columns, and Python values from a database driver to Arrow arrays. Never reads
files or databases and never quotes values in errors.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import uuid
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from countyos.ingest.text_values import TextParseError, first_failing_index, parse_text
from countyos.ingest.types import (
    DATE,
    FLOAT64,
    INT32,
    INT64,
    MAX_DECIMAL_PRECISION,
    STRING,
    TIMESTAMP,
    TIMESTAMPTZ,
)


class ValueConversionError(ValueError):
    """Some value does not fit the target type (the caller finds and names the row)."""


def _is_string_like(dtype: pa.DataType) -> bool:
    return (
        pa.types.is_string(dtype)
        or pa.types.is_large_string(dtype)
        or pa.types.is_string_view(dtype)
    )


def _is_binary_like(dtype: pa.DataType) -> bool:
    return (
        pa.types.is_binary(dtype)
        or pa.types.is_large_binary(dtype)
        or pa.types.is_fixed_size_binary(dtype)
        or pa.types.is_binary_view(dtype)
    )


def _is_nested(dtype: pa.DataType) -> bool:
    return pa.types.is_nested(dtype) or pa.types.is_union(dtype)


def iceberg_type(dtype: pa.DataType) -> pa.DataType:
    """The Iceberg-compatible type a column of ``dtype`` is staged as."""
    if isinstance(dtype, pa.ExtensionType):
        return iceberg_type(dtype.storage_type)
    if pa.types.is_dictionary(dtype):
        return iceberg_type(dtype.value_type)
    if pa.types.is_boolean(dtype):
        return pa.bool_()
    if pa.types.is_integer(dtype):
        if dtype.bit_width <= 16 or dtype == pa.int32():
            return INT32
        if dtype == pa.uint64():
            return pa.decimal128(20, 0)
        return INT64
    if pa.types.is_floating(dtype):
        return FLOAT64
    if pa.types.is_decimal(dtype):
        if dtype.precision <= MAX_DECIMAL_PRECISION:
            return pa.decimal128(dtype.precision, dtype.scale)
        return STRING
    if pa.types.is_date(dtype):
        return DATE
    if pa.types.is_timestamp(dtype):
        return TIMESTAMP if dtype.tz is None else TIMESTAMPTZ
    return STRING  # strings, binary (base64), time, duration, nested (JSON), null


def json_default(value: Any) -> Any:
    """``json.dumps`` fallback for values Arrow and database drivers produce."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (uuid.UUID, set, frozenset)):
        return str(value) if isinstance(value, uuid.UUID) else sorted(value, key=str)
    return str(value)


def value_text(value: Any) -> str | None:
    """The text a Python value is staged as in a string column."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, default=json_default)
    return str(value)


def _to_text_array(array: pa.Array) -> pa.Array:
    dtype = array.type
    if _is_string_like(dtype):
        return pc.cast(array, STRING)
    if pa.types.is_null(dtype):
        return pa.nulls(len(array), STRING)
    if _is_binary_like(dtype) or _is_nested(dtype) or pa.types.is_duration(dtype):
        return pa.array([value_text(value) for value in array.to_pylist()], type=STRING)
    return pc.cast(array, STRING)


def normalize_array(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Convert an Arrow array to its ``iceberg_type`` without losing values (except sub-µs)."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    dtype = array.type
    if isinstance(dtype, pa.ExtensionType):
        array = array.storage
        dtype = array.type
    if pa.types.is_dictionary(dtype):
        array = array.dictionary_decode()
        dtype = array.type
    target = iceberg_type(dtype)
    if target == STRING:
        return _to_text_array(array)
    if dtype == target:
        return array
    if pa.types.is_timestamp(dtype):
        # Units finer than microseconds are truncated: Iceberg stores microseconds.
        return pc.cast(array, target, safe=False)
    return pc.cast(array, target, safe=True)


def _cast_typed(array: pa.Array, target: pa.DataType) -> pa.Array:
    """Cast a normalised (Iceberg-typed) array to an override type, refusing lossy casts."""
    source = array.type
    if source == target:
        return array
    if source == STRING:
        return parse_text(array, target, strict=False)
    if target == STRING:
        return pc.cast(array, STRING)
    if pa.types.is_decimal(target) and pa.types.is_floating(source):
        # Through the shortest text of each float, so 1.25 never silently becomes 1.2.
        return parse_text(pc.cast(array, STRING), target, strict=False)
    if pa.types.is_decimal(target) and pa.types.is_integer(source):
        array = pc.cast(array, pa.decimal128(MAX_DECIMAL_PRECISION, target.scale), safe=True)
    return pc.cast(array, target, safe=True)


def convert_typed_array(array: pa.Array, target: pa.DataType) -> pa.Array:
    """Convert a typed Arrow column to an override type.

    Raises:
        ValueConversionError: Some value does not fit ``target`` (or the cast is not supported).
    """
    normalized = normalize_array(array)
    try:
        return _cast_typed(normalized, target)
    except (TextParseError, pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise ValueConversionError("value does not fit the type") from exc


def first_unconvertible_index(array: pa.Array, target: pa.DataType) -> int | None:
    """Index of the first value ``convert_typed_array`` rejects, or ``None``."""
    normalized = normalize_array(array)

    def fails(start: int, stop: int) -> bool:
        try:
            _cast_typed(normalized.slice(start, stop - start), target)
        except (TextParseError, pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            return True
        return False

    return first_failing_index(len(normalized), fails)


def _int_to_bool(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        if value not in (0, 1):
            raise ValueConversionError("an integer other than 0 or 1 is not a boolean")
        return bool(value)
    return value


def _values_to_array(values: Sequence[Any], target: pa.DataType) -> pa.Array:
    if target == STRING:
        return pa.array([value_text(value) for value in values], type=STRING)
    if any(isinstance(value, str) for value in values):
        # Dynamically typed stores (SQLite) may hold text in a typed column: parse it leniently.
        texts = pa.array([value_text(value) for value in values], type=STRING)
        return parse_text(texts, target, strict=False)
    if target == FLOAT64:
        values = [float(value) if isinstance(value, decimal.Decimal) else value for value in values]
    elif target == pa.bool_():
        # Stores without a boolean type (SQLite, MySQL) hold 0 and 1.
        values = [_int_to_bool(value) for value in values]
    elif pa.types.is_integer(target) or pa.types.is_decimal(target):
        if any(isinstance(value, float) for value in values):
            # A float in an integer or decimal column converts only through its exact text.
            texts = pa.array([value_text(value) for value in values], type=STRING)
            return parse_text(texts, target, strict=False)
    return pa.array(values, type=target)


def python_values_to_array(values: Sequence[Any], target: pa.DataType) -> pa.Array:
    """Build an Arrow array of ``target`` from Python values (as a database driver returns).

    Raises:
        ValueConversionError: Some value does not fit ``target``.
    """
    try:
        return _values_to_array(values, target)
    except (
        TextParseError,
        pa.ArrowInvalid,
        pa.ArrowTypeError,
        TypeError,
        OverflowError,
        ValueError,
    ) as exc:
        raise ValueConversionError("value does not fit the type") from exc


def first_unconvertible_value(values: Sequence[Any], target: pa.DataType) -> int | None:
    """Index of the first Python value ``python_values_to_array`` rejects, or ``None``."""

    def fails(start: int, stop: int) -> bool:
        try:
            python_values_to_array(values[start:stop], target)
        except ValueConversionError:
            return True
        return False

    return first_failing_index(len(values), fails)
