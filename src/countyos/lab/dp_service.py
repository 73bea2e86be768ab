"""The lab's ``dp`` mode: differentially private SQL answers charged to steward-set budgets.

Wires ``countyos.lab.dp`` (planning, bounding in DuckDB, OpenDP mechanisms, accounting) to the
catalog (entity keys, clipping bounds and public domains the steward declares per column), the
grants (a ``dp`` grant per dataset read) and the metadata DB (ledger, stored answers). Budgets
and the ledger are shown to both sides: the project's members and the dataset's stewards.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from countyos.auth import Principal, can_manage_dataset, require
from countyos.catalog.datasets import get_dataset, get_version
from countyos.db.lab_models import Grant, Project
from countyos.db.models import Column
from countyos.engine import TableSource, parse_read_only
from countyos.errors import NotFoundError
from countyos.hub import Hub
from countyos.lab.dp import (
    AccuracyTarget,
    Budget,
    ColumnKind,
    ColumnMetadata,
    DPAnswer,
    EngineRunner,
    PrivacyParams,
    QueryContext,
    TableMetadata,
    answer_query,
    plan_budget,
)
from countyos.lab.dp.params import Accounting
from countyos.lab.dp_store import DatabaseAnswerCache, DatabaseBudgetLedger
from countyos.lab.grants import active_grant, project_grants
from countyos.lab.job_context import table_policy
from countyos.lab.projects import get_project, is_member, require_member

DP_MODES = ("dp",)


def _kind(column: Column) -> ColumnKind:
    """Catalog types are Arrow type names (int64, double, decimal128(p, s), string, …)."""
    if column.data_type.startswith(("int", "uint")):
        return ColumnKind.INTEGER
    if column.data_type in ("double", "float", "halffloat") or column.data_type.startswith("decimal"):
        return ColumnKind.FLOAT
    return ColumnKind.CATEGORICAL


def table_metadata(grant: Grant) -> TableMetadata:
    """The DP planner's view of a granted dataset, from the steward's column declarations."""
    columns = [c for c in grant.dataset.columns if c.name in grant.columns]
    policy = table_policy(list(grant.dataset.columns), list(grant.columns))
    metadata = []
    for column in columns:
        bounded = column.lower_bound is not None and column.upper_bound is not None
        metadata.append(ColumnMetadata(
            name=column.name, kind=_kind(column),
            lower=column.lower_bound if bounded else None,
            upper=column.upper_bound if bounded else None,
            public_domain=tuple(column.public_domain) if column.public_domain else None))
    return TableMetadata(name=grant.dataset.name, entity_key=policy.entity_key,
                         columns=metadata, entity_kind=policy.key_domain or "person",
                         max_contributions=int((grant.rules or {}).get("max_contributions", 1)))


def _dp_inputs(session: Session, project: Project, sql: str):  # type: ignore[no-untyped-def]
    parsed = parse_read_only(sql)
    sources: dict[str, TableSource] = {}
    metadata: dict[str, TableMetadata] = {}
    versions: dict[str, str] = {}
    for name in sorted(parsed.tables):
        grant = active_grant(session, project, name, modes=DP_MODES)
        dataset = grant.dataset
        version = get_version(session, dataset)
        sources[name] = TableSource(name, (), tuple(c.name for c in dataset.columns
                                                    if c.name in grant.columns))
        metadata[name] = table_metadata(grant)
        versions[name] = str(version.version)
    return sources, metadata, versions


def dp_query(hub: Hub, actor: Principal, *, project: str, sql: str,
             privacy: PrivacyParams) -> DPAnswer:
    """Answer ``sql`` with differential privacy for a project member, charged to the budgets."""
    with hub.db.session() as session:
        found = get_project(session, actor, project)
        require_member(found, actor, "ask DP queries")
        sources, metadata, versions = _dp_inputs(session, found, sql)
        for name in sources:
            dataset = get_dataset(session, name)
            snapshot = get_version(session, dataset).snapshot_id
            files = tuple(hub.lake.data_files(dataset.lake_table, snapshot))
            sources[name] = TableSource(name, files, sources[name].columns)
    return answer_query(
        sql, context=QueryContext(project=project, member=actor.username, dataset_versions=versions),
        tables=sources, metadata=metadata, budget=DatabaseBudgetLedger(hub.db), privacy=privacy,
        run=EngineRunner(hub.engine), cache=DatabaseAnswerCache(hub.db, project=project))


def set_budget(hub: Hub, actor: Principal, *, project: str, dataset: str, accounting: str,
               epsilon: float | str, delta: float | str = 0) -> dict[str, Any]:
    """The dataset's steward sets (or changes) a project's budget on it."""
    with hub.db.session() as session:
        found = get_project(session, actor, project)
        ds = get_dataset(session, dataset)
        require(can_manage_dataset(actor, department_id=ds.department_id),
                f"only stewards of {ds.department.code!r} may set budgets on {dataset!r}")
        active_grant(session, found, dataset, modes=DP_MODES)   # a budget needs a dp grant
        slug = found.slug
    ledger = DatabaseBudgetLedger(hub.db)
    ledger.set_budget(slug, dataset, Budget(Accounting(accounting), epsilon, delta),
                      steward=actor.username)
    return ledger.status(slug, dataset).to_dict()


def budgets(hub: Hub, actor: Principal, *, project: str) -> list[dict[str, Any]]:
    """Budget status and ledger of every dataset of a project: for members and stewards."""
    with hub.db.session() as session:
        found = get_project(session, actor, project)
        names = sorted({g.dataset.name for g in project_grants(session, found) if g.mode == "dp"})
        visible = actor.is_admin or is_member(found, actor) or any(
            can_manage_dataset(actor, department_id=get_dataset(session, n).department_id) for n in names)
        require(visible, f"only members of {project!r} and its datasets' stewards see its budgets")
    ledger = DatabaseBudgetLedger(hub.db)
    result = []
    for name in names:
        try:
            status = ledger.status(project, name).to_dict()
        except NotFoundError:  # no budget set yet
            status = {"project": project, "dataset": name, "budget": None}
        status["ledger"] = [e.to_dict() for e in ledger.entries(project, name)]
        result.append(status)
    return result


def plan(hub: Hub, actor: Principal, *, project: str, sql: str,
         targets: Mapping[str, Mapping[str, float]], delta: float = 0.0) -> dict[str, Any]:
    """What ε (or ρ) a query needs for the given 95% accuracy targets — before spending."""
    with hub.db.session() as session:
        found = get_project(session, actor, project)
        require_member(found, actor, "plan DP queries")
        _, metadata, _ = _dp_inputs(session, found, sql)
        accountings = set()
        ledger = DatabaseBudgetLedger(hub.db)
        for name in metadata:
            accountings.add(ledger.budget(project, name).accounting)
    accounting = accountings.pop() if len(accountings) == 1 else Accounting.PURE
    result = plan_budget(sql, metadata=metadata, accounting=accounting,
                         targets={k: AccuracyTarget(**v) for k, v in targets.items()}, delta=delta)
    return {"accounting": result.accounting.value, "amount": str(result.amount),
            "per_column": [dataclasses.asdict(c) for c in result.per_column]}
