"""XLSX workbooks as a text source, streamed with openpyxl in read-only mode (first sheet).

The header is the first row with a value; trailing empty header cells are dropped. Cells become
text for the shared type inference: numbers in their shortest form, date cells as ``YYYY-MM-DD``
when at midnight (else a timestamp), booleans as ``true``/``false``; formulas give their cached
values. Blank rows are skipped; a value to the right of the last header column is a malformed
row. Rows are reported as sheet row minus header row. Owns the zip-bomb check (the XML of a
workbook must not expand beyond ``MAX_EXPANSION`` times the file, nor beyond ``MAX_XML_BYTES``)
and the corrupt-workbook error; types are decided by ``text_pipeline``.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa

from countyos.errors import ImportFileError
from countyos.ingest.columns import check_column_names, clean_column_name
from countyos.ingest.text_pipeline import TextBlock
from countyos.ingest.types import STRING

MAX_EXPANSION = 200
MAX_XML_BYTES = 64 * 1024**3


def check_zip_expansion(
    path: Path, *, max_ratio: int = MAX_EXPANSION, max_bytes: int = MAX_XML_BYTES
) -> None:
    """Refuse a workbook whose members would expand suspiciously (a zip bomb).

    Raises:
        ImportFileError: Not a zip archive, or it expands past ``max_ratio`` times its size or
            past ``max_bytes``.
    """
    file = path.name
    try:
        with zipfile.ZipFile(path) as archive:
            expanded = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        raise ImportFileError(
            f"{file}: not a readable XLSX workbook (corrupt zip)", file=file
        ) from None
    size = max(path.stat().st_size, 1)
    if expanded > max_bytes or expanded > max_ratio * max(size, 1024 * 1024):
        raise ImportFileError(
            f"{file}: the workbook expands to {expanded} bytes from {size}; refused as a "
            "possible zip bomb",
            file=file,
            details={"expanded_bytes": expanded},
        )


def cell_text(value: Any) -> str | None:
    """The text an XLSX cell value is typed from."""
    if value is None or isinstance(value, str):
        return value if value is None or value.strip() else None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value)


class XlsxSource:
    """The first worksheet of an XLSX workbook."""

    source_format = "xlsx"
    encoding = None

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.file = self.path.name
        self.total_bytes = self.path.stat().st_size
        check_zip_expansion(self.path)
        with self._sheet_rows() as (rows, _):
            for sheet_row, values in rows:
                if any(cell_text(value) is not None for value in values):
                    self._header_row = sheet_row
                    header = [clean_column_name(cell_text(value)) for value in values]
                    break
            else:
                raise ImportFileError(
                    f"{self.file}: the first sheet is empty (no header row)", file=self.file
                )
        while header and not header[-1]:
            header.pop()
        self.header = check_column_names(header, file=self.file)

    def _corrupt(self) -> ImportFileError:
        return ImportFileError(
            f"{self.file}: not a readable XLSX workbook (corrupt or not XLSX)", file=self.file
        )

    @contextmanager
    def _sheet_rows(self) -> Iterator[tuple[Iterator[tuple[int, tuple[Any, ...]]], int]]:
        from openpyxl import load_workbook

        try:
            workbook = load_workbook(self.path, read_only=True, data_only=True)
        except Exception:  # noqa: BLE001 - openpyxl raises many kinds on a corrupt file
            raise self._corrupt() from None
        try:
            if not workbook.worksheets:
                raise ImportFileError(f"{self.file}: the workbook has no worksheet", file=self.file)
            sheet = workbook.worksheets[0]
            yield self._guarded(sheet), int(sheet.max_row or 0)
        finally:
            workbook.close()

    def _guarded(self, sheet: Any) -> Iterator[tuple[int, tuple[Any, ...]]]:
        rows = sheet.iter_rows(values_only=True)
        sheet_row = 0
        while True:
            try:
                values = next(rows)
            except StopIteration:
                return
            except ImportFileError:
                raise
            except Exception:  # noqa: BLE001 - corrupt XML inside the zip
                raise self._corrupt() from None
            sheet_row += 1
            yield sheet_row, values

    @contextmanager
    def blocks(self, batch_rows: int) -> Iterator[Iterator[TextBlock]]:
        """Stream the data rows in blocks of ``batch_rows`` string columns."""
        with self._sheet_rows() as (rows, max_row):
            yield self._blocks(rows, max_row, batch_rows)

    def _blocks(
        self, rows: Iterator[tuple[int, tuple[Any, ...]]], max_row: int, batch_rows: int
    ) -> Iterator[TextBlock]:
        width = len(self.header)
        columns: list[list[str | None]] = [[] for _ in range(width)]
        row_numbers: list[int] = []
        for sheet_row, values in rows:
            if sheet_row <= self._header_row:
                continue
            texts = [cell_text(value) for value in values]
            if all(text is None for text in texts):
                continue
            data_row = sheet_row - self._header_row
            if any(text is not None for text in texts[width:]):
                raise ImportFileError(
                    f"{self.file}: row {data_row} has a value right of the last header column",
                    file=self.file,
                    row=data_row,
                    details={"sheet_row": sheet_row},
                )
            texts.extend([None] * (width - len(texts)))
            for column, text in zip(columns, texts[:width], strict=True):
                column.append(text)
            row_numbers.append(data_row)
            if len(row_numbers) == batch_rows:
                yield self._block(columns, row_numbers, sheet_row, max_row)
                columns = [[] for _ in range(width)]
                row_numbers = []
        if row_numbers:
            yield self._block(columns, row_numbers, max_row, max_row)

    def _block(
        self, columns: list[list[str | None]], row_numbers: list[int], sheet_row: int, max_row: int
    ) -> TextBlock:
        done = (
            self.total_bytes * min(sheet_row, max_row) // max_row if max_row else self.total_bytes
        )
        arrays = [pa.array(column, type=STRING) for column in columns]
        return TextBlock(list(self.header), arrays, row_numbers[0], done, row_numbers)
