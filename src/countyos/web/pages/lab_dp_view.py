"""What the project page shows of the lab's ``dp`` grant mode: budgets, ledgers, answers, plans.

Owns turning the answers of ``countyos.lab.dp_service`` (``budgets``, ``dp_query``, ``plan``) into
plain values for the templates: budget figures formatted once, ledger entries newest first, each
released value with its 95% interval, the charge of an answer and the accuracy of a plan. Who may
see what is decided by ``dp_service`` (``budgets`` refuses anyone but members, the datasets'
stewards and admins); this module only adds, per dataset, whether the viewer may set its budget
(``can_manage_dataset``, the rule ``dp_service.set_budget`` applies). It must not compute noise,
charge budgets or read data.
"""

from __future__ import annotations

import ast
import dataclasses
import math
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from countyos.auth import Principal, can_manage_dataset
from countyos.catalog.datasets import get_dataset
from countyos.db.lab_models import Grant
from countyos.errors import PermissionDeniedError
from countyos.hub import Hub
from countyos.lab import dp_service, grants, projects
from countyos.lab.dp import DPAnswer

ACCOUNTINGS = ("pure", "zcdp")
NUMERIC_PREFIXES = ("int", "uint", "decimal")
NUMERIC_TYPES = ("double", "float", "halffloat")


def is_numeric(data_type: str) -> bool:
    """Whether DP treats a catalog column type as numeric (bounds) rather than categorical
    (public domain) — the rule of ``dp_service`` for Arrow type names."""
    return data_type.startswith(NUMERIC_PREFIXES) or data_type in NUMERIC_TYPES


