"""Column names and type overrides of an import.

Owns cleaning of header names (surrounding spaces, ideographic spaces and byte-order marks are
stripped; Chinese names are kept as given), the checks for empty and duplicate names, and the
validation of user type overrides against the columns. Raises the user-facing errors; does no
I/O and never sees row values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import pyarrow as pa

from countyos.errors import ImportFileError, InvalidInputError
from countyos.ingest.types import parse_type_name

_STRIP_CHARS = "\ufeff\u200b"


def clean_column_name(raw: object) -> str:
    """A header cell as a column name: text, stripped of spaces and BOMs (``None`` -> "")."""
    if raw is None:
        return ""
    text = raw if isinstance(raw, str) else str(raw)
    previous = None
    while previous != text:
        previous = text
        text = text.strip().strip(_STRIP_CHARS)
    return text


def check_column_names(names: Sequence[str], *, file: str) -> list[str]:
    """Validate cleaned column names.

    Args:
        names: Cleaned names in column order.
        file: The file name for the error.

    Returns:
        The names as a list.

    Raises:
        ImportFileError: No columns, a column without a name, or two columns with one name.
    """
    if not names:
        raise ImportFileError(f"{file}: the header row has no columns", file=file)
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if not name:
            raise ImportFileError(
                f"{file}: column {position} of the header has an empty name",
                file=file,
                details={"position": position},
            )
        if name in seen:
            raise ImportFileError(
                f"{file}: columns {seen[name]} and {position} have the same name {name!r}",
                file=file,
                column=name,
                details={"position": position},
            )
        seen[name] = position
    return list(names)


def parse_overrides(overrides: Mapping[str, str] | None) -> dict[str, pa.DataType]:
    """Parse ``{column: type name}`` overrides; column names are cleaned like header names.

    Raises:
        InvalidInputError: An unknown type name, or an empty or repeated column name.
    """
    parsed: dict[str, pa.DataType] = {}
    for raw_name, raw_type in (overrides or {}).items():
        name = clean_column_name(raw_name)
        if not name:
            raise InvalidInputError("a type override names an empty column")
        if name in parsed:
            raise InvalidInputError(f"column {name!r} has more than one type override")
        try:
            parsed[name] = parse_type_name(raw_type)
        except InvalidInputError as exc:
            raise InvalidInputError(f"type override for column {name!r}: {exc.message}") from exc
    return parsed


def check_override_columns(overrides: Mapping[str, pa.DataType], columns: Iterable[str]) -> None:
    """Raise ``InvalidInputError`` if an override names a column the source does not have."""
    known = set(columns)
    unknown = [name for name in overrides if name not in known]
    if unknown:
        listed = ", ".join(repr(name) for name in unknown)
        raise InvalidInputError(
            f"type overrides name columns the source does not have: {listed}",
            details={"unknown_columns": unknown},
        )
