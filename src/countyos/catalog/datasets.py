"""Datasets: import new datasets and versions, list, show, classify columns.

An import is atomic: the file is staged into Parquet (``countyos.ingest``), profiled and
classified, committed to the lake as one Iceberg snapshot, and only then recorded in the metadata
DB together with its audit entry. The DB is the source of truth for versions: a snapshot that no
version row names is invisible, so a failure at any step leaves no half version and no catalog
entry (a lake table created by a failed first import is dropped).
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from countyos import audit
from countyos.auth import Principal, can_manage_dataset, require
from countyos.catalog.classify import LEVELS, ROLES, propose_columns
from countyos.catalog.organisation import get_department
from countyos.catalog.profile import compute_profile
from countyos.db.models import Column, Dataset, DatasetVersion
from countyos.engine import TableSource, parse_read_only
from countyos.errors import ConflictError, ImportFileError, InvalidInputError, NotFoundError
from countyos.hub import Hub
from countyos.ingest import StagedImport, stage_database_table, stage_file

DATASET_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
CLASSIFICATION_SAMPLE_ROWS = 1000
RESERVED_PREFIXES = ("duckdb_", "sqlite_", "pg_", "information_schema", "iceberg_")

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class DatabaseSource:
    """A table in another database, read through SQLAlchemy."""

    url: str
    table: str

    def display(self) -> str:
        # never keep a password in the catalog or the audit log
        return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", self.url) + f"#{self.table}"


@dataclass(frozen=True)
class DatasetInfo:
    """Descriptive metadata given at import; empty fields keep what the catalog has."""

    title_zh: str = ""
    title_en: str = ""
    description_zh: str = ""
    description_en: str = ""
    column_descriptions: Mapping[str, tuple[str, str]] | None = None  # name -> (zh, en)


def validate_name(name: str) -> None:
    if not DATASET_NAME_RE.match(name):
        raise InvalidInputError(
            f"dataset name {name!r} must start with a lower-case letter and contain only "
            "lower-case letters, digits and '_' (at most 63): it is the table name in SQL"
        )
    if name.startswith(RESERVED_PREFIXES):
        raise InvalidInputError(
            f"dataset name {name!r} starts with a prefix reserved for system tables "
            f"({', '.join(RESERVED_PREFIXES)})"
        )


def get_dataset(session: Session, name: str) -> Dataset:
    dataset = session.execute(select(Dataset).where(Dataset.name == name)).unique().scalar_one_or_none()
    if dataset is None:
        raise NotFoundError(f"no dataset {name!r}")
    return dataset


def get_version(session: Session, dataset: Dataset, version: int | None = None) -> DatasetVersion:
    number = dataset.current_version if version is None else version
    row = session.execute(
        select(DatasetVersion).where(
            DatasetVersion.dataset_id == dataset.id, DatasetVersion.version == number
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFoundError(f"dataset {dataset.name!r} has no version {number}")
    return row


def list_datasets(session: Session, *, department: str | None = None) -> list[Dataset]:
    query = select(Dataset).order_by(Dataset.name)
    if department:
        query = query.where(Dataset.department_id == get_department(session, department).id)
    return list(session.execute(query).unique().scalars())


def list_versions(session: Session, dataset: Dataset) -> list[DatasetVersion]:
    return list(session.execute(
        select(DatasetVersion).where(DatasetVersion.dataset_id == dataset.id)
        .order_by(DatasetVersion.version)
    ).scalars())


def import_dataset(
    hub: Hub,
    actor: Principal,
    *,
    source: Path | DatabaseSource,
    name: str,
    department: str | None = None,
    info: DatasetInfo = DatasetInfo(),
    type_overrides: Mapping[str, str] | None = None,
    new_version: bool = False,
    progress: Progress | None = None,
) -> DatasetVersion:
    """Import ``source`` as a new dataset (or, with ``new_version``, a new version of one)."""
    validate_name(name)
    with hub.db.session() as session:
        existing = session.execute(select(Dataset).where(Dataset.name == name)).unique().scalar_one_or_none()
        if existing is not None and not new_version:
            raise ConflictError(
                f"dataset {name!r} already exists; import with --new-version to add a version"
            )
        if existing is None and new_version:
            raise NotFoundError(f"no dataset {name!r} to add a version to")
        if existing is None:
            if not department:
                raise InvalidInputError("a new dataset needs its department (--department)")
            department_row = get_department(session, department)
        else:
            department_row = existing.department
            if department and department != department_row.code:
                raise InvalidInputError(
                    f"dataset {name!r} belongs to department {department_row.code!r}, not {department!r}"
                )
        require(
            can_manage_dataset(actor, department_id=department_row.id),
            f"only admins and stewards of {department_row.code!r} may import into its datasets",
        )
        department_id = department_row.id
        lake_table = existing.lake_table if existing else f"{name[:48]}_{uuid.uuid4().hex[:8]}"

    staging = hub.settings.staging_dir / uuid.uuid4().hex
    try:
        staged = _stage(hub, source, staging, type_overrides, progress)
        if staged.rows == 0:
            label = source.display() if isinstance(source, DatabaseSource) else Path(source).name
            raise ImportFileError(f"{label} has no data rows", file=label)
        files = [str(p) for p in staged.files]
        limits = hub.query_limits(max_rows=CLASSIFICATION_SAMPLE_ROWS)
        profile = compute_profile(hub.engine, files, staged.schema, limits=limits)
        sample = _sample(hub, files, limits)
        snapshot_id = hub.lake.commit_version(lake_table, staged.schema, staged.files)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    try:
        with hub.db.session() as session:
            return _record_version(
                session, actor, name=name, lake_table=lake_table, department_id=department_id,
                info=info, staged=staged, snapshot_id=snapshot_id, profile=profile,
                sample=sample, source=source,
            )
    except BaseException:
        if existing is None:
            hub.lake.drop(lake_table)
        raise


def _stage(
    hub: Hub,
    source: Path | DatabaseSource,
    staging: Path,
    type_overrides: Mapping[str, str] | None,
    progress: Progress | None,
) -> StagedImport:
    cfg = hub.settings.ingest
    if isinstance(source, DatabaseSource):
        return stage_database_table(source.url, source.table, staging, type_overrides=type_overrides,
                                    batch_rows=cfg.batch_rows, progress=progress)
    return stage_file(Path(source), staging, type_overrides=type_overrides,
                      max_bytes=cfg.max_file_bytes, batch_rows=cfg.batch_rows, progress=progress)


def _sample(hub: Hub, files: list[str], limits) -> pa.Table:  # type: ignore[no-untyped-def]
    sql = f"SELECT * FROM sampled USING SAMPLE reservoir({CLASSIFICATION_SAMPLE_ROWS} ROWS) REPEATABLE (7)"
    result = hub.engine.execute(parse_read_only(sql), {"sampled": TableSource("sampled", tuple(files))},
                                limits=limits)
    return result.table


def _record_version(
    session: Session,
    actor: Principal,
    *,
    name: str,
    lake_table: str,
    department_id: int,
    info: DatasetInfo,
    staged: StagedImport,
    snapshot_id: int,
    profile: dict,
    sample: pa.Table,
    source: Path | DatabaseSource,
) -> DatasetVersion:
    dataset = session.execute(select(Dataset).where(Dataset.name == name)).unique().scalar_one_or_none()
    now = datetime.now(UTC)
    if dataset is None:
        dataset = Dataset(name=name, lake_table=lake_table, department_id=department_id,
                          current_version=0, created_at=now)
        session.add(dataset)
    for field in ("title_zh", "title_en", "description_zh", "description_en"):
        if getattr(info, field):
            setattr(dataset, field, getattr(info, field))
    if not dataset.title_zh:
        dataset.title_zh = name
    session.flush()
    number = (session.execute(
        select(func.max(DatasetVersion.version)).where(DatasetVersion.dataset_id == dataset.id)
    ).scalar() or 0) + 1
    _merge_columns(session, dataset, staged.schema, sample, info)
    version = DatasetVersion(
        dataset_id=dataset.id, version=number, snapshot_id=snapshot_id, rows=staged.rows,
        source_format=staged.source_format,
        source_name=source.display() if isinstance(source, DatabaseSource) else Path(source).name,
        encoding=staged.encoding,
        schema=[{"name": f.name, "type": str(f.type)} for f in staged.schema],
        profile=profile, created_by=actor.username, created_at=now,
    )
    session.add(version)
    dataset.current_version, dataset.updated_at = number, now
    session.flush()
    audit.append(session, actor=actor.username, action="dataset.import", target=f"dataset:{name}",
                 details={"version": number, "rows": staged.rows, "format": staged.source_format,
                          "source": version.source_name, "snapshot_id": snapshot_id})
    return version


def _merge_columns(
    session: Session, dataset: Dataset, schema: pa.Schema, sample: pa.Table, info: DatasetInfo
) -> None:
    """Keep the classification of known columns; propose one for new columns."""
    known = {c.name: c for c in dataset.columns}
    proposals = propose_columns(sample)
    descriptions = info.column_descriptions or {}
    for position, field in enumerate(schema):
        column = known.get(field.name)
        if column is None:
            proposal = proposals[field.name]
            column = Column(name=field.name, level=proposal.level, role=proposal.role,
                            personal=proposal.personal, detected=proposal.detected,
                            reasons=list(proposal.reasons), confirmed=False)
            dataset.columns.append(column)
        column.position, column.data_type = position, str(field.type)
        if field.name in descriptions:
            column.description_zh, column.description_en = descriptions[field.name]
    session.flush()


def update_column(
    session: Session,
    actor: Principal,
    *,
    dataset: str,
    column: str,
    level: str | None = None,
    role: str | None = None,
    personal: bool | None = None,
    description_zh: str | None = None,
    description_en: str | None = None,
    bounds: tuple[float, float] | None = None,
    public_domain: list | None = None,
) -> Column:
    """The steward confirms or changes a column's classification — and declares the public
    facts differential privacy needs (clipping bounds, the public domain); audited."""
    ds = get_dataset(session, dataset)
    require(
        can_manage_dataset(actor, department_id=ds.department_id),
        f"only admins and stewards of {ds.department.code!r} may classify its columns",
    )
    target = next((c for c in ds.columns if c.name == column), None)
    if target is None:
        raise NotFoundError(f"dataset {dataset!r} has no column {column!r}")
    if level is not None and level not in LEVELS:
        raise InvalidInputError(f"level {level!r} must be one of {', '.join(LEVELS)}")
    if role is not None and role not in ROLES:
        raise InvalidInputError(f"role {role!r} must be one of {', '.join(ROLES)}")
    if bounds is not None:
        lower, upper = bounds
        if not lower < upper:
            raise InvalidInputError(f"bounds of {column!r} need lower < upper, not {lower}, {upper}")
        if target.data_type.startswith(("int", "uint")) and not (
                float(lower).is_integer() and float(upper).is_integer()):
            raise InvalidInputError(f"{column!r} holds integers: its bounds must be integers")
        target.lower_bound, target.upper_bound = float(lower), float(upper)
    if public_domain is not None:
        if (role or target.role) in ("identifier", "entity_key"):
            raise InvalidInputError(
                f"{column!r} is an {(role or target.role).replace('_', ' ')}: its values cannot be "
                "declared as a public domain")
        if not public_domain or len(public_domain) > 10_000 or len(set(map(str, public_domain))) != len(public_domain):
            raise InvalidInputError(f"the public domain of {column!r} must list 1–10,000 distinct values")
        target.public_domain = list(public_domain)
    before = {"level": target.level, "role": target.role, "personal": target.personal}
    for attr, value in (("level", level), ("role", role), ("personal", personal),
                        ("description_zh", description_zh), ("description_en", description_en)):
        if value is not None:
            setattr(target, attr, value)
    target.confirmed = True
    session.flush()
    audit.append(session, actor=actor.username, action="column.classify",
                 target=f"dataset:{dataset}.{column}",
                 details={"before": before, "level": target.level, "role": target.role,
                          "personal": target.personal, "bounds": bounds,
                          "public_domain_size": len(public_domain) if public_domain else None})
    return target
