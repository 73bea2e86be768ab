"""Entity sets computed inside the checked query: equal to the library's hashes, on every plan;
the hash key never shown; the register claim always verified; differencing still caught."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from countyos.errors import InvalidInputError, QueryRefusedError
from countyos.lab.checked_sql import TablePolicy, plan_checked_query, run_checked_query
from countyos.lab.checked_sql.entity_sets import cell_entity_sets
from countyos.lab.checked_sql.rewrite import KEY_PLACEHOLDER
from countyos.lab.checked_sql.statistics import without_key as _without_key
from countyos.lab.disclosure import (
    TOTAL,
    DisclosureRules,
    InMemoryReleasedCellStore,
    check_table,
    compute_cell_stats,
    entity_hashes,
    record_release,
)
from countyos.lab.disclosure import cell_entity_sets as reference_sets
from countyos.lab.disclosure.entity_sets import entity_hash_key

SECRET = b"checked-sql-entity-sets-secret-000"
ROLES = {"grp": "dimension", "sub": "dimension", "x": "measure"}


def run(sql, sources, engine, policies, **kwargs):
    plan = plan_checked_query(sql, policies=policies)
    return run_checked_query(
        plan, engine=engine, sources=sources, secret=SECRET,
        table_id=kwargs.pop("table_id", "t"), **kwargs,
    )


def hash_lists(cells: list[list[int] | None]) -> pa.Array:
    return pa.array(cells, type=pa.list_(pa.uint64()))


# --- reading the lists -----------------------------------------------------------------------


def test_lists_become_sorted_unique_read_only_sets() -> None:
    sets, duplicated = cell_entity_sets(hash_lists([[9, 3, 5], None, [], [7], [2**64 - 1, 0]]))
    assert not duplicated
    assert [s.tolist() for s in sets] == [[3, 5, 9], [], [], [7], [0, 2**64 - 1]]
    assert all(s.dtype == np.uint64 for s in sets)
    with pytest.raises(ValueError):
        sets[0][0] = 1


def test_repeats_are_reported_and_removed_within_a_cell_only() -> None:
    column = pa.chunked_array([hash_lists([[4, 1, 4], [4]]), hash_lists([[6, 6, 6, 2], []])])
    sets, duplicated = cell_entity_sets(column)
    assert duplicated
    assert [s.tolist() for s in sets] == [[1, 4], [4], [2, 6], []]
    # the same hash in two different cells is no repeat
    assert not cell_entity_sets(hash_lists([[4], [4], [1, 4]]))[1]


def test_null_hashes_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="entity key"):
        cell_entity_sets(hash_lists([[1, None]]))


# --- equal to the library on every plan --------------------------------------------------------


@pytest.fixture
def text_units(write_dataset):
    """Text unit ids: ``reg`` one row per unit, ``multi`` two to four rows per unit."""
    rng = np.random.default_rng(12)
    units = [f"P{n:09d}" for n in rng.choice(10**9, size=300, replace=False)]
    grp = rng.choice(["a", "b", "c"], size=300)
    sub = rng.choice(["x", "y"], size=300)
    register = pa.table({"unit": units, "grp": grp, "sub": sub, "x": rng.uniform(1, 9, 300)})
    repeats = rng.integers(2, 5, size=300)
    multi = pa.table({
        "unit": np.repeat(units, repeats),
        "grp": rng.choice(["a", "b"], size=int(repeats.sum())),
        "sub": np.repeat(sub, repeats),
        "x": rng.uniform(1, 9, int(repeats.sum())),
    })
    sources = {"reg": write_dataset("reg", register), "multi": write_dataset("multi", multi)}
    policies = {
        "reg": TablePolicy("unit", ROLES, key_domain="person", entity_key_unique=True),
        "multi": TablePolicy("unit", ROLES, key_domain="person"),
    }
    return register, multi, sources, policies


@pytest.mark.parametrize("table", ["reg", "multi"])
def test_sets_equal_the_library_hashes_with_margins(text_units, engine, table) -> None:
    register, multi, sources, policies = text_units
    data = register if table == "reg" else multi
    result = run(
        f"SELECT grp, sub, COUNT(*) AS n, SUM(x) AS s FROM {table} GROUP BY CUBE (grp, sub)",
        sources, engine, policies, exact_sets=True,
    )
    assert result.per_entity is (table == "multi")
    reference = reference_sets(data, ["grp", "sub"], "unit", SECRET, margins=True)
    for column in ("n", "s"):  # every x is positive: both families have the same units
        ours = result.entity_sets[column]
        assert ours.keys() == reference.keys()
        for key, entities in reference.items():
            assert np.array_equal(ours[key], entities), key
    everyone = entity_hashes(data.column("unit"), SECRET)
    assert np.array_equal(result.entity_sets["n"][(TOTAL, TOTAL)], everyone)


def test_the_hash_key_never_appears_in_what_is_shown(text_units, engine) -> None:
    _, _, sources, policies = text_units
    result = run("SELECT grp, COUNT(*) AS n FROM multi GROUP BY grp", sources, engine, policies,
                 exact_sets=True)
    key_block = entity_hash_key(SECRET)
    assert key_block not in result.sql_rewritten
    assert KEY_PLACEHOLDER in result.sql_rewritten
    assert SECRET.decode() not in result.sql_rewritten


def test_engine_errors_lose_the_hash_key() -> None:
    key_block = entity_hash_key(SECRET)
    error = QueryRefusedError(
        f"LINE 1: ...md5_number('{key_block}' || 's' || e)...",
        details={"sql": [f"x {key_block}"], "n": 3},
    )
    cleaned = _without_key(error, key_block)
    assert cleaned is error and isinstance(cleaned, QueryRefusedError)
    assert key_block not in cleaned.message and key_block not in str(cleaned)
    assert key_block not in repr(cleaned.details) and cleaned.details["n"] == 3
    assert KEY_PLACEHOLDER in cleaned.message


# --- the register claim ------------------------------------------------------------------------


def test_a_false_register_claim_hidden_among_zero_rows_is_caught(write_dataset, engine) -> None:
    # unit "solo" has 12 rows of zeros in group "rare": a SUM cell lists no contributor, but
    # the rows still made the group look like 12 units on the fast path
    rows = {"unit": [f"u{n}" for n in range(15)], "grp": ["common"] * 15, "x": [5.0] * 15}
    rows["unit"] += ["solo"] * 12
    rows["grp"] += ["rare"] * 12
    rows["x"] += [0.0] * 12
    sources = {"people": write_dataset("people", pa.table(rows))}
    lying = {"people": TablePolicy("unit", {"grp": "dimension", "x": "measure"},
                                   entity_key_unique=True)}
    result = run("SELECT grp, SUM(x) AS s FROM people GROUP BY grp", sources, engine, lying,
                 entity_sets=False)
    assert result.per_entity  # the claim was checked although no entity sets were asked for
    assert result.table.column("grp").to_pylist() == ["common"]  # "rare" is one unit: hidden
    assert result.hidden_cells == 1


# --- differencing across plans and across Python outputs --------------------------------------


def test_one_more_unit_is_flagged_across_sql_and_python_outputs(scored, engine) -> None:
    data, sources, policies = scored
    rules = DisclosureRules()
    store = InMemoryReleasedCellStore()
    # a Python job published the count per group, hashed by the library in Python
    table = compute_cell_stats(data, ["grp"], "unit", "count")
    sets = reference_sets(data, ["grp"], "unit", SECRET)
    report = check_table(table, rules, table_id="py", released=store, entity_sets=sets)
    assert record_release(store, report, table, sets) == 2
    # the same units through checked SQL: identical sets, no difference
    same = run("SELECT grp, SUM(x) AS s FROM multi GROUP BY grp", sources, engine, policies,
               released=store, table_id="sql-1")
    assert same.reports["s"].overall == "pass"
    # the same query without units 0 and 1 of each group: two units apart from the release
    narrower = run(
        "SELECT grp, COUNT(*) AS n FROM multi WHERE score >= 2 GROUP BY grp",
        sources, engine, policies, released=store, table_id="sql-2", explain=True,
    )
    for group in ("a", "b"):
        outcome = narrower.reports["n"].outcome((group,))
        assert outcome.status.value == "differencing"
        assert f"py (grp={group})" in outcome.reason_en
    # far enough apart (threshold units or more) is fine
    far = run(
        f"SELECT grp, COUNT(*) AS n FROM multi WHERE score >= {rules.threshold} GROUP BY grp",
        sources, engine, policies, released=store, table_id="sql-3",
    )
    assert far.reports["n"].outcome(("a",)).released
