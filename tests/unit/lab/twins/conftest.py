"""Fixtures of the synthetic-twin tests: small seeded real-like tables."""

from __future__ import annotations

import pyarrow as pa
import pytest
from tests.unit.lab.twins.twins_testdata import make_enterprises, make_persons, make_visits


@pytest.fixture(scope="module")
def persons() -> pa.Table:
    return make_persons()


@pytest.fixture(scope="module")
def visits(persons: pa.Table) -> pa.Table:
    return make_visits(persons)


@pytest.fixture(scope="module")
def enterprises() -> pa.Table:
    return make_enterprises()
