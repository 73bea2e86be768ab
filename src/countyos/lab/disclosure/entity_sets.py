"""Entity sets of released cells as sorted keyed hashes, and their fast comparison.

Owns how the set of units behind a cell is represented inside the domain: a sorted, duplicate-free
``numpy.uint64`` array of keyed BLAKE2b-64 hashes of the entity keys. The key (a secret of the
installation, at least 16 bytes) makes the hashes useless outside the domain: without it one
cannot test whether a given resident ID is in a set, even though IDs have little entropy. All sets
compared with each other must be hashed with the same secret. This module must not persist sets
or decide on releases.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from countyos.errors import InvalidInputError

HASH_DTYPE = np.dtype("<u8")
MIN_SECRET_BYTES = 16
MAX_SECRET_BYTES = 64  # BLAKE2b's key limit


def entity_hashes(keys: pa.Array | pa.ChunkedArray, secret: bytes) -> np.ndarray:
    """The entity set behind a cell: sorted unique keyed hashes of its entity keys.

    Duplicate keys (several rows of one unit) collapse to one element. Integer keys and text keys
    are tagged differently, so ``42`` and ``"42"`` are different units. About a microsecond per
    distinct key (the hash runs in C; one short Python step per key).

    Args:
        keys: entity keys (integers, strings or binary; dictionary-encoded is fine).
        secret: the installation's hashing key, 16 to 64 bytes.

    Returns:
        A sorted ``uint64`` array without duplicates.

    Raises:
        InvalidInputError: a null key (a row without a unit cannot be counted), an unsupported key
            type, or a bad secret.
    """
    keys = _plain_keys(keys)
    if len(keys) == 0:
        _check_secret(secret)
        return np.empty(0, dtype=HASH_DTYPE)
    return np.unique(keyed_hashes(pc.unique(keys), secret))


def keyed_hashes(keys: pa.Array | pa.ChunkedArray, secret: bytes) -> np.ndarray:
    """One keyed BLAKE2b-64 hash per key, in input order (no sorting, no deduplication).

    Args:
        keys: entity keys as for :func:`entity_hashes`.
        secret: the installation's hashing key, 16 to 64 bytes.

    Returns:
        A ``uint64`` array as long as ``keys``.

    Raises:
        InvalidInputError: as for :func:`entity_hashes`.
    """
    _check_secret(secret)
    keys = _plain_keys(keys)
    base = hashlib.blake2b(key=bytes(secret), digest_size=8, person=b"countyos-entity")
    key_type = keys.type
    if pa.types.is_integer(key_type):
        try:
            values = keys.cast(pa.int64()).to_numpy(zero_copy_only=False).astype("<i8")
        except pa.ArrowInvalid as error:
            raise InvalidInputError(
                "integer entity keys must fit in a signed 64-bit integer"
            ) from error
        raw = values.tobytes()
        chunks = (raw[offset : offset + 8] for offset in range(0, len(raw), 8))
        digest = _digest_all(base, b"i", chunks, len(values))
    elif pa.types.is_string(key_type) or pa.types.is_large_string(key_type):
        texts = keys.to_pylist()
        digest = _digest_all(base, b"s", (text.encode("utf-8") for text in texts), len(texts))
    elif pa.types.is_binary(key_type) or pa.types.is_large_binary(key_type):
        blobs = keys.to_pylist()
        digest = _digest_all(base, b"b", iter(blobs), len(blobs))
    else:
        raise InvalidInputError(
            f"entity keys must be integers or text, not {key_type}",
            details={"type": str(key_type)},
        )
    return np.frombuffer(digest, dtype=HASH_DTYPE).copy()


def _plain_keys(keys: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(keys, pa.ChunkedArray):
        keys = keys.combine_chunks() if keys.num_chunks else pa.array([], type=keys.type)
    if not isinstance(keys, pa.Array):
        raise InvalidInputError("entity keys must be a pyarrow Array")
    if pa.types.is_dictionary(keys.type):
        keys = keys.dictionary_decode()
    if keys.null_count:
        raise InvalidInputError(
            "entity keys contain nulls; every row must belong to an identified unit",
            details={"nulls": keys.null_count},
        )
    return keys


def _digest_all(base, tag: bytes, items, count: int) -> bytes:
    out = bytearray(8 * count)
    view = memoryview(out)
    position = 0
    for item in items:
        hasher = base.copy()
        hasher.update(tag)
        hasher.update(item)
        view[position : position + 8] = hasher.digest()
        position += 8
    return bytes(out)


def _check_secret(secret: bytes) -> None:
    if not isinstance(secret, (bytes, bytearray)):
        raise InvalidInputError("the entity hashing secret must be bytes")
    if not MIN_SECRET_BYTES <= len(secret) <= MAX_SECRET_BYTES:
        raise InvalidInputError(
            f"the entity hashing secret must be {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes long"
        )


def validate_entity_set(entities: np.ndarray) -> np.ndarray:
    """Check that an array is a valid entity set (1-D, uint64, strictly increasing).

    Returns:
        The array as little-endian ``uint64``.

    Raises:
        InvalidInputError: the array is not an entity set as made by :func:`entity_hashes`.
    """
    if not isinstance(entities, np.ndarray) or entities.ndim != 1:
        raise InvalidInputError("an entity set must be a 1-D numpy array of uint64 hashes")
    if entities.dtype != np.uint64:
        raise InvalidInputError("an entity set must have dtype uint64 (see entity_hashes)")
    entities = entities.astype(HASH_DTYPE, copy=False)
    if entities.size > 1 and not bool(np.all(entities[1:] > entities[:-1])):
        raise InvalidInputError("an entity set must be sorted and free of duplicates")
    return entities


def intersection_size(first: np.ndarray, second: np.ndarray) -> int:
    """Number of common elements of two sorted duplicate-free arrays, in ``O(m log n)``."""
    if first.size > second.size:
        first, second = second, first
    if first.size == 0:
        return 0
    positions = np.searchsorted(second, first)
    inside = positions < second.size
    return int(np.count_nonzero(second[positions[inside]] == first[inside]))


def symmetric_difference_size(first: np.ndarray, second: np.ndarray) -> int:
    """Number of units in exactly one of two entity sets."""
    return int(first.size + second.size - 2 * intersection_size(first, second))
