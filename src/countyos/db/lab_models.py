"""SQLAlchemy models of the trusted lab: scenarios, projects, grants, twins, jobs, outputs.

Row values of real data never appear in these tables: outputs in quarantine live as files under
the lab's private area; only released outputs are copied to the released area.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from countyos.db.models import Base, Dataset, User, utcnow


class Scenario(Base):
    """A problem the county publishes with the datasets it can offer."""

    __tablename__ = "lab_scenarios"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title_zh: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200), default="")
    problem_zh: Mapped[str] = mapped_column(Text, default="")
    problem_en: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="published")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    datasets: Mapped[list[ScenarioDataset]] = relationship(cascade="all, delete-orphan")


class ScenarioDataset(Base):
    __tablename__ = "lab_scenario_datasets"
    __table_args__ = (UniqueConstraint("scenario_id", "dataset_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scenario_id: Mapped[int] = mapped_column(ForeignKey("lab_scenarios.id"))
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"))
    dataset: Mapped[Dataset] = relationship(lazy="joined")


class Project(Base):
    """A team working on a scenario."""

    __tablename__ = "lab_projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    scenario_id: Mapped[int] = mapped_column(ForeignKey("lab_scenarios.id"))
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    scenario: Mapped[Scenario] = relationship(lazy="joined")
    members: Mapped[list[ProjectMember]] = relationship(cascade="all, delete-orphan", lazy="selectin")


class ProjectMember(Base):
    __tablename__ = "lab_project_members"
    __table_args__ = (UniqueConstraint("project_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("lab_projects.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    role: Mapped[str] = mapped_column(String(16), default="member")
    user: Mapped[User] = relationship(lazy="joined")


class Grant(Base):
    """Access of a project to columns of one dataset, for a purpose, in a mode, until a date."""

    __tablename__ = "lab_grants"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("lab_projects.id"))
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"))
    columns: Mapped[list[Any]] = mapped_column(JSON, default=list)
    purpose: Mapped[str] = mapped_column(Text)
    mode: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="requested")
    requested_by: Mapped[str] = mapped_column(String(64))
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    rules: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    dataset: Mapped[Dataset] = relationship(lazy="joined")
    project: Mapped[Project] = relationship(lazy="joined")


class Twin(Base):
    """A synthetic twin of one granted dataset version for one project."""

    __tablename__ = "lab_twins"
    __table_args__ = (UniqueConstraint("project_id", "dataset_id", "dataset_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("lab_projects.id"))
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"))
    dataset_version: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(String(500))
    rows: Mapped[int] = mapped_column(BigInteger)
    columns: Mapped[list[Any]] = mapped_column(JSON, default=list)
    fidelity: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    privacy: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    dataset: Mapped[Dataset] = relationship(lazy="joined")


class Job(Base):
    """A job submitted to run on real data; identified by the hash of its code and spec."""

    __tablename__ = "lab_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("lab_projects.id"))
    job_hash: Mapped[str] = mapped_column(String(64), index=True)
    submitted_by: Mapped[str] = mapped_column(String(64))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    bundle_path: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    data_versions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error_class: Mapped[str | None] = mapped_column(String(100), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    project: Mapped[Project] = relationship(lazy="joined")
    outputs: Mapped[list[JobOutput]] = relationship(back_populates="job", cascade="all, delete-orphan", lazy="selectin",
                                                    order_by="JobOutput.id")


class JobOutput(Base):
    """One declared output of a job: quarantined, then released, sent to review, or rejected."""

    __tablename__ = "lab_job_outputs"
    __table_args__ = (UniqueConstraint("job_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("lab_jobs.id"))
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="quarantined", index=True)
    check_report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    quarantine_path: Mapped[str] = mapped_column(String(500))
    released_path: Mapped[str | None] = mapped_column(String(500), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    job: Mapped[Job] = relationship(back_populates="outputs", lazy="joined")


class ReleasedRecipe(Base):
    """How to recompute the entity sets of a released SQL output's cells (query + data files)."""

    __tablename__ = "lab_released_recipes"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("lab_projects.id"), index=True)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReleasedCells(Base):
    """Entity sets behind cells released to a project (keyed hashes), for the differencing check.

    A cell is stored with its set (``hashes``) or deferred (``hashes`` NULL, ``recipe_id`` set):
    the set is recomputed from the recipe when a later cell needs the comparison, then stored.
    ``digest`` names the cell's definition (equal digests: equal sets). A deferred cell may know
    its number of units only within bounds: ``size`` .. ``size_high`` (NULL: ``size`` is exact).
    """

    __tablename__ = "lab_released_cells"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("lab_projects.id"), index=True)
    cell_id: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(Integer, index=True)
    size_high: Mapped[int | None] = mapped_column(Integer, nullable=True)
    hashes: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    recipe_id: Mapped[int | None] = mapped_column(
        ForeignKey("lab_released_recipes.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
