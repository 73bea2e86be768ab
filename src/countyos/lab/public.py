"""What callers see of lab objects: JSON-ready dicts shared by the API and the CLI."""

from __future__ import annotations

from typing import Any

import pyarrow.parquet as pq

from countyos.catalog.public import table_rows
from countyos.db.lab_models import Grant, JobOutput, Project, Scenario, Twin


def scenario_public(scenario: Scenario) -> dict[str, Any]:
    return {"slug": scenario.slug, "title_zh": scenario.title_zh, "title_en": scenario.title_en,
            "problem_zh": scenario.problem_zh, "problem_en": scenario.problem_en,
            "status": scenario.status, "datasets": [d.dataset.name for d in scenario.datasets]}


def project_public(project: Project) -> dict[str, Any]:
    return {"slug": project.slug, "title": project.title, "scenario": project.scenario.slug,
            "status": project.status,
            "members": [{"username": m.user.username, "role": m.role} for m in project.members]}


def grant_public(grant: Grant) -> dict[str, Any]:
    return {"id": grant.id, "project": grant.project.slug, "dataset": grant.dataset.name,
            "columns": list(grant.columns), "purpose": grant.purpose, "mode": grant.mode,
            "expires_at": grant.expires_at.isoformat(), "status": grant.status,
            "requested_by": grant.requested_by, "decided_by": grant.decided_by,
            "reason": grant.reason, "rules": grant.rules}


def twin_public(twin: Twin) -> dict[str, Any]:
    return {"dataset": twin.dataset.name, "version": twin.dataset_version, "rows": twin.rows,
            "columns": list(twin.columns), "fidelity": twin.fidelity, "privacy": twin.privacy,
            "created_at": twin.created_at.isoformat()}


def review_public(output: JobOutput, *, detail: bool = False) -> dict[str, Any]:
    """What a steward sees of an output in review: the full check report and the candidate."""
    body: dict[str, Any] = {
        "id": output.public_id, "name": output.name, "kind": output.kind, "status": output.status,
        "job": output.job_id, "job_hash": output.job.job_hash, "project": output.job.project.slug,
        "submitted_by": output.job.submitted_by, "data_versions": output.job.data_versions,
        "reason": output.reason,
    }
    if detail:
        body["check_report"] = output.check_report
        if output.quarantine_path.endswith(".parquet"):
            table = pq.read_table(output.quarantine_path)
            body["candidate"] = {"columns": table.column_names, "rows": table_rows(table.slice(0, 500))}
    return body
