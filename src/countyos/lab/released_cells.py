"""The entity sets behind cells released to a project, kept in the metadata DB (in the domain).

A ``ReleasedCellStore`` (see ``countyos.lab.disclosure``) backed by ``lab_released_cells`` and
``lab_released_recipes``; sets are keyed hashes (never raw entity keys) made with the
installation's lab secret. Deferred cells (a checked SQL output recorded by its recipe: the query
and the immutable lake files it read) get their sets when a later comparison recomputes them.
Lake data files are never deleted, so a recipe stays recomputable; anything that one day expires
snapshots must first fill the deferred cells that read them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from countyos.db.lab_models import ReleasedCells, ReleasedRecipe
from countyos.errors import InvalidInputError
from countyos.lab.disclosure import (
    InMemoryReleasedCellStore,
    ReleasedCellStore,
    close_entries,
    differencing_focus,
)
from countyos.lab.disclosure.released_focus import Materialise
from countyos.lab.disclosure.entity_sets import HASH_DTYPE, validate_entity_set
from countyos.lab.disclosure.released_store import (
    ReleasedEntry,
    check_bounds,
    check_digest,
    check_recomputed,
    deferred_in_window,
)

SECRET_FILE = "entity-hash.key"


def lab_secret(private_dir: Path) -> bytes:
    """The installation's secret for keyed entity hashes; created once, readable by owner only."""
    path = private_dir / SECRET_FILE
    if not path.exists():
        private_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(32))
        os.replace(path.with_suffix(".tmp"), path)
    return path.read_bytes()


class DatabaseReleasedCellStore:
    """Released cells of one project in the metadata DB (within the caller's session)."""

    def __init__(self, session: Session, project_id: int) -> None:
        self._session = session
        self._project_id = project_id
        self._recipe_ids: dict[str, int] = {}

    def __len__(self) -> int:
        return int(self._session.scalar(
            select(func.count(ReleasedCells.id)).where(ReleasedCells.project_id == self._project_id)
        ) or 0)

    def add(self, cell_id: str, entities: np.ndarray, digest: str | None = None) -> None:
        check_digest(digest, required=False)
        hashes = np.ascontiguousarray(entities, dtype=HASH_DTYPE)
        self._session.add(ReleasedCells(project_id=self._project_id, cell_id=cell_id,
                                        size=int(hashes.size), hashes=hashes.tobytes(),
                                        digest=digest))
        self._session.flush()

    def add_deferred(self, cell_id: str, size: int, digest: str, recipe: str,
                     size_high: int | None = None) -> None:
        check_digest(digest, required=True)
        high = check_bounds(size, size_high)
        if not recipe:
            raise InvalidInputError("a deferred released cell needs its recipe")
        recipe_id = self._recipe_ids.get(recipe)
        if recipe_id is None:
            row = ReleasedRecipe(project_id=self._project_id, body=recipe)
            self._session.add(row)
            self._session.flush()
            recipe_id = self._recipe_ids[recipe] = row.id
        self._session.add(ReleasedCells(project_id=self._project_id, cell_id=cell_id,
                                        size=int(size), size_high=high if high > size else None,
                                        hashes=None, digest=digest, recipe_id=recipe_id))
        self._session.flush()

    def add_all(self, pending: InMemoryReleasedCellStore, prefix: str) -> int:
        """Record every cell of a job's pending store, ids prefixed; returns how many."""
        count = 0
        for entry, entities, recipe in pending.entries():
            cell_id = f"{prefix}{entry.cell_id}"
            if entities is not None:
                self.add(cell_id, entities, entry.digest)
            else:
                self.add_deferred(cell_id, entry.size, str(entry.digest), str(recipe),
                                  entry.size_high)
            count += 1
        return count

    def entries_between(self, low: int, high: int) -> Iterator[ReleasedEntry]:
        upper = func.coalesce(ReleasedCells.size_high, ReleasedCells.size)
        rows = self._session.execute(
            select(ReleasedCells.cell_id, ReleasedCells.size, ReleasedCells.digest,
                   ReleasedCells.hashes.is_(None), upper).where(
                ReleasedCells.project_id == self._project_id,
                ReleasedCells.size <= high, upper >= low)
            .order_by(ReleasedCells.size, ReleasedCells.id)
        )
        for cell_id, size, digest, deferred, size_high in rows:
            yield ReleasedEntry(cell_id, int(size), digest, bool(deferred), int(size_high))

    def _row(self, cell_id: str) -> ReleasedCells:
        row = self._session.scalar(select(ReleasedCells).where(
            ReleasedCells.project_id == self._project_id, ReleasedCells.cell_id == cell_id))
        if row is None:
            raise InvalidInputError("no such released cell", details={"cell_id": cell_id})
        return row

    def entity_set(self, cell_id: str) -> np.ndarray | None:
        blob = self._row(cell_id).hashes
        return None if blob is None else np.frombuffer(blob, dtype=HASH_DTYPE)

    def recipe_of(self, cell_id: str) -> str | None:
        row = self._row(cell_id)
        if row.hashes is not None or row.recipe_id is None:
            return None
        recipe = self._session.get(ReleasedRecipe, row.recipe_id)
        return None if recipe is None else recipe.body

    def fill(self, cell_id: str, entities: np.ndarray) -> None:
        row = self._row(cell_id)
        entities = validate_entity_set(entities)
        check_recomputed(row.size, row.size_high or row.size, entities, cell_id)
        row.size, row.size_high = int(entities.size), None
        row.hashes = np.ascontiguousarray(entities, dtype=HASH_DTYPE).tobytes()
        self._session.flush()

    def with_size_between(self, low: int, high: int) -> Iterator[tuple[str, np.ndarray]]:
        upper = func.coalesce(ReleasedCells.size_high, ReleasedCells.size)
        rows = self._session.execute(
            select(ReleasedCells.cell_id, ReleasedCells.hashes).where(
                ReleasedCells.project_id == self._project_id,
                ReleasedCells.size <= high, upper >= low)
        )
        for cell_id, blob in rows:
            if blob is None:
                raise deferred_in_window(cell_id)
            yield cell_id, np.frombuffer(blob, dtype=HASH_DTYPE)


def comparison_store(
    store: ReleasedCellStore | None,
    sets: Mapping[tuple, np.ndarray],
    threshold: int,
    *,
    materialise: Materialise | None,
) -> InMemoryReleasedCellStore | None:
    """The released cells that outputs with these entity sets must be compared with.

    For outputs whose sets are computed in full (Python jobs): the project's released cells
    within ``threshold - 1`` units in size of some set, deferred ones recomputed by
    ``materialise`` (e.g. ``functools.partial(materialise_recipe, engine=…, secret=…)``).
    ``None`` when there is nothing to compare with (``check_table`` then skips differencing,
    which would find nothing).
    """
    if store is None or len(store) == 0:
        return None
    close = close_entries(store, [(int(s.size), int(s.size), None) for s in sets.values()],
                          threshold)
    if not close:
        return None
    return differencing_focus(store, close, by_digest={}, materialise=materialise)
