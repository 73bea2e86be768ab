"""Running one job action on real data in the trusted zone: what an action returns (outputs still
in quarantine, with their check reports) and the SQL action, through the checked planner. Python
actions run in the sandbox (``countyos.lab.python_action``).

Nothing here decides release (``countyos.lab.release`` does) and nothing here may put a data value
into an error the submitter sees: failures carry an error class and a fixed, data-free message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from countyos.hub import Hub
from countyos.lab.checked_sql import plan_checked_query, run_checked_query
from countyos.lab.disclosure import InMemoryReleasedCellStore
from countyos.lab.job_context import JobContext
from countyos.lab.jobspec import Action
from countyos.lab.released_cells import DatabaseReleasedCellStore


@dataclass
class QuarantinedOutput:
    name: str
    kind: str
    path: Path                       # the candidate file (what would be released)
    report: dict[str, Any]           # full check report (steward only)
    summary_public: dict[str, Any]   # what the submitter may see once released
    clean: bool                      # every check passed, nothing suppressed
    must_review: bool = False        # e.g. figures: always a steward's decision
    pending_cells: bytes | None = None
    notes: list[str] = field(default_factory=list)


class JobStopped(Exception):
    """The job failed in a way the submitter may learn about (class + data-free message)."""

    def __init__(self, error_class: str, message: str) -> None:
        super().__init__(message)
        self.error_class, self.message = error_class, message


def run_sql_action(hub: Hub, ctx: JobContext, action: Action) -> list[QuarantinedOutput]:
    plan = plan_checked_query(action.sql or "", policies={t: ctx.policies[t] for t in action.reads})
    name = action.outputs[0]
    with hub.db.session() as session:
        released = DatabaseReleasedCellStore(session, ctx.project_id)
        result = run_checked_query(
            plan, engine=hub.engine, sources={t: ctx.sources[t] for t in action.reads},
            secret=ctx.secret, table_id=f"job{ctx.job_id}/{name}", limits=hub.query_limits(),
            rules=ctx.rules, released=released)
    path = ctx.output_dir / f"{name}.parquet"
    pq.write_table(result.table, path)
    pending = InMemoryReleasedCellStore()
    result.record(pending)
    reports = {column: report.to_dict() for column, report in result.reports.items()}
    clean = all(r.overall == "pass" for r in result.reports.values()) and result.hidden_cells == 0
    return [QuarantinedOutput(
        name=name, kind="table", path=path, clean=clean, pending_cells=pending.to_bytes(),
        report={"kind": "sql", "columns": reports, "hidden_cells": result.hidden_cells,
                "sql_rewritten": result.sql_rewritten},
        summary_public=public_summary(result.reports.values(), result.table.num_rows))]


def public_summary(reports, rows: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    suppressed = sum(len(r.suppressed_keys()) for r in reports)
    return {"rows": rows, "suppressed_cells": suppressed}
