"""Every permission rule of CountyOS, in one place.

Roles:
- ``admin`` (数据局 operator): everything.
- ``steward`` of a department (数据管家): imports and classifies its department's datasets, reads
  their raw rows, later approves lab grants and releases.
- ``developer`` (company / researcher): catalog metadata only; data through the lab (twins,
  checked aggregates, DP answers), never raw rows.
- ``township_staff``: catalog metadata; their township's events and reports (later issues).
- ``viewer``: catalog metadata and published indicators.

Raw rows of a dataset go only to admins and to members of the dataset's own department (a user
whose ``department_id`` is the dataset's, other than a developer).
"""

from __future__ import annotations

from dataclasses import dataclass

from countyos.errors import PermissionDeniedError

ROLES = ("admin", "steward", "developer", "township_staff", "viewer")


@dataclass(frozen=True)
class Principal:
    """Who is acting: a user of the metadata DB, or the local operator at the CLI."""

    username: str
    role: str
    user_id: int | None = None
    department_id: int | None = None
    township_id: int | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def can_read_rows(principal: Principal, *, department_id: int) -> bool:
    """May ``principal`` see raw rows of a dataset owned by ``department_id``?"""
    if principal.is_admin:
        return True
    return principal.role != "developer" and principal.department_id == department_id


def can_manage_dataset(principal: Principal, *, department_id: int) -> bool:
    """May ``principal`` import versions into, and classify, a dataset of ``department_id``?"""
    if principal.is_admin:
        return True
    return principal.role == "steward" and principal.department_id == department_id


def require(allowed: bool, message: str) -> None:
    """Raise PermissionDeniedError with ``message`` unless ``allowed``."""
    if not allowed:
        raise PermissionDeniedError(message)


def require_admin(principal: Principal, what: str) -> None:
    require(principal.is_admin, f"only an admin may {what}")
