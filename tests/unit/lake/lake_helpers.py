"""Data helpers shared by the lake tests (a module with a unique name, importable from them)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

StageFn = Callable[..., Path]
"""The type of the ``stage`` fixture: ``stage(name, table_or_columns, schema=None) -> Path``."""


def files_under(path: Path) -> set[Path]:
    """All regular files below ``path``."""
    return {item for item in path.rglob("*") if item.is_file()}


PEOPLE = pa.schema([("id", pa.int64()), ("name", pa.string()), ("born", pa.timestamp("us"))])


def people(ids: list[int]) -> pa.Table:
    """Rows of the ``PEOPLE`` schema derived from their ids."""
    return pa.table(
        {
            "id": ids,
            "name": [f"person {i}" for i in ids],
            "born": pa.array([i * 86_400_000_000 for i in ids], pa.timestamp("us")),
        },
        schema=PEOPLE,
    )
