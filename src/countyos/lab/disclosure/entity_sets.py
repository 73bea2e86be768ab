"""Entity sets of released cells as sorted keyed hashes, and their fast comparison.

Owns how the set of units behind a cell is represented inside the domain: a sorted, duplicate-free
``numpy.uint64`` array of keyed hashes of the entity keys, and the one definition of that hash,
which Python (:func:`entity_hashes`) and SQL (:func:`keyed_hash_sql`, used by the checked-SQL
rewrite so DuckDB hashes inside the query) compute identically, so sets from SQL jobs and from
Python outputs compare in one released-cell store. This module must not persist sets or decide on
releases.

The construction (scheme :data:`HASH_SCHEME`)::

    key block  K = hex(BLAKE2b-256(key=secret, data="countyos entity hash key/md5/1"))
                   (64 ASCII characters: exactly one MD5 input block)
    message    m = "i" + decimal text   for integer keys
                   "s" + UTF-8 bytes    for text keys
                   "b" + the bytes      for binary keys
    value        = bytes 8..15 of MD5(K || m) read as a little-endian uint64
                   (DuckDB: CAST(md5_number(K || m) >> 64 AS UBIGINT))

Why this is adequate. The threat is someone holding stored sets but not the secret who wants to
test whether a known ID (low entropy: resident IDs can be enumerated) is in a cell; that needs the
value of a chosen ID, i.e. it needs to break the keyed function as a pseudorandom function (PRF).
``MD5(K || m)`` with ``K`` filling the whole first block is the inner hash of HMAC-MD5: the first
compression turns the secret block into a secret chaining value, and the second compression,
keyed by that value, maps the one-block message. HMAC/NMAC are PRFs if MD5's compression function
is a PRF (Bellare, "New proofs for NMAC and HMAC: security without collision-resistance", 2006);
MD5's broken *collision* resistance needs an attacker who chooses the inputs and gives nothing
here (the inputs are the county's own keys), and no practical attack on MD5 as a keyed PRF is
known (RFC 6151). HMAC's outer hash only protects the full digest against length extension; here
only 64 of the 128 bits are kept and an attacker needs values of fresh messages, not extensions.
Truncation keeps a PRF a PRF. Collisions between real units (two units sharing a value) happen
with probability about ``n^2 / 2^65`` (1e-7 for ten million units) and only make a set look one
unit smaller. MD5 was chosen over SHA-256 because DuckDB computes it about twice as fast, and over
BLAKE2b because DuckDB has no BLAKE2b: the hash now runs vectorised and multi-threaded inside the
query instead of one Python step per key.

Sets made with the previous scheme (keyed BLAKE2b-64) are not comparable with these.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from countyos.errors import InvalidInputError

HASH_DTYPE = np.dtype("<u8")
MIN_SECRET_BYTES = 16
MAX_SECRET_BYTES = 64
#: Name of the hash construction (see the module docstring); stored sets carry it.
HASH_SCHEME = "countyos-md5k/1"

TAG_INTEGER, TAG_TEXT, TAG_BINARY = "i", "s", "b"
_KEY_LABEL = b"countyos entity hash key/md5/1"
_KEY_PERSON = b"countyos-entity"

#: DuckDB type names hashed as integers (their decimal text).
SQL_INTEGER_TYPES = (
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
    "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT",
)

# Below this many keys the per-key Python loop is cheaper than opening an in-memory DuckDB.
_VECTOR_MIN_KEYS = 4096


def entity_hash_key(secret: bytes) -> str:
    """The 64-character key block of the entity hash, derived from the installation's secret.

    Whoever holds it can compute entity hashes: treat it like the secret (never log or show it).

    Raises:
        InvalidInputError: the secret is not 16 to 64 bytes.
    """
    _check_secret(secret)
    derived = hashlib.blake2b(_KEY_LABEL, key=bytes(secret), digest_size=32, person=_KEY_PERSON)
    return derived.hexdigest()


def keyed_hash_sql(column_sql: str, key_block: str, kind: str | None = None) -> str:
    """The DuckDB expression of the keyed hash of a column (a ``UBIGINT``).

    Args:
        column_sql: SQL of the key column (already quoted).
        key_block: from :func:`entity_hash_key` (64 hex characters; checked here).
        kind: ``"integer"``, ``"text"`` or ``"binary"`` when the caller knows the column's type;
            ``None`` dispatches on ``typeof(column)``, which DuckDB folds to a constant, so only
            one branch runs. Other types give NULL (the caller refuses NULL hashes).

    Returns:
        The expression; it embeds the key block, so the SQL text is as secret as the key.
    """
    if len(key_block) != 64 or any(c not in "0123456789abcdef" for c in key_block):
        raise InvalidInputError("the entity hash key block must be 64 lower-case hex characters")
    text = f"CAST(md5_number('{key_block}' || '{TAG_TEXT}' || {column_sql}) >> 64 AS UBIGINT)"
    integer = (
        f"CAST(md5_number('{key_block}' || '{TAG_INTEGER}' || CAST({column_sql} AS VARCHAR))"
        " >> 64 AS UBIGINT)"
    )
    binary = (
        f"CAST(md5_number(CAST('{key_block}{TAG_BINARY}' AS BLOB) || CAST({column_sql} AS BLOB))"
        " >> 64 AS UBIGINT)"
    )
    if kind == "text":
        return text
    if kind == "integer":
        return integer
    if kind == "binary":
        return binary
    if kind is not None:
        raise InvalidInputError(f"unknown entity key kind {kind!r}")
    integers = ", ".join(f"'{name}'" for name in SQL_INTEGER_TYPES)
    return (
        f"CASE WHEN typeof({column_sql}) = 'VARCHAR' THEN {text} "
        f"WHEN typeof({column_sql}) IN ({integers}) THEN {integer} "
        f"WHEN typeof({column_sql}) = 'BLOB' THEN {binary} END"
    )


def entity_hashes(keys: pa.Array | pa.ChunkedArray, secret: bytes) -> np.ndarray:
    """The entity set behind a cell: sorted unique keyed hashes of its entity keys.

    Duplicate keys (several rows of one unit) collapse to one element. Integer keys and text keys
    are tagged differently, so ``42`` and ``"42"`` are different units.

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
    hashes = np.sort(keyed_hashes(pc.unique(keys), secret))  # np.sort: np.unique is slow here
    if hashes.size > 1:  # two keys sharing a hash count once
        hashes = hashes[np.concatenate(([True], hashes[1:] != hashes[:-1]))]
    return hashes


