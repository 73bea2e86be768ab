"""Differencing: entity hashes, the released-cell store, "the same query with one person more"."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from countyos.errors import ConflictError, InvalidInputError
from countyos.lab.disclosure import (
    CellStatus,
    DisclosureRules,
    InMemoryReleasedCellStore,
    ReleasedCellStore,
    cell_entity_sets,
    check_table,
    compute_cell_stats,
    entity_hashes,
    find_differencing,
    keyed_hashes,
    record_release,
    symmetric_difference_size,
)

SECRET = b"county-secret-for-tests-0123456789"


def ids(*numbers: int) -> np.ndarray:
    return entity_hashes(pa.array(list(numbers), type=pa.int64()), SECRET)


# --- entity hashes ---------------------------------------------------------------------------


def test_entity_hashes_are_sorted_unique_uint64():
    hashes = entity_hashes(pa.array(["a", "b", "a", "c", "b"]), SECRET)
    assert hashes.dtype == np.uint64
    assert hashes.size == 3
    assert bool(np.all(hashes[1:] > hashes[:-1]))


def test_entity_hashes_are_keyed():
    keys = pa.array(["330281199001011234", "330281199001015678"])
    first = entity_hashes(keys, SECRET)
    second = entity_hashes(keys, b"another-installation-secret!")
    assert not np.intersect1d(first, second).size
    assert np.array_equal(first, entity_hashes(keys, SECRET))  # deterministic per secret


def test_integer_and_text_keys_are_different_units():
    assert not np.intersect1d(
        entity_hashes(pa.array([42]), SECRET), entity_hashes(pa.array(["42"]), SECRET)
    ).size


def test_key_types_and_encodings():
    as_int32 = entity_hashes(pa.array([1, 2, 3], type=pa.int32()), SECRET)
    as_int64 = entity_hashes(pa.array([1, 2, 3], type=pa.int64()), SECRET)
    assert np.array_equal(as_int32, as_int64)
    text = pa.array(["x", "y", "x"])
    assert np.array_equal(
        entity_hashes(text.dictionary_encode(), SECRET), entity_hashes(text, SECRET)
    )
    chunked = pa.chunked_array([["x"], ["y", "x"]])
    assert np.array_equal(entity_hashes(chunked, SECRET), entity_hashes(text, SECRET))
    assert entity_hashes(pa.array([], type=pa.string()), SECRET).size == 0


def test_keyed_hashes_keep_order_and_match_entity_hashes():
    keys = pa.array([5, 3, 5, 9])
    each = keyed_hashes(keys, SECRET)
    assert each.size == 4 and each[0] == each[2]
    assert np.array_equal(np.unique(each), entity_hashes(keys, SECRET))


@pytest.mark.parametrize(
    "keys, secret",
    [
        (pa.array(["a", None]), SECRET),
        (pa.array([1.5, 2.5]), SECRET),
        (pa.array(["a"]), b"short"),
        (pa.array(["a"]), b"x" * 65),
        (pa.array(["a"]), "text-not-bytes-0123456789"),
    ],
)
def test_bad_keys_or_secret_are_refused(keys, secret):
    with pytest.raises(InvalidInputError):
        entity_hashes(keys, secret)


def test_a_million_keys():
    keys = pa.array(np.arange(1_000_000, dtype=np.int64) * 7919 + 330281)
    hashes = entity_hashes(keys, SECRET)
    assert hashes.size == 1_000_000  # no collision expected at 64 bits for 1M keys
    assert bool(np.all(hashes[1:] > hashes[:-1]))


# --- set comparison --------------------------------------------------------------------------


def test_symmetric_difference_size_matches_python_sets():
    rng = np.random.default_rng(3)
    for _ in range(50):
        first = rng.choice(500, size=int(rng.integers(0, 200)), replace=False)
        second = rng.choice(500, size=int(rng.integers(0, 200)), replace=False)
        expected = len(set(first.tolist()) ^ set(second.tolist()))
        assert symmetric_difference_size(ids(*first), ids(*second)) == expected


# --- store -----------------------------------------------------------------------------------


def test_store_protocol_and_size_window():
    store = InMemoryReleasedCellStore()
    assert isinstance(store, ReleasedCellStore)
    store.add("t1 (a)", ids(*range(20)))
    store.add("t1 (b)", ids(*range(5)))
    store.add("t1 (c)", ids(*range(100)))
    assert len(store) == 3 and "t1 (a)" in store
    assert [cell_id for cell_id, _ in store.with_size_between(5, 20)] == ["t1 (b)", "t1 (a)"]
    assert [cell_id for cell_id, _ in store.with_size_between(21, 99)] == []


def test_store_refuses_duplicates_and_non_sets():
    store = InMemoryReleasedCellStore()
    store.add("x", ids(1, 2, 3))
    with pytest.raises(ConflictError):
        store.add("x", ids(4, 5, 6))
    with pytest.raises(InvalidInputError):
        store.add("y", np.array([3, 2, 1], dtype=np.uint64))  # not sorted
    with pytest.raises(InvalidInputError):
        store.add("z", np.array([1, 2, 3], dtype=np.int64))  # not hashes


def test_store_round_trips_through_bytes():
    store = InMemoryReleasedCellStore()
    store.add("job-1 (年龄=20)", ids(*range(30)))
    store.add("job-1 (TOTAL)", ids(*range(300)))
    store.add("job-2 (empty)", ids())
    again = InMemoryReleasedCellStore.from_bytes(store.to_bytes())
    assert len(again) == 3
    original = dict(store.with_size_between(0, 10**9))
    restored = dict(again.with_size_between(0, 10**9))
    assert original.keys() == restored.keys()
    for cell_id, entities in original.items():
        assert np.array_equal(entities, restored[cell_id])


def test_corrupt_or_truncated_bytes_are_refused():
    store = InMemoryReleasedCellStore()
    store.add("cell", ids(*range(40)))
    data = bytearray(store.to_bytes())
    flipped = bytearray(data)
    flipped[40] ^= 0x01
    for bad in (bytes(flipped), bytes(data[:-5]), b"not a store at all" * 4, b""):
        with pytest.raises(InvalidInputError):
            InMemoryReleasedCellStore.from_bytes(bad)


# --- differencing ----------------------------------------------------------------------------


def test_one_person_more_is_flagged():
    store = InMemoryReleasedCellStore()
    store.add("first", ids(*range(100)))
    hits = find_differencing(ids(*range(101)), store, threshold=10)
    assert [hit.released_cell_id for hit in hits] == ["first"]
    assert hits[0].difference == 1


@pytest.mark.parametrize(
    "changed, flagged", [(0, False), (1, True), (5, True), (9, True), (10, False), (40, False)]
)
def test_difference_boundaries(changed, flagged):
    store = InMemoryReleasedCellStore()
    store.add("first", ids(*range(100)))
    # replace `changed` members: swap some out and others in (symmetric difference = changed)
    removed = changed // 2
    added = changed - removed
    new = ids(*range(removed, 100 + added))
    assert symmetric_difference_size(new, ids(*range(100))) == changed
    assert bool(find_differencing(new, store, threshold=10)) is flagged


def test_disjoint_and_far_sets_are_fine():
    store = InMemoryReleasedCellStore()
    store.add("men", ids(*range(0, 60)))
    store.add("women", ids(*range(60, 130)))
    assert not find_differencing(ids(*range(1000, 1061)), store, threshold=10)
    assert not find_differencing(ids(*range(0, 130)), store, threshold=10)  # the total: far


def test_prefilter_gives_the_same_answers_as_comparing_everything():
    rng = np.random.default_rng(11)
    universe = np.arange(5000)
    universe_hashes = keyed_hashes(pa.array(universe), SECRET)

    def ids(*members):  # faster than hashing every set afresh: index the universe's hashes
        return np.unique(universe_hashes[np.asarray(members, dtype=np.int64)])

    store = InMemoryReleasedCellStore()
    released = {}
    base_sets = [
        rng.choice(universe, size=int(rng.integers(10, 400)), replace=False) for _ in range(40)
    ]
    for number in range(2000):
        base = base_sets[number % 40]
        drop = int(rng.integers(0, 30))
        extra = rng.choice(universe, size=int(rng.integers(0, 30)), replace=False)
        members = np.union1d(base[drop:], extra)
        entities = ids(*members)
        released[f"c{number}"] = entities
        store.add(f"c{number}", entities)
    for probe_number in range(30):
        base = base_sets[probe_number % 40]
        probe = ids(*np.union1d(base, [int(rng.integers(0, 5000))]))
        expected = {
            cell_id
            for cell_id, entities in released.items()
            if 0 < symmetric_difference_size(probe, entities) < 10
        }
        found = {hit.released_cell_id for hit in find_differencing(probe, store, 10, limit=None)}
        assert found == expected


def test_check_table_flags_the_second_query_with_one_person_more():
    rng = np.random.default_rng(5)
    people = np.arange(200)
    township = rng.choice(["east", "west"], size=200)
    data = pa.table({"township": township, "person": people, "income": rng.uniform(1, 100, 200)})
    rules = DisclosureRules()
    store = InMemoryReleasedCellStore()

    first = compute_cell_stats(data, ["township"], "person", "count")
    sets = cell_entity_sets(data, ["township"], "person", SECRET)
    report = check_table(first, rules, table_id="q1", released=store, entity_sets=sets)
    assert report.overall == "pass"
    assert record_release(store, report, first, sets) == 2

    # the same query after one person moved into the data (e.g. a WHERE clause widened)
    newcomer = pa.table({"township": ["east"], "person": [999], "income": [55.0]})
    second_data = pa.concat_tables([data, newcomer])
    second = compute_cell_stats(second_data, ["township"], "person", "count")
    sets2 = cell_entity_sets(second_data, ["township"], "person", SECRET)
    report2 = check_table(second, rules, table_id="q2", released=store, entity_sets=sets2)
    east = report2.outcome(("east",))
    assert east.status is CellStatus.DIFFERENCING and not east.released
    assert "q1 (township=east)" in east.reason_en
    assert "差分" in east.reason_zh
    assert report2.outcome(("west",)).released  # identical set: same group, no difference
    # a mean over the same groups is not a difference attack either
    means = compute_cell_stats(data, ["township"], "person", "mean", "income")
    report3 = check_table(means, rules, table_id="q3", released=store, entity_sets=sets)
    assert report3.overall == "pass"


def test_check_table_needs_entity_sets_when_differencing():
    data = pa.table({"g": ["a"] * 20, "person": list(range(20))})
    table = compute_cell_stats(data, ["g"], "person", "count")
    store = InMemoryReleasedCellStore()
    with pytest.raises(InvalidInputError):
        check_table(table, released=store)
    with pytest.raises(InvalidInputError, match="entity set is missing"):
        check_table(table, released=store, entity_sets={})


# --- attacks on stored sets ------------------------------------------------------------------


def test_stored_sets_do_not_contain_the_keys_and_cannot_be_matched_without_the_secret():
    import hashlib

    resident_ids = ["330281199001011234", "33028119851212567X", "330281200002029876"]
    entities = entity_hashes(pa.array(resident_ids), SECRET)
    store = InMemoryReleasedCellStore()
    store.add("cell", entities)
    blob = store.to_bytes()
    for resident_id in resident_ids:
        assert resident_id.encode() not in blob
        # an outsider hashing candidate IDs without the secret (plain or with a guessed key)
        # finds nothing: low-entropy IDs cannot be enumerated against the store
        for guess in (
            hashlib.blake2b(resident_id.encode(), digest_size=8).digest(),
            hashlib.blake2b(b"s" + resident_id.encode(), digest_size=8).digest(),
            hashlib.blake2b(b"s" + resident_id.encode(), digest_size=8, key=b"0" * 32,
                            person=b"countyos-entity").digest(),
        ):
            assert int.from_bytes(guess, "little") not in set(entities.tolist())
    # with the secret, the same ID maps to the same element (what differencing relies on)
    (element,) = entity_hashes(pa.array(resident_ids[:1]), SECRET)
    assert element in set(entities.tolist())


def test_integer_keys_beyond_int64_are_refused():
    with pytest.raises(InvalidInputError, match="64-bit"):
        entity_hashes(pa.array([2**63 + 5], type=pa.uint64()), SECRET)
