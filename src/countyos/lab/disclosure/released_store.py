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
        size: the number of units behind it.
        digest: names the cell's definition (equal digests: equal sets), or ``None``.
        deferred: the set is not stored; ``recipe_of`` tells how to recompute it.
    """

    cell_id: str
    size: int
    digest: str | None
    deferred: bool


@runtime_checkable
class ReleasedCellStore(Protocol):
    """Storage of the entity sets behind every cell already released to one project."""

    def add(self, cell_id: str, entities: np.ndarray, digest: str | None = None) -> None:
        """Record a released cell; ``entities`` is a set made by ``entity_hashes``."""
        ...

    def add_deferred(self, cell_id: str, size: int, digest: str, recipe: str) -> None:
        """Record a released cell by its size, digest and the recipe of its set."""
        ...

    def entries_between(self, low: int, high: int) -> Iterator[ReleasedEntry]:
        """Released cells with ``low <= size <= high``, stored sets or not."""
        ...

    def entity_set(self, cell_id: str) -> np.ndarray | None:
        """The stored set of a cell (``None`` when it is deferred)."""
        ...

    def recipe_of(self, cell_id: str) -> str | None:
        """The recipe of a deferred cell (``None`` when its set is stored)."""
        ...

    def fill(self, cell_id: str, entities: np.ndarray) -> None:
        """Store the recomputed set of a deferred cell."""
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


def check_digest(digest: object, *, required: bool) -> None:
    if digest is None and not required:
        return
    if not isinstance(digest, str) or len(digest) != 64 or digest.strip("0123456789abcdef"):
        raise InvalidInputError("a cell digest is 64 lower-case hex characters")


class InMemoryReleasedCellStore:
    """A :class:`ReleasedCellStore` in memory, ordered by set size."""

    def __init__(self) -> None:
        self._sizes: list[int] = []
        self._ids: list[str] = []
        self._sets: list[np.ndarray | None] = []
        self._digests: list[str | None] = []
        self._recipes: list[str | None] = []
        self._sketches: list[np.ndarray] = []
        self._known: set[str] = set()
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
        self._insert(cell_id, int(entities.size), entities, digest, None)

    def add_deferred(self, cell_id: str, size: int, digest: str, recipe: str) -> None:
        """Record a released cell whose set the recipe recomputes when a comparison needs it.

        Raises:
            InvalidInputError: an empty id, a negative size, a bad digest or an empty recipe.
            ConflictError: the id was recorded before.
        """
        check_new_cell(cell_id, self._known)
        check_digest(digest, required=True)
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise InvalidInputError("a released cell's size is a non-negative integer")
        if not isinstance(recipe, str) or not recipe:
            raise InvalidInputError("a deferred released cell needs its recipe")
        self._insert(cell_id, size, None, digest, recipe)

    def _insert(self, cell_id: str, size: int, entities: np.ndarray | None,
                digest: str | None, recipe: str | None) -> None:
        position = bisect.bisect_right(self._sizes, size)
        self._sizes.insert(position, size)
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
        for position, cell_id in enumerate(self._ids):
            entry = ReleasedEntry(cell_id, self._sizes[position], self._digests[position],
                                  self._sets[position] is None)
            yield entry, self._sets[position], self._recipes[position]

    def entries_between(self, low: int, high: int) -> Iterator[ReleasedEntry]:
        start, stop = self._window(low, high)
        for position in range(start, stop):
            yield ReleasedEntry(self._ids[position], self._sizes[position],
                                self._digests[position], self._sets[position] is None)

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
        """Store the recomputed set of a deferred cell (its size must match)."""
        position = self._position(cell_id)
        entities = validate_entity_set(entities).copy()
        if entities.size != self._sizes[position]:
            raise InternalError("a recomputed entity set does not have the recorded size",
                                details={"cell_id": cell_id})
        entities.setflags(write=False)
        self._sets[position] = entities
        self._sketches[position] = bucket_counts(entities)
        self._matrix = None

    def _window(self, low: int, high: int) -> tuple[int, int]:
        return bisect.bisect_left(self._sizes, low), bisect.bisect_right(self._sizes, high)

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
