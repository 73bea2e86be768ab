"""JSON Lines files (.jsonl, .ndjson) as a text source, streamed line by line.

Each non-blank line must be one JSON object; its keys are columns (in order of first
appearance; a key first seen late is a column that was null before). Scalars become text for the
shared type inference (numbers keep their written form: ``1.50`` stays ``1.50``), nested objects
and arrays become JSON text. Owns the line parsing and its ``ImportFileError`` (row = record
number, also the physical line); memory stays bounded by one block of rows and one line
(a line longer than ``MAX_LINE_BYTES`` is refused).
"""

from __future__ import annotations

import decimal
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa

from countyos.errors import ImportFileError
from countyos.ingest.columns import clean_column_name
from countyos.ingest.csv_file import unreadable_encoding_error
from countyos.ingest.encoding import BOM, EncodingFailure, decide_encoding, read_text_sample
from countyos.ingest.text_pipeline import TextBlock
from countyos.ingest.typed_values import json_default
from countyos.ingest.types import STRING

MAX_LINE_BYTES = 64 * 1024**2


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__("duplicate key")
        self.key = key


def _object_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _scalar_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, decimal.Decimal)):
        return str(value)
    if isinstance(value, float):  # NaN / Infinity literals
        return repr(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=json_default)


class JsonlSource:
    """A JSON Lines file; columns are discovered while reading."""

    source_format = "jsonl"
    header = None

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.file = self.path.name
        self.total_bytes = self.path.stat().st_size
        try:
            sample, self._encoding, _ = read_text_sample(self.path)
        except EncodingFailure as failure:
            raise unreadable_encoding_error(self.file, failure) from None
        if not sample.strip():
            raise ImportFileError(f"{self.file}: the file is empty", file=self.file)

    @property
    def encoding(self) -> str:
        return self._encoding or "utf-8"

    def _error(
        self, message: str, row: int, line: int, column: str | None = None
    ) -> ImportFileError:
        return ImportFileError(
            f"{self.file}: row {row} (line {line}): {message}",
            file=self.file,
            row=row,
            column=column,
            details={"line": line},
        )

    def _decode(self, raw: bytes, line: int) -> str:
        if self._encoding is None and not raw.isascii():
            try:
                self._encoding = decide_encoding(raw, final=True)
            except EncodingFailure:
                raise unreadable_encoding_error(self.file, EncodingFailure(line)) from None
        try:
            return raw.decode(self._encoding or "ascii")
        except UnicodeDecodeError:
            raise unreadable_encoding_error(self.file, EncodingFailure(line)) from None

    def _records(self) -> Iterator[tuple[dict[str, Any], int, int, int]]:
        """(object, record number, line number, bytes read) for each non-blank line."""
        with open(self.path, "rb") as handle:
            line = 0
            row = 0
            while True:
                raw = handle.readline(MAX_LINE_BYTES + 1)
                if not raw:
                    return
                line += 1
                if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                    raise self._error(
                        f"the line is longer than {MAX_LINE_BYTES} bytes", row + 1, line
                    )
                if line == 1 and raw.startswith(BOM):
                    raw = raw[len(BOM) :]
                if b"\x00" in raw:
                    raise unreadable_encoding_error(self.file, EncodingFailure(line))
                text = self._decode(raw, line)
                if not text.strip():
                    continue
                row += 1
                yield self._parse(text, row, line), row, line, handle.tell()

    def _parse(self, text: str, row: int, line: int) -> dict[str, Any]:
        try:
            value = json.loads(text, parse_float=decimal.Decimal, object_pairs_hook=_object_pairs)
        except _DuplicateKey as duplicate:
            raise self._error(
                "an object repeats a key", row, line, clean_column_name(duplicate.key)
            ) from None
        except (ValueError, RecursionError):
            raise self._error("the line is not valid JSON", row, line) from None
        if not isinstance(value, dict):
            raise self._error("the line is not a JSON object", row, line)
        return value

    @contextmanager
    def blocks(self, batch_rows: int) -> Iterator[Iterator[TextBlock]]:
        """Stream the records in blocks of ``batch_rows`` string columns."""
        yield self._blocks(batch_rows)

    def _blocks(self, batch_rows: int) -> Iterator[TextBlock]:
        columns: dict[str, int] = {}  # cleaned name -> position
        raw_names: dict[str, str] = {}  # raw key -> cleaned name
        values: list[list[str | None]] = []
        first_row, rows_in_block, bytes_done = 1, 0, 0
        for record, row, line, bytes_done in self._records():
            seen_in_record: set[str] = set()
            for key, value in record.items():
                name = raw_names.get(key)
                if name is None:
                    name = self._column_name(key, row, line)
                    raw_names[key] = name
                if name in seen_in_record:
                    raise self._error(
                        f"two keys clean to the column name {name!r}", row, line, name
                    )
                seen_in_record.add(name)
                if name not in columns:
                    columns[name] = len(columns)
                    values.append([None] * rows_in_block)
                values[columns[name]].append(_scalar_text(value))
            rows_in_block += 1
            for column in values:
                if len(column) < rows_in_block:
                    column.append(None)
            if rows_in_block == batch_rows:
                yield self._block(columns, values, first_row, bytes_done)
                values = [[] for _ in columns]
                first_row, rows_in_block = first_row + batch_rows, 0
        if rows_in_block:
            yield self._block(columns, values, first_row, bytes_done)

    def _column_name(self, key: str, row: int, line: int) -> str:
        name = clean_column_name(key)
        if not name:
            raise self._error("an object has an empty key", row, line)
        return name

    def _block(
        self,
        columns: dict[str, int],
        values: list[list[str | None]],
        first_row: int,
        bytes_done: int,
    ) -> TextBlock:
        arrays = [pa.array(column, type=STRING) for column in values]
        return TextBlock(list(columns), arrays, first_row, bytes_done)
