"""A portal on a small county organisation (from the API tests) with a browser-like client per role.

``portal.login(username)`` returns a TestClient logged in through the real log-in form, so every
request carries the signed session cookie and the CSRF token the pages hand out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from countyos.hub import Hub
from countyos.web.app import create_app
from tests.api.conftest import Env, build_env

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "the page carries no CSRF token"
    return match.group(1)


@dataclass
class Portal:
    env: Env

    @property
    def hub(self) -> Hub:
        return self.env.hub

    def client(self) -> TestClient:
        return TestClient(create_app(hub=self.env.hub), follow_redirects=False)

    def login(self, username: str, client: TestClient | None = None) -> TestClient:
        client = client or self.client()
        page = client.get("/login")
        response = client.post("/login", data={"username": username,
                                                "token": self.env.tokens[username],
                                                "csrf_token": csrf_of(page.text), "next": "/"})
        assert response.status_code == 303, response.text
        return client

    @staticmethod
    def csrf(client: TestClient, path: str = "/") -> str:
        return csrf_of(client.get(path).text)


@pytest.fixture
def portal(hub: Hub, tmp_path: Path) -> Iterator[Portal]:
    env = build_env(hub, tmp_path)
    yield Portal(env)
    env.client.close()
