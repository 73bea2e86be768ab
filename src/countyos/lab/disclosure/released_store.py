"""Where the entity sets of released cells are kept: a protocol and an in-memory store.

Owns :class:`ReleasedCellStore` (what the differencing check needs from storage) and
:class:`InMemoryReleasedCellStore`, which keeps cells ordered by size with a 64-bucket sketch of
each set, so that a lookup (``near``) slices the size window and drops, in one vectorised step,
every set whose sketch proves it too far to compare. Its byte form (checksummed, persisted per
project by the caller) lives in :mod:`.released_bytes`.

A released cell is kept either with its entity set or *deferred*: with its size and a *recipe*,
an opaque text (for checked SQL: the query and the immutable data files it read) from which the
caller can recompute the set exactly when a later cell comes close enough in size to need the
comparison (:mod:`.released_focus`). Every cell may carry a *digest* naming its definition:
equal digests mean equal sets. Looking sets up (``with_size_between``, ``near``) in a window
holding a deferred cell raises instead of skipping it (a skipped cell would be a missed check).
This module must not hash entity keys, run queries or decide what is disclosive.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from countyos.errors import ConflictError, InternalError, InvalidInputError
from countyos.lab.disclosure.entity_sets import SKETCH_BUCKETS, bucket_counts, validate_entity_set


@dataclass(frozen=True)
class ReleasedEntry:
    """One released cell as listed by ``entries_between`` (without its set).

    Attributes:
        cell_id: the cell's id in the store.
        size: the number of units behind it (for a deferred cell recorded from bounds, the
            lower bound).
        digest: names the cell's definition (equal digests: equal sets), or ``None``.
        deferred: the set is not stored; ``recipe_of`` tells how to recompute it.
        size_high: the upper bound of the number of units (``size`` when it is exact).
    """

    cell_id: str
    size: int
    digest: str | None
    deferred: bool
    size_high: int = -1

    def __post_init__(self) -> None:
        if self.size_high < self.size:
            object.__setattr__(self, "size_high", self.size)


@runtime_checkable
class ReleasedCellStore(Protocol):
    """Storage of the entity sets behind every cell already released to one project."""

    def add(self, cell_id: str, entities: np.ndarray, digest: str | None = None) -> None:
        """Record a released cell; ``entities`` is a set made by ``entity_hashes``."""
        ...

    def add_deferred(self, cell_id: str, size: int, digest: str, recipe: str,
                     size_high: int | None = None) -> None:
        """Record a released cell by its size (or bounds of it), digest and the recipe of its set."""
        ...

    def entries_between(self, low: int, high: int) -> Iterator[ReleasedEntry]:
        """Released cells whose size (or its bounds) meets ``[low, high]``, sets stored or not."""
        ...

    def entity_set(self, cell_id: str) -> np.ndarray | None:
        """The stored set of a cell (``None`` when it is deferred)."""
        ...

    def recipe_of(self, cell_id: str) -> str | None:
        """The recipe of a deferred cell (``None`` when its set is stored)."""
        ...

    def fill(self, cell_id: str, entities: np.ndarray) -> None:
        """Store the recomputed set of a deferred cell (its size must lie within the bounds)."""
        ...

    def with_size_between(self, low: int, high: int) -> Iterator[tuple[str, np.ndarray]]:
        """Released cells whose entity set has ``low <= size <= high`` units.

        Raises:
            InternalError: a deferred cell lies in the window (resolve it first).
        """
        ...

    def __len__(self) -> int:
        """Number of released cells recorded."""
        ...


def deferred_in_window(cell_id: str) -> InternalError:
    return InternalError(
        "a deferred released cell lies in the differencing window; compare through "
        "countyos.lab.disclosure.differencing_focus",
        details={"cell_id": cell_id},
    )


def check_new_cell(cell_id: object, known: set[str]) -> None:
    if not isinstance(cell_id, str) or not cell_id:
        raise InvalidInputError("a released cell needs a non-empty id")
    if cell_id in known:
        raise ConflictError("this released cell is already recorded", details={"cell_id": cell_id})


def check_bounds(size: object, size_high: object) -> int:
    """Validate a size and its optional upper bound; returns the upper bound."""
    for value in (size, size_high):
        if value is None and value is size_high:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInputError("a released cell's size is a non-negative integer")
    high = size if size_high is None else size_high
    if high < size:  # type: ignore[operator]
        raise InvalidInputError("a released cell's size bounds are reversed")
    return int(high)  # type: ignore[arg-type]


def check_recomputed(entry_size: int, entry_high: int, entities: np.ndarray, cell_id: str) -> None:
    if not entry_size <= entities.size <= entry_high:
        raise InternalError("a recomputed entity set does not have the recorded size",
                            details={"cell_id": cell_id})


def check_digest(digest: object, *, required: bool) -> None:
    if digest is None and not required:
        return
    if not isinstance(digest, str) or len(digest) != 64 or digest.strip("0123456789abcdef"):
        raise InvalidInputError("a cell digest is 64 lower-case hex characters")


class InMemoryReleasedCellStore:
    """A :class:`ReleasedCellStore` in memory, ordered by set size."""

    def __init__(self) -> None:
        self._sizes: list[int] = []
        self._highs: list[int] = []
        self._ids: list[str] = []
        self._sets: list[np.ndarray | None] = []
        self._digests: list[str | None] = []
        self._recipes: list[str | None] = []
        self._sketches: list[np.ndarray] = []
        self._known: set[str] = set()
        self._bounded = 0  # deferred cells recorded with size bounds (not an exact size)
        self._matrix: np.ndarray | None = None  # the sketches stacked, rebuilt after an add

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, cell_id: object) -> bool:
        return cell_id in self._known

    def add(self, cell_id: str, entities: np.ndarray, digest: str | None = None) -> None:
        """Record a released cell with its set.

        Raises:
            InvalidInputError: an empty id, a bad digest or an array that is not an entity set.
            ConflictError: the id was recorded before (ids name one release of one cell).
        """
        check_new_cell(cell_id, self._known)
        check_digest(digest, required=False)
        entities = validate_entity_set(entities).copy()
        entities.setflags(write=False)
        self._insert(cell_id, int(entities.size), int(entities.size), entities, digest, None)

    def add_deferred(self, cell_id: str, size: int, digest: str, recipe: str,
                     size_high: int | None = None) -> None:
        """Record a released cell whose set the recipe recomputes when a comparison needs it.

        Args:
            size: its number of units, or a lower bound of it with ``size_high``.
            size_high: an upper bound of its number of units (``None``: ``size`` is exact).

        Raises:
            InvalidInputError: an empty id, bad sizes, a bad digest or an empty recipe.
            ConflictError: the id was recorded before.
        """
        check_new_cell(cell_id, self._known)
        check_digest(digest, required=True)
        high = check_bounds(size, size_high)
        if not isinstance(recipe, str) or not recipe:
            raise InvalidInputError("a deferred released cell needs its recipe")
        self._insert(cell_id, size, high, None, digest, recipe)

    def _insert(self, cell_id: str, size: int, high: int, entities: np.ndarray | None,
                digest: str | None, recipe: str | None) -> None:
        position = bisect.bisect_right(self._sizes, size)
        self._bounded += high > size
        self._sizes.insert(position, size)
        self._highs.insert(position, high)
        self._ids.insert(position, cell_id)
        self._sets.insert(position, entities)
        self._digests.insert(position, digest)
        self._recipes.insert(position, recipe)
        sketch = bucket_counts(entities) if entities is not None else np.zeros(
            SKETCH_BUCKETS, dtype=np.int32)
        self._sketches.insert(position, sketch)
        self._known.add(cell_id)
        self._matrix = None

    def entries(self) -> Iterator[tuple[ReleasedEntry, np.ndarray | None, str | None]]:
        """Every cell with its set (or ``None``) and recipe (or ``None``), smallest first."""
        for position in range(len(self._ids)):
            yield self._entry(position), self._sets[position], self._recipes[position]

    def _entry(self, position: int) -> ReleasedEntry:
        return ReleasedEntry(self._ids[position], self._sizes[position], self._digests[position],
                             self._sets[position] is None, self._highs[position])

    def entries_between(self, low: int, high: int) -> Iterator[ReleasedEntry]:
        stop = bisect.bisect_right(self._sizes, high)
        for position in range(stop):
            if self._highs[position] >= low:
                yield self._entry(position)

    def _position(self, cell_id: str) -> int:
        if cell_id not in self._known:
            raise InvalidInputError("no such released cell", details={"cell_id": cell_id})
        return self._ids.index(cell_id)

    def entity_set(self, cell_id: str) -> np.ndarray | None:
        return self._sets[self._position(cell_id)]

    def recipe_of(self, cell_id: str) -> str | None:
        position = self._position(cell_id)
        return self._recipes[position] if self._sets[position] is None else None

    def fill(self, cell_id: str, entities: np.ndarray) -> None:
        """Store the recomputed set of a deferred cell (its size must lie within the bounds)."""
        position = self._position(cell_id)
        entities = validate_entity_set(entities).copy()
        check_recomputed(self._sizes[position], self._highs[position], entities, cell_id)
        entities.setflags(write=False)
        self._bounded -= self._highs[position] > self._sizes[position]
        if entities.size != self._sizes[position]:  # exact now: keep the order by size
            recipe, digest = self._recipes[position], self._digests[position]
            for values in (self._sizes, self._highs, self._ids, self._sets, self._digests,
                           self._recipes, self._sketches):
                del values[position]
            self._known.discard(cell_id)
            self._insert(cell_id, int(entities.size), int(entities.size), None, digest, recipe)
            position = self._position(cell_id)
        self._highs[position] = int(entities.size)
        self._sets[position] = entities
        self._sketches[position] = bucket_counts(entities)
        self._matrix = None

    def _window(self, low: int, high: int) -> tuple[int, int]:
        """Positions of the cells of size ``low..high``; raises if a deferred cell recorded with
        bounds reaches into the window from below (it would be missed)."""
        start, stop = bisect.bisect_left(self._sizes, low), bisect.bisect_right(self._sizes, high)
        for position in range(start if self._bounded else 0):
            if self._highs[position] >= low and self._sets[position] is None:
                raise deferred_in_window(self._ids[position])
        return start, stop

    def with_size_between(self, low: int, high: int) -> Iterator[tuple[str, np.ndarray]]:
        """Released cells with ``low <= size <= high`` (a binary search, then a slice)."""
        start, stop = self._window(low, high)
        for position in range(start, stop):
            entities = self._sets[position]
            if entities is None:
                raise deferred_in_window(self._ids[position])
            yield self._ids[position], entities

    def near(self, entities: np.ndarray, reach: int) -> Iterator[tuple[str, np.ndarray]]:
        """Released cells that may lie within ``reach`` units of ``entities``.

        Yields, in store order, the cells whose size is within ``reach`` of the set's and whose
        bucket sketch is too (a lower bound of the distance, see ``bucket_counts``): every cell
        at most ``reach`` units away is among them; most cells further away are not.

        Raises:
            InternalError: a deferred cell lies in the size window.
        """
        size = int(entities.size)
        start, stop = self._window(size - reach, size + reach)
        if start >= stop:
            return
        for position in range(start, stop):
            if self._sets[position] is None:
                raise deferred_in_window(self._ids[position])
        if self._matrix is None:
            self._matrix = (
                np.stack(self._sketches)
                if self._sketches
                else np.empty((0, SKETCH_BUCKETS), dtype=np.int32)
            )
        distances = np.abs(self._matrix[start:stop] - bucket_counts(entities)).sum(axis=1)
        for offset in np.flatnonzero(distances <= reach).tolist():
            yield self._ids[start + offset], self._sets[start + offset]  # type: ignore[misc]

    def to_bytes(self) -> bytes:
        """Serialise the store (see :mod:`.released_bytes`)."""
        from countyos.lab.disclosure.released_bytes import store_to_bytes

        return store_to_bytes(self)

    @classmethod
    def from_bytes(cls, data: bytes) -> InMemoryReleasedCellStore:
        """Rebuild a store from :meth:`to_bytes` output.

        Raises:
            InvalidInputError: the bytes are not a store, are truncated or fail the checksum.
        """
        from countyos.lab.disclosure.released_bytes import store_from_bytes

        store = cls()
        store_from_bytes(data, store)
        return store
