"""Where the entity sets of released cells are kept: a protocol, an in-memory store, bytes.

Owns :class:`ReleasedCellStore` (what the differencing check needs from storage: add a set, list
the sets whose size lies in a range) and :class:`InMemoryReleasedCellStore`, which keeps sets
ordered by size with a 64-bucket sketch of each, so that a lookup (``near``) slices the size
window and drops, in one vectorised step, every set whose sketch proves it too far to compare;
it (de)serialises to a checksummed byte string. Persisting those bytes (per project, in the
domain) is the caller's job. The byte format names the entity hash scheme: bytes of format 1 hold
sets of the former keyed BLAKE2b-64 scheme, which cannot be compared with current sets, and are
refused rather than read (a silent mix would make differencing miss every pair). This module must
not hash entity keys or decide what is disclosive.
"""

from __future__ import annotations

import bisect
import hashlib
import struct
from collections.abc import Iterator
from typing import Protocol, runtime_checkable

import numpy as np

from countyos.errors import ConflictError, InvalidInputError
from countyos.lab.disclosure.entity_sets import (
    HASH_DTYPE,
    SKETCH_BUCKETS,
    bucket_counts,
    validate_entity_set,
)

# CountyOS released-cell store, format 2: sets hashed with entity_sets.HASH_SCHEME
_MAGIC = b"COSRCS\x00\x02"
_FORMAT_1 = b"COSRCS\x00\x01"  # sets hashed with keyed BLAKE2b-64 (not comparable)
_DIGEST_BYTES = 32


@runtime_checkable
class ReleasedCellStore(Protocol):
    """Storage of the entity sets behind every cell already released to one project."""

    def add(self, cell_id: str, entities: np.ndarray) -> None:
        """Record a released cell; ``entities`` is a set made by ``entity_hashes``."""
        ...

    def with_size_between(self, low: int, high: int) -> Iterator[tuple[str, np.ndarray]]:
        """Released cells whose entity set has ``low <= size <= high`` units."""
        ...

    def __len__(self) -> int:
        """Number of released cells recorded."""
        ...


class InMemoryReleasedCellStore:
    """A :class:`ReleasedCellStore` in memory, ordered by set size."""

    def __init__(self) -> None:
        self._sizes: list[int] = []
        self._ids: list[str] = []
        self._sets: list[np.ndarray] = []
        self._sketches: list[np.ndarray] = []
        self._known: set[str] = set()
        self._matrix: np.ndarray | None = None  # the sketches stacked, rebuilt after an add

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, cell_id: object) -> bool:
        return cell_id in self._known

    def add(self, cell_id: str, entities: np.ndarray) -> None:
        """Record a released cell.

        Raises:
            InvalidInputError: an empty id or an array that is not an entity set.
            ConflictError: the id was recorded before (ids name one release of one cell).
        """
        if not isinstance(cell_id, str) or not cell_id:
            raise InvalidInputError("a released cell needs a non-empty id")
        if cell_id in self._known:
            raise ConflictError(
                "this released cell is already recorded", details={"cell_id": cell_id}
            )
        entities = validate_entity_set(entities).copy()
        entities.setflags(write=False)
        position = bisect.bisect_right(self._sizes, entities.size)
        self._sizes.insert(position, int(entities.size))
        self._ids.insert(position, cell_id)
        self._sets.insert(position, entities)
        self._sketches.insert(position, bucket_counts(entities))
        self._known.add(cell_id)
        self._matrix = None

    def with_size_between(self, low: int, high: int) -> Iterator[tuple[str, np.ndarray]]:
        """Released cells with ``low <= size <= high`` (a binary search, then a slice)."""
        start = bisect.bisect_left(self._sizes, low)
        stop = bisect.bisect_right(self._sizes, high)
        for position in range(start, stop):
            yield self._ids[position], self._sets[position]

    def near(self, entities: np.ndarray, reach: int) -> Iterator[tuple[str, np.ndarray]]:
        """Released cells that may lie within ``reach`` units of ``entities``.

        Yields, in store order, the cells whose size is within ``reach`` of the set's and whose
        bucket sketch is too (a lower bound of the distance, see ``bucket_counts``): every cell
        at most ``reach`` units away is among them; most cells further away are not.

        Args:
            entities: a valid entity set.
            reach: the largest symmetric difference of interest.
        """
        size = int(entities.size)
        start = bisect.bisect_left(self._sizes, size - reach)
        stop = bisect.bisect_right(self._sizes, size + reach)
        if start >= stop:
            return
        if self._matrix is None:
            self._matrix = (
                np.stack(self._sketches)
                if self._sketches
                else np.empty((0, SKETCH_BUCKETS), dtype=np.int32)
            )
        distances = np.abs(self._matrix[start:stop] - bucket_counts(entities)).sum(axis=1)
        for offset in np.flatnonzero(distances <= reach).tolist():
            yield self._ids[start + offset], self._sets[start + offset]

    def to_bytes(self) -> bytes:
        """Serialise the store (ids, sets) with a BLAKE2b checksum against corruption."""
        parts = [_MAGIC, struct.pack("<Q", len(self._ids))]
        for cell_id, entities in zip(self._ids, self._sets, strict=True):
            encoded = cell_id.encode("utf-8")
            parts.append(struct.pack("<I", len(encoded)))
            parts.append(encoded)
            parts.append(struct.pack("<Q", entities.size))
            parts.append(entities.astype(HASH_DTYPE, copy=False).tobytes())
        body = b"".join(parts)
        return body + hashlib.blake2b(body, digest_size=_DIGEST_BYTES).digest()

    @classmethod
    def from_bytes(cls, data: bytes) -> InMemoryReleasedCellStore:
        """Rebuild a store from :meth:`to_bytes` output.

        Raises:
            InvalidInputError: the bytes are not a store, are truncated or fail the checksum.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidInputError("a released-cell store is read from bytes")
        data = bytes(data)
        if data.startswith(_FORMAT_1):
            raise InvalidInputError(
                "this released-cell store was written with the former entity hash scheme "
                "(keyed BLAKE2b); its sets cannot be compared with current ones: re-run the job"
            )
        if len(data) < len(_MAGIC) + 8 + _DIGEST_BYTES or not data.startswith(_MAGIC):
            raise InvalidInputError("not a CountyOS released-cell store (bad header)")
        body, digest = data[:-_DIGEST_BYTES], data[-_DIGEST_BYTES:]
        if hashlib.blake2b(body, digest_size=_DIGEST_BYTES).digest() != digest:
            raise InvalidInputError("released-cell store data is corrupt (checksum mismatch)")
        store = cls()
        offset = len(_MAGIC)
        (count,) = struct.unpack_from("<Q", body, offset)
        offset += 8
        try:
            for _ in range(count):
                (id_length,) = struct.unpack_from("<I", body, offset)
                offset += 4
                cell_id = body[offset : offset + id_length].decode("utf-8")
                offset += id_length
                (size,) = struct.unpack_from("<Q", body, offset)
                offset += 8
                if offset + 8 * size > len(body):
                    raise InvalidInputError("released-cell store data is truncated")
                entities = np.frombuffer(body, dtype=HASH_DTYPE, count=size, offset=offset)
                offset += 8 * size
                store.add(cell_id, entities)
        except (struct.error, UnicodeDecodeError) as error:
            raise InvalidInputError("released-cell store data is malformed") from error
        if offset != len(body):
            raise InvalidInputError("released-cell store data has trailing bytes")
        return store
