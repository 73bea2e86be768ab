"""The worker's register claim: a table whose profile shows one row per entity key gets the fast
path, and a wrong claim still gives the exact statistics."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from countyos.db.models import Column
from countyos.lab.checked_sql import plan_checked_query, run_checked_query
from countyos.lab.disclosure import compute_cell_stats
from countyos.lab.job_context import looks_like_register, table_policy

SECRET = b"register-claim-test-secret-000000"


def columns() -> list[Column]:
    return [
        Column(name="person_id", role="entity_key", detected=None),
        Column(name="township", role="dimension", detected=None),
        Column(name="income", role="measure", detected=None),
    ]


def profile(rows: int, distinct: float, nulls: int = 0) -> dict:
    return {"rows": rows, "columns": {"person_id": {"nulls": nulls, "distinct": distinct}}}


@pytest.mark.parametrize(
    "facts, claimed",
    [
        (profile(1000, 1000), True),
        (profile(1_000_000, 960_294), True),  # HyperLogLog under-estimates a real register
        (profile(1000, 500), False),  # two rows per person
        (profile(1000, 1000, nulls=3), False),
        (profile(0, 0), False),
        ({"rows": 10, "columns": {}}, False),
        ({}, False),
        (None, False),
    ],
)
def test_claim_follows_the_profile(facts, claimed) -> None:
    assert looks_like_register(facts, "person_id") is claimed
    policy = table_policy(columns(), ["person_id", "township", "income"], facts)
    assert policy.entity_key_unique is claimed
    assert policy.entity_key == "person_id"


def test_without_a_profile_nothing_is_claimed() -> None:
    assert not table_policy(columns(), ["person_id", "township"]).entity_key_unique


def test_a_claim_from_an_estimate_is_verified_by_the_run(write_dataset, engine) -> None:
    # 5 % of the persons have a second row: the estimate passes, the run must not trust it
    rng = np.random.default_rng(4)
    persons = np.arange(400)
    extra = rng.choice(persons, size=20, replace=False)
    ids = np.concatenate([persons, extra])
    data = pa.table({
        "person_id": ids,
        "township": rng.choice(["a", "b"], size=ids.size),
        "income": rng.uniform(100, 200, size=ids.size),
    })
    sources = {"people": write_dataset("people", data)}
    policy = table_policy(columns(), ["person_id", "township", "income"],
                          profile(ids.size, 0.96 * ids.size))
    assert policy.entity_key_unique
    plan = plan_checked_query(
        "SELECT township, SUM(income) AS s, COUNT(*) AS n FROM people GROUP BY ROLLUP (township)",
        policies={"people": policy},
    )
    reference = compute_cell_stats(data, ["township"], "person_id", "sum", "income",
                                   margins=True)
    # the fast run bounds the units (2 rows per person at most), never counts rows as units
    fast = run_checked_query(plan, engine=engine, sources=sources, secret=SECRET, table_id="r")
    assert not fast.per_entity and fast.size_bounds
    for cell in reference.cells:
        low, high = fast.size_bounds["s"][cell.key]
        assert low <= cell.n_entities <= high and low < high
        assert fast.output_tables["s"].cell(cell.key).value == pytest.approx(cell.value)
    result = run_checked_query(plan, engine=engine, sources=sources, secret=SECRET, table_id="r",
                               exact_sets=True)
    assert result.per_entity
    for cell in reference.cells:
        ours = result.output_tables["s"].cell(cell.key)
        assert ours.n_entities == cell.n_entities
        assert ours.value == pytest.approx(cell.value)