def keyed_hashes(keys: pa.Array | pa.ChunkedArray, secret: bytes) -> np.ndarray:
    """One keyed hash per key, in input order (no sorting, no deduplication).

    Small inputs are hashed with ``hashlib``; larger ones in an in-memory DuckDB (vectorised,
    the same expression the checked-SQL rewrite runs), about 0.3 µs of CPU per key.

    Args:
        keys: entity keys as for :func:`entity_hashes`.
        secret: the installation's hashing key, 16 to 64 bytes.

    Returns:
        A ``uint64`` array as long as ``keys``.

    Raises:
        InvalidInputError: as for :func:`entity_hashes`.
    """
    key_block = entity_hash_key(secret)
    keys = _plain_keys(keys)
    kind, keys = _kind_of(keys)
    if len(keys) >= _VECTOR_MIN_KEYS:
        return _duckdb_hashes(keys, key_block, kind)
    return reference_hashes(keys, key_block, kind)


def reference_hashes(keys: pa.Array, key_block: str, kind: str) -> np.ndarray:
    """The keyed hash of each key with ``hashlib`` (the definition; one Python step per key).

    Args:
        keys: plain keys without nulls (int64, string or binary as ``kind`` says).
        key_block: from :func:`entity_hash_key`.
        kind: ``"integer"``, ``"text"`` or ``"binary"``.
    """
    base = hashlib.md5(key_block.encode("ascii"))
    if kind == "integer":
        tag, items = b"i", (str(value).encode("ascii") for value in keys.to_pylist())
    elif kind == "text":
        tag, items = b"s", (text.encode("utf-8") for text in keys.to_pylist())
    else:
        tag, items = b"b", iter(keys.to_pylist())
    out = bytearray(8 * len(keys))
    view = memoryview(out)
    position = 0
    for item in items:
        hasher = base.copy()
        hasher.update(tag)
        hasher.update(item)
        view[position : position + 8] = hasher.digest()[8:]
        position += 8
    return np.frombuffer(bytes(out), dtype=HASH_DTYPE).copy()


def _duckdb_hashes(keys: pa.Array, key_block: str, kind: str) -> np.ndarray:
    import duckdb  # the checked-SQL engine's library; imported here to keep this module light

    connection = duckdb.connect(
        config={"enable_external_access": False, "threads": 2, "lock_configuration": True}
    )
    try:
        connection.register("__countyos_keys", pa.table({"k": keys}))
        expression = keyed_hash_sql('"k"', key_block, kind)
        result = connection.sql(f'SELECT {expression} FROM "__countyos_keys"').to_arrow_table()
    finally:
        connection.close()
    column = result.column(0)
    if column.null_count:  # cannot happen for keys without nulls; never return a partial set
        raise InvalidInputError("some entity keys could not be hashed")
    return column.to_numpy().astype(HASH_DTYPE, copy=True)


def _kind_of(keys: pa.Array) -> tuple[str, pa.Array]:
    key_type = keys.type
    if pa.types.is_integer(key_type):
        try:
            return "integer", keys.cast(pa.int64())
        except pa.ArrowInvalid as error:
            raise InvalidInputError(
                "integer entity keys must fit in a signed 64-bit integer"
            ) from error
    if pa.types.is_string(key_type) or pa.types.is_large_string(key_type):
        return "text", keys
    if pa.types.is_binary(key_type) or pa.types.is_large_binary(key_type):
        return "binary", keys
    raise InvalidInputError(
        f"entity keys must be integers or text, not {key_type}",
        details={"type": str(key_type)},
    )


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


#: Buckets of :func:`bucket_counts` (by the top bits of each hash).
SKETCH_BUCKETS = 64
_SKETCH_SHIFT = np.uint64(64 - 6)


def bucket_counts(entities: np.ndarray) -> np.ndarray:
    """How many hashes of a set fall in each of :data:`SKETCH_BUCKETS` equal ranges.

    A lower bound of set distances: every unit in exactly one of two sets changes one bucket
    count by one, so ``abs(bucket_counts(a) - bucket_counts(b)).sum()`` never exceeds
    ``symmetric_difference_size(a, b)``. Far-apart sets are told apart from 64 numbers.
    """
    return np.bincount(entities >> _SKETCH_SHIFT, minlength=SKETCH_BUCKETS).astype(np.int32)
