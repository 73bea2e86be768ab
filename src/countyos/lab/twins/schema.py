"""Column descriptions of a twin and how each column is modelled.

Owns ``TwinColumn`` (what the catalog's classification says about a column), validation of the
column list against a real table, and the choice of model per column: ``identifier`` (fresh
fake values), ``key`` (fresh pseudonymous keys), ``categorical`` (frequencies) or ``numeric``
(quantiles; numbers, decimals, dates, times, durations).

Must not read values beyond what the choice needs (types, distinct counts) and must not touch
storage: it only inspects the Arrow tables handed to it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from countyos.errors import InvalidInputError

ROLES = ("identifier", "quasi_identifier", "entity_key", "measure", "dimension")
# detected types that make a column an identifier whatever its role (the catalog's classifier
# may detect other things too, e.g. "sex" or "birth_date": those are modelled like any column)
DETECTED_IDENTIFIERS = (
    "resident_id", "mobile", "uscc", "person_name", "address",
    "phone", "email", "license_plate", "enterprise_name", "id_document", "card_number",
)

KIND_IDENTIFIER = "identifier"
KIND_KEY = "key"
KIND_CATEGORICAL = "categorical"
KIND_NUMERIC = "numeric"

# integer measures and quasi-identifiers with at most this many distinct values are categorical
SMALL_INTEGER_CARDINALITY = 20
# integer dimensions with more distinct values than this are modelled as numbers
LARGE_DIMENSION_CARDINALITY = 1000

_BIRTH_NAME = re.compile(r"(birth|dob|born|出生)", re.IGNORECASE)
_SEX_NAME = re.compile(r"((^|_)(sex|gender)($|_)|性别)", re.IGNORECASE)


@dataclass(frozen=True)
class TwinColumn:
    """What the catalog knows about one column of a dataset.

    Attributes:
        name: Column name, as in the Arrow schema.
        role: ``identifier``, ``quasi_identifier``, ``entity_key``, ``measure`` or ``dimension``.
        detected: What the classifier recognised, or ``None``: ``resident_id``, ``mobile``,
            ``uscc``, ``person_name``, ``address`` (and the other ``DETECTED_IDENTIFIERS``) make
            the column an identifier whatever its role; other values (``sex``, ``birth_date``)
            only help to find the columns identifiers must agree with.
        key_domain: For keys: the entity the key names (``"person"``, ``"enterprise"``).
            Columns of one domain join across the twins of one builder.
    """

    name: str
    role: str
    detected: str | None
    key_domain: str | None = None


@dataclass(frozen=True)
class ColumnPlan:
    """How one column of one table is modelled (internal to the twins package)."""

    column: TwinColumn
    field: pa.Field
    kind: str

    @property
    def name(self) -> str:
        return self.column.name


def is_textual(data_type: pa.DataType) -> bool:
    """True for string-like Arrow types (string, large string, string view)."""
    return (
        pa.types.is_string(data_type)
        or pa.types.is_large_string(data_type)
        or pa.types.is_string_view(data_type)
    )


def value_type(data_type: pa.DataType) -> pa.DataType:
    """The type of the values: the dictionary's value type for dictionary columns."""
    return data_type.value_type if pa.types.is_dictionary(data_type) else data_type


def is_numeric_like(data_type: pa.DataType) -> bool:
    """True for types modelled by quantiles: numbers, decimals, dates, times, durations."""
    return (
        pa.types.is_integer(data_type)
        or pa.types.is_floating(data_type)
        or pa.types.is_decimal(data_type)
        or pa.types.is_temporal(data_type)
    )


