"""The bucket sketch of entity sets: a true lower bound of set distances, so the store's fast
lookup never skips a differencing pair."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from countyos.lab.disclosure import InMemoryReleasedCellStore, find_differencing
from countyos.lab.disclosure.entity_sets import bucket_counts, symmetric_difference_size


def random_sets(rng: np.random.Generator, universe: np.ndarray, count: int) -> list[np.ndarray]:
    sets = []
    for _ in range(count):
        size = int(rng.integers(0, 60))
        start = int(rng.integers(0, universe.size - size))
        sets.append(universe[start : start + size].copy())
    return sets


def test_sketch_distance_never_exceeds_the_symmetric_difference() -> None:
    rng = np.random.default_rng(21)
    universe = np.unique(rng.integers(0, 2**64, size=400, dtype=np.uint64))
    sets = random_sets(rng, universe, 120)
    for first in sets[:60]:
        for second in sets[60:]:
            bound = int(np.abs(bucket_counts(first) - bucket_counts(second)).sum())
            assert bound <= symmetric_difference_size(first, second)
    assert bucket_counts(universe).sum() == universe.size


class SizeOnlyStore:
    """A store without ``near``: differencing must fall back to the size window alone."""

    def __init__(self) -> None:
        self.cells: list[tuple[str, np.ndarray]] = []

    def add(self, cell_id: str, entities: np.ndarray) -> None:
        self.cells.append((cell_id, entities))

    def with_size_between(self, low: int, high: int) -> Iterator[tuple[str, np.ndarray]]:
        return iter([(i, e) for i, e in self.cells if low <= e.size <= high])

    def __len__(self) -> int:
        return len(self.cells)


def test_sketch_lookup_finds_exactly_what_comparing_everything_finds() -> None:
    rng = np.random.default_rng(5)
    universe = np.unique(rng.integers(0, 2**64, size=3000, dtype=np.uint64))
    store, plain = InMemoryReleasedCellStore(), SizeOnlyStore()
    released = random_sets(rng, universe, 3000)
    for number, entities in enumerate(released):
        if entities.size:
            store.add(f"c{number}", entities)
            plain.add(f"c{number}", entities)
    probes = [np.union1d(base, universe[:2]) for base in released[:40]]  # 0-2 units more
    probes += [np.setdiff1d(base, base[:3]) for base in released[40:80]]  # up to 3 fewer
    probes += random_sets(rng, universe, 40)
    probes = [probe for probe in probes if probe.size]  # empty cells are never compared
    pruned = 0
    for probe in probes:
        expected = {
            f"c{n}" for n, entities in enumerate(released)
            if entities.size and 0 < symmetric_difference_size(probe, entities) < 10
        }
        hits = {hit.released_cell_id for hit in find_differencing(probe, store, 10, limit=None)}
        assert hits == expected
        fallback = find_differencing(probe, plain, 10, limit=None)
        assert {hit.released_cell_id for hit in fallback} == expected
        window = sum(1 for _ in store.with_size_between(probe.size - 9, probe.size + 9))
        pruned += window - sum(1 for _ in store.near(probe, 9))
    assert pruned > 0  # the sketch rules out far sets of similar size


def test_lookup_after_more_releases_sees_the_new_cells() -> None:
    universe = np.arange(1, 200, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    universe = np.unique(universe)
    store = InMemoryReleasedCellStore()
    store.add("first", universe[:50])
    assert not find_differencing(universe[100:150], store, 10)
    store.add("second", universe[100:148])
    (hit,) = find_differencing(universe[100:150], store, 10)
    assert hit.released_cell_id == "second" and hit.difference == 2
