"""Arrow schemas the lake accepts, and how a new dataset version's schema may differ from the last.

Owns the mapping from any Arrow type to the subset Iceberg (format v2) stores without loss of
meaning (`iceberg_compatible`), the cast of record batches to that subset (`cast_to_compatible`),
the check that a schema is ready to be committed, and the schema-evolution rule between versions
(columns may be added or reordered; never dropped, never retyped). Works on schemas only: it never
reads or writes files and never touches the Iceberg catalog. Error messages name columns and types,
never values.

What the lake requires of a committed schema (what `iceberg_compatible` produces):

- strings are ``string`` (not ``large_string``/``string_view``), binaries are ``binary``;
- integers are ``int32`` or ``int64`` (``int8``/``int16``/``uint8``/``uint16`` widen to ``int32``,
  ``uint32``/``uint64`` to ``int64``; a ``uint64`` above 2**63-1 cannot be stored);
- floats are ``float32`` or ``float64`` (``float16`` widens);
- timestamps are microseconds, ``timestamp[us]`` or ``timestamp[us, tz=UTC]`` (any time zone is the
  same instant in UTC; nanoseconds are truncated to microseconds by `cast_to_compatible`);
- times are ``time64[us]``, dates ``date32``, decimals ``decimal128`` (precision <= 38);
- dictionary columns become their value type, ``null`` columns become ``string``;
- lists are ``list<element: ...>``, maps ``map<key, value>``, structs keep their fields;
- durations, intervals and other types Iceberg has no equivalent for are refused.

Nullability is not part of the contract: every top-level column of a lake table is optional.
"""

from __future__ import annotations

import json
from typing import TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from countyos.errors import InvalidInputError

__all__ = [
    "cast_to_compatible",
    "check_commit_schema",
    "iceberg_compatible",
    "plan_evolution",
    "type_signature",
]

_DataT = TypeVar("_DataT", pa.Table, pa.RecordBatch)
_MAX_DECIMAL128_PRECISION = 38


def iceberg_compatible(schema: pa.Schema) -> pa.Schema:
    """Map an Arrow schema to the types the lake can store in Iceberg.

    Field and schema metadata are dropped (including Parquet field ids, which the lake assigns
    itself); column names, order and nullability are kept.

    Args:
        schema: Any Arrow schema, e.g. the one a CSV reader inferred.

    Returns:
        The schema to cast batches to (see `cast_to_compatible`) before writing Parquet files for
        `Lake.commit_version`. Applying it twice gives the same schema.

    Raises:
        InvalidInputError: A column has a type Iceberg cannot represent (e.g. a duration); the
            message names the column and its type.
    """
    fields = [
        pa.field(field.name, _compatible_type(field.type, field.name), nullable=field.nullable)
        for field in schema
    ]
    return pa.schema(fields)


def cast_to_compatible(data: _DataT) -> _DataT:
    """Cast a table or record batch to ``iceberg_compatible(data.schema)``.

    Sub-microsecond parts of timestamps and times are truncated; integers that do not fit their
    target (a ``uint64`` above 2**63-1) and decimals beyond 38 digits raise.

    Args:
        data: A ``pyarrow.Table`` or ``pyarrow.RecordBatch``.

    Returns:
        The same kind of object with the compatible schema (unchanged columns are not copied).

    Raises:
        InvalidInputError: A column type cannot be stored, or its values do not fit the target
            type; the message names the column, never a value.
    """
    target = iceberg_compatible(data.schema)
    columns = []
    for index, field in enumerate(target):
        column = data.column(index)
        if column.type != field.type:
            options = pc.CastOptions(field.type, allow_time_truncate=True)
            try:
                column = pc.cast(column, options=options)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
                raise InvalidInputError(
                    f"column '{field.name}': its values cannot be converted from "
                    f"{data.schema.field(index).type} to {field.type}",
                    details={"column": field.name},
                ) from error
        columns.append(column)
    if isinstance(data, pa.RecordBatch):
        return pa.RecordBatch.from_arrays(columns, schema=target)
    return pa.Table.from_arrays(columns, schema=target)


def type_signature(data_type: pa.DataType) -> str:
    """A canonical text for a type, ignoring nested field nullability and list/map field names.

    Two types with the same signature are stored identically by the lake; the signature of a
    type that is not `iceberg_compatible` differs from that of its compatible form.

    Args:
        data_type: An Arrow type.

    Returns:
        For example ``"int64"``, ``"list<string>"`` or ``'struct<"a": int32>'``.
    """
    if pa.types.is_list(data_type):
        return f"list<{type_signature(data_type.value_type)}>"
    if pa.types.is_map(data_type):
        return f"map<{type_signature(data_type.key_type)}, {type_signature(data_type.item_type)}>"
    if pa.types.is_struct(data_type):
        inner = ", ".join(
            f"{json.dumps(data_type.field(i).name, ensure_ascii=False)}: "
            f"{type_signature(data_type.field(i).type)}"
            for i in range(data_type.num_fields)
        )
        return f"struct<{inner}>"
    return str(data_type)


