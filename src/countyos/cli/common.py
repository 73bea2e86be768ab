"""Shared CLI plumbing: settings, the hub, the acting principal, output and errors."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from countyos.auth import Principal
from countyos.auth.tokens import principal_of
from countyos.auth.users import get_user
from countyos.errors import CountyOSError
from countyos.hub import Hub
from countyos.settings import Settings

console = Console()
err_console = Console(stderr=True)


@dataclass
class CliState:
    acting_as: str | None = None
    _hub: Hub | None = None

    def hub(self) -> Hub:
        if self._hub is None:
            self._hub = Hub(Settings())
        return self._hub

    def principal(self) -> Principal:
        if self.acting_as is None:
            return Principal(username=f"cli:{getpass.getuser()}", role="admin")
        with self.hub().db.session() as session:
            user = get_user(session, self.acting_as)
            return principal_of(user)


STATE = CliState()


def fail(message: str, code: int = 2) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn CountyOS errors into one line on stderr and the mapped exit status."""
    try:
        yield
    except CountyOSError as error:
        details = error.details
        where = ", ".join(f"{k} {details[k]}" for k in ("file", "row", "column") if k in details)
        fail(f"{error.message}" + (f" ({where})" if where and where not in error.message else ""),
             error.exit_code)


def to_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


def emit(value: Any, *, as_json: bool, columns: Sequence[str] | None = None,
         title: str | None = None) -> None:
    """Print ``value`` (a dict or a list of dicts) as JSON or as a table / key-value list."""
    if as_json:
        sys.stdout.write(to_json(value) + "\n")
        return
    if isinstance(value, list):
        keys = list(columns or (value[0].keys() if value else []))
        table = Table(title=title, show_lines=False)
        for key in keys:
            table.add_column(key)
        for row in value:
            table.add_row(*("" if row.get(k) is None else str(row.get(k)) for k in keys))
        console.print(table)
    else:
        for key, item in value.items():
            if not isinstance(item, (list, dict)):
                console.print(f"[bold]{key}[/]: {item}", highlight=False)


def run(action: Callable[[], Any]) -> Any:
    with user_errors():
        return action()
