"""The portal's registry: what each module adds to the web UI.

Owns the small data types a module uses to plug into the portal (``NavEntry``, ``HomeCard``,
``ShowcasePanel``, ``PortalModule``) and the ``PortalRegistry`` that collects them and answers
"which nav entries, home cards and showcase panels does this role see". The base template and the
showcase page only iterate over the registry, so a later module (devices, brain, reports) adds its
pages by registering a ``PortalModule`` — never by editing a shared template.

It must not render anything, read the database or decide permissions: ``roles`` here only choose
what is *shown*; every action behind a page still goes through ``countyos.auth.permissions``.
Labels are message ids (English) translated at render time through the one message catalog.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter

from countyos.auth.permissions import ROLES

ALL_ROLES: frozenset[str] = frozenset(ROLES)
AREAS = ("left", "center", "right")

#: A loader gets a ``CardContext``/``PanelContext`` (see ``countyos.web.pages.context``) and
#: returns the template variables of its card or panel.
Loader = Callable[[Any], dict[str, Any]]


def _roles(roles: Iterable[str] | None) -> frozenset[str]:
    chosen = frozenset(roles) if roles is not None else ALL_ROLES
    unknown = chosen - ALL_ROLES
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}; roles are {', '.join(ROLES)}")
    return chosen


@dataclass(frozen=True)
class NavEntry:
    """One entry of the portal's top navigation.

    Attributes:
        key: stable id, also used to mark the current page (``active_nav`` in templates).
        label: message id of the visible label.
        href: where it links to.
        roles: roles that see the entry (default: everyone logged in).
        order: position, smaller first.
    """

    key: str
    label: str
    href: str
    roles: frozenset[str] = ALL_ROLES
    order: int = 100

    def __post_init__(self) -> None:
        object.__setattr__(self, "roles", _roles(self.roles))


@dataclass(frozen=True)
class HomeCard:
    """A card on the home page of the roles it is for.

    Attributes:
        key: stable id.
        title: message id of the card's title.
        template: Jinja template of the card body.
        load: returns the template's variables from a ``CardContext``.
        roles: roles whose home shows the card.
        order: position, smaller first.
        wide: spans the full width of the home grid.
        placeholder: a marked, empty card a later module replaces (same key).
    """

    key: str
    title: str
    template: str
    load: Loader
    roles: frozenset[str] = ALL_ROLES
    order: int = 100
    wide: bool = False
    placeholder: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "roles", _roles(self.roles))


@dataclass(frozen=True)
class ShowcasePanel:
    """A panel of the showcase wall (大屏).

    Attributes:
        key: stable id (letters, digits, '-'); its fragment is served at
            ``/showcase/panels/<key>`` and refreshed every ``refresh_s`` seconds.
        title: message id of the panel's title.
        template: Jinja template of the panel body (a fragment).
        load: returns the template's variables from a ``PanelContext``.
        area: column of the wall: ``left``, ``center`` or ``right``.
        order: position in its column, smaller first.
        refresh_s: seconds between live updates.
        placeholder: a marked, empty panel that a later module replaces by registering a panel
            with the same key.
        height: share of the column's height, in percent.
        controls: optional template of inputs shown in the panel's header (e.g. an indicator
            chooser); their values are sent with every refresh of the panel.
    """

    key: str
    title: str
    template: str
    load: Loader
    area: str = "right"
    order: int = 100
    refresh_s: int = 30
    placeholder: bool = False
    height: int = 33
    controls: str | None = None

    def __post_init__(self) -> None:
        if self.area not in AREAS:
            raise ValueError(f"panel area {self.area!r} must be one of {', '.join(AREAS)}")
        if not self.key.replace("-", "").isalnum():
            raise ValueError(f"panel key {self.key!r} must be letters, digits and '-'")
        if self.refresh_s < 1:
            raise ValueError("refresh_s must be at least 1 second")


@dataclass(frozen=True)
class PortalModule:
    """Everything one module adds to the portal.

    Attributes:
        name: the module's name (e.g. ``catalog``, ``lab``, ``devices``).
        routers: its page routes (HTML).
        nav: its navigation entries.
        home_cards: its cards on role home pages.
        panels: its showcase panels.
        templates: a folder of the module's own templates (searched after the portal's).
    """

    name: str
    routers: tuple[APIRouter, ...] = ()
    nav: tuple[NavEntry, ...] = ()
    home_cards: tuple[HomeCard, ...] = ()
    panels: tuple[ShowcasePanel, ...] = ()
    templates: Path | None = None


@dataclass
class PortalRegistry:
    """The modules of one running portal and what they contribute."""

    modules: list[PortalModule] = field(default_factory=list)

    def add(self, module: PortalModule) -> None:
        """Register ``module``; a panel or card with an existing key replaces the older one
        (that is how a module fills a placeholder panel)."""
        if any(m.name == module.name for m in self.modules):
            raise ValueError(f"portal module {module.name!r} is already registered")
        self.modules.append(module)

    def nav_for(self, role: str) -> list[NavEntry]:
        entries = [e for m in self.modules for e in m.nav if role in e.roles]
        return sorted(entries, key=lambda e: (e.order, e.key))

    def cards_for(self, role: str) -> list[HomeCard]:
        cards = self._latest(c for m in self.modules for c in m.home_cards)
        return sorted((c for c in cards if role in c.roles), key=lambda c: (c.order, c.key))

    def panels(self) -> list[ShowcasePanel]:
        panels = self._latest(p for m in self.modules for p in m.panels)
        return sorted(panels, key=lambda p: (AREAS.index(p.area), p.order, p.key))

    def panel(self, key: str) -> ShowcasePanel | None:
        return next((p for p in self.panels() if p.key == key), None)

    def template_dirs(self) -> list[Path]:
        return [m.templates for m in self.modules if m.templates is not None]

    def routers(self) -> list[APIRouter]:
        return [router for m in self.modules for router in m.routers]

    @staticmethod
    def _latest(items: Iterable[Any]) -> list[Any]:
        """Items by key, a later registration winning (placeholders are registered first)."""
        by_key: dict[str, Any] = {}
        for item in items:
            previous = by_key.get(item.key)
            if previous is None or getattr(previous, "placeholder", False) or not getattr(
                item, "placeholder", False
            ):
                by_key[item.key] = item
        return list(by_key.values())