def check_commit_schema(schema: pa.Schema) -> None:
    """Check that a schema can be committed as a dataset version as it is.

    Args:
        schema: The schema given to `Lake.commit_version`.

    Raises:
        InvalidInputError: No columns; an empty column name; two column names equal ignoring
            case (SQL engines cannot tell them apart); or a column whose type is not already
            `iceberg_compatible` (the message says which column and the type to cast to).
    """
    if not isinstance(schema, pa.Schema):
        raise InvalidInputError("the schema of a dataset version must be a pyarrow.Schema")
    if len(schema) == 0:
        raise InvalidInputError("a dataset version needs at least one column")
    seen: dict[str, str] = {}
    for field in schema:
        if not field.name or not field.name.strip():
            raise InvalidInputError("a column name is empty")
        folded = field.name.casefold()
        if folded in seen:
            raise InvalidInputError(
                f"columns '{seen[folded]}' and '{field.name}' have the same name ignoring case",
                details={"column": field.name},
            )
        seen[folded] = field.name
        expected = _compatible_type(field.type, field.name)
        if type_signature(field.type) != type_signature(expected):
            raise InvalidInputError(
                f"column '{field.name}' has type {field.type}, which the lake does not store; "
                f"cast it to {expected} (see countyos.lake.iceberg_compatible)",
                details={"column": field.name},
            )


def plan_evolution(current: pa.Schema, new: pa.Schema, *, table: str) -> tuple[list[str], bool]:
    """Compare a table's current schema with the schema of its next version.

    Args:
        current: The table's current schema (as `Lake.schema` returns it).
        new: The schema of the version being committed (already checked).
        table: The table name, for messages.

    Returns:
        ``(added, reordered)``: the names of new columns in their order in ``new``, and whether
        the column order of ``new`` differs from the current order followed by the added columns.

    Raises:
        InvalidInputError: A current column is missing from ``new`` (dropping columns is not
            supported) or has another type in ``new``; the message names the column.
    """
    new_types = {field.name: field.type for field in new}
    for field in current:
        if field.name not in new_types:
            raise InvalidInputError(
                f"column '{field.name}' of table '{table}' is missing from the new version; "
                "dropping a column is not supported",
                details={"column": field.name},
            )
        before, after = type_signature(field.type), type_signature(new_types[field.name])
        if before != after:
            raise InvalidInputError(
                f"column '{field.name}' of table '{table}' changes type from {before} to {after}; "
                "changing a column's type is not supported",
                details={"column": field.name},
            )
    current_names = set(current.names)
    added = [name for name in new.names if name not in current_names]
    reordered = new.names != current.names + added
    return added, reordered


def _compatible_type(data_type: pa.DataType, column: str) -> pa.DataType:
    """The Iceberg-storable Arrow type for ``data_type`` (``column`` names it in errors)."""
    types = pa.types
    if isinstance(data_type, pa.ExtensionType):
        return _compatible_type(data_type.storage_type, column)
    if types.is_dictionary(data_type):
        return _compatible_type(data_type.value_type, column)
    if types.is_null(data_type):
        return pa.string()
    if types.is_boolean(data_type):
        return data_type
    if types.is_integer(data_type):
        if data_type.bit_width < 32 or data_type == pa.int32():
            return pa.int32()
        return pa.int64()
    if types.is_floating(data_type):
        return pa.float64() if data_type == pa.float64() else pa.float32()
    if types.is_decimal(data_type):
        if data_type.precision > _MAX_DECIMAL128_PRECISION:
            raise _unsupported(column, data_type, "more than 38 decimal digits")
        return pa.decimal128(data_type.precision, data_type.scale)
    if types.is_string(data_type) or types.is_large_string(data_type) or types.is_string_view(data_type):
        return pa.string()
    if types.is_fixed_size_binary(data_type):
        return data_type
    if types.is_binary(data_type) or types.is_large_binary(data_type) or types.is_binary_view(data_type):
        return pa.binary()
    if types.is_date(data_type):
        return pa.date32()
    if types.is_time(data_type):
        return pa.time64("us")
    if types.is_timestamp(data_type):
        return pa.timestamp("us", tz=None if data_type.tz is None else "UTC")
    if _is_list_like(data_type):
        value_field = data_type.value_field
        element = _compatible_type(value_field.type, column)
        return pa.list_(pa.field("element", element, nullable=value_field.nullable))
    if types.is_map(data_type):
        key = _compatible_type(data_type.key_type, column)
        item_field = data_type.item_field
        item = pa.field("value", _compatible_type(item_field.type, column), nullable=item_field.nullable)
        return pa.map_(key, item)
    if types.is_struct(data_type):
        children = [data_type.field(i) for i in range(data_type.num_fields)]
        if len({child.name for child in children}) != len(children):
            raise _unsupported(column, data_type, "two fields of the struct have the same name")
        return pa.struct(
            [pa.field(c.name, _compatible_type(c.type, column), nullable=c.nullable) for c in children]
        )
    raise _unsupported(column, data_type, "Iceberg has no such type")


def _is_list_like(data_type: pa.DataType) -> bool:
    types = pa.types
    checks = ("is_list", "is_large_list", "is_fixed_size_list", "is_list_view", "is_large_list_view")
    return any(getattr(types, name, lambda _t: False)(data_type) for name in checks)


def _unsupported(column: str, data_type: pa.DataType, reason: str) -> InvalidInputError:
    return InvalidInputError(
        f"column '{column}' has type {data_type}, which the lake cannot store ({reason})",
        details={"column": column},
    )
