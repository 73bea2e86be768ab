"""Text encoding of CSV and JSON Lines files: UTF-8 (with or without BOM) or GB18030/GBK.

Detection is cheap and single-pass: a sample from the start of the file decides when it holds
non-ASCII bytes; otherwise the decision is taken in-stream at the first non-ASCII block (ASCII is
the same in both encodings, so nothing read before needs re-reading). ``Utf8Transform`` feeds
Arrow's CSV reader UTF-8 while validating every byte, in bounded memory. A file that is neither
encoding (or holds NUL bytes, as UTF-16 does) is unreadable. Owns no file formats and no errors
beyond ``EncodingFailure``, which the format modules turn into ``ImportFileError``.
"""

from __future__ import annotations

import codecs
from pathlib import Path

import pyarrow as pa

UTF8 = "utf-8"
GB18030 = "gb18030"
CANDIDATES = (UTF8, GB18030)  # GBK and GB2312 are subsets of GB18030
BOM = codecs.BOM_UTF8
SAMPLE_BYTES = 1024 * 1024


class EncodingFailure(ValueError):
    """The bytes are neither UTF-8 nor GB18030.

    Attributes:
        line: 1-based physical line of the first undecodable byte, when known.
    """

    def __init__(self, line: int | None) -> None:
        super().__init__("unreadable encoding")
        self.line = line


def decide_encoding(data: bytes, *, final: bool) -> str | None:
    """The encoding of a chunk of text bytes.

    Args:
        data: Bytes from a text file (may end inside a multi-byte character unless ``final``).
        final: True when ``data`` runs to the end of the file.

    Returns:
        ``utf-8`` or ``gb18030``; ``None`` when the chunk is pure ASCII (either would do).

    Raises:
        EncodingFailure: The chunk decodes in neither encoding or contains NUL bytes.
    """
    if b"\x00" in data:
        raise EncodingFailure(data[: data.index(b"\x00")].count(b"\n") + 1)
    if data.isascii():
        return None
    for encoding in CANDIDATES:
        try:
            codecs.getincrementaldecoder(encoding)().decode(data, final)
        except UnicodeDecodeError:
            continue
        return encoding
    raise EncodingFailure(None)


def read_text_sample(path: Path, size: int = SAMPLE_BYTES) -> tuple[str, str | None, bool]:
    """Decode the start of a text file.

    Returns:
        ``(text, encoding, complete)``: the decoded sample without BOM, the encoding decided
        from it (``None`` if all ASCII), and whether the sample is the whole file.

    Raises:
        EncodingFailure: The sample is neither UTF-8 nor GB18030.
    """
    with open(path, "rb") as handle:
        data = handle.read(size + 1)
    complete = len(data) <= size
    data = data[:size]
    if data.startswith(BOM):
        data = data[len(BOM) :]
    encoding = decide_encoding(data, final=complete)
    try:
        text = codecs.getincrementaldecoder(encoding or UTF8)().decode(data, complete)
    except UnicodeDecodeError as exc:  # pragma: no cover - decide_encoding checked it
        raise EncodingFailure(data[: exc.start].count(b"\n") + 1) from exc
    return text, encoding, complete


class Utf8Transform:
    """A ``pyarrow.TransformInputStream`` function: source bytes in, validated UTF-8 out.

    Attributes:
        encoding: The encoding once decided (``None`` while everything was ASCII).
        bytes_in: Source bytes consumed so far (for progress).
        failure: The ``EncodingFailure`` raised, if any (Arrow may wrap the exception).
    """

    def __init__(self, encoding: str | None) -> None:
        self.encoding = encoding
        self.bytes_in = 0
        self.failure: EncodingFailure | None = None
        self._lines_before = 0
        self._at_start = True
        self._decoder = codecs.getincrementaldecoder(encoding)() if encoding else None

    def __call__(self, buffer: pa.Buffer) -> bytes:
        data = buffer.to_pybytes()
        final = len(data) == 0
        self.bytes_in += len(data)
        if self._at_start and data:
            # Arrow asks for a whole block first, so the first buffer holds any BOM entirely.
            self._at_start = False
            if data.startswith(BOM):
                data = data[len(BOM) :]
        try:
            out = self._convert(data, final)
        except EncodingFailure as failure:
            self.failure = failure
            raise
        self._lines_before += data.count(b"\n")
        return out

    def _fail(self, data: bytes, position: int) -> EncodingFailure:
        return EncodingFailure(self._lines_before + data[: max(position, 0)].count(b"\n") + 1)

    def _convert(self, data: bytes, final: bool) -> bytes:
        if b"\x00" in data:
            raise self._fail(data, data.index(b"\x00"))
        if self.encoding is None:
            if data.isascii():
                return data
            try:
                self.encoding = decide_encoding(data, final=final)
            except EncodingFailure:
                first = next(i for i, byte in enumerate(data) if byte > 0x7F)
                raise self._fail(data, first) from None
            self._decoder = codecs.getincrementaldecoder(self.encoding)()
        assert self._decoder is not None
        try:
            text = self._decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            raise self._fail(data, exc.start) from None
        return data if self.encoding == UTF8 else text.encode(UTF8)


def open_utf8_stream(path: Path, encoding: str | None) -> tuple[pa.NativeFile, Utf8Transform]:
    """Open a text file as an Arrow input stream of UTF-8 bytes (BOM removed).

    Args:
        path: The file.
        encoding: The encoding decided from the sample, or ``None`` to decide in-stream.

    Returns:
        The stream and its transform (read ``transform.encoding`` and ``.failure`` from it).
    """
    transform = Utf8Transform(encoding)
    return pa.TransformInputStream(pa.OSFile(str(path), "rb"), transform), transform
