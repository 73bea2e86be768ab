"""The metadata store: SQLAlchemy models, sessions and Alembic migrations.

Owns the schema of everything CountyOS knows *about* data (departments, townships, users, tokens,
datasets, columns, versions, the audit chain) — never the data itself, which lives in the lake.
SQLite under the data directory by default, PostgreSQL when ``COUNTYOS_DATABASE_URL`` names one.
"""

from countyos.db.models import (
    ApiToken,
    AuditEntry,
    AuditHead,
    Base,
    Column,
    Dataset,
    DatasetVersion,
    Department,
    Township,
    User,
)
from countyos.db import dp_models, lab_models, site_models  # noqa: F401  (register their tables)
from countyos.db.session import Database

__all__ = [
    "ApiToken",
    "AuditEntry",
    "AuditHead",
    "Base",
    "Column",
    "Database",
    "Dataset",
    "DatasetVersion",
    "Department",
    "Township",
    "User",
]