def validate_columns(table: pa.Table, columns: Sequence[TwinColumn]) -> list[TwinColumn]:
    """Check that ``columns`` describe every column of ``table`` exactly once, in any order.

    Returns:
        The descriptions in the table's column order.

    Raises:
        InvalidInputError: a column is missing, unknown, described twice, or has an unknown
            role or detected type, or a key domain on a role that cannot carry one.
    """
    by_name: dict[str, TwinColumn] = {}
    for column in columns:
        if not isinstance(column, TwinColumn):
            raise InvalidInputError("columns must be TwinColumn descriptions")
        if column.name in by_name:
            raise InvalidInputError(f"column {column.name!r} is described twice")
        if column.role not in ROLES:
            raise InvalidInputError(
                f"column {column.name!r}: unknown role {column.role!r} (expected one of {', '.join(ROLES)})"
            )
        if column.detected is not None and (not isinstance(column.detected, str) or not column.detected.strip()):
            raise InvalidInputError(f"column {column.name!r}: detected must be a non-empty name or None")
        if column.key_domain is not None:
            if column.role not in ("entity_key", "identifier"):
                raise InvalidInputError(
                    f"column {column.name!r}: a key domain needs role entity_key or identifier"
                )
            if not isinstance(column.key_domain, str) or not column.key_domain.strip():
                raise InvalidInputError(f"column {column.name!r}: key domain must be a non-empty name")
        by_name[column.name] = column
    names = table.schema.names
    if len(set(names)) != len(names):
        raise InvalidInputError("the table has duplicate column names")
    missing = [name for name in names if name not in by_name]
    if missing:
        raise InvalidInputError(f"no description for column(s): {', '.join(missing)}")
    unknown = [name for name in by_name if name not in names]
    if unknown:
        raise InvalidInputError(f"described column(s) not in the table: {', '.join(unknown)}")
    return [by_name[name] for name in names]


def _distinct_count(column: pa.ChunkedArray) -> int:
    return len(pc.unique(column.drop_null()))


def choose_kind(column: TwinColumn, field: pa.Field, data: pa.ChunkedArray) -> str:
    """Choose how to model one column from its description, type and (for integers) cardinality.

    Raises:
        InvalidInputError: the column's type cannot be twinned (binary, nested types).
    """
    if column.key_domain is not None or column.role == "entity_key":
        return KIND_KEY
    if column.detected in DETECTED_IDENTIFIERS or column.role == "identifier":
        return KIND_IDENTIFIER
    data_type = value_type(field.type)
    if is_textual(data_type) or pa.types.is_boolean(data_type):
        return KIND_CATEGORICAL
    if pa.types.is_integer(data_type):
        distinct = _distinct_count(data)
        if column.role == "dimension":
            return KIND_CATEGORICAL if distinct <= LARGE_DIMENSION_CARDINALITY else KIND_NUMERIC
        return KIND_CATEGORICAL if distinct <= SMALL_INTEGER_CARDINALITY else KIND_NUMERIC
    if is_numeric_like(data_type):
        return KIND_NUMERIC
    raise InvalidInputError(f"column {column.name!r}: type {field.type} cannot be twinned")


def plan_table(table: pa.Table, columns: Sequence[TwinColumn]) -> list[ColumnPlan]:
    """Validate ``columns`` against ``table`` and choose a model for each column."""
    ordered = validate_columns(table, columns)
    plans = []
    for column, field in zip(ordered, table.schema):
        plans.append(ColumnPlan(column, field, choose_kind(column, field, table.column(field.name))))
    return plans


def find_birth_column(plans: Sequence[ColumnPlan]) -> str | None:
    """Name of a modelled date/timestamp column of birth dates (detected so, or so named)."""
    candidates = []
    for plan in plans:
        data_type = value_type(plan.field.type)
        if plan.kind == KIND_NUMERIC and (pa.types.is_date(data_type) or pa.types.is_timestamp(data_type)):
            if plan.column.detected == "birth_date":
                return plan.name
            if _BIRTH_NAME.search(plan.name):
                candidates.append(plan.name)
    return candidates[0] if candidates else None


def find_sex_column(plans: Sequence[ColumnPlan]) -> str | None:
    """Name of a modelled categorical column of sexes (detected so, or so named)."""
    candidates = []
    for plan in plans:
        if plan.kind == KIND_CATEGORICAL:
            if plan.column.detected == "sex":
                return plan.name
            if _SEX_NAME.search(plan.name):
                candidates.append(plan.name)
    return candidates[0] if candidates else None
