"""The ``countyos`` CLI end to end: each command once, errors exit 2 with one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from countyos.cli import app

PEOPLE_CSV = (
    "person_id,id_number,name,sex,income\n"
    "1,11010519491231002X,王小明,M,52000\n"
    "2,110105198503070027,李娜,F,61000\n"
)


@pytest.fixture
def cli(tmp_path: Path):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    env = {"COUNTYOS_HOME": str(tmp_path / "home"), "COUNTYOS_DATABASE_URL": ""}

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(app, list(args), env=env)

    return invoke


def _json(result):  # type: ignore[no-untyped-def]
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_organisation_import_query_and_audit(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("department", "create", "public_security", "公安局").exit_code == 0
    assert cli("township", "create", "330999001", "东湖街道", "--kind", "街道").exit_code == 0
    created = _json(cli("user", "create", "li", "--role", "steward", "--department",
                        "public_security", "--json"))
    assert created["token"].startswith("cos_")
    people = tmp_path / "people.csv"
    people.write_text(PEOPLE_CSV, encoding="utf-8")
    imported = _json(cli("dataset", "import", str(people), "--department", "public_security",
                         "--name", "population", "--title", "人口", "--json"))
    assert imported["rows"] == 2 and imported["version"] == 1
    assert [d["name"] for d in _json(cli("dataset", "list", "--json"))] == ["population"]
    assert _json(cli("dataset", "list", "--search", "人口", "--json"))[0]["name"] == "population"
    shown = _json(cli("dataset", "show", "population", "--json"))
    assert {c["name"] for c in shown["columns"]} == {"person_id", "id_number", "name", "sex", "income"}
    answer = _json(cli("dataset", "query", "SELECT sum(income) AS total FROM population", "--json"))
    assert answer["rows"] == [{"total": 113000}]
    people.write_text(PEOPLE_CSV + "3,110105199001011232,张伟,M,1\n", encoding="utf-8")
    assert _json(cli("dataset", "import", str(people), "--name", "population", "--new-version",
                     "--json"))["version"] == 2
    old = _json(cli("dataset", "query", "SELECT count(*) AS n FROM population", "-v", "population=1", "--json"))
    assert old["rows"] == [{"n": 2}]
    assert len(_json(cli("dataset", "versions", "population", "--json"))) == 2
    classified = _json(cli("dataset", "classify", "population", "income", "--level", "sensitive",
                           "--personal", "--json"))
    assert classified["level"] == "sensitive" and classified["confirmed"]
    verify = _json(cli("audit", "verify", "--json"))
    assert verify["intact"] and verify["entries"] >= 6


def test_acting_as_a_user_applies_their_permissions(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("department", "create", "public_security", "公安局")
    cli("user", "create", "dev", "--role", "developer")
    people = tmp_path / "people.csv"
    people.write_text(PEOPLE_CSV, encoding="utf-8")
    cli("dataset", "import", str(people), "--department", "public_security", "--name", "population")
    denied = cli("--as", "dev", "dataset", "query", "SELECT count(*) FROM population")
    assert denied.exit_code == 2
    assert "raw rows of dataset 'population'" in denied.stderr
    assert cli("--as", "dev", "dataset", "import", str(people), "--department", "public_security",
               "--name", "other").exit_code == 2


def test_user_errors_exit_2_with_one_line(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("department", "create", "public_security", "公安局")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n3,4,5\n", encoding="utf-8")
    cases = [
        ("dataset", "import", str(bad), "--department", "public_security", "--name", "bad"),
        ("dataset", "import", str(tmp_path / "missing.csv"), "--department", "public_security", "--name", "m"),
        ("dataset", "import", str(bad), "--department", "nowhere", "--name", "x"),
        ("dataset", "query", "DROP TABLE x"),
        ("dataset", "show", "nothing"),
        ("user", "create", "u", "--role", "emperor"),
        ("dataset", "query", "SELECT 1", "-v", "x=one"),
    ]
    for args in cases:
        result = cli(*args)
        assert result.exit_code == 2, (args, result.output)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:"), (args, result.stderr)
        assert "Traceback" not in result.output
    failed_import = cli(*cases[0])
    assert "bad.csv" in failed_import.stderr and "row 2" in failed_import.stderr
    assert _json(cli("dataset", "list", "--json")) == []


def test_demo_installs_a_small_county(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("demo", "--scale", "0.003", "--no-serve")
    assert result.exit_code == 0, result.output
    assert "admin token: cos_" in result.stdout
    names = {d["name"] for d in _json(cli("dataset", "list", "--json"))}
    assert {"population_registry", "enterprise_registry", "industrial_output_monthly",
            "electricity_daily", "hotline_events", "social_insurance", "outpatient_visits"} <= names
    joined = _json(cli("dataset", "query",
                       "SELECT count(*) AS n FROM social_insurance s JOIN population_registry p "
                       "USING (person_id)", "--json"))
    total = _json(cli("dataset", "query", "SELECT count(*) AS n FROM social_insurance", "--json"))
    assert joined["rows"][0]["n"] == total["rows"][0]["n"] > 0
    again = cli("demo", "--scale", "0.003", "--no-serve")
    assert again.exit_code == 0 and "already installed" in again.stdout
    assert len(_json(cli("township", "list", "--json"))) >= 15


def test_module_entry_point_runs_in_a_real_subprocess(tmp_path: Path) -> None:
    env = {**os.environ, "COUNTYOS_HOME": str(tmp_path / "home")}
    env.pop("COUNTYOS_DATABASE_URL", None)
    done = subprocess.run([sys.executable, "-m", "countyos", "department", "list", "--json"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
    assert (tmp_path / "home" / "countyos.db").exists()
