"""Receiving an uploaded file into the staging area with a size limit."""

from __future__ import annotations

import json
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi import UploadFile

from countyos.errors import InvalidInputError, TooLargeError
from countyos.hub import Hub

CHUNK = 1024 * 1024


@contextmanager
def received_file(hub: Hub, upload: UploadFile) -> Iterator[Path]:
    """Copy ``upload`` under the staging dir (refusing it past the limit); removed afterwards."""
    name = Path(upload.filename or "upload").name
    if not re.search(r"\.[A-Za-z0-9]+$", name):
        raise InvalidInputError("the uploaded file needs a name with an extension (.csv, .xlsx, …)")
    folder = hub.settings.staging_dir / f"upload-{uuid.uuid4().hex}"
    folder.mkdir(parents=True)
    limit = hub.settings.web.max_upload_bytes
    try:
        target = folder / name
        written = 0
        with target.open("wb") as out:
            while chunk := upload.file.read(CHUNK):
                written += len(chunk)
                if written > limit:
                    raise TooLargeError(
                        f"file {name!r} is larger than the upload limit of {limit} bytes",
                        details={"file": name, "limit": limit},
                    )
                out.write(chunk)
        yield target
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def parse_types(types: str | None) -> dict[str, str] | None:
    """Type overrides from a form field: a JSON object ``{"column": "type"}``."""
    if not types:
        return None
    try:
        value = json.loads(types)
    except json.JSONDecodeError as error:
        raise InvalidInputError(f"types must be a JSON object of column → type: {error}") from None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InvalidInputError("types must be a JSON object of column → type name")
    return value
