"""Importing a dataset from the browser: upload, preview with type overrides, import with progress.

Owns the three steps of the import dialog and the background import tasks they start:

1. upload a file (kept under ``staging/web-uploads/<id>``, only for its uploader, removed after
   the import or after a day) and show ``countyos.ingest.preview_file``'s inferred types and first
   rows — the uploader's own file, never catalog data;
2. let the steward override column types and preview again (a value that does not fit the chosen
   type is reported next to that column);
3. run ``countyos.catalog.datasets.import_dataset`` in a background thread, reporting its progress
   to a page that polls it (htmx), then link to the new dataset.

Permission checks are the catalog's: ``import_dataset`` refuses anyone ``can_manage_dataset``
does not allow. It must not write to the lake or the catalog itself.
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from countyos.auth import can_manage_dataset
from countyos.catalog import datasets as catalog
from countyos.catalog.organisation import list_departments
from countyos.errors import CountyOSError, ImportFileError, InvalidInputError, NotFoundError, TooLargeError
from countyos.hub import Hub
from countyos.ingest import preview_file
from countyos.web.pages.forms import FormErrors, verify_csrf
from countyos.web.pages.portal import (
    Portal,
    PortalUser,
    UserDep,
    get_portal,
    gettext_of,
    render,
)

router = APIRouter(include_in_schema=False)
UPLOAD_ID_RE = re.compile(r"^[0-9a-f]{32}$")
UPLOAD_TTL_S = 24 * 3600
CHUNK = 1024 * 1024
TYPE_CHOICES = ("string", "int64", "int32", "float64", "bool", "date", "timestamp", "timestamptz",
                "decimal(18,2)", "decimal(38,6)")


@dataclass
class ImportTask:
    """One import running in the background, as its progress page sees it."""

    id: str
    owner: str
    dataset: str
    status: str = "reading"          # reading → finishing → done | failed
    done: int = 0
    total: int = 0
    version: int | None = None
    rows: int | None = None
    error_code: str | None = None
    error: str | None = None
    started: float = field(default_factory=time.monotonic)

    @property
    def percent(self) -> int:
        if self.status == "done":
            return 100
        share = self.done / self.total if self.total else 0.0
        return min(95, int(share * 90) + (5 if self.status == "finishing" else 0))


def _tasks(portal: Portal) -> dict[str, ImportTask]:
    return portal.state.setdefault("import_tasks", {})


def _uploads(hub: Hub) -> Path:
    return hub.settings.staging_dir / "web-uploads"


def _clean_old_uploads(hub: Hub) -> None:
    folder = _uploads(hub)
    if not folder.is_dir():
        return
    cutoff = time.time() - UPLOAD_TTL_S
    for entry in folder.iterdir():
        if entry.is_dir() and entry.stat().st_mtime < cutoff:
            shutil.rmtree(entry, ignore_errors=True)


def save_upload(hub: Hub, user: PortalUser, upload: UploadFile) -> str:
    """Keep an uploaded file for its uploader; returns its id. Refuses files over the limit."""
    name = Path(upload.filename or "").name
    if not re.search(r"\.[A-Za-z0-9]+$", name):
        raise InvalidInputError("the file needs a name with an extension (.csv, .xlsx, …)")
    _clean_old_uploads(hub)
    upload_id = uuid.uuid4().hex
    folder = _uploads(hub) / upload_id
    folder.mkdir(parents=True)
    limit, written = hub.settings.web.max_upload_bytes, 0
    try:
        with (folder / name).open("wb") as out:
            while chunk := upload.file.read(CHUNK):
                written += len(chunk)
                if written > limit:
                    raise TooLargeError(f"file {name!r} is larger than the upload limit of {limit} bytes")
                out.write(chunk)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    (folder / ".owner").write_text(user.username, encoding="utf-8")
    return upload_id


def upload_path(hub: Hub, user: PortalUser, upload_id: str) -> Path:
    """The uploaded file of ``upload_id`` if ``user`` uploaded it; otherwise NotFoundError."""
    folder = _uploads(hub) / upload_id
    owner = folder / ".owner"
    if not UPLOAD_ID_RE.match(upload_id) or not owner.is_file() or \
            owner.read_text(encoding="utf-8") != user.username:
        raise NotFoundError("no such upload (it may have expired); upload the file again")
    files = [p for p in folder.iterdir() if p.is_file() and p.name != ".owner"]
    if len(files) != 1:
        raise NotFoundError("no such upload (it may have expired); upload the file again")
    return files[0]


def _manageable_departments(hub: Hub, user: PortalUser) -> list[tuple[str, str, str]]:
    with hub.db.session() as session:
        return [(d.code, d.name_zh, d.name_en) for d in list_departments(session)
                if can_manage_dataset(user.principal, department_id=d.id)]


def _form(request: Request, user: PortalUser, values: dict[str, Any], errors: FormErrors,
          status: int = 200) -> Response:
    hub = get_portal(request).hub
    return render(request, "import_form.html", {
        "v": values, "errors": errors, "departments": _manageable_departments(hub, user),
        "max_bytes": hub.settings.web.max_upload_bytes}, status=status, active="import")


@router.get("/catalog/import")
def import_form(request: Request, user: UserDep, dataset: str = "") -> Response:
    values: dict[str, Any] = {"name": dataset, "new_version": bool(dataset)}
    if dataset:
        with get_portal(request).hub.db.session() as session:
            values["department"] = catalog.get_dataset(session, dataset).department.code
    return _form(request, user, values, FormErrors())


def _overrides(columns: list[str], types: list[str]) -> dict[str, str]:
    chosen = {c: t for c, t in zip(columns, types, strict=False) if t}
    unknown = [t for t in chosen.values() if t not in TYPE_CHOICES]
    if unknown:
        raise InvalidInputError(f"unknown type {unknown[0]!r}")
    return chosen


@router.post("/catalog/import/preview", dependencies=[Depends(verify_csrf)])
def import_preview(
    request: Request,
    user: UserDep,
    file: Annotated[UploadFile | None, File()] = None,
    upload_id: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    department: Annotated[str, Form()] = "",
    new_version: Annotated[str, Form()] = "",
    title_zh: Annotated[str, Form()] = "",
    title_en: Annotated[str, Form()] = "",
    description_zh: Annotated[str, Form()] = "",
    columns: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI form default
    types: Annotated[list[str], Form()] = [],  # noqa: B006
) -> Response:
    _ = gettext_of(request)
    hub = get_portal(request).hub
    values = {"name": name.strip(), "department": department, "new_version": new_version == "1",
              "title_zh": title_zh, "title_en": title_en, "description_zh": description_zh}
    errors = FormErrors()
    errors.require("name", name, _("Give the dataset a name."))
    errors.match("name", name.strip(), catalog.DATASET_NAME_RE,
                 _("Lower-case letters, digits and _; starting with a letter."))
    if not values["new_version"]:
        errors.require("department", department, _("Choose the department that owns the data."))
        errors.require("title_zh", title_zh, _("Give a Chinese title."))
    has_file = file is not None and bool(file.filename)
    if not has_file and not upload_id:
        errors["file"] = _("Choose a file to import.")
    if errors:
        return _form(request, user, values, errors, status=400)
    try:
        if has_file:
            upload_id = save_upload(hub, user, file)  # type: ignore[arg-type]
        path = upload_path(hub, user, upload_id)
        overrides = _overrides(columns, types)
    except CountyOSError as error:
        errors.service_error(error, "file", _)
        return _form(request, user, values, errors, status=400)
    limit = hub.settings.ingest.max_file_bytes
    try:
        preview = preview_file(path, type_overrides=overrides or None, max_bytes=limit)
    except ImportFileError as error:
        if not (error.column and overrides):
            errors.service_error(error, "file", _)
            return _form(request, user, values, errors, status=400)
        # a value does not fit a chosen type: say so next to that column, show the file as is
        errors.service_error(error, f"type:{error.column}", _)
        preview = preview_file(path, max_bytes=limit)
    except CountyOSError as error:
        errors.service_error(error, "file", _)
        return _form(request, user, values, errors, status=400)
    return _preview_page(request, values, upload_id, preview, columns, types, errors)


def _preview_page(request: Request, values: dict[str, Any], upload_id: str, preview: Any,
                  columns: list[str], types: list[str], errors: FormErrors) -> Response:
    chosen = dict(zip(columns, types, strict=False))
    if preview is not None:
        names = [f.name for f in preview.schema]
        inferred = preview.inferred_types
        rows = [[row.get(n) for n in names] for row in preview.rows]
    else:
        names, inferred, rows = columns, {}, []
    return render(request, "import_preview.html", {
        "v": values, "upload_id": upload_id, "names": names, "inferred": inferred,
        "chosen": chosen, "rows": rows, "type_choices": TYPE_CHOICES, "errors": errors,
        "format": preview.source_format if preview else None,
        "encoding": preview.encoding if preview else None,
    }, status=400 if errors else 200, active="import")


def _run_import(portal: Portal, task: ImportTask, user: PortalUser, path: Path,
                values: dict[str, Any], overrides: dict[str, str]) -> None:
    def progress(done: int, total: int) -> None:
        task.done, task.total = done, total
        if total and done >= total:
            task.status = "finishing"
    try:
        info = catalog.DatasetInfo(values["title_zh"], values["title_en"], values["description_zh"], "")
        version = catalog.import_dataset(
            portal.hub, user.principal, source=path, name=task.dataset,
            department=values["department"] or None, info=info,
            type_overrides=overrides or None, new_version=values["new_version"], progress=progress)
        task.version, task.rows, task.status = version.version, version.rows, "done"
    except CountyOSError as error:
        task.error_code, task.error, task.status = error.code, error.message, "failed"
    except Exception:  # noqa: BLE001 - never a traceback on the page; the log has it
        logging.getLogger("countyos.web.pages").exception("import %s failed", task.id)
        task.error_code, task.error, task.status = "internal_error", None, "failed"
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)


@router.post("/catalog/import/start", dependencies=[Depends(verify_csrf)])
def import_start(
    request: Request,
    user: UserDep,
    upload_id: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    department: Annotated[str, Form()] = "",
    new_version: Annotated[str, Form()] = "",
    title_zh: Annotated[str, Form()] = "",
    title_en: Annotated[str, Form()] = "",
    description_zh: Annotated[str, Form()] = "",
    columns: Annotated[list[str], Form()] = [],  # noqa: B006
    types: Annotated[list[str], Form()] = [],  # noqa: B006
) -> Response:
    portal = get_portal(request)
    catalog.validate_name(name.strip())
    path = upload_path(portal.hub, user, upload_id)
    overrides = _overrides(columns, types)
    values = {"department": department, "new_version": new_version == "1", "title_zh": title_zh,
              "title_en": title_en, "description_zh": description_zh}
    task = ImportTask(id=uuid.uuid4().hex, owner=user.username, dataset=name.strip())
    _tasks(portal)[task.id] = task
    threading.Thread(target=_run_import, args=(portal, task, user, path, values, overrides),
                     name=f"import-{task.id[:8]}", daemon=True).start()
    return RedirectResponse(f"/catalog/import/tasks/{task.id}", status_code=303)


@router.get("/catalog/import/tasks/{task_id}")
def import_progress(request: Request, task_id: str, user: UserDep) -> Response:
    task = _tasks(get_portal(request)).get(task_id)
    if task is None or task.owner != user.username:
        raise NotFoundError("no such import")
    if request.headers.get("hx-request") == "true":
        return render(request, "import_progress.html", {"task": task})
    return render(request, "import_task.html", {"task": task}, active="import")


__all__ = ["ImportTask", "router", "save_upload", "upload_path"]
