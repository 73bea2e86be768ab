"""``countyos department …``, ``township …``, ``user …`` and ``audit …``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from countyos import audit as audit_log
from countyos.auth import require_admin, users
from countyos.catalog import organisation
from countyos.catalog.public import department_public, township_public, user_public
from countyos.cli.common import STATE, console, emit, fail, user_errors
from countyos.errors import InvalidInputError

JSON_OPT = typer.Option(False, "--json", help="Print JSON for scripts.")

departments = typer.Typer(help="Departments that own datasets.", no_args_is_help=True)
townships = typer.Typer(help="Townships and subdistricts (乡镇街道).", no_args_is_help=True)
users_app = typer.Typer(help="Users, roles and tokens.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)


@departments.command("list")
def department_list(as_json: bool = JSON_OPT) -> None:
    with user_errors(), STATE.hub().db.session() as session:
        emit([department_public(d) for d in organisation.list_departments(session)], as_json=as_json)


@departments.command("create")
def department_create(code: str, name_zh: str, name_en: str = typer.Option("", "--name-en"),
                      as_json: bool = JSON_OPT) -> None:
    with user_errors(), STATE.hub().db.session() as session:
        emit(department_public(organisation.create_department(
            session, STATE.principal(), code=code, name_zh=name_zh, name_en=name_en)), as_json=as_json)


@townships.command("list")
def township_list(as_json: bool = JSON_OPT) -> None:
    with user_errors(), STATE.hub().db.session() as session:
        emit([township_public(t) for t in organisation.list_townships(session)], as_json=as_json)


@townships.command("create")
def township_create(
    code: str, name_zh: str,
    pinyin: str = typer.Option("", "--pinyin"),
    kind: str = typer.Option("镇", "--kind", help="镇 | 乡 | 街道"),
    geometry: Path = typer.Option(None, "--geometry", help="GeoJSON file with a Polygon geometry."),
    as_json: bool = JSON_OPT,
) -> None:
    with user_errors():
        shape = None
        if geometry is not None:
            try:
                shape = json.loads(geometry.read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                raise InvalidInputError(f"cannot read GeoJSON {str(geometry)!r}: {error}") from None
            shape = shape.get("geometry", shape) if isinstance(shape, dict) else shape
        with STATE.hub().db.session() as session:
            emit(township_public(organisation.create_township(
                session, STATE.principal(), code=code, name_zh=name_zh, name_pinyin=pinyin,
                kind=kind, geometry=shape)), as_json=as_json)


@users_app.command("list")
def user_list(as_json: bool = JSON_OPT) -> None:
    with user_errors(), STATE.hub().db.session() as session:
        emit([user_public(u) for u in users.list_users(session, STATE.principal())], as_json=as_json)


@users_app.command("create")
def user_create(
    username: str,
    role: str = typer.Option(..., "--role", help="admin | steward | developer | township_staff | viewer"),
    department: str = typer.Option(None, "--department"),
    township: str = typer.Option(None, "--township"),
    display_name: str = typer.Option("", "--display-name"),
    as_json: bool = JSON_OPT,
) -> None:
    """Create a user; prints their first API token once."""
    with user_errors(), STATE.hub().db.session() as session:
        user, token = users.create_user(session, STATE.principal(), username=username, role=role,
                                        department=department, township=township,
                                        display_name=display_name)
        emit({**user_public(user), "token": token}, as_json=as_json)


@users_app.command("set-role")
def user_set_role(
    username: str, role: str,
    department: str = typer.Option(None, "--department"),
    township: str = typer.Option(None, "--township"),
    as_json: bool = JSON_OPT,
) -> None:
    with user_errors(), STATE.hub().db.session() as session:
        emit(user_public(users.set_role(session, STATE.principal(), username=username, role=role,
                                        department=department, township=township)), as_json=as_json)


@users_app.command("deactivate")
def user_deactivate(username: str) -> None:
    with user_errors(), STATE.hub().db.session() as session:
        users.set_active(session, STATE.principal(), username=username, active=False)
        console.print(f"deactivated {username}")


@users_app.command("token")
def user_token(username: str, name: str = typer.Option("", "--name")) -> None:
    """Issue a new API token for a user (printed once)."""
    with user_errors(), STATE.hub().db.session() as session:
        print(users.create_token(session, STATE.principal(), username=username, name=name))


@audit_app.command("verify")
def audit_verify(as_json: bool = JSON_OPT) -> None:
    """Check the whole chain; exit 1 if any entry was edited, inserted or deleted."""
    with user_errors(), STATE.hub().db.session() as session:
        require_admin(STATE.principal(), "verify the audit log")
        checked, problems = audit_log.verify(session)
    result = {"entries": checked, "intact": not problems, "problems": [str(p) for p in problems]}
    if as_json:
        emit(result, as_json=True)
    elif not problems:
        console.print(f"[green]audit log intact[/]: {checked} entries verified")
    if problems:
        if not as_json:
            for problem in problems:
                console.print(f"[red]{problem}[/]", highlight=False)
        fail(f"audit log damaged: {len(problems)} problem(s) in {checked} entries", code=1)
