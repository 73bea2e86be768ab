"""Scenarios and projects: the county publishes problems, developers apply as project teams.

A scenario lists the datasets it offers; applying creates a project whose applicant is its lead.
Only project members (and admins) see a project; a developer of project A cannot touch project B.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from countyos import audit
from countyos.auth import Principal, require, require_admin
from countyos.auth.users import get_user
from countyos.catalog.datasets import get_dataset
from countyos.db.lab_models import Project, ProjectMember, Scenario, ScenarioDataset
from countyos.errors import ConflictError, InvalidInputError, NotFoundError

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


def _slug(value: str, what: str) -> str:
    if not SLUG_RE.match(value):
        raise InvalidInputError(f"{what} {value!r} must be 2–63 lower-case letters, digits or '-'")
    return value


def publish_scenario(
    session: Session,
    actor: Principal,
    *,
    slug: str,
    title_zh: str,
    title_en: str = "",
    problem_zh: str = "",
    problem_en: str = "",
    datasets: list[str],
) -> Scenario:
    """The data bureau publishes a scenario with the datasets on offer."""
    require_admin(actor, "publish scenarios")
    _slug(slug, "scenario slug")
    if not title_zh.strip():
        raise InvalidInputError("a scenario needs a Chinese title (title_zh)")
    if not datasets:
        raise InvalidInputError("a scenario offers at least one dataset")
    if session.execute(select(Scenario).where(Scenario.slug == slug)).first():
        raise ConflictError(f"scenario {slug!r} already exists")
    scenario = Scenario(slug=slug, title_zh=title_zh, title_en=title_en, problem_zh=problem_zh,
                        problem_en=problem_en, created_by=actor.username)
    for name in dict.fromkeys(datasets):
        scenario.datasets.append(ScenarioDataset(dataset_id=get_dataset(session, name).id))
    session.add(scenario)
    session.flush()
    audit.append(session, actor=actor.username, action="lab.scenario_publish",
                 target=f"scenario:{slug}", details={"datasets": list(dict.fromkeys(datasets))})
    return scenario


def list_scenarios(session: Session) -> list[Scenario]:
    return list(session.execute(select(Scenario).order_by(Scenario.id)).unique().scalars())


def get_scenario(session: Session, slug: str) -> Scenario:
    scenario = session.execute(select(Scenario).where(Scenario.slug == slug)).unique().scalar_one_or_none()
    if scenario is None:
        raise NotFoundError(f"no scenario {slug!r}")
    return scenario


def apply(session: Session, actor: Principal, *, scenario: str, slug: str, title: str) -> Project:
    """A developer (or admin) applies to a scenario: creates a project they lead."""
    require(actor.role in ("developer", "admin"), "only developers apply to scenarios")
    found = get_scenario(session, scenario)
    if found.status != "published":
        raise InvalidInputError(f"scenario {scenario!r} is {found.status}, not open for applications")
    _slug(slug, "project slug")
    if not title.strip():
        raise InvalidInputError("a project needs a title")
    if session.execute(select(Project).where(Project.slug == slug)).first():
        raise ConflictError(f"project {slug!r} already exists")
    project = Project(slug=slug, scenario_id=found.id, title=title, created_by=actor.username)
    if actor.user_id is not None:
        project.members.append(ProjectMember(user_id=actor.user_id, role="lead"))
    session.add(project)
    session.flush()
    audit.append(session, actor=actor.username, action="lab.project_create",
                 target=f"project:{slug}", details={"scenario": scenario, "title": title})
    return project


def is_member(project: Project, actor: Principal) -> bool:
    return any(m.user_id == actor.user_id for m in project.members)


def get_project(session: Session, actor: Principal, slug: str) -> Project:
    """The project, if ``actor`` may see it; otherwise the same NotFoundError as for no project,
    so project names of other teams are not revealed."""
    project = session.execute(select(Project).where(Project.slug == slug)).unique().scalar_one_or_none()
    if project is None or not (actor.is_admin or is_member(project, actor) or actor.role == "steward"):
        raise NotFoundError(f"no project {slug!r}")
    return project


def require_member(project: Project, actor: Principal, what: str) -> None:
    require(actor.is_admin or is_member(project, actor), f"only members of project "
            f"{project.slug!r} may {what}")


def list_projects(session: Session, actor: Principal) -> list[Project]:
    projects = session.execute(select(Project).order_by(Project.id)).unique().scalars().all()
    if actor.is_admin or actor.role == "steward":
        return list(projects)
    return [p for p in projects if is_member(p, actor)]


def add_member(session: Session, actor: Principal, *, project: str, username: str) -> Project:
    found = get_project(session, actor, project)
    require(actor.is_admin or any(m.user_id == actor.user_id and m.role == "lead"
                                  for m in found.members),
            f"only the lead of project {project!r} or an admin may add members")
    user = get_user(session, username)
    require(user.role == "developer", f"{username!r} is not a developer")
    if any(m.user_id == user.id for m in found.members):
        raise ConflictError(f"{username!r} is already a member of {project!r}")
    found.members.append(ProjectMember(user_id=user.id, role="member"))
    session.flush()
    audit.append(session, actor=actor.username, action="lab.member_add",
                 target=f"project:{project}", details={"user": username})
    return found
