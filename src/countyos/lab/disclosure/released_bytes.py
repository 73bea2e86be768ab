"""The checksummed byte form of an in-memory released-cell store (a job's pending cells).

Owns :func:`store_to_bytes` and :func:`store_from_bytes`. Format 3 holds every cell with its
digest and either its entity set or its size bounds and a reference to a recipe (each recipe text
is written once);
format 2 (sets only) is still read. Format 1 held sets of the former keyed BLAKE2b-64 scheme,
which cannot be compared with current sets, and is refused rather than read (a silent mix would
make differencing miss every pair). This module must not hash entity keys or decide anything.
"""

from __future__ import annotations

import hashlib
import struct
from typing import TYPE_CHECKING

import numpy as np

from countyos.errors import InvalidInputError
from countyos.lab.disclosure.entity_sets import HASH_DTYPE

if TYPE_CHECKING:
    from countyos.lab.disclosure.released_store import InMemoryReleasedCellStore

_MAGIC = b"COSRCS\x00\x03"     # sets hashed with entity_sets.HASH_SCHEME, digests, recipes
_FORMAT_2 = b"COSRCS\x00\x02"  # the same sets, without digests or recipes
_FORMAT_1 = b"COSRCS\x00\x01"  # sets hashed with keyed BLAKE2b-64 (not comparable)
_DIGEST_BYTES = 32
_SET, _DEFERRED = 0, 1


def store_to_bytes(store: InMemoryReleasedCellStore) -> bytes:
    """Every cell of ``store`` with a BLAKE2b checksum against corruption."""
    recipes: dict[str, int] = {}
    cells = []
    for entry, entities, recipe in store.entries():
        encoded = entry.cell_id.encode("utf-8")
        digest = bytes.fromhex(entry.digest) if entry.digest else b""
        head = struct.pack("<I", len(encoded)) + encoded + struct.pack(
            "<BB", _SET if entities is not None else _DEFERRED, len(digest)) + digest
        head += struct.pack("<Q", entry.size)
        if entities is not None:
            cells.append(head + entities.astype(HASH_DTYPE, copy=False).tobytes())
        else:
            index = recipes.setdefault(str(recipe), len(recipes))
            cells.append(head + struct.pack("<QI", entry.size_high, index))
    parts = [_MAGIC, struct.pack("<Q", len(recipes))]
    for recipe in recipes:
        encoded = recipe.encode("utf-8")
        parts += [struct.pack("<I", len(encoded)), encoded]
    parts.append(struct.pack("<Q", len(cells)))
    body = b"".join(parts) + b"".join(cells)
    return body + hashlib.blake2b(body, digest_size=_DIGEST_BYTES).digest()


def store_from_bytes(data: bytes, store: InMemoryReleasedCellStore) -> None:
    """Add every cell of ``data`` (from :func:`store_to_bytes`) to the empty ``store``."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidInputError("a released-cell store is read from bytes")
    data = bytes(data)
    if data.startswith(_FORMAT_1):
        raise InvalidInputError(
            "this released-cell store was written with the former entity hash scheme "
            "(keyed BLAKE2b); its sets cannot be compared with current ones: re-run the job"
        )
    magic = data[: len(_MAGIC)]
    if len(data) < len(_MAGIC) + 8 + _DIGEST_BYTES or magic not in (_MAGIC, _FORMAT_2):
        raise InvalidInputError("not a CountyOS released-cell store (bad header)")
    body, digest = data[:-_DIGEST_BYTES], data[-_DIGEST_BYTES:]
    if hashlib.blake2b(body, digest_size=_DIGEST_BYTES).digest() != digest:
        raise InvalidInputError("released-cell store data is corrupt (checksum mismatch)")
    reader = _Reader(body, len(_MAGIC))
    try:
        recipes = []
        if magic == _MAGIC:
            recipes = [reader.text() for _ in range(reader.unpack("<Q"))]
        for _ in range(reader.unpack("<Q")):
            cell_id = reader.text()
            kind, digest_length = (_SET, 0) if magic == _FORMAT_2 else reader.unpack("<BB", 2)
            cell_digest = reader.take(digest_length).hex() or None
            size = reader.unpack("<Q")
            if kind == _SET:
                entities = np.frombuffer(reader.take(8 * size), dtype=HASH_DTYPE)
                store.add(cell_id, entities, cell_digest)
            elif kind == _DEFERRED and cell_digest:
                high, index = reader.unpack("<QI", 2)
                store.add_deferred(cell_id, size, cell_digest, recipes[index], high)
            else:
                raise InvalidInputError("released-cell store data is malformed")
    except (struct.error, UnicodeDecodeError, IndexError) as error:
        raise InvalidInputError("released-cell store data is malformed") from error
    if reader.offset != len(body):
        raise InvalidInputError("released-cell store data has trailing bytes")


class _Reader:
    def __init__(self, body: bytes, offset: int) -> None:
        self.body, self.offset = body, offset

    def take(self, length: int) -> bytes:
        if self.offset + length > len(self.body):
            raise InvalidInputError("released-cell store data is truncated")
        chunk = self.body[self.offset : self.offset + length]
        self.offset += length
        return chunk

    def unpack(self, fmt: str, count: int = 1):  # type: ignore[no-untyped-def]
        values = struct.unpack_from(fmt, self.body, self.offset)
        self.offset += struct.calcsize(fmt)
        return values if count > 1 else values[0]

    def text(self) -> str:
        return self.take(self.unpack("<I")).decode("utf-8")
