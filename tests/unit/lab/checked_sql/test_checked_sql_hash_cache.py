"""The per-process cache of keyed entity hashes gives exactly the library's hashes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from countyos.errors import InvalidInputError
from countyos.lab.checked_sql.entity_sets import KeyHashCache, cell_entity_sets
from countyos.lab.disclosure import entity_hashes, keyed_hashes

SECRET = b"hash-cache-secret-0123456789abcdef"
OTHER = b"another-secret-for-the-cache-00000"


@pytest.mark.parametrize("max_keys", [5_000_000, 150, 0])
def test_string_keys_match_the_library_across_calls(max_keys) -> None:
    cache = KeyHashCache(max_keys=max_keys)
    first = pa.array([f"33028119800101{i:04d}" for i in range(100)])
    second = pa.array([f"33028119800101{i:04d}" for i in range(50, 180)])  # half known
    for keys in (first, second, first):
        assert (cache.hashes(keys, SECRET) == keyed_hashes(keys, SECRET)).all()
    assert (cache.hashes(first, OTHER) == keyed_hashes(first, OTHER)).all()
    assert not (cache.hashes(first, OTHER) == cache.hashes(first, SECRET)).any()


@pytest.mark.parametrize("max_keys", [5_000_000, 150, 0])
def test_integer_keys_match_the_library_with_repeats(max_keys) -> None:
    cache = KeyHashCache(max_keys=max_keys)
    rng = np.random.default_rng(3)
    for _ in range(3):
        values = rng.integers(-1000, 1000, size=400)
        expected = keyed_hashes(pa.array(values), SECRET)
        assert (cache.integer_hashes(values, SECRET) == expected).all()
    cache.clear()
    values = np.array([7, 7, 7])
    assert (cache.integer_hashes(values, OTHER) == keyed_hashes(pa.array(values), OTHER)).all()


def test_cell_sets_from_a_unit_list() -> None:
    entry = pa.struct([("e", pa.int64()), ("f0", pa.bool_()), ("f1", pa.bool_())])
    column = pa.array(
        [
            [{"e": 3, "f0": True, "f1": False}, {"e": 1, "f0": True, "f1": True}],
            None,
            [{"e": 5, "f0": True, "f1": None}, {"e": 5, "f0": True, "f1": True}],
        ],
        type=pa.list_(entry),
    )
    sets, duplicated = cell_entity_sets(column, ["f0", "f1"], SECRET)
    assert duplicated  # unit 5 listed twice in the last cell
    assert (sets["f0"][0] == entity_hashes(pa.array([1, 3]), SECRET)).all()
    assert (sets["f1"][0] == entity_hashes(pa.array([1]), SECRET)).all()
    assert sets["f0"][1].size == 0
    assert (sets["f0"][2] == entity_hashes(pa.array([5]), SECRET)).all()


def test_null_keys_and_bad_secrets() -> None:
    entry = pa.struct([("e", pa.string()), ("f0", pa.bool_())])
    column = pa.array([[{"e": None, "f0": True}]], type=pa.list_(entry))
    with pytest.raises(InvalidInputError):
        cell_entity_sets(column, ["f0"], SECRET)
    column = pa.array([[{"e": "a", "f0": True}]], type=pa.list_(entry))
    with pytest.raises(InvalidInputError):
        cell_entity_sets(column, ["f0"], b"short")
