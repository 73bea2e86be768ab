"""File imports: the entry points ``stage_file`` and ``preview_file``.

Owns the checks made before any byte is parsed (the file exists, its extension names a known
format, it is not empty, it is not over ``max_bytes``), the choice of reader by extension, and the
guarantee that a failed import leaves no file in the staging directory. The readers live in
``csv_file``, ``jsonl_file``, ``xlsx_file`` and ``parquet_file``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from countyos.errors import ImportFileError, InvalidInputError, TooLargeError
from countyos.ingest.columns import parse_overrides
from countyos.ingest.csv_file import CsvSource
from countyos.ingest.jsonl_file import JsonlSource
from countyos.ingest.parquet_file import preview_parquet, stage_parquet
from countyos.ingest.staging import Preview, StagedImport, StagingArea
from countyos.ingest.text_pipeline import TextSource, preview_text, stage_text
from countyos.ingest.xlsx_file import XlsxSource

Progress = Callable[[int, int], None]

#: File extension -> source format.
FORMATS_BY_EXTENSION: dict[str, str] = {
    ".csv": "csv",
    ".txt": "csv",
    ".xlsx": "xlsx",
    ".parquet": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
#: Rows a preview infers its types from.
PREVIEW_SAMPLE_ROWS = 10_000


def detect_format(path: Path) -> str:
    """The source format of a file, by its extension.

    Raises:
        InvalidInputError: The extension is not one of ``FORMATS_BY_EXTENSION``.
    """
    suffix = Path(path).suffix.lower()
    if suffix in FORMATS_BY_EXTENSION:
        return FORMATS_BY_EXTENSION[suffix]
    hint = " (save it as .xlsx)" if suffix in (".xls", ".et", ".ods") else ""
    known = ", ".join(sorted(FORMATS_BY_EXTENSION))
    raise InvalidInputError(
        f"{Path(path).name}: unsupported file type {suffix or '(no extension)'}{hint}; "
        f"supported: {known}",
        details={"file": Path(path).name},
    )


def _check_file(path: Path, max_bytes: int) -> str:
    source_format = detect_format(path)
    if not path.is_file():
        raise InvalidInputError(f"{path.name}: no such file", details={"file": path.name})
    size = path.stat().st_size
    if size > max_bytes:
        raise TooLargeError(
            f"{path.name}: the file is {size} bytes, over the limit of {max_bytes} bytes",
            details={"file": path.name, "bytes": size, "max_bytes": max_bytes},
        )
    if size == 0:
        raise ImportFileError(f"{path.name}: the file is empty", file=path.name)
    return source_format


def _text_source(path: Path, source_format: str) -> TextSource:
    if source_format == "csv":
        return CsvSource(path)
    if source_format == "jsonl":
        return JsonlSource(path)
    return XlsxSource(path)


def stage_file(
    path: Path,
    staging_dir: Path,
    *,
    type_overrides: Mapping[str, str] | None = None,
    max_bytes: int,
    batch_rows: int = 131_072,
    progress: Progress | None = None,
) -> StagedImport:
    """Validate a file and stream it into Parquet files under ``staging_dir``.

    Args:
        path: A .csv/.txt, .xlsx, .parquet or .jsonl/.ndjson file.
        staging_dir: Parent of the import's own staging subdirectory (created if missing).
        type_overrides: Column name -> type name (see ``TYPE_NAMES``); wins over inference.
        max_bytes: Largest accepted file size, checked before reading.
        batch_rows: Rows per streamed block (bounds memory; the first block drives inference).
        progress: Called with ``(bytes_done, bytes_total)`` as the file is read. A text file
            whose column must widen to string is read twice; the total then doubles.

    Returns:
        The staged import.

    Raises:
        InvalidInputError: Unknown extension, missing file, bad override type or column.
        TooLargeError: The file is over ``max_bytes``.
        ImportFileError: The file cannot be imported (names file, and row/column where known);
            nothing is left in ``staging_dir``.
    """
    path = Path(path)
    overrides = parse_overrides(type_overrides)
    if batch_rows < 1:
        raise InvalidInputError("batch_rows must be at least 1")
    source_format = _check_file(path, max_bytes)
    if source_format == "parquet":
        with StagingArea(staging_dir) as area:
            return stage_parquet(path, overrides, area, batch_rows=batch_rows, progress=progress)
    source = _text_source(path, source_format)
    with StagingArea(staging_dir) as area:
        return stage_text(source, overrides, area, batch_rows=batch_rows, progress=progress)


def preview_file(
    path: Path,
    *,
    rows: int = 20,
    type_overrides: Mapping[str, str] | None = None,
    max_bytes: int,
) -> Preview:
    """The inferred schema and first rows of a file, without staging anything.

    Types are inferred from the first ``PREVIEW_SAMPLE_ROWS`` rows; ``stage_file`` infers from
    its first block and may still widen a column whose later values do not fit.

    Args:
        path: As for ``stage_file``.
        rows: How many rows to return.
        type_overrides: As for ``stage_file``; a sample value that does not fit raises.
        max_bytes: As for ``stage_file``.

    Raises:
        The errors of ``stage_file``.
    """
    path = Path(path)
    overrides = parse_overrides(type_overrides)
    if rows < 0:
        raise InvalidInputError("rows must not be negative")
    source_format = _check_file(path, max_bytes)
    if source_format == "parquet":
        return preview_parquet(path, overrides, rows=rows)
    source = _text_source(path, source_format)
    return preview_text(source, overrides, rows=rows, sample_rows=PREVIEW_SAMPLE_ROWS)
