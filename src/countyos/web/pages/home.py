"""The home page: the county at a glance and each role's own world, as registered cards.

Owns the ``/`` route and the core modules' home cards: county figures for everyone; a steward's
department datasets, grant requests and review queue; a developer's projects, twins, jobs and
released outputs (never rows); township staff's township; published indicators for viewers. Each
card's data comes from the same service functions the API uses (``countyos.catalog``,
``countyos.lab``), so a card never shows what the API would refuse. It must not decide
permissions itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, select

from countyos.catalog.datasets import list_datasets
from countyos.db.lab_models import Project, Scenario, Twin
from countyos.db.models import Dataset, DatasetVersion, Department, Township, User
from countyos.errors import CountyOSError
from countyos.lab import grants, jobs, projects, release, twin_store
from countyos.web.pages.i18n import N_
from countyos.web.pages.indicators import IndicatorCache
from countyos.web.pages.portal import (
    Portal,
    PortalUser,
    UserDep,
    get_portal,
    language_of,
    render,
)
from countyos.web.pages.registry import HomeCard
from countyos.site_settings import showcase_is_public

log = logging.getLogger("countyos.web.pages")
router = APIRouter(include_in_schema=False)


@dataclass
class CardContext:
    """What a home card's loader gets."""

    request: Request
    portal: Portal
    user: PortalUser
    language: str

    @property
    def principal(self):  # type: ignore[no-untyped-def]
        return self.user.principal


def indicator_cache(portal: Portal) -> IndicatorCache:
    return portal.state.setdefault("indicators", IndicatorCache())


@router.get("/")
def home(request: Request, user: UserDep) -> Response:
    portal = get_portal(request)
    context = CardContext(request, portal, user, language_of(request))
    cards = []
    for card in portal.registry.cards_for(user.role):
        try:
            cards.append((card, card.load(context), None))
        except CountyOSError as error:
            cards.append((card, {}, error.message))
        except Exception:  # noqa: BLE001 - one broken card must not take the page down
            log.exception("home card %s failed", card.key)
            cards.append((card, {}, ""))
    return render(request, "home.html", {"cards": cards}, active="home")


def _glance(ctx: CardContext) -> dict[str, Any]:
    with ctx.portal.hub.db.session() as session:
        rows = session.scalar(
            select(func.coalesce(func.sum(DatasetVersion.rows), 0))
            .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
            .where(DatasetVersion.version == Dataset.current_version))
        return {"figures": [
            (N_("Datasets"), session.scalar(select(func.count(Dataset.id))), "/catalog"),
            (N_("Data rows"), rows, None),
            (N_("Departments"), session.scalar(select(func.count(Department.id))), None),
            (N_("Townships"), session.scalar(select(func.count(Township.id))), "/showcase"),
            (N_("Lab scenarios"), session.scalar(select(func.count(Scenario.id))), "/lab"),
        ]}


def _my_datasets(ctx: CardContext) -> dict[str, Any]:
    with ctx.portal.hub.db.session() as session:
        datasets = list_datasets(session, department=ctx.user.department) if ctx.user.department else []
        return {"department": ctx.user.department_name, "datasets": [
            {"name": d.name, "title_zh": d.title_zh, "title_en": d.title_en,
             "version": d.current_version,
             "unconfirmed": sum(1 for c in d.columns if not c.confirmed)} for d in datasets]}


def _pending_grants(ctx: CardContext) -> dict[str, Any]:
    with ctx.portal.hub.db.session() as session:
        pending = grants.pending_for(session, ctx.principal)
        return {"grants": [{"id": g.id, "project": g.project.slug, "dataset": g.dataset.name,
                            "mode": g.mode, "purpose": g.purpose} for g in pending]}


def _review_queue(ctx: CardContext) -> dict[str, Any]:
    with ctx.portal.hub.db.session() as session:
        return {"outputs": [{"id": o.public_id, "name": o.name, "project": o.job.project.slug}
                            for o in release.review_queue(session, ctx.principal)]}


def _my_projects(ctx: CardContext) -> dict[str, Any]:
    with ctx.portal.hub.db.session() as session:
        found = []
        for project in projects.list_projects(session, ctx.principal):
            if not projects.is_member(project, ctx.principal):
                continue
            recent = jobs.list_jobs(session, ctx.principal, project=project.slug)
            released = [(job.id, o) for job in recent for o in job.outputs if o.status == "released"]
            found.append({
                "slug": project.slug, "title": project.title, "scenario": project.scenario.slug,
                "twins": len(twin_store.project_twins(session, project)),
                "jobs": [jobs.job_public(j) for j in recent[:3]],
                "released": [{"job": job_id, "id": o.public_id, "name": o.name}
                             for job_id, o in released[:5]],
            })
        return {"projects": found}


def _indicators(ctx: CardContext) -> dict[str, Any]:
    cache = indicator_cache(ctx.portal)
    return {"totals": cache.available(ctx.portal.hub, "township"),
            "trends": cache.available(ctx.portal.hub, "trend")}


def _my_township(ctx: CardContext) -> dict[str, Any]:
    cache = indicator_cache(ctx.portal)
    values = [(r.indicator, r.value_of(ctx.user.township or ""))
              for r in cache.available(ctx.portal.hub, "township")]
    return {"township": ctx.user.township_name, "code": ctx.user.township, "values": values}


def _admin(ctx: CardContext) -> dict[str, Any]:
    with ctx.portal.hub.db.session() as session:
        return {"public": showcase_is_public(session),
                "users": session.scalar(select(func.count(User.id))),
                "projects": session.scalar(select(func.count(Project.id))),
                "twins": session.scalar(select(func.count(Twin.id)))}


def _placeholder(_: CardContext) -> dict[str, Any]:
    return {}


STAFF_AND_VIEWERS = ("township_staff", "viewer")
CARDS = (
    HomeCard("glance", N_("The county at a glance"), "card_glance.html", _glance, order=0, wide=True),
    HomeCard("admin", N_("Installation"), "card_admin.html", _admin, roles=("admin",), order=5),
    HomeCard("my-datasets", N_("My department's datasets"), "card_datasets.html", _my_datasets,
             roles=("steward",), order=10, wide=True),
    HomeCard("pending-grants", N_("Grant requests to decide"), "card_grants.html", _pending_grants,
             roles=("admin", "steward"), order=20),
    HomeCard("review-queue", N_("Outputs waiting for review"), "card_review.html", _review_queue,
             roles=("admin", "steward"), order=30),
    HomeCard("my-projects", N_("My lab projects"), "card_projects.html", _my_projects,
             roles=("developer",), order=10, wide=True),
    HomeCard("my-township", N_("My township"), "card_township.html", _my_township,
             roles=("township_staff",), order=10),
    HomeCard("township-events", N_("Events of my township"), "card_placeholder.html", _placeholder,
             roles=("township_staff",), order=20, placeholder=True),
    HomeCard("township-reports", N_("Reports of my township"), "card_placeholder.html",
             _placeholder, roles=("township_staff",), order=30, placeholder=True),
    HomeCard("indicators", N_("Published indicators"), "card_indicators.html", _indicators,
             roles=STAFF_AND_VIEWERS, order=40, wide=True),
)
