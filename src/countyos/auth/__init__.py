"""Users, roles, API tokens and permissions.

Owns who someone is (token → user) and what they may do: every permission decision of CountyOS is
made by a function of ``countyos.auth.permissions``, so the rules live in one place. Tokens are
random, shown once, stored as sha256 hashes.
"""

from countyos.auth.permissions import (
    ROLES,
    Principal,
    can_manage_dataset,
    can_read_rows,
    require,
    require_admin,
)
from countyos.auth.tokens import authenticate, hash_token, issue_token, new_token

__all__ = [
    "ROLES",
    "Principal",
    "authenticate",
    "can_manage_dataset",
    "can_read_rows",
    "hash_token",
    "issue_token",
    "new_token",
    "require",
    "require_admin",
]
