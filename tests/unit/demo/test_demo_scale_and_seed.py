"""Determinism by seed, scaling of row counts, and refusal of bad arguments."""

from __future__ import annotations

import math

import pytest

from countyos.demo import MAX_SCALE, generate_county
from countyos.errors import InvalidInputError


def test_same_seed_gives_identical_county(county):
    again = generate_county(county.scale, county.seed)
    assert [d.name for d in again.datasets] == [d.name for d in county.datasets]
    for first, second in zip(county.datasets, again.datasets):
        assert first.table.equals(second.table, check_metadata=True), first.name
    assert again.geojson == county.geojson
    assert again.townships == county.townships


def test_different_seed_gives_different_tables(county):
    other = generate_county(county.scale, county.seed + 1)
    for first, second in zip(county.datasets, other.datasets):
        assert not first.table.equals(second.table), first.name
    assert other.geojson != county.geojson


def test_row_counts_scale_linearly():
    small = generate_county(0.01, 3)
    large = generate_county(0.03, 3)
    exact = {"population_registry": 0.0, "enterprise_registry": 0.0, "hotline_events": 0.0}
    tolerance = {"outpatient_visits": 0.08, "social_insurance": 0.15,
                 "electricity_daily": 0.3, "industrial_output_monthly": 0.5}
    for name, allowed in {**exact, **tolerance}.items():
        ratio = large.dataset(name).num_rows / small.dataset(name).num_rows
        assert abs(ratio - 3) <= 3 * allowed + 1e-9, (name, ratio)
    assert small.dataset("population_registry").num_rows == 10_000
    assert small.dataset("enterprise_registry").num_rows == 300
    assert small.dataset("hotline_events").num_rows == 1_000


def test_tiny_scale_keeps_minimum_sizes():
    tiny = generate_county(0.001, 1)
    assert tiny.dataset("enterprise_registry").num_rows >= 50
    assert all(t.population >= 10 for t in tiny.townships)
    assert tiny.dataset("industrial_output_monthly").num_rows > 0


def test_progress_reports_every_stage_in_order():
    seen = []
    generate_county(0.002, 1, progress=lambda stage, fraction: seen.append((stage, fraction)))
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions)
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    stages = {s for s, _ in seen}
    assert {"population_registry", "enterprise_registry", "outpatient_visits"} <= stages


@pytest.mark.parametrize("scale", [0, -1, 0.0001, MAX_SCALE * 2, math.nan, math.inf, "1", None,
                                   True])
def test_bad_scale_is_refused(scale):
    with pytest.raises(InvalidInputError) as raised:
        generate_county(scale)  # type: ignore[arg-type]
    assert "scale" in raised.value.message
    assert raised.value.details["parameter"] == "scale"


@pytest.mark.parametrize("seed", [-1, 1.5, "7", None, True])
def test_bad_seed_is_refused(seed):
    with pytest.raises(InvalidInputError) as raised:
        generate_county(0.002, seed)  # type: ignore[arg-type]
    assert "seed" in raised.value.message
