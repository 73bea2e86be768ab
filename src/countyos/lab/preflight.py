"""Pre-flight: run a job spec on the project's synthetic twins with full output, applying
exactly the checks the real run will apply, and explain every suppression.

This is ``countyos lab run``: it runs on the developer's side of the lab with synthetic data
only, so SQL results, Python stdout and tracebacks are all shown. Python scripts run as a plain
local subprocess with the same ``countyos_job`` API (inputs from the twins, outputs to a local
folder); the real run happens only through ``countyos lab submit``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from countyos.auth import Principal
from countyos.catalog.public import table_rows
from countyos.engine import TableSource
from countyos.errors import PermissionDeniedError
from countyos.hub import Hub
from countyos.lab.python_action import check_published, sandbox_venv
from countyos.lab.checked_sql import plan_checked_query, preflight_checked_query
from countyos.lab.grants import is_active, project_grants
from countyos.lab.job_context import JobContext, rules_of, table_policy
from countyos.lab.jobspec import Action, JobBundle
from countyos.lab.projects import get_project, require_member
from countyos.lab.sandbox import read_manifest
from countyos.lab.sandbox.command import write_support_files
from countyos.lab.twin_store import twin_sources

PREFLIGHT_SECRET = b"countyos-preflight-on-twins-only"


@dataclass
class PreflightOutput:
    action: str
    name: str
    columns: list[str]
    rows: list[list[Any]]
    clean: bool
    explanations: list[dict[str, Any]] = field(default_factory=list)
    stdout: str = ""


def _context(hub: Hub, actor: Principal, project: str, bundle: JobBundle, folder: Path) -> JobContext:
    with hub.db.session() as session:
        found = get_project(session, actor, project)
        require_member(found, actor, "run jobs")
        grants = {g.dataset.name: g for g in project_grants(session, found) if is_active(g)}
        twins = twin_sources(session, found)
        sources, policies = {}, {}
        for name in bundle.datasets:
            if name not in grants:
                raise PermissionDeniedError(f"project {project!r} has no active grant on {name!r}")
            if name not in twins:
                raise PermissionDeniedError(f"the twin of {name!r} is not built yet; try again soon")
            grant = grants[name]
            sources[name] = TableSource(name, twins[name].files, tuple(grant.columns))
            policies[name] = table_policy(list(grant.dataset.columns), list(grant.columns))
        rules, auto_release = rules_of([grants[n] for n in bundle.datasets])
        project_id = found.id
    return JobContext(job_id=0, project_id=project_id, project_slug=project, sources=sources,
                      policies=policies, rules=rules, auto_release=auto_release, versions={},
                      output_dir=folder, secret=PREFLIGHT_SECRET)


def run_preflight(hub: Hub, actor: Principal, *, project: str, bundle: JobBundle,
                  workdir: Path) -> list[PreflightOutput]:
    workdir.mkdir(parents=True, exist_ok=True)
    ctx = _context(hub, actor, project, bundle, workdir)
    results: list[PreflightOutput] = []
    for action in bundle.actions:
        if action.kind == "sql":
            results.append(_sql(hub, ctx, action))
        else:
            results += _python(ctx, bundle, action, workdir / action.name, sandbox_venv(hub))
    return results


def _sql(hub: Hub, ctx: JobContext, action: Action) -> PreflightOutput:
    plan = plan_checked_query(action.sql or "", policies={t: ctx.policies[t] for t in action.reads})
    result = preflight_checked_query(plan, engine=hub.engine,
                                     twin_sources={t: ctx.sources[t] for t in action.reads},
                                     secret=ctx.secret, table_id=action.outputs[0],
                                     limits=hub.query_limits(), rules=ctx.rules)
    clean = all(r.overall == "pass" for r in result.reports.values()) and result.hidden_cells == 0
    return PreflightOutput(action.name, action.outputs[0], result.table.column_names,
                           table_rows(result.table), clean, result.explanations())


def _python(ctx: JobContext, bundle: JobBundle, action: Action, folder: Path,
            venv: Path) -> list[PreflightOutput]:
    shutil.rmtree(folder, ignore_errors=True)
    data, out, support = folder / "data", folder / "out", folder / "support"
    for path in (data, out, support):
        path.mkdir(parents=True)
    inputs = {}
    for name in action.reads:
        source = ctx.sources[name]
        table = pq.read_table(source.files[0], columns=list(source.columns or []))
        inputs[name] = data / f"{name}.parquet"
        pq.write_table(table, inputs[name])
    write_support_files(support)
    script = folder / "main.py"
    script.write_bytes(bundle.files[action.script or ""])
    # the same packages as the real run when the sandbox venv is there, else this interpreter
    venv_python = str(venv / "bin" / "python") if (venv / "bin" / "python").exists() else sys.executable
    env = {**os.environ, "COUNTYOS_DATA": str(data), "COUNTYOS_OUT": str(out),
           "PYTHONPATH": str(support)}
    done = subprocess.run([venv_python, str(script)], capture_output=True, text=True, env=env,
                          cwd=folder, timeout=600)
    stdout = done.stdout + done.stderr
    if done.returncode != 0:
        return [PreflightOutput(action.name, name, [], [], False,
                                [{"status": "error", "reason_en": "the script failed (see output)",
                                  "reason_zh": "脚本运行失败（见输出）"}], stdout)
                for name in action.outputs]
    published = {o.name: o for o in read_manifest(out)}
    results = []
    ctx.output_dir = folder
    for name in action.outputs:
        if name not in published:
            results.append(PreflightOutput(action.name, name, [], [], False, [
                {"status": "missing", "reason_en": "the script did not publish this output",
                 "reason_zh": "脚本未发布该输出"}], stdout))
            continue
        checked = check_published(ctx, published[name], inputs, None)
        table = pq.read_table(checked.path) if checked.path.exists() else pa.table({})
        explanations = [
            {"column": column, "cell": cell["label"], "status": cell["status"],
             "reason_en": cell["reason_en"], "reason_zh": cell["reason_zh"]}
            for column, report in checked.report.get("columns", {}).items()
            for cell in report.get("cells", []) if not cell.get("released", True)
        ]
        results.append(PreflightOutput(action.name, name, table.column_names, table_rows(table),
                                       checked.clean and not checked.must_review, explanations, stdout))
    return results

