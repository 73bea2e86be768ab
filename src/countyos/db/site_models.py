"""SQLAlchemy model of the installation's site settings: small named switches set by the admin.

Owns the ``site_settings`` table (key → JSON value, who changed it and when), e.g.
``showcase.public``. The rules for reading and changing settings live with their users
(``countyos.web.pages.site_settings``); this module holds no logic and no data rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from countyos.db.models import Base, utcnow


class SiteSetting(Base):
    """One named setting of the installation (changed through an audited service function)."""

    __tablename__ = "site_settings"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_by: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
