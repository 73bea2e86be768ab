"""Fixtures shared by the whole suite.

- Every test gets its own data directory (``tmp_path``); nothing touches ``~/.countyos``.
- ``metadata_url`` runs a test on both metadata backends: SQLite (embedded default) and a fresh
  PostgreSQL database created for the test on the server named by ``COUNTYOS_TEST_POSTGRES_URL``.
- With ``COUNTYOS_REQUIRE_SERVICES=1`` (set by ``.ci/run``) every skip is turned into a failure,
  so CI can never pass by skipping a test whose server is absent.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from countyos.auth import Principal

if TYPE_CHECKING:
    from countyos.hub import Hub
from countyos.settings import Settings

REQUIRE_SERVICES = os.environ.get("COUNTYOS_REQUIRE_SERVICES") == "1"
POSTGRES_URL = os.environ.get(
    "COUNTYOS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ADMIN = Principal(username="test-admin", role="admin")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_SERVICES and report.skipped:
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under COUNTYOS_REQUIRE_SERVICES=1 (CI must not skip): {reason}"


def _admin_engine():  # type: ignore[no-untyped-def]
    return create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")


def postgres_available() -> str | None:
    """None if the test PostgreSQL server answers, else the reason it does not."""
    try:
        engine = _admin_engine()
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as error:  # noqa: BLE001 - any failure means "not available"
        return f"PostgreSQL at {make_url(POSTGRES_URL).render_as_string(hide_password=True)} " \
               f"is not reachable: {type(error).__name__}"


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    reason = postgres_available()
    if reason:
        pytest.skip(reason)
    name = f"countyos_t_{uuid.uuid4().hex[:12]}"
    engine = _admin_engine()
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with engine.connect() as connection:
            connection.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"
            ), {"n": name})
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def metadata_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'home' / 'countyos.db'}"
    return request.getfixturevalue("postgres_database")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Embedded defaults under a temporary home (SQLite)."""
    return Settings(home=tmp_path / "home")


@pytest.fixture
def hub(settings: Settings) -> Iterator[Hub]:
    from countyos.hub import Hub

    hub = Hub(settings)
    yield hub
    hub.close()


@pytest.fixture
def any_hub(tmp_path: Path, metadata_url: str) -> Iterator[Hub]:
    """A hub on each metadata backend in turn (SQLite, PostgreSQL)."""
    from countyos.hub import Hub

    hub = Hub(Settings(home=tmp_path / "home", database_url=metadata_url))
    yield hub
    hub.close()
