"""Per-cell statistics computed inside DuckDB equal the pure-Arrow reference of the disclosure
package (``compute_cell_stats`` / ``cell_entity_sets``): units, values, absolute totals, top
contributions and entity sets, with negative values, margins, joins and registers."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest

from countyos.lab.checked_sql import TablePolicy, plan_checked_query, run_checked_query
from countyos.lab.disclosure import (
    DisclosureRules,
    OutputTable,
    cell_entity_sets,
    compute_cell_stats,
    entity_hashes,
)

SECRET = b"checked-sql-test-secret-0123456789"
# threshold 1: every observed group value is visible, so the enumerated empty cells are the
# cross product of observed values, as in compute_cell_stats.
OPEN_RULES = DisclosureRules(threshold=1)


def _close(left, right) -> bool:
    if left is None or right is None:
        return left is None and right is None
    return math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-6)


def assert_same_cells(ours: OutputTable, reference: OutputTable) -> None:
    assert {cell.key for cell in ours.cells} == {cell.key for cell in reference.cells}
    for expected in reference.cells:
        cell = ours.cell(expected.key)
        assert cell.statistic == expected.statistic
        assert cell.n_entities == expected.n_entities, expected.key
        assert _close(cell.value, expected.value), expected.key
        if expected.statistic != "count":
            assert _close(cell.abs_total, expected.abs_total), expected.key
            assert len(cell.top_contributions) == len(expected.top_contributions)
            for left, right in zip(cell.top_contributions, expected.top_contributions, strict=True):
                assert _close(left, right)


def run(sql, lab, engine, policies, **kwargs):
    plan = plan_checked_query(sql, policies=policies)
    return run_checked_query(
        plan, engine=engine, sources=lab.sources, secret=SECRET, table_id="s",
        rules=kwargs.pop("rules", OPEN_RULES), **kwargs,
    )


def test_multi_row_units_with_negative_values(lab, engine, policies) -> None:
    result = run(
        "SELECT township, year, COUNT(*) AS n, SUM(cost) AS s, AVG(cost) AS a FROM visits "
        "GROUP BY township, year",
        lab, engine, policies,
    )
    assert result.per_entity
    assert min(lab.visits.column("cost").to_pylist()) < 0
    group = ["township", "year"]
    assert_same_cells(
        result.output_tables["n"], compute_cell_stats(lab.visits, group, "person_id", "count")
    )
    assert_same_cells(
        result.output_tables["s"],
        compute_cell_stats(lab.visits, group, "person_id", "sum", "cost"),
    )
    assert_same_cells(
        result.output_tables["a"],
        compute_cell_stats(lab.visits, group, "person_id", "mean", "cost"),
    )


def test_margins_of_a_cube(lab, engine, policies) -> None:
    result = run(
        "SELECT township, year, SUM(cost) AS s FROM visits GROUP BY CUBE (township, year)",
        lab, engine, policies,
    )
    reference = compute_cell_stats(
        lab.visits, ["township", "year"], "person_id", "sum", "cost", margins=True
    )
    assert_same_cells(result.output_tables["s"], reference)


def test_rollup_has_only_its_margins(lab, engine, policies) -> None:
    result = run(
        "SELECT township, year, COUNT(*) AS n FROM visits GROUP BY ROLLUP (township, year)",
        lab, engine, policies,
    )
    reference = compute_cell_stats(
        lab.visits, ["township", "year"], "person_id", "count", margins=True
    )
    total = reference.total
    rollup = [c for c in reference.cells if not (c.key[0] is total and c.key[1] is not total)]
    assert {c.key for c in result.output_tables["n"].cells} == {c.key for c in rollup}
    for expected in rollup:
        assert result.output_tables["n"].cell(expected.key).n_entities == expected.n_entities


def test_join_contributions_are_per_person(lab, engine, policies) -> None:
    result = run(
        "SELECT p.sex, SUM(v.cost) AS s, COUNT(*) AS n FROM persons p "
        "JOIN visits v ON p.person_id = v.person_id GROUP BY p.sex",
        lab, engine, policies,
    )
    joined = lab.visits.join(
        lab.persons.select(["person_id", "sex"]), "person_id", join_type="inner"
    )
    assert_same_cells(
        result.output_tables["s"], compute_cell_stats(joined, ["sex"], "person_id", "sum", "cost")
    )
    assert_same_cells(
        result.output_tables["n"], compute_cell_stats(joined, ["sex"], "person_id", "count")
    )


def test_register_fast_path(lab, engine, policies) -> None:
    result = run(
        "SELECT township, sex, SUM(income) AS s, COUNT(*) AS n FROM persons GROUP BY ALL",
        lab, engine, policies,
    )
    assert not result.per_entity
    assert "__countyos_pairs" not in result.sql_rewritten
    group = ["township", "sex"]
    assert_same_cells(
        result.output_tables["s"],
        compute_cell_stats(lab.persons, group, "person_id", "sum", "income"),
    )
    assert_same_cells(
        result.output_tables["n"], compute_cell_stats(lab.persons, group, "person_id", "count")
    )


def test_a_false_register_claim_falls_back_to_the_exact_plan(lab, engine, policies) -> None:
    lying = dict(policies)
    lying["visits"] = TablePolicy(
        "person_id", policies["visits"].roles, key_domain="person", entity_key_unique=True
    )
    result = run(
        "SELECT township, SUM(cost) AS s FROM visits GROUP BY township", lab, engine, lying
    )
    assert result.per_entity
    assert_same_cells(
        result.output_tables["s"],
        compute_cell_stats(lab.visits, ["township"], "person_id", "sum", "cost"),
    )


def test_entity_sets_match_the_reference_hashing(lab, engine, policies) -> None:
    result = run(
        "SELECT township, COUNT(*) AS n, SUM(cost) AS s FROM visits GROUP BY township",
        lab, engine, policies, exact_sets=True,
    )
    for column, value in (("n", None), ("s", "cost")):
        reference = cell_entity_sets(lab.visits, ["township"], "person_id", SECRET, value=value)
        ours = result.entity_sets[column]
        assert ours.keys() == reference.keys()
        for key, entities in reference.items():
            assert entities.dtype == ours[key].dtype
            assert (ours[key] == entities).all()
    persons_of_z = pa.array(sorted(set(range(9001, 9005))), pa.int64())
    assert (result.entity_sets["n"][("Z",)] == entity_hashes(persons_of_z, SECRET)).all()


def test_units_with_a_zero_total_do_not_contribute(write_dataset, engine) -> None:
    rows = {"unit": [], "grp": [], "x": []}
    for unit in range(12):
        for value in ([5.0, -5.0] if unit < 10 else [7.0]):
            rows["unit"].append(unit)
            rows["grp"].append("g")
            rows["x"].append(value)
    source = write_dataset("flows", pa.table(rows))
    policy = {"flows": TablePolicy("unit", {"grp": "dimension", "x": "measure"})}
    plan = plan_checked_query(
        "SELECT grp, SUM(x) AS s, COUNT(*) AS n FROM flows GROUP BY grp", policies=policy
    )
    result = run_checked_query(
        plan, engine=engine, sources={"flows": source}, secret=SECRET, table_id="z",
        rules=DisclosureRules(threshold=3), exact_sets=True,
    )
    sum_cell = result.output_tables["s"].cell(("g",))
    count_cell = result.output_tables["n"].cell(("g",))
    assert count_cell.n_entities == 12
    assert sum_cell.n_entities == 2  # ten units net to zero
    assert sum_cell.abs_total == pytest.approx(14.0)
    assert result.entity_sets["s"][("g",)].size == 2
    assert result.reports["s"].outcome(("g",)).status.value == "threshold"
