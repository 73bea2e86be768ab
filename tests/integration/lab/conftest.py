"""Shared fixtures of the lab integration tests: the Demo County with lab users, via the API."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from countyos.auth import Principal
from countyos.auth.users import create_user
from countyos.demo.install import install_demo
from countyos.hub import Hub
from countyos.settings import Settings
from countyos.web.app import create_app

ADMIN = Principal(username="test-admin", role="admin")
PEOPLE_COLUMNS = ["person_id", "sex", "birth_date", "township_code"]


@dataclass
class Lab:
    hub: Hub
    client: TestClient
    tokens: dict[str, str]

    def h(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def post(self, user: str, path: str, **kwargs):  # type: ignore[no-untyped-def]
        return self.client.post(f"/api/v1/lab{path}", headers=self.h(user), **kwargs)

    def get(self, user: str, path: str, **kwargs):  # type: ignore[no-untyped-def]
        return self.client.get(f"/api/v1/lab{path}", headers=self.h(user), **kwargs)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    home = tmp_path_factory.mktemp("lab") / "home"
    hub = Hub(Settings(home=home))
    result = install_demo(hub, scale=0.005, seed=11)
    tokens = {"admin": result.admin_token, **result.user_tokens}
    with hub.db.session() as session:
        for name in ("dev_b", "dev_c"):
            _, tokens[name] = create_user(session, ADMIN, username=name, role="developer")
    client = TestClient(create_app(hub=hub))
    env = Lab(hub=hub, client=client, tokens=tokens)
    response = env.post("admin", "/scenarios", json={
        "slug": "ageing", "title_zh": "人口老龄化服务", "title_en": "Services for an ageing county",
        "problem_zh": "各乡镇老年人口分布", "datasets": ["population_registry", "enterprise_registry"]})
    assert response.status_code == 201, response.text
    yield env
    client.close()
    hub.close()


def _project(lab: Lab, slug: str, user: str = "dev_zhiyuan", *, columns=PEOPLE_COLUMNS,
             rules: dict | None = None, approve: bool = True) -> int:
    assert lab.post(user, "/scenarios/ageing/apply", json={"slug": slug, "title": slug}).status_code == 201
    grant = lab.post(user, f"/projects/{slug}/grants", json={
        "dataset": "population_registry", "columns": columns, "purpose": "老龄化分析",
        "mode": "aggregate", "expires_at": (datetime.now(UTC) + timedelta(days=30)).isoformat()})
    assert grant.status_code == 201, grant.text
    grant_id = grant.json()["id"]
    if approve:
        decided = lab.post("steward_gongan", f"/grants/{grant_id}/decision",
                           json={"approve": True, "rules": rules or {}})
        assert decided.status_code == 200, decided.text
    return grant_id


def _sandboxed_project(lab: Lab, sandbox_venv, slug: str) -> Lab:  # type: ignore[no-untyped-def]
    """The lab set up for real Python jobs (sandbox venv, 60 s, 2 GiB) with project ``slug``."""
    lab.hub.settings.lab.sandbox_venv = sandbox_venv
    lab.hub.settings.lab.job_wall_seconds = 60
    lab.hub.settings.lab.job_memory_bytes = 2 * 1024**3
    _project(lab, slug)
    return lab


def _submit(lab: Lab, project: str, sql: str, user: str = "dev_zhiyuan", name: str = "result"):  # type: ignore[no-untyped-def]
    return lab.post(user, f"/projects/{project}/jobs",
                    json={"spec": {"version": 1, "actions": [{"name": name, "sql": sql}]}})


def _real(lab: Lab, sql: str) -> list[list]:
    response = lab.client.post("/api/v1/query", headers=lab.h("admin"), json={"sql": sql})
    assert response.status_code == 200, response.text
    return response.json()["rows"]
