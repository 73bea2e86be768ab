"""The column types an import produces, by the names users see and override.

Owns the mapping between user-facing type names (``string``, ``int64``, ``decimal(12,2)``, ...)
and the Arrow types staged into Parquet, the join ("widening") of inferred text types, and the
rule of which Arrow types are Iceberg-compatible. Pure functions over types: never looks at
values (see ``text_values`` and ``typed_values``) and never touches files.
"""

from __future__ import annotations

import re

import pyarrow as pa

from countyos.errors import InvalidInputError

#: The user-facing type names. ``decimal(p,s)`` stands for any precision 1..38 and scale 0..p.
#: ``int32`` appears for 32-bit integers of Parquet and database sources; ``timestamptz`` is a
#: timestamp with a zone, stored in UTC.
TYPE_NAMES: tuple[str, ...] = (
    "string",
    "int64",
    "int32",
    "float64",
    "bool",
    "date",
    "timestamp",
    "timestamptz",
    "decimal(p,s)",
)

STRING = pa.string()
INT64 = pa.int64()
INT32 = pa.int32()
FLOAT64 = pa.float64()
BOOL = pa.bool_()
DATE = pa.date32()
TIMESTAMP = pa.timestamp("us")
TIMESTAMPTZ = pa.timestamp("us", tz="UTC")
MAX_DECIMAL_PRECISION = 38

_SIMPLE_TYPES: dict[str, pa.DataType] = {
    "string": STRING,
    "int64": INT64,
    "int32": INT32,
    "float64": FLOAT64,
    "bool": BOOL,
    "date": DATE,
    "timestamp": TIMESTAMP,
    "timestamptz": TIMESTAMPTZ,
}

# Spellings people type for the same thing; the canonical name is what is shown back.
_ALIASES: dict[str, str] = {
    "str": "string",
    "text": "string",
    "varchar": "string",
    "int": "int64",
    "integer": "int64",
    "bigint": "int64",
    "long": "int64",
    "float": "float64",
    "double": "float64",
    "boolean": "bool",
    "date32": "date",
    "datetime": "timestamp",
}

_DECIMAL_RE = re.compile(r"^(?:decimal|numeric)\s*\(\s*(\d{1,3})\s*(?:,\s*(\d{1,3})\s*)?\)$")


def parse_type_name(name: str) -> pa.DataType:
    """The Arrow type for a user-facing type name.

    Args:
        name: A name from ``TYPE_NAMES`` (case-insensitive; a few aliases such as ``int``,
            ``double``, ``text`` are accepted), or ``decimal(p,s)`` with concrete numbers.

    Returns:
        The Iceberg-compatible Arrow type.

    Raises:
        InvalidInputError: The name is not a known type, or a decimal's precision/scale is out of
            range.
    """
    if not isinstance(name, str):
        raise InvalidInputError(f"a type name must be text, got {type(name).__name__}")
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[key]
    match = _DECIMAL_RE.match(key)
    if match:
        precision = int(match.group(1))
        scale = int(match.group(2) or 0)
        if not 1 <= precision <= MAX_DECIMAL_PRECISION:
            raise InvalidInputError(
                f"decimal precision must be between 1 and {MAX_DECIMAL_PRECISION}, got {precision}"
            )
        if scale > precision:
            raise InvalidInputError(
                f"decimal scale must not exceed its precision, got decimal({precision},{scale})"
            )
        return pa.decimal128(precision, scale)
    raise InvalidInputError(
        f"unknown type name {name.strip()!r}; known types: {', '.join(TYPE_NAMES)}"
    )


def type_name(dtype: pa.DataType | None) -> str:
    """The user-facing name of an Iceberg-compatible Arrow type (``None`` = no values: string).

    Raises:
        ValueError: The type is not one an import produces (a bug in the caller).
    """
    if dtype is None:
        return "string"
    if pa.types.is_decimal(dtype):
        return f"decimal({dtype.precision},{dtype.scale})"
    for name, candidate in _SIMPLE_TYPES.items():
        if dtype == candidate:
            return name
    raise ValueError(f"not an import column type: {dtype}")


def is_iceberg_compatible(dtype: pa.DataType) -> bool:
    """True for the Arrow types an import may stage (the ones ``type_name`` knows)."""
    if pa.types.is_decimal128(dtype):
        return 1 <= dtype.precision <= MAX_DECIMAL_PRECISION
    return any(dtype == candidate for candidate in _SIMPLE_TYPES.values())


# Order of inferred text types from narrow to wide, used by ``join_types``.
_NUMERIC_CHAIN = (INT64, FLOAT64)


def join_types(current: pa.DataType | None, other: pa.DataType | None) -> pa.DataType | None:
    """The narrowest inferred type that holds values of both types (``None`` = no values yet).

    int64 and float64 join to float64; date and timestamp join to timestamp; any other pair of
    different types joins to string.
    """
    if current is None:
        return other
    if other is None or current == other:
        return current
    if current in _NUMERIC_CHAIN and other in _NUMERIC_CHAIN:
        return FLOAT64
    if {current, other} == {DATE, TIMESTAMP}:
        return TIMESTAMP
    return STRING


def widening_is_lossless(old: pa.DataType | None, new: pa.DataType) -> bool:
    """True if values already converted to ``old`` convert exactly to ``new``.

    Inferred int64 values have at most 15 digits, so they are exact in float64; dates become
    timestamps at midnight; a column with no values yet takes any type. A widening to string is
    never lossless here: the source text must be re-read so that ``1.50`` stays ``1.50``.
    """
    if old is None or old == new:
        return True
    return (old == INT64 and new == FLOAT64) or (old == DATE and new == TIMESTAMP)
