"""Datasets: list and search, show, versions, import, classify, preview; and SQL queries."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, UploadFile
from pydantic import BaseModel, Field

from countyos.auth import can_read_rows
from countyos.catalog import datasets as catalog
from countyos.catalog.discovery import search_datasets
from countyos.catalog.public import (
    column_public,
    dataset_detail,
    dataset_summary,
    table_rows,
    version_public,
)
from countyos.catalog.query import run_query
from countyos.ingest import preview_file
from countyos.web.api.uploads import parse_types, received_file
from countyos.web.deps import HubDep, PrincipalDep, SessionDep

router = APIRouter(tags=["datasets"])


class ColumnUpdate(BaseModel):
    level: str | None = None
    role: str | None = None
    personal: bool | None = None
    description_zh: str | None = None
    description_en: str | None = None
    bounds: tuple[float, float] | None = Field(None, description="DP clipping bounds [lower, upper]")
    public_domain: list[Any] | None = Field(None, description="DP public domain: every possible value")


class QueryRequest(BaseModel):
    sql: str = Field(description="one read-only SQL query; datasets are tables by name")
    versions: dict[str, int] | None = Field(None, description="pin datasets to earlier versions")
    max_rows: int | None = Field(None, ge=1, le=100_000)


@router.get("/datasets")
def list_datasets(
    _: PrincipalDep, session: SessionDep,
    q: str | None = Query(None, description="search words, Chinese or English"),
    department: str | None = None,
) -> list[dict]:
    if q:
        return [{**dataset_summary(d), "score": round(s, 4)} for d, s in search_datasets(session, q)
                if not department or d.department.code == department]
    return [dataset_summary(d) for d in catalog.list_datasets(session, department=department)]


@router.get("/datasets/{name}")
def show_dataset(name: str, principal: PrincipalDep, session: SessionDep) -> dict:
    dataset = catalog.get_dataset(session, name)
    current = catalog.get_version(session, dataset) if dataset.current_version else None
    return dataset_detail(dataset, current, principal)


@router.get("/datasets/{name}/versions")
def list_versions(name: str, principal: PrincipalDep, session: SessionDep) -> list[dict]:
    dataset = catalog.get_dataset(session, name)
    row_level = can_read_rows(principal, department_id=dataset.department_id)
    return [version_public(v, row_level=row_level) for v in catalog.list_versions(session, dataset)]


@router.get("/datasets/{name}/versions/{version}")
def show_version(name: str, version: int, principal: PrincipalDep, session: SessionDep) -> dict:
    dataset = catalog.get_dataset(session, name)
    row_level = can_read_rows(principal, department_id=dataset.department_id)
    return version_public(catalog.get_version(session, dataset, version), row_level=row_level)


@router.patch("/datasets/{name}/columns/{column}")
def update_column(name: str, column: str, body: ColumnUpdate, principal: PrincipalDep,
                  session: SessionDep) -> dict:
    return column_public(catalog.update_column(session, principal, dataset=name, column=column,
                                               **body.model_dump()))


@router.post("/datasets/preview")
def preview(hub: HubDep, _: PrincipalDep, file: Annotated[UploadFile, File()],
            types: Annotated[str | None, Form()] = None) -> dict:
    with received_file(hub, file) as path:
        result = preview_file(path, type_overrides=parse_types(types),
                              max_bytes=hub.settings.ingest.max_file_bytes)
    return {"format": result.source_format, "encoding": result.encoding,
            "columns": [{"name": f.name, "type": result.inferred_types.get(f.name, str(f.type))}
                        for f in result.schema],
            "rows": result.rows}


@router.post("/datasets", status_code=201)
def import_dataset(
    hub: HubDep, principal: PrincipalDep,
    file: Annotated[UploadFile, File()],
    name: Annotated[str, Form()],
    department: Annotated[str, Form()],
    title_zh: Annotated[str, Form()] = "",
    title_en: Annotated[str, Form()] = "",
    description_zh: Annotated[str, Form()] = "",
    description_en: Annotated[str, Form()] = "",
    types: Annotated[str | None, Form(description='JSON {"column": "type"}')] = None,
) -> dict:
    info = catalog.DatasetInfo(title_zh, title_en, description_zh, description_en)
    catalog.validate_name(name)
    with received_file(hub, file) as path:
        version = catalog.import_dataset(hub, principal, source=path, name=name,
                                         department=department, info=info,
                                         type_overrides=parse_types(types))
    return {"dataset": name, **version_public(version, row_level=True)}


@router.post("/datasets/{name}/versions", status_code=201)
def import_version(
    name: str, hub: HubDep, principal: PrincipalDep,
    file: Annotated[UploadFile, File()],
    types: Annotated[str | None, Form()] = None,
) -> dict:
    with received_file(hub, file) as path:
        version = catalog.import_dataset(hub, principal, source=path, name=name, new_version=True,
                                         type_overrides=parse_types(types))
    return {"dataset": name, **version_public(version, row_level=True)}


@router.post("/query")
def query(body: QueryRequest, hub: HubDep, principal: PrincipalDep) -> dict:
    answer = run_query(hub, principal, sql=body.sql, versions=body.versions, max_rows=body.max_rows)
    table = answer.table
    return {
        "columns": [{"name": f.name, "type": str(f.type)} for f in table.schema],
        "rows": table_rows(table),
        "truncated": answer.truncated,
        "versions": answer.versions,
        "elapsed_s": round(answer.elapsed_s, 4),
    }