def amount(value: Any) -> str:
    """A privacy amount for people: ``0.5``, ``1e-06``; ``—`` when there is none."""
    if value is None or value == "":
        return "—"
    try:
        number = float(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return str(value)
    return f"{number:.6g}"


def cost_label(cost: Mapping[str, Any]) -> str:
    """What one answer was charged: ``ε 0.5`` or ``ρ 0.02``, with ``δ`` when key selection ran."""
    unit, key = ("ρ", "rho") if cost.get("accounting") == "zcdp" else ("ε", "epsilon")
    label = f"{unit} {amount(cost.get(key))}"
    delta = cost.get("delta")
    if delta not in (None, "", "0") and float(delta) > 0:
        label += f" · δ {amount(delta)}"
    return label


def _budget_view(status: Mapping[str, Any]) -> dict[str, Any]:
    budget = status.get("budget")
    spent = status.get("spent") or {}
    view: dict[str, Any] = {"dataset": status["dataset"], "budget": None,
                            "ledger": [_entry_view(e) for e in reversed(status.get("ledger") or [])]}
    if budget:
        view["budget"] = {
            "accounting": budget["accounting"], "epsilon": amount(budget["epsilon"]),
            "delta": amount(budget["delta"]), "epsilon_raw": budget["epsilon"],
            "delta_raw": budget["delta"],
            "epsilon_spent": amount(status.get("epsilon_spent")),
            "epsilon_left": amount(status.get("epsilon_left")),
            "delta_spent": amount(spent.get("delta")), "rho_spent": amount(spent.get("rho")),
            "rho_capacity": amount(status.get("rho_capacity")),
            "answers_charged": status.get("answers_charged", 0),
            "used_share": _share(status.get("epsilon_spent"), budget["epsilon"]),
        }
    return view


def _share(spent: Any, total: Any) -> float:
    try:
        value = float(spent or 0) / float(total)
    except (TypeError, ValueError, ZeroDivisionError):
        return 0.0
    return round(min(max(value, 0.0), 1.0) * 100, 1)


def _entry_view(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {"member": entry.get("member"), "at": entry.get("at"), "cost": cost_label(entry.get("cost") or {}),
            "query": entry.get("description") or "", "id": entry.get("entry_id")}


def _latest_dp_grant(found: list[Grant], dataset: str) -> Grant | None:
    mine = [g for g in found if g.mode == "dp" and g.dataset.name == dataset]
    active = [g for g in mine if grants.is_active(g)]
    return (active or mine or [None])[-1]


def _columns_view(grant: Grant | None) -> list[dict[str, Any]]:
    """The granted columns with the DP facts their steward declared (public metadata only)."""
    if grant is None:
        return []
    result = []
    for column in grant.dataset.columns:
        if column.name not in grant.columns:
            continue
        bounds = ((amount(column.lower_bound), amount(column.upper_bound))
                  if column.lower_bound is not None and column.upper_bound is not None else None)
        result.append({"name": column.name, "numeric": is_numeric(column.data_type),
                       "role": column.role, "bounds": bounds,
                       "domain": [str(v) for v in (column.public_domain or [])]})
    return result


def dp_section(hub: Hub, actor: Principal, slug: str) -> dict[str, Any] | None:
    """The DP section of a project page, or ``None`` when there is none for ``actor``.

    Returns ``None`` when the project holds no ``dp`` grant, or when ``actor`` may not see its
    budgets (a steward of other departments). Otherwise: ``datasets`` (budget, ledger, granted
    columns with their declarations, whether the grant is active, whether ``actor`` may set the
    budget), ``accountings`` (those of the budgets set), ``active`` (some dp grant is active)
    and ``member`` (``actor`` may ask queries).
    """
    try:
        statuses = dp_service.budgets(hub, actor, project=slug)
    except PermissionDeniedError:
        return None
    if not statuses:
        return None
    datasets = []
    with hub.db.session() as session:
        project = projects.get_project(session, actor, slug)
        member = actor.is_admin or projects.is_member(project, actor)
        found = grants.project_grants(session, project)
        for status in statuses:
            view = _budget_view(status)
            grant = _latest_dp_grant(found, view["dataset"])
            view["active"] = grant is not None and grants.is_active(grant)
            view["grant_status"] = grant.status if grant is not None else None
            view["columns"] = _columns_view(grant)
            dataset = get_dataset(session, view["dataset"])
            view["manage"] = can_manage_dataset(actor, department_id=dataset.department_id)
            datasets.append(view)
    accountings = sorted({d["budget"]["accounting"] for d in datasets if d["budget"]})
    return {"datasets": datasets, "accountings": accountings, "member": member,
            "active": any(d["active"] for d in datasets),
            "example": datasets[0]["dataset"] if datasets else ""}


def answer_view(answer: DPAnswer) -> dict[str, Any]:
    """A DP answer for the template: cells with value and accuracy, the charge, the origins."""
    data = answer.to_dict()
    rows = []
    for values, accuracies in zip(data["rows"], data["accuracy"]):
        rows.append([{"value": value, "accuracy": accuracy}
                     for value, accuracy in zip(values, accuracies)])
    aggregates = {i for row in data["accuracy"] for i, cell in enumerate(row) if cell is not None}
    return {"columns": data["columns"], "rows": rows, "aggregates": aggregates,
            "cost": cost_label(data["cost"]), "from_cache": data["from_cache"],
            "sql": data["sql"], "key_origins": data["key_origins"],
            "max_contributions": data["max_contributions"],
            "mechanisms": [m.get("mechanism", "") for m in data["mechanisms"]]}


def column_accuracy(item: Any) -> dict[str, Any]:
    """One planned column's accuracy as a dict, whatever shape ``dp_service.plan`` gives it.

    ``plan`` returns ``to_dict()`` of each ``ColumnAccuracy`` when it has one and its ``repr``
    otherwise; the repr of a dataclass is read back with ``ast.literal_eval`` of each keyword
    (literals only: nothing is evaluated).
    """
    if isinstance(item, Mapping):
        return dict(item)
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        return dataclasses.asdict(item)
    result: dict[str, Any] = {}
    try:
        node = ast.parse(str(item), mode="eval").body
    except SyntaxError:
        return {"column": str(item)}
    if not isinstance(node, ast.Call):
        return {"column": str(item)}
    for keyword in node.keywords:
        try:
            result[str(keyword.arg)] = ast.literal_eval(keyword.value)
        except ValueError:  # nan / inf are names, not literals
            result[str(keyword.arg)] = None
    return result


def plan_view(result: Mapping[str, Any]) -> dict[str, Any]:
    """The answer of ``dp_service.plan`` for the template."""
    columns = []
    for item in result.get("per_column") or []:
        accuracy = column_accuracy(item)
        half = accuracy.get("half_width")
        rank = accuracy.get("rank_error")
        columns.append({
            "column": accuracy.get("column", ""), "kind": accuracy.get("kind", ""),
            "half_width": half if isinstance(half, (int, float)) and math.isfinite(half) else None,
            "rank_error": rank if isinstance(rank, (int, float)) and math.isfinite(rank) else None,
            "note": accuracy.get("note") or ""})
    accounting = result.get("accounting", "pure")
    return {"accounting": accounting, "unit": "ρ" if accounting == "zcdp" else "ε",
            "amount": str(result.get("amount", "")), "amount_label": amount(result.get("amount")),
            "columns": columns}


__all__ = ["ACCOUNTINGS", "amount", "answer_view", "column_accuracy", "cost_label", "dp_section",
           "is_numeric", "plan_view"]
