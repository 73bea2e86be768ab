"""What the catalog says about a granted table in aggregate mode: its protected unit and roles.

Owns :class:`TablePolicy` (the entity key naming the protected unit, one disclosure role per
column, the key's domain and whether the catalog verified one row per unit) and the role
vocabulary. The planner decides with it which columns may be grouped, filtered, aggregated or
joined. This module must not parse SQL or read data.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass, field

from countyos.errors import InvalidInputError

ROLE_IDENTIFIER = "identifier"
ROLE_QUASI_IDENTIFIER = "quasi_identifier"
ROLE_ENTITY_KEY = "entity_key"
ROLE_MEASURE = "measure"
ROLE_DIMENSION = "dimension"

#: Disclosure roles of columns, as the catalog classifies them.
ROLES = (ROLE_IDENTIFIER, ROLE_QUASI_IDENTIFIER, ROLE_ENTITY_KEY, ROLE_MEASURE, ROLE_DIMENSION)


@dataclass(frozen=True)
class TablePolicy:
    """The disclosure facts of one granted table.

    Attributes:
        entity_key: the column naming the protected unit (``person_id``, ``uscc``); thresholds
            count its distinct values and dominance adds up contributions per value.
        roles: disclosure role per column (``identifier``, ``quasi_identifier``, ``entity_key``,
            ``measure``, ``dimension``). Columns without a role cannot be used. Another column
            with role ``entity_key`` (a key naming some other unit) is treated as an identifier.
        key_domain: the kind of unit the entity key names (``"person"``, ``"enterprise"``); two
            tables join only when their domains are equal. Default: the entity key's name.
        entity_key_unique: the catalog verified that this dataset version holds exactly one row
            per entity key value (a register). Lets the rewrite skip the per-unit grouping; when
            entity sets are computed the claim is re-checked and a violation falls back to the
            exact per-unit plan.
    """

    entity_key: str
    roles: Mapping[str, str]
    key_domain: str | None = None
    entity_key_unique: bool = False
    _lowered: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.entity_key, str) or not self.entity_key.strip():
            raise InvalidInputError("a table policy needs the name of its entity key column")
        if not isinstance(self.roles, Mapping) or not self.roles:
            raise InvalidInputError("a table policy needs a role for each usable column")
        lowered: dict[str, str] = {}
        for column, role in self.roles.items():
            if not isinstance(column, str) or not column.strip():
                raise InvalidInputError("a table policy lists a blank column name")
            if role not in ROLES:
                raise InvalidInputError(
                    f"column {column!r} has role {role!r}; expected one of {', '.join(ROLES)}",
                    details={"column": column},
                )
            name = column.lower()
            if name in lowered:
                raise InvalidInputError(
                    f"column {column!r} is listed twice in a table policy",
                    details={"column": column},
                )
            lowered[name] = role
        key = self.entity_key.lower()
        if lowered.setdefault(key, ROLE_ENTITY_KEY) != ROLE_ENTITY_KEY:
            raise InvalidInputError(
                f"entity key {self.entity_key!r} must have role entity_key",
                details={"column": self.entity_key},
            )
        if self.key_domain is not None and (
            not isinstance(self.key_domain, str) or not self.key_domain.strip()
        ):
            raise InvalidInputError("key_domain must be a non-empty name or None")
        if not isinstance(self.entity_key_unique, bool):
            raise InvalidInputError("entity_key_unique must be true or false")
        object.__setattr__(self, "roles", types.MappingProxyType(dict(self.roles)))
        object.__setattr__(self, "_lowered", types.MappingProxyType(lowered))

    @property
    def domain(self) -> str:
        """The unit domain of the entity key (``key_domain`` or the key's own name)."""
        return (self.key_domain or self.entity_key).lower()

    def role_of(self, column: str) -> str | None:
        """The role of a column (case-insensitive), ``None`` when the catalog gave it none."""
        return self._lowered.get(column.lower())

    def columns(self) -> tuple[str, ...]:
        """Lower-case names of every column with a role, entity key included."""
        return tuple(self._lowered)
