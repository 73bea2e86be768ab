"""What callers see of catalog objects: plain JSON-ready dicts, shared by the API and the CLI."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa

from countyos.auth import Principal, can_manage_dataset, can_read_rows
from countyos.catalog.profile import public_profile
from countyos.db.models import Column, Dataset, DatasetVersion, Department, Township, User


def department_public(department: Department) -> dict[str, Any]:
    return {"code": department.code, "name_zh": department.name_zh, "name_en": department.name_en}


def township_public(township: Township) -> dict[str, Any]:
    return {"code": township.code, "name_zh": township.name_zh,
            "name_pinyin": township.name_pinyin, "kind": township.kind,
            "has_geometry": township.geometry is not None}


def user_public(user: User) -> dict[str, Any]:
    return {"username": user.username, "display_name": user.display_name, "role": user.role,
            "department": user.department.code if user.department else None,
            "township": user.township.code if user.township else None, "active": user.active}


def column_public(column: Column) -> dict[str, Any]:
    return {"name": column.name, "type": column.data_type, "description_zh": column.description_zh,
            "description_en": column.description_en, "level": column.level, "role": column.role,
            "personal": column.personal, "detected": column.detected,
            "reasons": list(column.reasons or []), "confirmed": column.confirmed,
            "bounds": [column.lower_bound, column.upper_bound]
            if column.lower_bound is not None else None,
            "public_domain": column.public_domain}


def version_public(version: DatasetVersion, *, row_level: bool) -> dict[str, Any]:
    return {"version": version.version, "rows": version.rows, "snapshot_id": version.snapshot_id,
            "source_format": version.source_format, "source_name": version.source_name,
            "encoding": version.encoding, "created_by": version.created_by,
            "created_at": version.created_at.isoformat(),
            "profile": public_profile(version.profile or {}, row_level=row_level)}


def dataset_summary(dataset: Dataset) -> dict[str, Any]:
    return {"name": dataset.name, "title_zh": dataset.title_zh, "title_en": dataset.title_en,
            "department": dataset.department.code, "current_version": dataset.current_version,
            "updated_at": dataset.updated_at.isoformat()}


def dataset_detail(
    dataset: Dataset, current: DatasetVersion | None, principal: Principal
) -> dict[str, Any]:
    row_level = can_read_rows(principal, department_id=dataset.department_id)
    return {
        **dataset_summary(dataset),
        "description_zh": dataset.description_zh,
        "description_en": dataset.description_en,
        "department_name_zh": dataset.department.name_zh,
        "columns": [column_public(c) for c in dataset.columns],
        "current": version_public(current, row_level=row_level) if current else None,
        "you_may": {"read_rows": row_level,
                    "manage": can_manage_dataset(principal, department_id=dataset.department_id)},
    }


def json_value(value: Any) -> Any:
    """A query result value as JSON: exact integers stay integers (DuckDB sums are HUGEINT →
    Decimal), other decimals become floats, dates and times ISO strings."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.hex()
    return value


def table_rows(table: pa.Table) -> list[list[Any]]:
    """Rows of an Arrow table as JSON-ready lists."""
    return [[json_value(v) for v in row.values()] for row in table.to_pylist()]
