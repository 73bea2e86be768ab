"""Typing of text values: inference of a column type from strings, and parsing strings to it.

Text sources (CSV, JSON Lines, XLSX cells rendered as text) hand columns of strings here.
Inference is deliberately conservative so no information is lost: values with leading zeros
(``007``), integers longer than 15 digits (resident ID numbers, bank cards) and anything not
plainly a number, boolean, date or timestamp stay strings. Parsing has two modes: *strict* for
inferred types (exactly the forms inference accepts) and *lenient* for user overrides (also
``+5``, ``1,234``, ``20240105``, ``是/否``...). Works on whole Arrow arrays with vectorised
kernels; never raises an error quoting a value, never does I/O.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from countyos.ingest.types import (
    BOOL,
    DATE,
    FLOAT64,
    INT64,
    STRING,
    TIMESTAMP,
    TIMESTAMPTZ,
)

#: Cell texts CSV readers treat as missing (besides the empty cell).
NULL_TOKENS: tuple[str, ...] = ("", "NULL", "null", "N/A", "n/a", "#N/A")

# Inferred integers: no sign '+', no leading zeros, at most 15 digits (exact in float64, and
# shorter than ID and card numbers, which must stay text).
_INT_RE = r"^(0|-?[1-9][0-9]{0,14})$"
# Inferred floats: such an integer, or a decimal with a point and/or an exponent whose integer
# part has no leading zeros.
_DECIMAL_RE = r"^-?((0|[1-9][0-9]*)\.[0-9]*|\.[0-9]+|(0|[1-9][0-9]*)(\.[0-9]*)?[eE][+-]?[0-9]+)$"
_FLOAT_RE = _INT_RE + "|" + _DECIMAL_RE  # one regex pass instead of two
_DATE_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_TIME_PART = r"[ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
_TIMESTAMP_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(" + _TIME_PART + r")?$"
_TIMESTAMPTZ_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}" + _TIME_PART + r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)$"

_LENIENT_TRUE = ("true", "t", "yes", "y", "1", "是", "对")
_LENIENT_FALSE = ("false", "f", "no", "n", "0", "否", "错")

_INFERENCE_ORDER = (INT64, FLOAT64, BOOL, DATE, TIMESTAMP, TIMESTAMPTZ)
_HEAD = 256


class TextParseError(ValueError):
    """Some value of the array does not fit the type (which one is found by the caller)."""


def _blank_to_null(values: pa.Array) -> pa.Array:
    trimmed = pc.utf8_trim_whitespace(values)
    blank = pc.equal(trimmed, "")
    if not pc.any(blank).as_py():
        return trimmed
    return pc.if_else(blank, pa.scalar(None, STRING), trimmed)


def _all_true(mask: pa.Array) -> bool:
    # Nulls are skipped; an array without valid values passes.
    return pc.all(mask).as_py() is not False


def _require(values: pa.Array, pattern: str) -> None:
    if not _all_true(pc.match_substring_regex(values, pattern)):
        raise TextParseError("value does not match the expected form")


def _normalise_datetime_text(values: pa.Array, *, compact_dates: bool) -> pa.Array:
    """Rewrite ``2024/1/5``, ``2024.01.05``, ``2024年1月5日``, ``2024-01-05 8:05`` to ISO form."""
    out = pc.replace_substring_regex(
        values, r"^([0-9]{4})[/.年]([0-9]{1,2})[/.月]([0-9]{1,2})日?", r"\1-\2-\3"
    )
    if compact_dates:
        out = pc.replace_substring_regex(out, r"^([0-9]{4})([0-9]{2})([0-9]{2})$", r"\1-\2-\3")
    out = pc.replace_substring_regex(out, r"^([0-9]{4})-([0-9])-", r"\1-0\2-")
    out = pc.replace_substring_regex(out, r"^([0-9]{4}-[0-9]{2})-([0-9])($|[ T])", r"\1-0\2\3")
    return pc.replace_substring_regex(out, r"^([0-9]{4}-[0-9]{2}-[0-9]{2}[ T])([0-9]):", r"\10\2:")


def _cast(values: pa.Array, dtype: pa.DataType) -> pa.Array:
    try:
        return pc.cast(values, dtype, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise TextParseError("value does not parse") from exc


def _parse_int(values: pa.Array, dtype: pa.DataType, strict: bool) -> pa.Array:
    if strict:
        _require(values, _INT_RE)
        return _cast(values, dtype)
    cleaned = pc.replace_substring_regex(values, r"^\+|,", "")
    _require(cleaned, r"^-?[0-9]+$")
    return _cast(cleaned, dtype)


def _parse_float(values: pa.Array, strict: bool) -> pa.Array:
    if strict:
        _require(values, _FLOAT_RE)
        return _cast(values, FLOAT64)
    return _cast(pc.replace_substring_regex(values, r"^\+|,", ""), FLOAT64)


def _parse_bool(values: pa.Array, strict: bool) -> pa.Array:
    lowered = pc.utf8_lower(values)
    true_set = ("true",) if strict else _LENIENT_TRUE
    false_set = ("false",) if strict else _LENIENT_FALSE
    is_true = pc.is_in(lowered, value_set=pa.array(true_set))
    is_false = pc.is_in(lowered, value_set=pa.array(false_set))
    present = pc.is_valid(lowered)
    if not _all_true(pc.or_(pc.invert(present), pc.or_(is_true, is_false))):
        raise TextParseError("value is not a boolean")
    return pc.if_else(present, is_true, pa.scalar(None, BOOL))


def _parse_temporal(values: pa.Array, dtype: pa.DataType, strict: bool) -> pa.Array:
    pattern = {DATE: _DATE_RE, TIMESTAMP: _TIMESTAMP_RE, TIMESTAMPTZ: _TIMESTAMPTZ_RE}[dtype]
    if not _all_true(pc.match_substring_regex(values, pattern)):
        # Not all ISO already: rewrite the other common forms (a few regex passes), check again.
        values = _normalise_datetime_text(values, compact_dates=not strict)
        _require(values, pattern)
    return _cast(values, dtype)


def _parse_decimal(values: pa.Array, dtype: pa.DataType) -> pa.Array:
    cleaned = pc.replace_substring_regex(values, r"^\+|,", "")
    _require(cleaned, r"^-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$")
    return _cast(cleaned, dtype)


def parse_text(values: pa.Array, dtype: pa.DataType, *, strict: bool) -> pa.Array:
    """Parse an array of strings into ``dtype``.

    Args:
        values: Strings (nulls allowed). For non-string types surrounding whitespace is ignored
            and blank values are null.
        dtype: An import column type (see ``countyos.ingest.types``).
        strict: Accept only the forms inference produces (for inferred columns); otherwise the
            lenient forms users expect of an override.

    Returns:
        An array of ``dtype`` of the same length. For ``string`` the values are kept unchanged.

    Raises:
        TextParseError: Some value does not fit (the error names no value).
    """
    if values.type != STRING:
        values = pc.cast(values, STRING)
    if dtype == STRING:
        return values
    cleaned = _blank_to_null(values)
    if pa.types.is_integer(dtype):
        return _parse_int(cleaned, dtype, strict)
    if dtype == FLOAT64:
        return _parse_float(cleaned, strict)
    if dtype == BOOL:
        return _parse_bool(cleaned, strict)
    if dtype in (DATE, TIMESTAMP, TIMESTAMPTZ):
        return _parse_temporal(cleaned, dtype, strict)
    if pa.types.is_decimal(dtype) and not strict:
        return _parse_decimal(cleaned, dtype)
    raise ValueError(f"no text parser for type {dtype}")


def fits(values: pa.Array, dtype: pa.DataType) -> bool:
    """Whether every value of a string array parses strictly as ``dtype``."""
    try:
        parse_text(values, dtype, strict=True)
    except TextParseError:
        return False
    return True


def infer_text_type(values: pa.Array) -> pa.DataType | None:
    """The narrowest type that holds every value of a string array.

    Tries int64, float64, bool, date, timestamp and timestamptz (all values must fit one) and
    falls back to string.

    Returns:
        The type, or ``None`` when the array holds no non-blank value (the caller decides).
    """
    if values.type != STRING:
        values = pc.cast(values, STRING)
    present = _blank_to_null(values).drop_null()
    if len(present) == 0:
        return None
    head = present.slice(0, _HEAD)
    for dtype in _INFERENCE_ORDER:
        if fits(head, dtype) and (len(present) <= _HEAD or fits(present, dtype)):
            return dtype
    return STRING


def first_failing_index(length: int, fails: Callable[[int, int], bool]) -> int | None:
    """Index of the first element on which an element-wise conversion fails, by bisection.

    Args:
        length: Number of elements.
        fails: ``fails(start, stop)`` is True when converting elements ``start:stop`` fails.

    Returns:
        The 0-based index, or ``None`` if converting all elements succeeds.
    """
    if length == 0 or not fails(0, length):
        return None
    low, high = 0, length  # the first failure lies in [low, high)
    while high - low > 1:
        middle = (low + high) // 2
        if fails(low, middle):
            high = middle
        else:
            low = middle
    return low


def first_unparsable_index(values: pa.Array, dtype: pa.DataType, *, strict: bool) -> int | None:
    """Index of the first value of ``values`` that ``parse_text`` rejects, or ``None``."""

    def fails(start: int, stop: int) -> bool:
        try:
            parse_text(values.slice(start, stop - start), dtype, strict=strict)
        except TextParseError:
            return True
        return False

    return first_failing_index(len(values), fails)
