"""Quality profile of a dataset version: rows, nulls, distinct counts, min/max, freshness.

Computed by the query engine over the version's Parquet files in one aggregate query, so it stays
fast at millions of rows. Distinct counts are HyperLogLog estimates (``approx_count_distinct``).
Min/max are computed for numbers, dates and timestamps only (for text: min/max length), and shown
only to those who may read the rows — they can be one person's value.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from sqlglot import exp

from countyos.engine import Engine, QueryLimits, TableSource, parse_read_only

ROW_LEVEL_KEYS = ("min", "max")


def _quote(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql("duckdb")


def _is_ordered(data_type: pa.DataType) -> bool:
    return (
        pa.types.is_integer(data_type)
        or pa.types.is_floating(data_type)
        or pa.types.is_decimal(data_type)
        or pa.types.is_temporal(data_type)
    )


def compute_profile(
    engine: Engine, files: list[str], schema: pa.Schema, *, limits: QueryLimits
) -> dict[str, Any]:
    """Profile the Parquet ``files`` of one version; returns a JSON-serialisable dict."""
    selects = ["count(*) AS n__rows"]
    for index, field in enumerate(schema):
        col = _quote(field.name)
        selects.append(f"count(*) - count({col}) AS c{index}__nulls")
        selects.append(f"approx_count_distinct({col}) AS c{index}__distinct")
        if _is_ordered(field.type):
            selects.append(f"CAST(min({col}) AS VARCHAR) AS c{index}__min")
            selects.append(f"CAST(max({col}) AS VARCHAR) AS c{index}__max")
        elif pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            selects.append(f"min(length({col})) AS c{index}__min_length")
            selects.append(f"max(length({col})) AS c{index}__max_length")
    sql = f"SELECT {', '.join(selects)} FROM profiled"
    result = engine.execute(
        parse_read_only(sql), {"profiled": TableSource("profiled", tuple(files))}, limits=limits
    )
    row = result.table.to_pylist()[0]
    rows = int(row["n__rows"])
    columns: dict[str, dict[str, Any]] = {}
    latest: str | None = None
    for index, field in enumerate(schema):
        stats: dict[str, Any] = {"type": str(field.type)}
        for key, value in row.items():
            prefix, _, stat = key.partition("__")
            if prefix == f"c{index}":
                stats[stat] = value
        stats["null_share"] = round(stats["nulls"] / rows, 6) if rows else 0.0
        if pa.types.is_temporal(field.type) and stats.get("max") is not None:
            latest = max(latest, stats["max"]) if latest else stats["max"]
        columns[field.name] = stats
    return {
        "rows": rows,
        "columns": columns,
        "profiled_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "latest_value": latest,
    }


def public_profile(profile: dict[str, Any], *, row_level: bool) -> dict[str, Any]:
    """The profile as a caller may see it: without min/max unless they may read rows."""
    if row_level:
        return profile
    columns = {
        name: {k: v for k, v in stats.items() if k not in ROW_LEVEL_KEYS}
        for name, stats in profile.get("columns", {}).items()
    }
    return {**profile, "columns": columns}
