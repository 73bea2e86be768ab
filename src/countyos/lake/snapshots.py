"""What the lake tells about one dataset version (one Iceberg snapshot), and name rules.

Owns `SnapshotInfo` (built from a pyiceberg snapshot) and the validation of table and namespace
names. Reads nothing from disk and never changes a table.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from countyos.errors import InvalidInputError

__all__ = ["SnapshotInfo", "check_name", "check_snapshot_properties"]

NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,62}")
_PROPERTY_KEY_PATTERN = re.compile(r"countyos\.[a-z0-9_.-]{1,100}")
_MAX_PROPERTY_VALUE = 4096


@dataclass(frozen=True)
class SnapshotInfo:
    """One committed version of a lake table.

    Attributes:
        snapshot_id: The Iceberg snapshot id (what `Lake.commit_version` returned).
        parent_id: The snapshot this one replaced, or None for the first version.
        committed_at: Commit time (UTC, millisecond precision).
        operation: Iceberg operation: ``append`` for the first version, ``overwrite`` after.
        schema_id: The Iceberg schema id the version was written with.
        summary: The Iceberg snapshot summary (``added-records``, ``total-records``,
            ``total-data-files``, ... and any ``countyos.*`` properties given at commit).
    """

    snapshot_id: int
    parent_id: int | None
    committed_at: datetime
    operation: str
    schema_id: int | None
    summary: Mapping[str, str] = field(default_factory=dict)

    @property
    def total_rows(self) -> int | None:
        """Rows in this version, from the summary."""
        return _as_int(self.summary.get("total-records"))

    @property
    def added_rows(self) -> int | None:
        """Rows in the files this version added."""
        return _as_int(self.summary.get("added-records"))

    @property
    def deleted_rows(self) -> int | None:
        """Rows of the previous version that this version removed."""
        return _as_int(self.summary.get("deleted-records"))

    @property
    def total_files(self) -> int | None:
        """Parquet data files in this version."""
        return _as_int(self.summary.get("total-data-files"))

    @classmethod
    def from_snapshot(cls, snapshot: Any) -> SnapshotInfo:
        """Build from a ``pyiceberg.table.snapshots.Snapshot``."""
        summary: dict[str, str] = {}
        operation = ""
        if snapshot.summary is not None:
            serialized = snapshot.summary.model_dump()
            operation = str(serialized.pop("operation", ""))
            summary = {str(key): str(value) for key, value in serialized.items()}
        return cls(
            snapshot_id=snapshot.snapshot_id,
            parent_id=snapshot.parent_snapshot_id,
            committed_at=datetime.fromtimestamp(snapshot.timestamp_ms / 1000, tz=UTC),
            operation=operation,
            schema_id=snapshot.schema_id,
            summary=MappingProxyType(summary),
        )


def check_name(name: object, what: str = "table") -> str:
    """Return ``name`` if it is a valid lake name, else raise.

    Args:
        name: A dataset table or namespace name.
        what: ``"table"`` or ``"namespace"``, for the message.

    Raises:
        InvalidInputError: ``name`` does not match ``[a-z][a-z0-9_]{0,62}``.
    """
    if not isinstance(name, str) or NAME_PATTERN.fullmatch(name) is None:
        shown = repr(name)[:80] if isinstance(name, str) else type(name).__name__
        raise InvalidInputError(
            f"invalid {what} name {shown}: use 1 to 63 characters a-z, 0-9 and _, "
            "starting with a letter"
        )
    return name


def check_snapshot_properties(properties: Mapping[str, str] | None) -> dict[str, str]:
    """Validate extra properties recorded in a version's snapshot summary.

    Keys must look like ``countyos.<name>`` (lower case, digits, ``_.-``) so they never collide
    with Iceberg's own summary fields; values are strings of at most 4096 characters.

    Raises:
        InvalidInputError: A key or value breaks these rules.
    """
    if properties is None:
        return {}
    result: dict[str, str] = {}
    for key, value in properties.items():
        if not isinstance(key, str) or _PROPERTY_KEY_PATTERN.fullmatch(key) is None:
            raise InvalidInputError(
                f"snapshot property {str(key)[:80]!r} must be named 'countyos.<name>' "
                "(lower-case letters, digits, '_', '.', '-')"
            )
        if not isinstance(value, str) or len(value) > _MAX_PROPERTY_VALUE:
            raise InvalidInputError(f"snapshot property '{key}' must be a string of at most 4096 characters")
        result[key] = value
    return result


def _as_int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
