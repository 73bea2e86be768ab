"""Site settings of the installation: whether the showcase (大屏) is public, the county's name.

Owns reading and changing the settings kept in the metadata DB
(``countyos.db.site_models.SiteSetting``): anyone may read them, only an admin may change them,
and every change is in the audit log. A fresh installation keeps the showcase behind the log-in
and shows ``Settings.county_name``; the Demo County makes the showcase public and names the
county after the generated one (舜川县) at install time. It must not render anything.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from countyos import audit
from countyos.auth import Principal, require_admin
from countyos.db.site_models import SiteSetting
from countyos.errors import InvalidInputError

SHOWCASE_PUBLIC = "showcase.public"
COUNTY_NAME = "county.name"
DEFAULTS = {SHOWCASE_PUBLIC: False}
MAX_COUNTY_NAME = 64


def showcase_is_public(session: Session) -> bool:
    """Whether the showcase may be opened without logging in."""
    row = session.get(SiteSetting, SHOWCASE_PUBLIC)
    return bool(row.value) if row is not None else DEFAULTS[SHOWCASE_PUBLIC]


def set_showcase_public(session: Session, actor: Principal, *, public: bool) -> bool:
    """Make the showcase public (no log-in) or private; admins only; audited.

    Raises:
        PermissionDeniedError: ``actor`` is not an admin.
    """
    require_admin(actor, "change whether the showcase is public")
    row = session.get(SiteSetting, SHOWCASE_PUBLIC)
    before = bool(row.value) if row is not None else DEFAULTS[SHOWCASE_PUBLIC]
    if row is None:
        row = SiteSetting(key=SHOWCASE_PUBLIC, value=bool(public))
        session.add(row)
    row.value, row.updated_by, row.updated_at = bool(public), actor.username, datetime.now(UTC)
    session.flush()
    audit.append(session, actor=actor.username, action="site.showcase_public",
                 target="site:showcase", details={"before": before, "public": bool(public)})
    return bool(public)


def county_name(session: Session, default: str) -> str:
    """The county's name shown in the portal (``default``, the configured one, when unset)."""
    row = session.get(SiteSetting, COUNTY_NAME)
    return str(row.value) if row is not None and row.value else default


def set_county_name(session: Session, actor: Principal, name: str) -> str:
    """Name the county shown in the portal; admins only; audited.

    Raises:
        PermissionDeniedError: ``actor`` is not an admin.
        InvalidInputError: an empty or over-long name.
    """
    require_admin(actor, "change the county's name")
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > MAX_COUNTY_NAME:
        raise InvalidInputError(f"the county's name must be 1 to {MAX_COUNTY_NAME} characters")
    row = session.get(SiteSetting, COUNTY_NAME)
    before = row.value if row is not None else None
    if row is None:
        row = SiteSetting(key=COUNTY_NAME, value=name)
        session.add(row)
    row.value, row.updated_by, row.updated_at = name, actor.username, datetime.now(UTC)
    session.flush()
    audit.append(session, actor=actor.username, action="site.county_name",
                 target="site:county", details={"before": before, "name": name})
    return name
