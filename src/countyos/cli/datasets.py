"""``countyos dataset …``: import, list, show, versions, query, classify."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from countyos.catalog import datasets as catalog
from countyos.catalog.discovery import search_datasets
from countyos.catalog.public import (
    column_public,
    dataset_detail,
    dataset_summary,
    table_rows,
    version_public,
)
from countyos.catalog.query import run_query
from countyos.auth import can_read_rows
from countyos.cli.common import STATE, console, emit, user_errors
from countyos.errors import InvalidInputError

app = typer.Typer(help="Datasets of the data hub: import, find, describe, query.", no_args_is_help=True)

JSON_OPT = typer.Option(False, "--json", help="Print JSON for scripts.")


def _pairs(values: list[str], what: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInputError(f"{what} {item!r} must look like NAME=VALUE")
        result[key.strip()] = value.strip()
    return result


@app.command("import")
def import_(
    file: Path = typer.Argument(None, help="CSV (UTF-8/GBK), XLSX, Parquet or JSON Lines file."),
    name: str = typer.Option(..., "--name", "-n", help="Dataset name = its table name in SQL."),
    department: str = typer.Option(None, "--department", "-d", help="Owning department code."),
    title: str = typer.Option("", "--title", help="Chinese title."),
    title_en: str = typer.Option("", "--title-en", help="English title."),
    description: str = typer.Option("", "--description", help="Chinese description."),
    description_en: str = typer.Option("", "--description-en", help="English description."),
    types: list[str] = typer.Option([], "--type", help="Override a column type: COLUMN=TYPE."),
    new_version: bool = typer.Option(False, "--new-version", help="Add a version to an existing dataset."),
    db_url: str = typer.Option(None, "--db-url", help="Import a table from this SQLAlchemy URL instead of a file."),
    table: str = typer.Option(None, "--table", help="The table to import with --db-url."),
    as_json: bool = JSON_OPT,
) -> None:
    """Import a file (or a database table) as a new dataset or a new version of one."""
    with user_errors():
        if db_url:
            if not table or file is not None:
                raise InvalidInputError("--db-url needs --table and no FILE")
            source: Path | catalog.DatabaseSource = catalog.DatabaseSource(db_url, table)
        else:
            if file is None:
                raise InvalidInputError("give a FILE to import (or --db-url and --table)")
            source = file
        info = catalog.DatasetInfo(title, title_en, description, description_en)
        overrides = _pairs(types, "--type") or None
        hub, principal = STATE.hub(), STATE.principal()
        with Progress(TextColumn("[bold]导入 importing"), BarColumn(), DownloadColumn(),
                      TimeRemainingColumn(), console=console, transient=True,
                      disable=as_json) as progress:
            task = progress.add_task("import", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total or None)

            version = catalog.import_dataset(hub, principal, source=source, name=name,
                                             department=department, info=info,
                                             type_overrides=overrides, new_version=new_version,
                                             progress=advance)
        result = {"dataset": name, **version_public(version, row_level=True)}
        if as_json:
            emit(result, as_json=True)
            return
        console.print(f"imported [bold]{name}[/] version {version.version}: "
                      f"{version.rows:,} rows ({version.source_format}"
                      f"{', ' + version.encoding if version.encoding else ''})", highlight=False)
        emit([{"column": c, "type": s["type"], "nulls": s.get("nulls"),
               "distinct≈": s.get("distinct")}
              for c, s in version.profile["columns"].items()], as_json=False)


@app.command("list")
def list_(
    department: str = typer.Option(None, "--department", "-d"),
    search: str = typer.Option(None, "--search", "-q", help="Search words (Chinese or English)."),
    as_json: bool = JSON_OPT,
) -> None:
    """List datasets, or search them."""
    with user_errors(), STATE.hub().db.session() as session:
        if search:
            rows = [{**dataset_summary(d), "score": round(s, 3)} for d, s in search_datasets(session, search)
                    if not department or d.department.code == department]
        else:
            rows = [dataset_summary(d) for d in catalog.list_datasets(session, department=department)]
        emit(rows, as_json=as_json, columns=["name", "title_zh", "department", "current_version"])


@app.command("show")
def show(name: str, as_json: bool = JSON_OPT) -> None:
    """Show a dataset: metadata, columns with classification, current version and quality."""
    with user_errors(), STATE.hub().db.session() as session:
        dataset = catalog.get_dataset(session, name)
        current = catalog.get_version(session, dataset) if dataset.current_version else None
        detail = dataset_detail(dataset, current, STATE.principal())
        if as_json:
            emit(detail, as_json=True)
            return
        emit(detail, as_json=False)
        emit([{k: c[k] for k in ("name", "type", "level", "role", "personal", "confirmed")}
              for c in detail["columns"]], as_json=False, title="columns")


@app.command("versions")
def versions(name: str, as_json: bool = JSON_OPT) -> None:
    """List the versions of a dataset (all stay queryable)."""
    with user_errors(), STATE.hub().db.session() as session:
        dataset = catalog.get_dataset(session, name)
        row_level = can_read_rows(STATE.principal(), department_id=dataset.department_id)
        rows = [version_public(v, row_level=row_level) for v in catalog.list_versions(session, dataset)]
        if not as_json:
            for row in rows:
                row.pop("profile")
        emit(rows, as_json=as_json,
             columns=["version", "rows", "source_format", "source_name", "created_by", "created_at"])


@app.command("query")
def query(
    sql: str = typer.Argument(..., help="One read-only SQL query; datasets are tables by name."),
    version: list[str] = typer.Option([], "--version", "-v", help="Pin a dataset: NAME=VERSION."),
    max_rows: int = typer.Option(None, "--max-rows"),
    as_json: bool = JSON_OPT,
) -> None:
    """Run a read-only SQL query over datasets (raw rows: own department and admins only)."""
    with user_errors():
        pins = {k: _int(v, f"--version {k}") for k, v in _pairs(version, "--version").items()}
        answer = run_query(STATE.hub(), STATE.principal(), sql=sql, versions=pins, max_rows=max_rows)
        names = answer.table.column_names
        rows = [dict(zip(names, values)) for values in table_rows(answer.table)]
        if as_json:
            emit({"columns": names, "rows": rows, "truncated": answer.truncated,
                  "versions": answer.versions}, as_json=True)
            return
        emit(rows, as_json=False, columns=answer.table.column_names)
        if answer.truncated:
            console.print(f"[yellow]truncated to {len(rows)} rows[/]")


def _int(value: str, what: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InvalidInputError(f"{what} must be a version number, not {value!r}") from None


@app.command("classify")
def classify(
    name: str,
    column: str,
    level: str = typer.Option(None, help="public | internal | sensitive | core"),
    role: str = typer.Option(None, help="identifier | quasi_identifier | entity_key | measure | dimension"),
    personal: bool = typer.Option(None, "--personal/--not-personal"),
    description: str = typer.Option(None, "--description"),
    as_json: bool = JSON_OPT,
) -> None:
    """Confirm or change a column's classification (stewards of its department, admins)."""
    with user_errors(), STATE.hub().db.session() as session:
        result = catalog.update_column(session, STATE.principal(), dataset=name, column=column,
                                       level=level, role=role, personal=personal,
                                       description_zh=description)
        emit(column_public(result), as_json=as_json)


@app.command("preview")
def preview(file: Path, types: list[str] = typer.Option([], "--type"), as_json: bool = JSON_OPT) -> None:
    """Show the schema CountyOS infers for a file, and its first rows, without importing it."""
    from countyos.ingest import preview_file

    with user_errors():
        result = preview_file(file, type_overrides=_pairs(types, "--type") or None,
                              max_bytes=STATE.hub().settings.ingest.max_file_bytes)
        columns = [{"name": f.name, "type": result.inferred_types.get(f.name, str(f.type))}
                   for f in result.schema]
        if as_json:
            emit({"format": result.source_format, "encoding": result.encoding, "columns": columns,
                  "rows": result.rows}, as_json=True)
            return
        console.print(f"format {result.source_format}, encoding {result.encoding or '-'}")
        emit(columns, as_json=False, title="inferred schema")

