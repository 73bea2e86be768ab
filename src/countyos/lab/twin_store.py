"""Building, storing and serving a project's synthetic twins.

Twins are built in the trusted zone (the lab worker) from the granted columns of the current
version of each granted dataset, all with one ``TwinBuilder`` per project so entity keys join
across the project's twins. A twin holds no real row: developers download and query it freely.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from sqlalchemy import select
from sqlalchemy.orm import Session

from countyos import audit
from countyos.catalog.datasets import get_version
from countyos.db.lab_models import Grant, Project, Twin
from countyos.db.models import Column
from countyos.engine import TableSource
from countyos.errors import NotFoundError
from countyos.hub import Hub
from countyos.lab.grants import is_active, project_grants
from countyos.lab.twins import TwinBuilder, TwinColumn, fidelity_report, privacy_report

_DOMAIN_PATTERNS = (
    (re.compile(r"uscc|credit_code|统一社会信用代码"), "enterprise"),
    (re.compile(r"person_id|人员编号"), "person"),
    (re.compile(r"household"), "household"),
)


def key_domain(column: Column) -> str | None:
    """The join domain of a key column: columns of one domain join across a project's twins."""
    if column.role != "entity_key" and column.detected != "uscc":
        return None
    for pattern, domain in _DOMAIN_PATTERNS:
        if pattern.search(column.name.lower()):
            return domain
    return column.detected or column.name


def twin_columns(columns: list[Column]) -> list[TwinColumn]:
    return [TwinColumn(name=c.name, role=c.role, detected=c.detected, key_domain=key_domain(c))
            for c in columns]


def _read_real(hub: Hub, grant: Grant, version: int) -> pa.Table:
    with hub.db.session() as session:
        dataset = grant.dataset
        snapshot = get_version(session, dataset, version).snapshot_id
    files = hub.lake.data_files(dataset.lake_table, snapshot)
    return pads.dataset(files, format="parquet").to_table(columns=list(grant.columns))


def _parents_first(items: list[tuple[Grant, pa.Table, list[TwinColumn]]]):  # type: ignore[no-untyped-def]
    """Datasets whose entity key is unique (registries) first, so children sample their keys."""
    def is_parent(item) -> bool:  # type: ignore[no-untyped-def]
        _, table, columns = item
        keys = [c.name for c in columns if c.key_domain]
        return any(pc.count_distinct(table[k]).as_py() == table.num_rows for k in keys)
    return sorted(items, key=lambda item: (not is_parent(item), item[0].dataset.name))


def missing_twins(session: Session) -> list[Project]:
    """Projects with an active grant whose dataset's current version has no twin yet."""
    projects = []
    for project in session.execute(select(Project).where(Project.status == "active")).unique().scalars():
        have = {(t.dataset_id, t.dataset_version) for t in project_twins(session, project)}
        wanted = {(g.dataset_id, g.dataset.current_version)
                  for g in project_grants(session, project) if is_active(g)}
        if wanted - have:
            projects.append(project)
    return projects


def project_twins(session: Session, project: Project) -> list[Twin]:
    return list(session.execute(
        select(Twin).where(Twin.project_id == project.id).order_by(Twin.dataset_id, Twin.dataset_version)
    ).unique().scalars())


def build_project_twins(hub: Hub, project_id: int, *, seed: int = 2026) -> list[str]:
    """(Re)build the twins of every active grant of a project; returns the dataset names built."""
    with hub.db.session() as session:
        project = session.get(Project, project_id)
        grants = [g for g in project_grants(session, project) if is_active(g)]
        latest: dict[int, Grant] = {g.dataset_id: g for g in grants}
        columns_by_dataset = {
            g.dataset_id: [c for c in g.dataset.columns if c.name in g.columns] for g in latest.values()
        }
        slug = project.slug
    items = []
    for grant in latest.values():
        version = grant.dataset.current_version
        real = _read_real(hub, grant, version)
        items.append((grant, real, twin_columns(columns_by_dataset[grant.dataset_id])))
    builder = TwinBuilder(seed=seed)
    folder = hub.settings.lab_twins_dir / slug
    folder.mkdir(parents=True, exist_ok=True)
    built = []
    cap = hub.settings.lab.twin_max_rows
    for grant, real, columns in _parents_first(items):
        name, version = grant.dataset.name, grant.dataset.current_version
        twin = builder.add(name, real, columns, rows=min(real.num_rows, cap))
        fidelity = fidelity_report(real, twin, columns).to_dict()
        privacy = privacy_report(real, twin, columns, seed=seed).to_dict()
        path = folder / f"{name}-v{version}.parquet"
        tmp = path.with_suffix(".tmp")
        pq.write_table(twin, tmp)
        tmp.replace(path)
        with hub.db.session() as session:
            existing = session.execute(select(Twin).where(
                Twin.project_id == project_id, Twin.dataset_id == grant.dataset_id,
                Twin.dataset_version == version)).scalar_one_or_none()
            if existing is not None:
                session.delete(existing)
                session.flush()
            session.add(Twin(project_id=project_id, dataset_id=grant.dataset_id,
                             dataset_version=version, path=str(path), rows=twin.num_rows,
                             columns=list(twin.column_names), fidelity=fidelity, privacy=privacy))
            audit.append(session, actor="lab-worker", action="lab.twin_build",
                         target=f"project:{slug}",
                         details={"dataset": name, "version": version, "rows": twin.num_rows})
        built.append(name)
    return built


def twin_sources(session: Session, project: Project) -> dict[str, TableSource]:
    """The newest twin of each dataset as a table source, for queries and local runs."""
    sources: dict[str, TableSource] = {}
    for twin in project_twins(session, project):
        sources[twin.dataset.name] = TableSource(twin.dataset.name, (twin.path,))
    return sources


def get_twin(session: Session, project: Project, dataset: str) -> Twin:
    twins = [t for t in project_twins(session, project) if t.dataset.name == dataset]
    if not twins:
        raise NotFoundError(f"project {project.slug!r} has no twin of {dataset!r} yet")
    return twins[-1]
