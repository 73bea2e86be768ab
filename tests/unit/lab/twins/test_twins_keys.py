"""Key domains: fresh pseudonymous keys that join across twins and keep the real fan-out."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from countyos.errors import InvalidInputError
from countyos.lab.twins import TwinBuilder, TwinColumn
from countyos.lab.twins.keys import assign_rows, assign_unique, fanout_counts
from tests.unit.lab.twins.twins_testdata import PERSON_COLUMNS, VISIT_COLUMNS


@pytest.fixture(scope="module")
def twins(persons: pa.Table, visits: pa.Table) -> tuple[TwinBuilder, pa.Table, pa.Table]:
    builder = TwinBuilder(seed=5)
    person_twin = builder.add("persons", persons, PERSON_COLUMNS)
    visit_twin = builder.add("visits", visits, VISIT_COLUMNS)
    return builder, person_twin, visit_twin


def _fanout_with_zeros(parent: pa.Table, child: pa.Table) -> np.ndarray:
    counts = fanout_counts(child.column("person_id").combine_chunks())
    zeros = parent.num_rows - counts.size
    return np.concatenate([counts, np.zeros(zeros, dtype=np.int64)])


def test_visits_join_persons_across_twins(twins):
    _, person_twin, visit_twin = twins
    joined = visit_twin.join(person_twin, "person_id", join_type="inner")
    assert joined.num_rows == visit_twin.num_rows  # every twin visit finds its twin person
    assert pc.count_distinct(person_twin.column("person_id")).as_py() == person_twin.num_rows


def test_fanout_of_visits_per_person_is_kept(persons, visits, twins):
    _, person_twin, visit_twin = twins
    real = _fanout_with_zeros(persons, visits)
    twin = _fanout_with_zeros(person_twin, visit_twin)
    assert abs(np.mean(real == 0) - np.mean(twin == 0)) < 0.04  # persons without a visit
    assert abs(real.mean() - twin.mean()) / real.mean() < 0.05
    assert abs(np.quantile(real, 0.9) - np.quantile(twin, 0.9)) <= 2
    assert twin.max() < real.max() * 1.5


def test_keys_are_fresh_and_not_derived_from_real_keys(persons, visits, twins):
    _, person_twin, visit_twin = twins
    for real, twin, name in ((persons, person_twin, "person_id"), (visits, visit_twin, "person_id"), (visits, visit_twin, "visit_id")):
        assert not pc.any(pc.is_in(twin.column(name), value_set=real.column(name))).as_py()
    # no hash: the same real keys under another seed give unrelated pseudonyms
    other = TwinBuilder(seed=6).add("persons", persons, PERSON_COLUMNS)
    shared = pc.sum(pc.is_in(other.column("person_id"), value_set=person_twin.column("person_id"))).as_py()
    assert shared < 0.02 * persons.num_rows  # chance coincidences only; a hash would share all
    # nor a monotone relabelling: twin keys are not in the real row order
    keys = person_twin.column("person_id").to_numpy()
    assert not (np.all(np.diff(keys) > 0) or np.all(np.diff(keys) < 0))
    assert pc.count_distinct(visit_twin.column("visit_id")).as_py() == visit_twin.num_rows
    assert all(v.startswith("V") and len(v) >= 8 for v in visit_twin.column("visit_id").to_pylist()[:100])


def test_domains_are_shared_within_a_builder_only(twins):
    builder, person_twin, _ = twins
    domain = builder.domains["person"]
    assert domain.origin == "persons.person_id"
    assert domain.pool.equals(person_twin.column("person_id").combine_chunks())
    with pytest.raises(TypeError):
        builder.domains["x"] = domain  # read-only view


def test_string_keys_join_and_type_mismatch_is_refused():
    rng = np.random.default_rng(1)
    firms = pa.table({"code": [f"E{i:05d}" for i in range(500)], "size": rng.integers(1, 500, 500)})
    owners = pa.table({"code": [f"E{i:05d}" for i in rng.integers(0, 500, 1500)], "share": rng.random(1500)})
    builder = TwinBuilder(seed=2)
    firm_twin = builder.add("firms", firms, [TwinColumn("code", "entity_key", None, "firm"), TwinColumn("size", "measure", None)])
    owner_twin = builder.add("owners", owners, [TwinColumn("code", "entity_key", None, "firm"), TwinColumn("share", "measure", None)])
    assert pc.all(pc.is_in(owner_twin.column("code"), value_set=firm_twin.column("code"))).as_py()
    bad = pa.table({"code": pa.array(np.arange(20), pa.float64())})
    with pytest.raises(InvalidInputError, match="text or integers"):
        builder.add("bad", bad, [TwinColumn("code", "entity_key", None, "thing")])
    castless = pa.table({"code": pa.array(np.arange(30), pa.int64())})
    with pytest.raises(InvalidInputError, match="compatible types"):
        builder.add("castless", castless, [TwinColumn("code", "entity_key", None, "firm")])
    assert "castless" not in builder.datasets


def test_child_added_first_creates_the_domain_with_its_fanout():
    rng = np.random.default_rng(3)
    household = rng.integers(0, 400, 2000)
    members = pa.table({"household_id": pa.array(household, pa.int64()), "age": rng.integers(0, 90, 2000)})
    columns = [TwinColumn("household_id", "entity_key", None, "household"), TwinColumn("age", "measure", None)]
    builder = TwinBuilder(seed=4)
    twin = builder.add("members", members, columns)
    real_households = pc.count_distinct(members.column("household_id")).as_py()
    twin_households = pc.count_distinct(twin.column("household_id")).as_py()
    assert abs(twin_households - real_households) / real_households < 0.1
    assert builder.domains["household"].real_entities == real_households


def test_two_keys_of_one_domain_in_one_table_and_nullable_keys():
    rng = np.random.default_rng(8)
    people = pa.table({"pid": pa.array(np.arange(1, 301), pa.int64())})
    transfers = pa.table(
        {
            "sender": pa.array(rng.integers(1, 301, 900), pa.int64()),
            "receiver": pa.array(rng.integers(1, 301, 900), pa.int64(), mask=rng.random(900) < 0.2),
        }
    )
    builder = TwinBuilder(seed=1)
    people_twin = builder.add("people", people, [TwinColumn("pid", "entity_key", None, "person")])
    columns = [TwinColumn("sender", "entity_key", None, "person"), TwinColumn("receiver", "identifier", None, "person")]
    twin = builder.add("transfers", transfers, columns)
    pool = people_twin.column("pid")
    for name in ("sender", "receiver"):
        assert pc.all(pc.is_in(twin.column(name).drop_null(), value_set=pool)).as_py()
    assert 0.12 < twin.column("receiver").null_count / twin.num_rows < 0.28
    assert twin.column("sender").null_count == 0


def test_one_to_one_child_gets_distinct_keys():
    people = pa.table({"pid": pa.array(np.arange(1, 501), pa.int64())})
    details = pa.table({"pid": pa.array(np.arange(1, 401), pa.int64()), "score": np.linspace(0, 1, 400)})
    builder = TwinBuilder(seed=1)
    builder.add("people", people, [TwinColumn("pid", "entity_key", None, "person")])
    twin = builder.add("details", details, [TwinColumn("pid", "entity_key", None, "person"), TwinColumn("score", "measure", None)])
    assert pc.count_distinct(twin.column("pid")).as_py() == 400


def test_small_key_types_that_cannot_hold_fresh_keys_are_refused():
    table = pa.table({"k": pa.array(np.arange(100), pa.int8())})
    with pytest.raises(InvalidInputError, match="too small"):
        TwinBuilder(seed=1).add("t", table, [TwinColumn("k", "entity_key", None)])


def test_assignment_helpers():
    rng = np.random.default_rng(0)
    rows = assign_rows(np.array([3, 0, 1]), 4, rng)
    assert sorted(rows.tolist()) == [0, 0, 0, 2]
    more = assign_rows(np.array([2, 0, 2]), 40, rng)
    assert more.size == 40 and 1 not in more.tolist()
    fewer = assign_rows(np.array([5, 5]), 4, rng)
    assert fewer.size == 4
    assert sorted(assign_unique(5, 5, rng).tolist()) == [0, 1, 2, 3, 4]
    assert assign_unique(3, 5, rng).size == 5
