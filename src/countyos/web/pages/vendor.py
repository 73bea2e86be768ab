"""Front-end packages served locally under ``/static/vendor/`` — the portal never loads from a CDN.

Owns the list of vendor files the pages use and where they are found. The packages come from the
npm registry at set-up (``package.json`` / ``package-lock.json`` at the repository root, installed
with ``npm ci --ignore-scripts``). Each file is looked up, in order, in:

1. ``src/countyos/web/static/vendor/`` — a copy made by ``python -m countyos.web.pages.vendor``
   (what an installed, non-editable deployment ships);
2. ``node_modules/`` beside the source tree (a fresh clone after ``npm ci``: mounted, no copy).

Only names listed in ``VENDOR_FILES`` are served, so no path from a URL ever reaches the disk.
It must not download anything.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from countyos.errors import NotFoundError

#: URL name under /static/vendor/ → path inside node_modules.
VENDOR_FILES: dict[str, str] = {
    "echarts.min.js": "echarts/dist/echarts.min.js",
    "htmx.min.js": "htmx.org/dist/htmx.min.js",
    "swagger-ui-bundle.js": "swagger-ui-dist/swagger-ui-bundle.js",
    "swagger-ui.css": "swagger-ui-dist/swagger-ui.css",
}
MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
COPY_DIR = Path(__file__).resolve().parent.parent / "static" / "vendor"
SOURCE_ROOT = Path(__file__).resolve().parents[4]


def node_modules() -> Path:
    return SOURCE_ROOT / "node_modules"


def find_vendor_file(name: str) -> Path | None:
    """Where the vendor file ``name`` is on disk, or None if it is unknown or not installed."""
    relative = VENDOR_FILES.get(name)
    if relative is None:
        return None
    for candidate in (COPY_DIR / name, node_modules() / relative):
        if candidate.is_file():
            return candidate
    return None


def missing_vendor_files() -> list[str]:
    return [name for name in VENDOR_FILES if find_vendor_file(name) is None]


def copy_vendor_files(source: Path | None = None, target: Path = COPY_DIR) -> list[str]:
    """Copy the vendor files from ``source`` (default: node_modules) to ``target``."""
    source = source or node_modules()
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    for name, relative in VENDOR_FILES.items():
        path = source / relative
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: run `npm ci --ignore-scripts` first")
        shutil.copyfile(path, target / name)
        copied.append(name)
    return copied


router = APIRouter(include_in_schema=False)


@router.get("/static/vendor/{name}")
def vendor_file(name: str) -> FileResponse:
    path = find_vendor_file(name)
    if path is None:
        raise NotFoundError(f"no vendor file {name!r} (run `npm ci --ignore-scripts`)")
    return FileResponse(path, media_type=MEDIA_TYPES.get(path.suffix),
                        headers={"Cache-Control": "public, max-age=86400",
                                 "X-Content-Type-Options": "nosniff"})


if __name__ == "__main__":  # python -m countyos.web.pages.vendor
    names = copy_vendor_files()
    sys.stdout.write(f"copied {', '.join(names)} to {COPY_DIR}\n")
