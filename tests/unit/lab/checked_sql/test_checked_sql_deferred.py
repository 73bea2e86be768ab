"""Deferred released cells: recorded by recipe and digest, recomputed only when a check needs them.

Attacks first: "the same query with one person more" must be caught against a release recorded
without its sets, from SQL and from a Python output; a set that cannot be recomputed exactly fails
the run instead of skipping the comparison. Then the economy: the same query asked again needs no
entity set at all.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pyarrow as pa
import pytest

from countyos.errors import CountyOSError, InternalError
from countyos.lab.checked_sql import plan_checked_query, run_checked_query
from countyos.lab.checked_sql.recipes import cell_digest, materialise_recipe, query_recipe
from countyos.lab.disclosure import (
    DisclosureRules,
    InMemoryReleasedCellStore,
    check_table,
    compute_cell_stats,
)
from countyos.lab.disclosure import cell_entity_sets as reference_sets
from countyos.lab.released_cells import comparison_store

SECRET = b"deferred-cells-secret-0123456789"
COUNT = "SELECT grp, COUNT(*) AS n FROM multi WHERE score >= {} GROUP BY grp"


def run(sql, sources, engine, policies, **kwargs):  # type: ignore[no-untyped-def]
    plan = plan_checked_query(sql, policies=policies)
    return run_checked_query(plan, engine=engine, sources=sources, secret=SECRET,
                             table_id=kwargs.pop("table_id", "t"), **kwargs)


def released_deferred(sql, scored, engine, table_id="job-1"):  # type: ignore[no-untyped-def]
    _, sources, policies = scored
    store = InMemoryReleasedCellStore()
    first = run(sql, sources, engine, policies, table_id=table_id)
    assert first.entity_sets is None and first.recipe is not None  # nothing was hashed
    assert first.record(store) == 2
    assert all(entry.deferred for entry, _, _ in store.entries())
    return store, first


def test_one_person_more_is_flagged_against_a_deferred_release(scored, engine) -> None:
    data, sources, policies = scored
    store, _ = released_deferred(COUNT.format(1), scored, engine)
    wider = run(COUNT.format(0), sources, engine, policies, released=store, table_id="job-2")
    for group in ("a", "b"):
        assert wider.reports["n"].outcome((group,)).status.value == "differencing"
    # the deferred sets were recomputed exactly and kept
    narrower = data.filter(pa.compute.greater_equal(data["score"], 1))
    reference = reference_sets(narrower, ["grp"], "unit", SECRET)
    for entry, entities, _ in store.entries():
        assert entities is not None
        group = "a" if "grp=a" in entry.cell_id else "b"
        assert np.array_equal(entities, reference[(group,)])


def test_the_same_query_again_needs_no_entity_set(scored, engine) -> None:
    _, sources, policies = scored
    store, first = released_deferred(COUNT.format(0), scored, engine)
    again = run(COUNT.format(0), sources, engine, policies, released=store, table_id="job-2")
    assert again.entity_sets is None  # identical digests: no unit was hashed
    assert again.digests == first.digests
    assert again.reports["n"].overall == "pass"
    assert all(entry.deferred for entry, _, _ in store.entries())


def test_far_cells_are_not_compared_and_close_ones_are(scored, engine) -> None:
    _, sources, policies = scored
    store, _ = released_deferred(COUNT.format(0), scored, engine)
    # the release was decided from bounds (3 rows per unit at most): a 40..120 units, b 20..60
    bounds = sorted((entry.size, entry.size_high) for entry, _, _ in store.entries())
    assert bounds == [(20, 60), (40, 120)]
    # a keeps 7 units, b none: more than 9 units away from every released size
    far = run(COUNT.format(33), sources, engine, policies, released=store, table_id="job-2")
    assert far.entity_sets is None
    assert "differencing" not in {o.status.value for o in far.reports["n"].cells}
    close = run(COUNT.format(9), sources, engine, policies, released=store, table_id="job-3")
    assert close.entity_sets is not None  # within reach of a release: compared exactly
    assert {o.status.value for o in close.reports["n"].cells} == {"differencing"}


def test_a_python_output_is_compared_with_a_deferred_sql_release(scored, engine) -> None:
    data, sources, _ = scored
    store, _ = released_deferred(COUNT.format(0), scored, engine)
    one_less = data.filter(pa.compute.not_equal(data["unit"], "a-00007"))
    table = compute_cell_stats(one_less, ["grp"], "unit", "count")
    sets = reference_sets(one_less, ["grp"], "unit", SECRET)
    focus = comparison_store(store, sets, 10, materialise=functools.partial(
        materialise_recipe, engine=engine, secret=SECRET))
    assert focus is not None
    report = check_table(table, DisclosureRules(), table_id="py", released=focus,
                         entity_sets=sets)
    assert report.outcome(("a",)).status.value == "differencing"
    assert report.outcome(("b",)).released  # identical to the release: no difference


def test_a_set_that_cannot_be_recomputed_fails_the_run(scored, engine, tmp_path) -> None:
    _, sources, policies = scored
    store, _ = released_deferred(COUNT.format(1), scored, engine)
    for path in sources["multi"].files:
        (tmp_path / "gone").mkdir(exist_ok=True)
        import shutil

        shutil.move(path, tmp_path / "gone" / "multi.parquet")
    moved = {"multi": dataclasses.replace(sources["multi"],
                                          files=(str(tmp_path / "gone" / "multi.parquet"),))}
    with pytest.raises(CountyOSError):
        run(COUNT.format(0), moved, engine, policies, released=store, table_id="job-2")


def test_a_recomputed_set_of_another_size_fails_the_run(scored, engine) -> None:
    _, sources, policies = scored
    store, first = released_deferred(COUNT.format(1), scored, engine)
    forged = InMemoryReleasedCellStore()
    for entry, _, recipe in store.entries():  # the recorded sizes no longer match the data
        forged.add_deferred(entry.cell_id, entry.size + 1, str(entry.digest), str(recipe))
    with pytest.raises(InternalError):
        run(COUNT.format(0), sources, engine, policies, released=forged, table_id="job-2")


def test_recipes_name_the_query_and_the_files(scored, engine, write_dataset) -> None:
    data, sources, policies = scored
    plan = plan_checked_query(COUNT.format(0), policies=policies)
    recipe = query_recipe(plan, sources)
    assert recipe is not None and query_recipe(plan, sources) == recipe
    copy = {"multi": write_dataset("multi_copy", data)}
    copy = {"multi": dataclasses.replace(copy["multi"], name="multi")}
    assert query_recipe(plan, copy) != recipe  # other files: another definition
    other = plan_checked_query(COUNT.format(1), policies=policies)
    assert query_recipe(other, sources) != recipe
    sets = materialise_recipe(recipe, engine=engine, secret=SECRET)
    reference = reference_sets(data, ["grp"], "unit", SECRET)
    for group in ("a", "b"):
        assert np.array_equal(sets[cell_digest(recipe, "n", (group,))], reference[(group,)])


def test_pending_bytes_keep_deferred_cells(scored, engine) -> None:
    store, first = released_deferred(COUNT.format(0), scored, engine)
    store.add("py (grp=c)", np.array([3, 9, 27], dtype="<u8"), "ab" * 32)
    again = InMemoryReleasedCellStore.from_bytes(store.to_bytes())
    before = [(e, None if s is None else s.tolist(), r) for e, s, r in store.entries()]
    after = [(e, None if s is None else s.tolist(), r) for e, s, r in again.entries()]
    assert before == after
    data = bytearray(store.to_bytes())
    data[20] ^= 1
    with pytest.raises(CountyOSError):
        InMemoryReleasedCellStore.from_bytes(bytes(data))


def test_a_deferred_cell_in_a_lookup_window_raises(scored, engine) -> None:
    store, _ = released_deferred(COUNT.format(0), scored, engine)
    with pytest.raises(InternalError):
        list(store.with_size_between(0, 100))
    with pytest.raises(InternalError):
        list(store.near(np.arange(40, dtype="<u8"), 9))


def test_a_query_matching_nothing_looks_like_one_with_only_rare_groups(scored, engine) -> None:
    _, sources, policies = scored
    nothing = run(COUNT.format(1000), sources, engine, policies)  # no unit has that score
    rare = run(COUNT.format(35), sources, engine, policies)       # 5 units in a, none in b
    assert nothing.table.num_rows == rare.table.num_rows == 0
    assert nothing.table.schema == rare.table.schema
    assert nothing.hidden_cells >= 1 and rare.hidden_cells >= 1
