"""What a running job may see: its granted tables (real or twin) and the rules of its grants."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from countyos.db.lab_models import Grant
from countyos.db.models import Column
from countyos.engine import TableSource
from countyos.lab.checked_sql import TablePolicy
from countyos.lab.disclosure import DisclosureRules
from countyos.lab.twin_store import key_domain


@dataclass
class JobContext:
    """Everything the job's actions need, resolved once when the worker picks the job up."""

    job_id: int
    project_id: int
    project_slug: str
    sources: dict[str, TableSource]              # granted columns of the pinned versions
    policies: dict[str, TablePolicy]
    rules: DisclosureRules
    auto_release: bool
    versions: dict[str, int]
    entity_columns: dict[str, list[str]] = field(default_factory=dict)  # dataset -> key columns
    output_dir: Path = Path()
    secret: bytes = b""


# Share of rows the profile's distinct count of the entity key must reach to claim a register.
# The count is a HyperLogLog estimate (off by up to ~6 % at 1M rows), so this is a claim, never a
# proof: the checked-SQL runner verifies it on every run and falls back to the exact plan when a
# cell lists a unit twice.
REGISTER_DISTINCT_SHARE = 0.9


def table_policy(columns: list[Column], granted: list[str],
                 profile: dict[str, Any] | None = None) -> TablePolicy:
    """The planner's view of a granted table: its roles, and the unit it protects.

    Args:
        columns: the dataset's classified columns.
        granted: the columns the grant lets the job read.
        profile: the version's quality profile (``DatasetVersion.profile``); when it says the
            entity key has no nulls and about one distinct value per row, the table is claimed
            to be a register (``entity_key_unique``), which lets checked SQL skip the per-unit
            grouping (verified on every run, see ``countyos.lab.checked_sql.runner``).
    """
    visible = [c for c in columns if c.name in granted]
    roles = {c.name: c.role for c in visible}
    keys = [c.name for c in visible if c.role == "entity_key"]
    entity = next((k for k in keys if key_domain_of(visible, k) == "person"), None) or (
        keys[0] if keys else "")
    return TablePolicy(entity_key=entity, roles=roles,
                       key_domain=key_domain_of(visible, entity) if entity else None,
                       entity_key_unique=bool(entity) and looks_like_register(profile, entity))


def looks_like_register(profile: dict[str, Any] | None, key: str) -> bool:
    """Whether a version profile suggests one row per value of ``key`` (no nulls, ~all distinct)."""
    if not isinstance(profile, dict):
        return False
    rows = profile.get("rows")
    stats = (profile.get("columns") or {}).get(key)
    if not isinstance(rows, int) or rows <= 0 or not isinstance(stats, dict):
        return False
    nulls, distinct = stats.get("nulls"), stats.get("distinct")
    if not isinstance(nulls, int) or not isinstance(distinct, (int, float)) or nulls:
        return False
    return distinct >= REGISTER_DISTINCT_SHARE * rows


def key_domain_of(columns: list[Column], name: str) -> str | None:
    column = next(c for c in columns if c.name == name)
    return key_domain(column)


def rules_of(grants: list[Grant]) -> tuple[DisclosureRules, bool]:
    """The strictest rules over the grants a job uses (and whether all allow auto-release)."""
    defaults = DisclosureRules()
    merged: dict[str, Any] = {"threshold": defaults.threshold, "p_percent": defaults.p_percent,
                              "nk_n": defaults.nk_n, "nk_k": defaults.nk_k}
    auto_release = True
    for grant in grants:
        rules = grant.rules or {}
        merged["threshold"] = max(merged["threshold"], rules.get("threshold", defaults.threshold))
        merged["p_percent"] = max(merged["p_percent"], rules.get("p_percent", defaults.p_percent))
        merged["nk_k"] = min(merged["nk_k"], rules.get("nk_k", defaults.nk_k))
        auto_release = auto_release and bool(rules.get("auto_release", True))
    return DisclosureRules(**merged), auto_release
