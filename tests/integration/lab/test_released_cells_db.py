"""The released-cell store in the metadata DB, on both backends: stored and deferred cells, size
bounds, recomputed sets filled in, pending bytes recorded, lookups that would skip a deferred cell
refused."""

from __future__ import annotations

import numpy as np
import pytest

from countyos.db.lab_models import Project, Scenario
from countyos.errors import InternalError
from countyos.hub import Hub
from countyos.lab.disclosure import InMemoryReleasedCellStore
from countyos.lab.released_cells import DatabaseReleasedCellStore

DIGEST_A, DIGEST_B = "a" * 64, "b" * 64


def _project(hub: Hub) -> int:
    with hub.db.session() as session:
        scenario = Scenario(slug="s", title_zh="场景", created_by="admin")
        session.add(scenario)
        session.flush()
        project = Project(slug="p", scenario_id=scenario.id, title="p", created_by="dev")
        session.add(project)
        session.flush()
        return project.id


def _hashes(*values: int) -> np.ndarray:
    return np.array(sorted(values), dtype="<u8")


def test_stored_and_deferred_cells_round_trip(any_hub: Hub) -> None:
    project = _project(any_hub)
    pending = InMemoryReleasedCellStore()
    pending.add("t (g=a)", _hashes(*range(12)), DIGEST_A)
    pending.add_deferred("t (g=b)", 20, DIGEST_B, '{"recipe": 1}', size_high=60)
    with any_hub.db.session() as session:
        store = DatabaseReleasedCellStore(session, project)
        assert store.add_all(InMemoryReleasedCellStore.from_bytes(pending.to_bytes()), "o1:") == 2
    with any_hub.db.session() as session:
        store = DatabaseReleasedCellStore(session, project)
        assert len(store) == 2
        near_25 = {e.cell_id: e for e in store.entries_between(16, 34)}
        assert set(near_25) == {"o1:t (g=b)"}      # 20..60 meets 16..34; 12 does not
        entry = near_25["o1:t (g=b)"]
        assert entry.deferred and (entry.size, entry.size_high, entry.digest) == (20, 60, DIGEST_B)
        assert {e.cell_id for e in store.entries_between(0, 12)} == {"o1:t (g=a)"}
        assert np.array_equal(store.entity_set("o1:t (g=a)"), _hashes(*range(12)))
        assert store.entity_set("o1:t (g=b)") is None
        assert store.recipe_of("o1:t (g=b)") == '{"recipe": 1}'
        with pytest.raises(InternalError):                    # would skip the deferred cell
            list(store.with_size_between(50, 70))
        with pytest.raises(InternalError):                    # outside the recorded bounds
            store.fill("o1:t (g=b)", _hashes(*range(61)))
        store.fill("o1:t (g=b)", _hashes(*range(100, 130)))
    with any_hub.db.session() as session:
        store = DatabaseReleasedCellStore(session, project)
        assert store.recipe_of("o1:t (g=b)") is None
        filled = [e for e in store.entries_between(0, 100) if e.cell_id == "o1:t (g=b)"][0]
        assert not filled.deferred and filled.size == filled.size_high == 30
        assert dict(store.with_size_between(30, 30)).keys() == {"o1:t (g=b)"}
        assert not list(store.entries_between(40, 59))        # exact now: 30 is out of reach


def test_one_recipe_is_stored_once_per_output(any_hub: Hub) -> None:
    from sqlalchemy import func, select

    from countyos.db.lab_models import ReleasedRecipe

    project = _project(any_hub)
    pending = InMemoryReleasedCellStore()
    for number in range(5):
        pending.add_deferred(f"t (g={number})", 10 + number, f"{number:x}" * 64, "recipe-text")
    with any_hub.db.session() as session:
        DatabaseReleasedCellStore(session, project).add_all(pending, "o:")
    with any_hub.db.session() as session:
        assert session.scalar(select(func.count(ReleasedRecipe.id))) == 1
