"""Differencing: a new cell must not differ from an earlier released one by a few units.

Owns the comparison of a new cell's entity set with the sets of every cell already released to
the project. "The same query with one person more" releases two results whose difference is that
person's value; so a cell whose set differs from a released one by 1 to ``threshold - 1`` units
(symmetric difference) is flagged. An identical set (difference 0) is not a difference attack: it
is the same group. Since the symmetric difference is at least the difference of the set sizes,
only released sets whose size is within ``threshold - 1`` of the new one are compared; a store
that can also rule out far sets by a sketch (``near``, as the in-memory store does with bucket
counts, another lower bound of the difference) is asked through it, which keeps tens of thousands
of released cells fast. Both bounds are exact lower bounds: no close set is ever skipped. This
module must not hash keys or persist sets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from countyos.lab.disclosure.entity_sets import symmetric_difference_size, validate_entity_set
from countyos.lab.disclosure.released_store import ReleasedCellStore


@dataclass(frozen=True)
class DifferencingHit:
    """An earlier released cell that a new cell is too close to.

    Attributes:
        released_cell_id: id of the earlier released cell.
        difference: size of the symmetric difference (between 1 and threshold - 1). Internal:
            reports never show it, since it is a count below the threshold.
    """

    released_cell_id: str
    difference: int


def find_differencing(
    entities: np.ndarray, store: ReleasedCellStore, threshold: int, *, limit: int | None = 1
) -> list[DifferencingHit]:
    """Released cells whose entity set differs from ``entities`` by 1 to ``threshold - 1`` units.

    Args:
        entities: the new cell's entity set (from ``entity_hashes``).
        store: the project's released cells.
        threshold: the minimum number of units per cell.
        limit: stop after this many hits (``None`` for all); one is enough to flag a cell.

    Returns:
        The hits, in the store's order (smallest sets first).
    """
    entities = validate_entity_set(entities)
    hits: list[DifferencingHit] = []
    size = int(entities.size)
    if size == 0 or threshold <= 1:
        return hits
    reach = threshold - 1
    near = getattr(store, "near", None)
    if callable(near):
        candidates = near(entities, reach)
    else:
        candidates = store.with_size_between(max(0, size - reach), size + reach)
    for cell_id, released in candidates:
        difference = symmetric_difference_size(entities, released)
        if 0 < difference < threshold:
            hits.append(DifferencingHit(cell_id, difference))
            if limit is not None and len(hits) >= limit:
                break
    return hits
