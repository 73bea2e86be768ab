"""Read-only SQL over catalog datasets, with raw-row permission checks and audit.

In SQL a dataset is a table named by its dataset name; ``versions`` pins a dataset to an earlier
version (time travel by version number). Raw rows go only to the dataset's own department and to
admins; every query — answered or refused for permission — is in the audit log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pyarrow as pa

from countyos import audit
from countyos.auth import Principal, can_read_rows
from countyos.catalog.datasets import get_dataset, get_version
from countyos.engine import TableSource, parse_read_only
from countyos.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from countyos.hub import Hub


@dataclass
class QueryAnswer:
    table: pa.Table
    truncated: bool
    elapsed_s: float
    versions: dict[str, int]


def run_query(
    hub: Hub,
    actor: Principal,
    *,
    sql: str,
    versions: Mapping[str, int] | None = None,
    max_rows: int | None = None,
) -> QueryAnswer:
    """Run one read-only query as ``actor``.

    Raises:
        QueryRefusedError: not exactly one read-only query.
        NotFoundError: a table that is no dataset, or a version that does not exist.
        PermissionDeniedError: a dataset whose raw rows ``actor`` may not read.
    """
    parsed = parse_read_only(sql)
    pins = dict(versions or {})
    unknown_pins = set(pins) - set(parsed.tables)
    if unknown_pins:
        raise InvalidInputError(
            f"version given for {', '.join(sorted(unknown_pins))}, which the query does not read"
        )
    sources: dict[str, TableSource] = {}
    used: dict[str, int] = {}
    with hub.db.session() as session:
        for name in sorted(parsed.tables):
            try:
                dataset = get_dataset(session, name)
            except NotFoundError:
                raise NotFoundError(f"unknown dataset {name!r} in the query") from None
            if not can_read_rows(actor, department_id=dataset.department_id):
                audit.append(session, actor=actor.username, action="dataset.query_denied",
                             target=f"dataset:{name}", details={"sql": sql})
                session.commit()
                raise PermissionDeniedError(
                    f"raw rows of dataset {name!r} are only for department "
                    f"{dataset.department.code!r} and admins; others work through the lab"
                )
            version = get_version(session, dataset, pins.get(name))
            used[name] = version.version
            files = hub.lake.data_files(dataset.lake_table, version.snapshot_id)
            sources[name] = TableSource(name, tuple(files))
    result = hub.engine.execute(parsed, sources, limits=hub.query_limits(max_rows=max_rows))
    with hub.db.session() as session:
        audit.append(session, actor=actor.username, action="dataset.query",
                     target=",".join(f"dataset:{n}" for n in sorted(used)),
                     details={"sql": sql, "versions": used, "rows": result.table.num_rows,
                              "truncated": result.truncated})
    return QueryAnswer(table=result.table, truncated=result.truncated,
                       elapsed_s=result.elapsed_s, versions=used)
