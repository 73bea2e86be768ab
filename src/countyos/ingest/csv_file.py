"""CSV (and delimited .txt) files as a text source, streamed with Arrow's CSV reader.

Owns delimiter sniffing, the header row, streaming the data rows as string columns in blocks of
``batch_rows`` (bounded memory: one read block plus one output block), and turning reader
failures into ``ImportFileError``: unreadable encoding, rows with the wrong number of fields
(located exactly by a second, streaming look with Python's csv module, on the error path only),
rows longer than a read block. Types are decided by ``text_pipeline``, not here.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv

from countyos.errors import ImportFileError
from countyos.ingest.columns import check_column_names, clean_column_name
from countyos.ingest.encoding import (
    GB18030,
    EncodingFailure,
    Utf8Transform,
    open_utf8_stream,
    read_text_sample,
)
from countyos.ingest.text_pipeline import TextBlock
from countyos.ingest.text_values import NULL_TOKENS
from countyos.ingest.types import STRING

_DELIMITERS = (",", "\t", ";", "|")
# Arrow's reader reads up to 32 blocks ahead of the consumer, so the block size bounds memory
# (about 32 MiB of read-ahead); blocks are regrouped into ``batch_rows`` rows afterwards.
_BLOCK_BYTES = 1024 * 1024
_MAX_BLOCK_BYTES = 16 * 1024**2  # rows longer than this are refused


def unreadable_encoding_error(file: str, failure: EncodingFailure) -> ImportFileError:
    """The error for bytes that are neither UTF-8 nor GB18030 (row = line minus the header)."""
    where = f" (line {failure.line})" if failure.line else ""
    row = failure.line - 1 if failure.line and failure.line > 1 else None
    details = {"line": failure.line} if failure.line else None
    return ImportFileError(
        f"{file}: unreadable encoding{where}: the file is neither UTF-8 nor GB18030/GBK text",
        file=file,
        row=row,
        details=details,
    )


def sniff_delimiter(header_line: str) -> str:
    """The most frequent of ``, TAB ; |`` outside quotes in the header line (default comma)."""
    counts = dict.fromkeys(_DELIMITERS, 0)
    quoted = False
    for char in header_line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(_DELIMITERS, key=lambda delimiter: counts[delimiter])
    return best if counts[best] > 0 else ","


class CsvSource:
    """A CSV file: header parsed on opening, data rows streamed by ``blocks``."""

    source_format = "csv"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.file = self.path.name
        self.total_bytes = self.path.stat().st_size
        try:
            sample, self._sample_encoding, complete = read_text_sample(self.path)
        except EncodingFailure as failure:
            raise unreadable_encoding_error(self.file, failure) from None
        self._stream_encoding: str | None = None
        lines = [line for line in sample.splitlines() if line.strip()]
        if not lines:
            raise ImportFileError(f"{self.file}: the file is empty (no header row)", file=self.file)
        if not complete and len(lines) < 2:
            raise ImportFileError(
                f"{self.file}: the header row is longer than 1 MiB", file=self.file
            )
        self.delimiter = sniff_delimiter(lines[0])
        self.header = check_column_names(
            [clean_column_name(name) for name in self._parse_header(sample)], file=self.file
        )
        longest = max(len(line.encode()) for line in lines)
        self._block_bytes = min(max(_BLOCK_BYTES, 2 * longest), _MAX_BLOCK_BYTES)

    def _parse_header(self, sample: str) -> list[str]:
        try:
            for record in csv.reader(io.StringIO(sample, newline=""), delimiter=self.delimiter):
                if record:
                    return record
        except csv.Error:
            pass
        raise ImportFileError(f"{self.file}: the header row cannot be parsed", file=self.file)

    @property
    def encoding(self) -> str:
        return self._stream_encoding or self._sample_encoding or "utf-8"

    @contextmanager
    def blocks(self, batch_rows: int) -> Iterator[Iterator[TextBlock]]:
        """Stream the data rows in blocks of ``batch_rows`` string columns."""
        stream, transform = open_utf8_stream(self.path, self._sample_encoding)
        invalid_rows: list[int] = []

        def on_invalid_row(row: pa_csv.InvalidRow) -> str:
            invalid_rows.append(row.actual_columns)
            return "skip"

        names = [f"f{index}" for index in range(len(self.header))]
        try:
            try:
                reader = pa_csv.open_csv(
                    stream,
                    read_options=pa_csv.ReadOptions(
                        block_size=self._block_bytes, autogenerate_column_names=True
                    ),
                    parse_options=pa_csv.ParseOptions(
                        delimiter=self.delimiter,
                        newlines_in_values=True,
                        invalid_row_handler=on_invalid_row,
                    ),
                    convert_options=pa_csv.ConvertOptions(
                        column_types=dict.fromkeys(names, STRING),
                        null_values=list(NULL_TOKENS),
                        strings_can_be_null=True,
                        check_utf8=False,  # Utf8Transform validated every byte
                    ),
                )
            except (pa.ArrowInvalid, OSError, EncodingFailure) as exc:
                raise self._translate(exc, transform, invalid_rows) from None
            if reader.schema.names != names or any(t != STRING for t in reader.schema.types):
                raise ImportFileError(
                    f"{self.file}: the header row could not be parsed consistently", file=self.file
                )
            yield self._rebatch(reader, transform, invalid_rows, batch_rows)
            self._stream_encoding = transform.encoding
        finally:
            stream.close()

    def _arrow_batches(
        self, reader: pa_csv.CSVStreamingReader, transform: Utf8Transform, invalid_rows: list[int]
    ) -> Iterator[pa.RecordBatch]:
        skip_header = True
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except (pa.ArrowInvalid, OSError, EncodingFailure) as exc:
                raise self._translate(exc, transform, invalid_rows) from None
            if invalid_rows:
                raise self._translate(None, transform, invalid_rows)
            if skip_header and batch.num_rows:
                batch = batch.slice(1)
                skip_header = False
            if batch.num_rows:
                yield batch
        if invalid_rows:
            raise self._translate(None, transform, invalid_rows)

    def _rebatch(
        self,
        reader: pa_csv.CSVStreamingReader,
        transform: Utf8Transform,
        invalid_rows: list[int],
        batch_rows: int,
    ) -> Iterator[TextBlock]:
        pending: list[pa.RecordBatch] = []
        pending_rows = 0
        next_row = 1
        for batch in self._arrow_batches(reader, transform, invalid_rows):
            self._stream_encoding = transform.encoding
            pending.append(batch)
            pending_rows += batch.num_rows
            while pending_rows >= batch_rows:
                table = pa.Table.from_batches(pending)
                yield self._block(table.slice(0, batch_rows), next_row, transform.bytes_in)
                next_row += batch_rows
                rest = table.slice(batch_rows)
                pending, pending_rows = rest.to_batches(), rest.num_rows
        if pending_rows:
            yield self._block(pa.Table.from_batches(pending), next_row, transform.bytes_in)

    def _block(self, table: pa.Table, first_row: int, bytes_done: int) -> TextBlock:
        arrays = [column.combine_chunks() for column in table.columns]
        return TextBlock(list(self.header), arrays, first_row, min(bytes_done, self.total_bytes))

    def _translate(
        self, exc: BaseException | None, transform: Utf8Transform, invalid_rows: list[int]
    ) -> ImportFileError:
        failure = transform.failure or (exc if isinstance(exc, EncodingFailure) else None)
        if failure is not None:
            return unreadable_encoding_error(self.file, failure)
        message = str(exc or "")
        if "Empty CSV file" in message:
            # Arrow's reader says so for a lone header line without a final newline.
            return ImportFileError(f"{self.file}: the file has no data rows", file=self.file)
        if "straddling" in message or "block size" in message:
            limit = self._block_bytes // 1024**2
            return ImportFileError(
                f"{self.file}: a row is longer than {limit} MiB (the reader's block); the file "
                "may have an unterminated quote",
                file=self.file,
                details={"max_row_bytes": self._block_bytes},
            )
        located = self._locate_bad_record(transform.encoding)
        if located is not None:
            row, fields = located
            return ImportFileError(
                f"{self.file}: row {row} has {fields} fields, the header has {len(self.header)}",
                file=self.file,
                row=row,
                details={"fields": fields, "expected_fields": len(self.header)},
            )
        return ImportFileError(f"{self.file}: malformed CSV (unbalanced quotes?)", file=self.file)

    def _locate_bad_record(self, encoding: str | None) -> tuple[int, int] | None:
        """1-based data row and field count of the first record whose field count is wrong."""
        python_encoding = GB18030 if encoding == GB18030 else "utf-8-sig"
        expected = len(self.header)
        try:
            with open(self.path, encoding=python_encoding, errors="replace", newline="") as handle:
                header_seen = False
                row = 0
                for record in csv.reader(handle, delimiter=self.delimiter):
                    if not record:
                        continue
                    if not header_seen:
                        header_seen = True
                        continue
                    row += 1
                    if len(record) != expected:
                        return row, len(record)
        except csv.Error:
            return None
        return None
