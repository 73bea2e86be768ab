"""The database DP ledger on both metadata backends: atomic charges, no overspending under
concurrency (threads with their own connections), refusals charge nothing, audited."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from countyos import audit
from countyos.errors import NotFoundError
from countyos.hub import Hub
from countyos.lab.dp import Budget, BudgetExhaustedError, ChargeRequest
from countyos.lab.dp.params import Accounting, PrivacyCost
from countyos.lab.dp_store import DatabaseBudgetLedger


def _request(i: int, epsilon: str = "0.1", datasets=("people",)) -> ChargeRequest:  # type: ignore[no-untyped-def]
    return ChargeRequest(project="p1", datasets=tuple(datasets),
                         cost=PrivacyCost(Accounting.PURE, epsilon=Decimal(epsilon)),
                         member=f"m{i % 3}", query_key=f"q{i}", description=f"query {i}")


def test_concurrent_charges_never_overspend(any_hub: Hub) -> None:
    ledger = DatabaseBudgetLedger(any_hub.db)
    ledger.set_budget("p1", "people", Budget(Accounting.PURE, Decimal("1.0")), steward="s")

    def charge(i: int) -> bool:
        try:
            ledger.charge(_request(i, "0.15"))
            return True
        except BudgetExhaustedError:
            return False

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(charge, range(16)))
    assert results.count(True) == 6              # 6 × 0.15 = 0.9 ≤ 1.0 < 7 × 0.15
    status = ledger.status("p1", "people")
    assert status.spent.epsilon == Decimal("0.90") and status.answers_charged == 6
    assert len(ledger.entries("p1")) == 6
    with any_hub.db.session() as session:
        checked, problems = audit.verify(session)
    assert not problems and checked >= 7


def test_a_charge_on_two_datasets_is_all_or_nothing(any_hub: Hub) -> None:
    ledger = DatabaseBudgetLedger(any_hub.db)
    ledger.set_budget("p1", "people", Budget(Accounting.PURE, Decimal("1.0")), steward="s")
    ledger.set_budget("p1", "visits", Budget(Accounting.PURE, Decimal("0.2")), steward="s")
    with pytest.raises(BudgetExhaustedError, match="visits"):
        ledger.charge(_request(1, "0.5", ("people", "visits")))
    assert ledger.status("p1", "people").spent.epsilon == 0
    ledger.charge(_request(2, "0.2", ("people", "visits")))
    assert ledger.status("p1", "people").spent.epsilon == Decimal("0.2")
    assert ledger.status("p1", "visits").spent.epsilon == Decimal("0.2")
    with pytest.raises(NotFoundError, match="no DP budget"):
        ledger.charge(_request(3, "0.1", ("people", "outpatients")))
    assert ledger.status("p1", "people").spent.epsilon == Decimal("0.2")
