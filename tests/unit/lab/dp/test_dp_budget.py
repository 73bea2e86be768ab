"""Budgets and the ledger: exact amounts, atomic charges, no overspending under concurrency."""

from __future__ import annotations

import threading
from decimal import Decimal

import opendp.prelude as dp
import pytest

from countyos.errors import ConflictError, InvalidInputError, NotFoundError
from countyos.lab.dp import (
    Accounting,
    Budget,
    BudgetExhaustedError,
    ChargeRequest,
    InMemoryBudgetLedger,
    PrivacyCost,
    Spend,
    check_charge,
    epsilon_from_rho,
)
from countyos.lab.dp.accounting import rho_capacity


def pure(epsilon: str, delta: str = "0") -> PrivacyCost:
    return PrivacyCost(Accounting.PURE, epsilon=Decimal(epsilon), delta=Decimal(delta))


def request(cost: PrivacyCost, *datasets: str, member: str = "wang", key: str = "q") -> ChargeRequest:
    return ChargeRequest("proj", datasets or ("people",), cost, member, key, "SELECT 1")


def test_ten_charges_of_a_tenth_fill_a_budget_of_one_exactly() -> None:
    ledger = InMemoryBudgetLedger()
    ledger.set_budget("proj", "people", Budget("pure", epsilon=1.0), steward="li")
    for i in range(10):
        ledger.charge(request(pure("0.1"), key=f"q{i}"))
    assert ledger.status("proj", "people").spent.epsilon == Decimal("1.0")
    with pytest.raises(BudgetExhaustedError, match="exhausted"):
        ledger.charge(request(pure("0.000001")))
    assert len(ledger.entries("proj")) == 10


def test_exhausted_budget_refuses_with_a_clear_message_and_records_nothing() -> None:
    ledger = InMemoryBudgetLedger()
    ledger.set_budget("proj", "people", Budget("pure", epsilon=1), steward="li")
    ledger.charge(request(pure("0.7")))
    with pytest.raises(BudgetExhaustedError) as refused:
        ledger.charge(request(pure("0.5")))
    message = refused.value.message
    assert "people" in message and "0.3" in message and "nothing was charged" in message
    assert refused.value.status == 403
    assert ledger.status("proj", "people").spent.epsilon == Decimal("0.7")


def test_a_charge_over_two_datasets_is_all_or_nothing() -> None:
    ledger = InMemoryBudgetLedger()
    ledger.set_budget("proj", "people", Budget("pure", epsilon=5), steward="li")
    ledger.set_budget("proj", "visits", Budget("pure", epsilon=1), steward="zhao")
    ledger.charge(request(pure("1"), "people", "visits"))
    with pytest.raises(BudgetExhaustedError, match="visits"):
        ledger.charge(request(pure("1"), "people", "visits"))
    assert ledger.status("proj", "people").spent.epsilon == Decimal(1)
    assert [e.dataset for e in ledger.entries("proj")] == ["people", "visits"]


def test_missing_budget_is_not_found() -> None:
    with pytest.raises(NotFoundError, match="ask the dataset's steward"):
        InMemoryBudgetLedger().charge(request(pure("0.1")))


def test_delta_is_accounted_separately() -> None:
    ledger = InMemoryBudgetLedger()
    ledger.set_budget("proj", "people", Budget("pure", epsilon=10, delta="1e-6"), steward="li")
    ledger.charge(request(pure("0.1", "6e-7")))
    with pytest.raises(BudgetExhaustedError, match="δ"):
        ledger.charge(request(pure("0.1", "6e-7")))


def test_switching_accounting_after_spending_is_refused() -> None:
    ledger = InMemoryBudgetLedger()
    ledger.set_budget("proj", "people", Budget("pure", epsilon=1), steward="li")
    ledger.set_budget("proj", "people", Budget("zcdp", epsilon=1, delta="1e-6"), steward="li")
    ledger.set_budget("proj", "people", Budget("pure", epsilon=2), steward="li")
    ledger.charge(request(pure("0.1")))
    with pytest.raises(ConflictError):
        ledger.set_budget("proj", "people", Budget("zcdp", epsilon=1, delta="1e-6"), steward="li")
    ledger.set_budget("proj", "people", Budget("pure", epsilon="0.05"), steward="li")
    with pytest.raises(BudgetExhaustedError):
        ledger.charge(request(pure("0.01")))


