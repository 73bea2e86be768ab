"""The portal modules of CountyOS: which pages, nav entries, home cards and panels exist.

Owns the list of core portal modules (home, catalog, lab, admin, showcase) and finding modules
added later: a module of this package is added to ``CORE_MODULES``; a separately installed
package exposes a ``PortalModule`` under the entry-point group ``countyos.portal``. It must not
hold pages itself.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

from countyos.web.pages import (
    admin,
    auth_pages,
    catalog,
    home,
    imports,
    lab,
    lab_dp,
    lab_review,
    showcase,
)
from countyos.web.pages.i18n import N_
from countyos.web.pages.registry import NavEntry, PortalModule, PortalRegistry

log = logging.getLogger("countyos.web.pages")
ENTRY_POINT_GROUP = "countyos.portal"
STEWARDS = ("admin", "steward")


CORE_MODULES: tuple[PortalModule, ...] = (
    PortalModule("session", routers=(auth_pages.router,)),
    PortalModule("home", routers=(home.router,), home_cards=home.CARDS,
                 nav=(NavEntry("home", N_("Home"), "/", order=0),)),
    PortalModule("catalog", routers=(imports.router, catalog.router), nav=(
        NavEntry("catalog", N_("Data catalog"), "/catalog", order=10),
        NavEntry("import", N_("Import data"), "/catalog/import", roles=STEWARDS, order=20),
    )),
    PortalModule("lab", routers=(lab_review.router, lab.router, lab_dp.router), nav=(
        NavEntry("lab", N_("Lab"), "/lab", order=30),
        NavEntry("grants", N_("Grant requests"), "/lab/grants", roles=STEWARDS, order=40),
        NavEntry("review", N_("Output review"), "/lab/review", roles=STEWARDS, order=50),
    )),
    PortalModule("showcase", routers=(showcase.router,), panels=showcase.PANELS,
                 nav=(NavEntry("showcase", N_("Showcase"), "/showcase", order=60),)),
    PortalModule("admin", routers=(admin.router,), nav=(
        NavEntry("users", N_("Users"), "/admin/users", roles=("admin",), order=80),
        NavEntry("audit", N_("Audit log"), "/admin/audit", roles=("admin",), order=85),
        NavEntry("settings", N_("Settings"), "/admin/settings", roles=("admin",), order=90),
    )),
)


def installed_modules() -> list[PortalModule]:
    """Portal modules of separately installed packages (entry points ``countyos.portal``)."""
    found = []
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            module = entry.load()
        except Exception:  # noqa: BLE001 - a broken plug-in must not stop the portal
            log.exception("portal module %s could not be loaded", entry.name)
            continue
        if isinstance(module, PortalModule):
            found.append(module)
        else:
            log.error("entry point %s is not a PortalModule", entry.name)
    return found


def default_registry(extra: tuple[PortalModule, ...] = ()) -> PortalRegistry:
    registry = PortalRegistry()
    for module in (*CORE_MODULES, *installed_modules(), *extra):
        registry.add(module)
    return registry
