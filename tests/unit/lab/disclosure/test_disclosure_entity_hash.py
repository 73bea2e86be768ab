"""The keyed entity hash: its documented construction, its SQL form, and attacks on stored sets."""

from __future__ import annotations

import hashlib

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from countyos.errors import InvalidInputError
from countyos.lab.disclosure import InMemoryReleasedCellStore, entity_hashes, keyed_hashes
from countyos.lab.disclosure.entity_sets import (
    entity_hash_key,
    keyed_hash_sql,
    reference_hashes,
)

SECRET = b"entity-hash-test-secret-0123456789"


def spec_hash(message: bytes, secret: bytes = SECRET) -> int:
    """The construction as the module docstring writes it, from hashlib only."""
    key_block = hashlib.blake2b(
        b"countyos entity hash key/md5/1", key=secret, digest_size=32, person=b"countyos-entity"
    ).hexdigest().encode("ascii")
    digest = hashlib.md5(key_block + message).digest()
    return int.from_bytes(digest[8:16], "little")


def test_key_block_is_one_md5_block_of_hex_and_depends_on_the_secret() -> None:
    block = entity_hash_key(SECRET)
    assert len(block) == 64 and set(block) <= set("0123456789abcdef")
    assert block != entity_hash_key(SECRET + b"!")
    assert SECRET.hex() not in block


@pytest.mark.parametrize(
    "keys, messages",
    [
        (pa.array(["330281199001011234", "中文名", ""]),
         [b"s330281199001011234", "s中文名".encode(), b"s"]),
        (pa.array([0, -7, 2**62], type=pa.int64()), [b"i0", b"i-7", f"i{2**62}".encode()]),
        (pa.array([3, 4], type=pa.int16()), [b"i3", b"i4"]),
        (pa.array([b"\x00\xff", b"ab"]), [b"b\x00\xff", b"bab"]),
    ],
)
def test_hashes_follow_the_documented_construction(keys, messages) -> None:
    expected = np.array([spec_hash(message) for message in messages], dtype=np.uint64)
    assert np.array_equal(keyed_hashes(keys, SECRET), expected)


@pytest.mark.parametrize("kind", ["text", "integer", "binary"])
def test_vectorised_path_equals_the_per_key_definition(kind) -> None:
    rng = np.random.default_rng(7)
    numbers = rng.integers(-(2**62), 2**62, size=6000)
    if kind == "text":
        keys = pa.array([f"P{n:019d}名" for n in numbers])
    elif kind == "integer":
        keys = pa.array(numbers, type=pa.int64())
    else:
        keys = pa.array([int(n).to_bytes(8, "little", signed=True) for n in numbers])
    vectorised = keyed_hashes(keys, SECRET)  # above the size where DuckDB does the work
    definition = reference_hashes(keys, entity_hash_key(SECRET), kind)
    assert np.array_equal(vectorised, definition)
    assert np.array_equal(keyed_hashes(keys.slice(0, 10), SECRET), definition[:10])


def test_sql_expression_dispatches_on_the_column_type() -> None:
    key_block = entity_hash_key(SECRET)
    connection = duckdb.connect()
    tables = {
        "text": pa.array(["a", "P000000001"]),
        "integer": pa.array([42, -1], type=pa.int32()),
        "binary": pa.array([b"a", b"\x01"]),
    }
    for kind, keys in tables.items():
        connection.register("t", pa.table({"e": keys}))
        result = connection.sql(f"SELECT {keyed_hash_sql('e', key_block)} AS h FROM t")
        values = result.to_arrow_table().column("h").to_numpy()
        assert np.array_equal(values.astype(np.uint64), keyed_hashes(keys, SECRET))
    connection.register("t", pa.table({"e": pa.array([1.5])}))
    ((value,),) = connection.sql(f"SELECT {keyed_hash_sql('e', key_block)} FROM t").fetchall()
    assert value is None  # other types give NULL, which callers refuse


def test_integer_and_text_forms_of_one_id_are_different_units() -> None:
    assert not np.intersect1d(
        entity_hashes(pa.array([42]), SECRET), entity_hashes(pa.array(["42"]), SECRET)
    ).size
    assert not np.intersect1d(
        entity_hashes(pa.array(["42"]), SECRET), entity_hashes(pa.array([b"42"]), SECRET)
    ).size


def test_key_block_is_checked_before_it_reaches_sql() -> None:
    with pytest.raises(InvalidInputError):
        keyed_hash_sql("e", "x' || (SELECT 1) || '" + "0" * 40)
    with pytest.raises(InvalidInputError):
        keyed_hash_sql("e", entity_hash_key(SECRET), kind="date")


def test_outsiders_cannot_match_ids_without_the_key_block() -> None:
    resident_ids = [f"33028119900101{n:04d}" for n in range(200)]
    stored = set(entity_hashes(pa.array(resident_ids), SECRET).tolist())
    for resident_id in resident_ids:
        text = resident_id.encode()
        guesses = [
            hashlib.md5(b"s" + text).digest(),  # unkeyed
            hashlib.md5(text).digest(),
            hashlib.md5(SECRET + b"s" + text).digest(),  # the raw secret as prefix
            hashlib.md5(SECRET.hex().encode() + b"s" + text).digest(),
            hashlib.md5(entity_hash_key(b"a-guessed-secret-000").encode() + b"s" + text).digest(),
        ]
        for digest in guesses:
            for half in (digest[:8], digest[8:]):
                assert int.from_bytes(half, "little") not in stored
                assert int.from_bytes(half, "big") not in stored


def test_store_refuses_sets_of_the_former_scheme() -> None:
    store = InMemoryReleasedCellStore()
    store.add("cell", entity_hashes(pa.array([1, 2, 3]), SECRET))
    data = bytearray(store.to_bytes())
    assert len(InMemoryReleasedCellStore.from_bytes(bytes(data))) == 1
    data[7] = 1  # format 1: keyed BLAKE2b sets
    with pytest.raises(InvalidInputError, match="former entity hash scheme"):
        InMemoryReleasedCellStore.from_bytes(bytes(data))
