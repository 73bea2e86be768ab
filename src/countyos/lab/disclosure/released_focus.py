"""Which released cells a new output must be compared with, and their sets, recomputed if needed.

Owns :func:`close_entries` (the released cells within ``threshold - 1`` units in size of some new
cell; a size known only within bounds counts as every size in them) and :func:`differencing_focus`, which gathers the sets of
those cells into a small in-memory store for ``check_table``: stored sets as they are; deferred
ones from a new cell with the same digest, else recomputed by the caller's ``materialise``
(recipe → sets by digest) and stored back, so each is recomputed at most once. A set that cannot
be recomputed, or comes back with another size, raises: a comparison is never skipped. This
module must not run queries or hash keys itself.

A new cell whose digest is already in the store is not compared at all. Equal digests mean the
same deterministic query on the same immutable files, so the cell, its value and its set, was
released before verbatim and releasing it again discloses nothing new: every comparison it could
take part in was made when it, or the later cell, was first released (each release is compared
with everything released before it). This is what lets a project re-run a query, or re-ask it
with margins already released, without hashing a single unit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np

from countyos.errors import InternalError
from countyos.lab.disclosure.released_store import (
    InMemoryReleasedCellStore,
    ReleasedCellStore,
    ReleasedEntry,
)

Materialise = Callable[[str], Mapping[str, np.ndarray]]


def close_entries(
    store: ReleasedCellStore, wanted: Iterable[tuple[int, int, str | None]], threshold: int
) -> list[ReleasedEntry]:
    """Released cells that some new cell ``(size, size_high, digest)`` must be compared with.

    Args:
        store: the project's released cells.
        wanted: bounds of the number of units (equal when exact) and digest (or ``None``) of
            every new cell that may be released.
        threshold: the minimum number of units per cell (the reach is ``threshold - 1``).

    Returns:
        The entries, each once, in the order found.
    """
    reach = threshold - 1
    found: dict[str, ReleasedEntry] = {}
    if reach < 1:
        return []
    for size, size_high, digest in wanted:
        if size_high <= 0:
            continue
        window = list(store.entries_between(max(0, size - reach), size_high + reach))
        if digest is not None and any(entry.digest == digest for entry in window):
            continue  # released before, verbatim: it discloses nothing new (see the docstring)
        for entry in window:
            found.setdefault(entry.cell_id, entry)
    return list(found.values())


def differencing_focus(
    store: ReleasedCellStore,
    entries: Iterable[ReleasedEntry],
    *,
    by_digest: Mapping[str, np.ndarray],
    materialise: Materialise | None,
) -> InMemoryReleasedCellStore:
    """The sets of ``entries`` in a store of their own, deferred ones recomputed.

    Args:
        store: the project's released cells (deferred sets are filled in it).
        entries: from :func:`close_entries`.
        by_digest: sets of the new cells by digest (a deferred cell with one of these digests
            has exactly that set).
        materialise: recomputes the sets of a recipe, by digest; ``None`` when the caller
            cannot (then a deferred cell raises).

    Raises:
        InternalError: a deferred set could not be recomputed (the comparison cannot be made).
    """
    focus = InMemoryReleasedCellStore()
    recomputed: dict[str, Mapping[str, np.ndarray]] = {}
    for entry in entries:
        entities = store.entity_set(entry.cell_id)
        if entities is None:
            entities = _deferred_set(store, entry, by_digest, materialise, recomputed)
            store.fill(entry.cell_id, entities)
        focus.add(entry.cell_id, entities)
    return focus


def _deferred_set(
    store: ReleasedCellStore,
    entry: ReleasedEntry,
    by_digest: Mapping[str, np.ndarray],
    materialise: Materialise | None,
    recomputed: dict[str, Mapping[str, np.ndarray]],
) -> np.ndarray:
    if entry.digest is not None and entry.digest in by_digest:
        return by_digest[entry.digest]
    recipe = store.recipe_of(entry.cell_id)
    if recipe is None or materialise is None or entry.digest is None:
        raise InternalError("a released cell's entity set cannot be recomputed here",
                            details={"cell_id": entry.cell_id})
    if recipe not in recomputed:
        recomputed[recipe] = materialise(recipe)
    entities = recomputed[recipe].get(entry.digest)
    if entities is None or not entry.size <= entities.size <= entry.size_high:
        raise InternalError("a released cell's entity set could not be recomputed exactly",
                            details={"cell_id": entry.cell_id})
    return entities
