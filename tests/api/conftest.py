"""An app with a small county organisation and one token per role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from countyos.auth.users import create_user
from countyos.catalog import organisation
from countyos.hub import Hub
from countyos.settings import Settings
from countyos.web.app import create_app
from tests.conftest import ADMIN


@dataclass
class Env:
    hub: Hub
    client: TestClient
    tokens: dict[str, str]
    tmp: Path

    def as_(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[username]}"}


def build_env(hub: Hub, tmp: Path) -> Env:
    tokens: dict[str, str] = {}
    with hub.db.session() as session:
        organisation.create_department(session, ADMIN, code="public_security", name_zh="公安局",
                                       name_en="Public Security Bureau")
        organisation.create_department(session, ADMIN, code="power_supply", name_zh="供电公司",
                                       name_en="Power Supply Company")
        organisation.create_township(session, ADMIN, code="330999001", name_zh="东湖街道",
                                     name_pinyin="Donghu", kind="街道",
                                     geometry={"type": "Polygon",
                                               "coordinates": [[[121, 30], [121.1, 30], [121.1, 30.1], [121, 30]]]})
        for username, role, department, township in (
            ("admin", "admin", None, None),
            ("gongan", "steward", "public_security", None),
            ("gongdian", "steward", "power_supply", None),
            ("dev", "developer", None, None),
            ("viewer", "viewer", None, None),
            ("staff", "township_staff", None, "330999001"),
        ):
            _, tokens[username] = create_user(session, ADMIN, username=username, role=role,
                                              department=department, township=township)
    return Env(hub=hub, client=TestClient(create_app(hub=hub)), tokens=tokens, tmp=tmp)


@pytest.fixture
def env(hub: Hub, tmp_path: Path) -> Iterator[Env]:
    environment = build_env(hub, tmp_path)
    yield environment
    environment.client.close()


@pytest.fixture
def pg_env(tmp_path: Path, postgres_database: str) -> Iterator[Env]:
    hub = Hub(Settings(home=tmp_path / "home", database_url=postgres_database))
    environment = build_env(hub, tmp_path)
    yield environment
    environment.client.close()
    hub.close()
