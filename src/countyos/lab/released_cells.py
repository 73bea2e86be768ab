"""The entity sets behind cells released to a project, kept in the metadata DB (in the domain).

A ``ReleasedCellStore`` (see ``countyos.lab.disclosure``) backed by ``lab_released_cells``; sets
are keyed hashes (never raw entity keys) made with the installation's lab secret.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from countyos.db.lab_models import ReleasedCells
from countyos.lab.disclosure.entity_sets import HASH_DTYPE

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

    def __len__(self) -> int:
        return int(self._session.scalar(
            select(func.count(ReleasedCells.id)).where(ReleasedCells.project_id == self._project_id)
        ) or 0)

    def add(self, cell_id: str, entities: np.ndarray) -> None:
        hashes = np.ascontiguousarray(entities, dtype=HASH_DTYPE)
        self._session.add(ReleasedCells(project_id=self._project_id, cell_id=cell_id,
                                        size=int(hashes.size), hashes=hashes.tobytes()))
        self._session.flush()

    def with_size_between(self, low: int, high: int) -> Iterator[tuple[str, np.ndarray]]:
        rows = self._session.execute(
            select(ReleasedCells.cell_id, ReleasedCells.hashes).where(
                ReleasedCells.project_id == self._project_id,
                ReleasedCells.size >= low, ReleasedCells.size <= high)
        )
        for cell_id, blob in rows:
            yield cell_id, np.frombuffer(blob, dtype=HASH_DTYPE)
