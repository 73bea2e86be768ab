"""Site settings of the installation: whether the showcase (大屏) is public.

Owns reading and changing the ``showcase.public`` switch kept in the metadata DB
(``countyos.db.site_models.SiteSetting``): anyone may read it, only an admin may change it, and
every change is in the audit log. A fresh installation keeps the showcase behind the log-in; the
Demo County makes it public at install time (``set_showcase_public(..., public=True)``). It must
not render anything.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from countyos import audit
from countyos.auth import Principal, require_admin
from countyos.db.site_models import SiteSetting

SHOWCASE_PUBLIC = "showcase.public"
DEFAULTS = {SHOWCASE_PUBLIC: False}


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