def test_failing_audit_hook_rolls_the_charge_back() -> None:
    def refuse(entry: object) -> None:
        raise RuntimeError("audit log unavailable")

    ledger = InMemoryBudgetLedger(on_charge=refuse)
    ledger.set_budget("proj", "people", Budget("pure", epsilon=1), steward="li")
    with pytest.raises(RuntimeError):
        ledger.charge(request(pure("0.5")))
    assert ledger.status("proj", "people").spent == Spend()
    assert ledger.entries("proj") == []


@pytest.mark.parametrize("bad", [-1, 0, float("nan"), float("inf"), "abc", True])
def test_bad_budgets_are_refused(bad: object) -> None:
    with pytest.raises(InvalidInputError):
        Budget("pure", epsilon=bad)  # type: ignore[arg-type]


def test_zcdp_budget_needs_delta() -> None:
    with pytest.raises(InvalidInputError, match="delta"):
        Budget("zcdp", epsilon=1)


def test_epsilon_from_rho_matches_opendp_conversion() -> None:
    dp.enable_features("contrib")
    gaussian = dp.m.make_gaussian(dp.atom_domain(T=float, nan=False),
                                  dp.absolute_distance(T=float), scale=2.0)
    rho = gaussian.map(1.0)  # 1/8
    expected = dp.c.make_zCDP_to_approxDP(gaussian).map(1.0).epsilon(1e-6)
    assert epsilon_from_rho(Decimal(repr(rho)), Decimal("1e-6")) == pytest.approx(expected,
                                                                                   rel=1e-9)
    # The classic bound ρ + 2√(ρ ln(1/δ)) is never beaten by much and never undercut.
    import math

    classic = rho + 2 * math.sqrt(rho * math.log(1e6))
    assert expected <= classic


def test_zcdp_budget_composes_rho_and_converts() -> None:
    budget = Budget("zcdp", epsilon=1, delta="1e-6")
    small = PrivacyCost(Accounting.ZCDP, rho=Decimal("0.005"))
    spent = Spend()
    answered = 0
    while check_charge(budget, spent, small).fits:
        spent = spent.plus(small)
        answered += 1
    # the last charge that fits is the last whose converted ε stays within the budget, and
    # agrees with the ρ capacity the ledger shows
    assert answered >= 1
    assert answered == int(rho_capacity(budget) / small.rho)
    assert epsilon_from_rho(spent.rho, Decimal("1e-6")) <= 1.0
    assert epsilon_from_rho(spent.rho + small.rho, Decimal("1e-6")) > 1.0
    refused = check_charge(budget, spent, small)
    assert "zCDP budget is exhausted" in refused.reason


def test_mixed_units_are_refused() -> None:
    verdict = check_charge(Budget("pure", epsilon=1), Spend(),
                           PrivacyCost(Accounting.ZCDP, rho=Decimal("0.01")))
    assert not verdict.fits and "accounting" in verdict.reason


def test_concurrent_charges_from_many_members_never_overspend() -> None:
    ledger = InMemoryBudgetLedger()
    ledger.set_budget("proj", "people", Budget("pure", epsilon=3), steward="li")
    ledger.set_budget("proj", "visits", Budget("pure", epsilon=2), steward="zhao")
    outcomes: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def member(name: str) -> None:
        start.wait()
        for i in range(20):
            datasets = ("people", "visits") if i % 2 else ("people",)
            try:
                ledger.charge(request(pure("0.1"), *datasets, member=name, key=f"{name}{i}"))
                result = "ok"
            except BudgetExhaustedError:
                result = "refused"
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=member, args=(f"m{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    people = ledger.status("proj", "people")
    visits = ledger.status("proj", "visits")
    assert people.spent.epsilon <= Decimal(3) and visits.spent.epsilon <= Decimal(2)
    assert people.spent.epsilon == Decimal(3)  # filled exactly: 30 charges succeeded
    assert outcomes.count("ok") == 30 == people.answers_charged
    # every entry's running total is consistent with the order of entry ids
    totals = [e.spent_after.epsilon for e in ledger.entries("proj", "people")]
    assert totals == sorted(totals) and totals[-1] == Decimal(3)
