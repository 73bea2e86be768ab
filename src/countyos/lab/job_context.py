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


def table_policy(columns: list[Column], granted: list[str]) -> TablePolicy:
    """The planner's view of a granted table: its roles, and the unit it protects."""
    visible = [c for c in columns if c.name in granted]
    roles = {c.name: c.role for c in visible}
    keys = [c.name for c in visible if c.role == "entity_key"]
    entity = next((k for k in keys if key_domain_of(visible, k) == "person"), None) or (
        keys[0] if keys else "")
    return TablePolicy(entity_key=entity, roles=roles,
                       key_domain=key_domain_of(visible, entity) if entity else None)


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
