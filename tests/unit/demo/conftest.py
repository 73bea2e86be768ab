"""Shared Demo Counties for the demo tests: generated once per session at small scale factors."""

from __future__ import annotations

import pytest

from countyos.demo import DemoCounty, generate_county

SCALE = 0.01
SEED = 7


@pytest.fixture(scope="session")
def county() -> DemoCounty:
    """The Demo County at F = 0.01 (10,000 residents, 300 enterprises)."""
    return generate_county(SCALE, SEED)


@pytest.fixture(scope="session")
def small_county() -> DemoCounty:
    """The Demo County at F = 0.005 with another seed."""
    return generate_county(0.005, 11)

