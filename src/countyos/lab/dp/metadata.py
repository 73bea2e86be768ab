"""What the DP planner must know about a table: its entity key, column bounds and public domains.

Owns the value types ``ColumnMetadata`` and ``TableMetadata`` and their validation. The lead fills
them from the catalog (classification, declared bounds, declared public code lists); nothing here
reads data, because bounds and domains that came from the private rows would themselves leak.
Must not import the catalog, the database or an engine.

Definitions used by the whole ``countyos.lab.dp`` package:

- the **entity key** is the column naming the person or enterprise a row belongs to (the privacy
  unit); every answer is differentially private with respect to adding or removing one entity
  with all of its rows;
- **max_contributions** (k) is the most rows one entity may contribute to an answer; extra rows
  are dropped at random before aggregation;
- **bounds** (lower, upper) are the public clipping range of a numeric column;
- a **public domain** is the declared list of values a column may take (a code list such as sex
  or township); GROUP BY keys come from it without spending budget on key selection.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from countyos.errors import InvalidInputError

#: Largest public domain accepted for one column.
MAX_DOMAIN_VALUES = 100_000

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}\Z")


class ColumnKind(str, Enum):
    """How a column may be used under DP."""

    INTEGER = "integer"
    FLOAT = "float"
    CATEGORICAL = "categorical"


@dataclass(frozen=True)
class ColumnMetadata:
    """Public facts about one column.

    Attributes:
        name: the column name as written in SQL (matched case-insensitively).
        kind: ``integer`` and ``float`` columns can be summed, averaged and ranked when they
            have bounds; ``categorical`` columns can be grouped by and counted.
        lower: public lower clipping bound (numeric columns).
        upper: public upper clipping bound (numeric columns).
        public_domain: the declared values of the column, used as GROUP BY keys; ``None`` means
            undeclared (keys then come from DP key selection).
        resolution: grid step of a float column's values in sums (a power of two is exact);
            ``None`` picks a power of two about a millionth of the bounds' range.
        quantile_candidates: the values a quantile may take; ``None`` uses a grid over the
            bounds (every integer for narrow integer ranges).
    """

    name: str
    kind: ColumnKind = ColumnKind.CATEGORICAL
    lower: float | int | None = None
    upper: float | int | None = None
    public_domain: tuple[Any, ...] | None = None
    resolution: float | None = None
    quantile_candidates: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.kind, str) and not isinstance(self.kind, ColumnKind):
            try:
                object.__setattr__(self, "kind", ColumnKind(self.kind))
            except ValueError:
                raise InvalidInputError(
                    f"column {self.name!r}: kind must be integer, float or categorical"
                ) from None
        for attribute in ("public_domain", "quantile_candidates"):
            value = getattr(self, attribute)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, attribute, tuple(value))

    @property
    def bounded(self) -> bool:
        """Whether the column has both clipping bounds."""
        return self.lower is not None and self.upper is not None

    def validate(self) -> None:
        """Check the metadata is usable.

        Raises:
            InvalidInputError: a bad name, bounds that are not finite or not ordered, bounds on
                a categorical column, a non-integer bound of an integer column, a bad
                resolution, or an empty, oversized or duplicated public domain.
        """
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise InvalidInputError(f"column name {self.name!r} is not a plain SQL identifier")
        if (self.lower is None) != (self.upper is None):
            raise InvalidInputError(f"column {self.name}: give both bounds or neither")
        if self.bounded:
            if self.kind is ColumnKind.CATEGORICAL:
                raise InvalidInputError(f"column {self.name}: a categorical column has no bounds")
            for bound in (self.lower, self.upper):
                if isinstance(bound, bool) or not isinstance(bound, (int, float)) or not (
                    math.isfinite(bound)
                ):
                    raise InvalidInputError(f"column {self.name}: bounds must be finite numbers")
            if not self.lower < self.upper:  # type: ignore[operator]
                raise InvalidInputError(f"column {self.name}: lower bound must be below upper")
            if self.kind is ColumnKind.INTEGER and not all(
                float(b).is_integer() for b in (self.lower, self.upper)  # type: ignore[arg-type]
            ):
                raise InvalidInputError(f"column {self.name}: integer bounds must be integers")
            if max(abs(self.lower), abs(self.upper)) > 2**52:  # type: ignore[arg-type]
                raise InvalidInputError(f"column {self.name}: bounds exceed ±2^52")
        if self.resolution is not None and not (
            isinstance(self.resolution, (int, float))
            and math.isfinite(self.resolution)
            and self.resolution > 0
        ):
            raise InvalidInputError(f"column {self.name}: resolution must be a positive number")
        if self.public_domain is not None:
            if not self.public_domain:
                raise InvalidInputError(f"column {self.name}: the public domain is empty")
            if len(self.public_domain) > MAX_DOMAIN_VALUES:
                raise InvalidInputError(
                    f"column {self.name}: the public domain has more than "
                    f"{MAX_DOMAIN_VALUES} values"
                )
            tokens = [domain_token(value) for value in self.public_domain]
            if len(set(tokens)) != len(tokens):
                raise InvalidInputError(f"column {self.name}: the public domain repeats a value")
        if self.quantile_candidates is not None:
            values = self.quantile_candidates
            if not values or any(
                isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
                for v in values
            ):
                raise InvalidInputError(
                    f"column {self.name}: quantile candidates must be finite numbers"
                )
            if any(b <= a for a, b in zip(values, values[1:])):
                raise InvalidInputError(
                    f"column {self.name}: quantile candidates must be strictly increasing"
                )


@dataclass(frozen=True)
class TableMetadata:
    """Public facts about one table the planner may read.

    Attributes:
        name: the SQL table name (the dataset name).
        entity_key: the column naming the privacy unit (person, enterprise).
        entity_kind: what the entity is (``person``, ``enterprise``); a JOIN is allowed only
            between tables of the same entity kind, on their entity keys.
        columns: metadata per column, by name.
        max_contributions: default k, the most rows one entity contributes to an answer.
        entity_key_unique: the catalog guarantees that no two rows of this dataset version
            share an entity key (a primary key enforced at ingest, as in a population or
            enterprise registry); bounding is then a no-op and is skipped. Set it only from
            such a guarantee: a wrong ``True`` breaks the privacy of entities with many rows.
    """

    name: str
    entity_key: str
    columns: Mapping[str, ColumnMetadata] = field(default_factory=dict)
    entity_kind: str = "person"
    max_contributions: int = 1
    entity_key_unique: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.columns, Sequence) and not isinstance(self.columns, str):
            object.__setattr__(self, "columns", {c.name: c for c in self.columns})
        object.__setattr__(
            self, "columns", {name.lower(): column for name, column in self.columns.items()}
        )

    def validate(self) -> None:
        """Check the table metadata and every column's.

        Raises:
            InvalidInputError: a bad table or entity key name, a column filed under another
                name, or a max_contributions that is not a positive integer.
        """
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise InvalidInputError(f"table name {self.name!r} is not a plain SQL identifier")
        if not isinstance(self.entity_key, str) or not _NAME.match(self.entity_key):
            raise InvalidInputError(f"table {self.name}: entity key {self.entity_key!r} is bad")
        if not isinstance(self.entity_kind, str) or not self.entity_kind.strip():
            raise InvalidInputError(f"table {self.name}: entity kind must be a word")
        if (
            isinstance(self.max_contributions, bool)
            or not isinstance(self.max_contributions, int)
            or self.max_contributions < 1
        ):
            raise InvalidInputError(
                f"table {self.name}: max_contributions must be a positive integer"
            )
        if not isinstance(self.entity_key_unique, bool):
            raise InvalidInputError(f"table {self.name}: entity_key_unique must be true or false")
        for key, column in self.columns.items():
            column.validate()
            if column.name.lower() != key:
                raise InvalidInputError(
                    f"table {self.name}: column {column.name!r} is filed under {key!r}"
                )

    def column(self, name: str) -> ColumnMetadata:
        """The metadata of a column; an undeclared column is categorical with no domain."""
        found = self.columns.get(name.lower())
        return found if found is not None else ColumnMetadata(name=name)


def domain_token(value: Any) -> tuple[str, Any]:
    """A hashable token under which equal key values match, whatever their Python type.

    Integral numbers match across int and float (``1`` and ``1.0``); strings stay strings, so
    the code ``"1"`` does not match the number ``1``.
    """
    if value is None:
        return ("null", None)
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int):
        return ("number", value)
    if isinstance(value, float):
        if value.is_integer():
            return ("number", int(value))
        return ("number", value)
    if hasattr(value, "is_integer") and hasattr(value, "__float__"):  # Decimal
        number = float(value)
        return ("number", int(number) if number.is_integer() else number)
    return (type(value).__name__, value)


def check_metadata(metadata: Mapping[str, TableMetadata]) -> dict[str, TableMetadata]:
    """Validate a set of table metadata and index it by lowercase table name.

    Raises:
        InvalidInputError: any table's metadata is invalid or filed under another name.
    """
    indexed: dict[str, TableMetadata] = {}
    for key, table in metadata.items():
        table.validate()
        if table.name.lower() != key.lower():
            raise InvalidInputError(f"metadata of table {table.name!r} is filed under {key!r}")
        indexed[key.lower()] = table
    return indexed
