"""Privacy accounting: whether a spend fits a budget, with OpenDP's conversions.

Owns ``Budget`` (what a steward grants per project and dataset), ``Spend`` (what has been
charged so far) and the rule deciding whether one more charge fits. Pure ε composes by adding ε
(and δ of key selection); zCDP composes by adding ρ, and a ρ total is turned into the (ε, δ) the
steward granted with OpenDP's ``make_zCDP_to_approxDP``. Every ledger implementation decides
with ``check_charge`` so the in-memory and database ledgers behave the same. Must not store
anything: ledgers own storage and locking.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from decimal import Decimal

import opendp.prelude as dp

from countyos.errors import InvalidInputError
from countyos.lab.dp.params import ZERO, Accounting, PrivacyCost, float_at_most, to_amount

dp.enable_features("contrib")


@dataclass(frozen=True)
class Budget:
    """The privacy budget of one (project, dataset), set by the dataset's steward.

    Attributes:
        accounting: ``pure`` (ε adds up) or ``zcdp`` (ρ adds up, converted to (ε, δ)).
        epsilon: the total ε the project may spend on the dataset.
        delta: the total δ; under ``pure`` it is spent only by DP key selection; under
            ``zcdp`` it is the δ of the (ε, δ) guarantee, key selection's δ included.
    """

    accounting: Accounting
    epsilon: Decimal
    delta: Decimal = ZERO

    def __post_init__(self) -> None:
        if not isinstance(self.accounting, Accounting):
            try:
                object.__setattr__(self, "accounting", Accounting(self.accounting))
            except ValueError:
                raise InvalidInputError("budget accounting must be 'pure' or 'zcdp'") from None
        object.__setattr__(self, "epsilon", to_amount(self.epsilon, "budget epsilon"))
        object.__setattr__(self, "delta", to_amount(self.delta, "budget delta"))
        if self.epsilon <= 0:
            raise InvalidInputError("budget epsilon must be greater than 0")
        if self.delta >= 1:
            raise InvalidInputError("budget delta must be below 1")
        if self.accounting is Accounting.ZCDP and self.delta <= 0:
            raise InvalidInputError("a zCDP budget needs delta > 0 to state its (ε, δ)")

    def to_dict(self) -> dict[str, str]:
        return {
            "accounting": self.accounting.value,
            "epsilon": str(self.epsilon),
            "delta": str(self.delta),
        }


@dataclass(frozen=True)
class Spend:
    """What has been charged to one budget (exact sums of the charges)."""

    epsilon: Decimal = ZERO
    rho: Decimal = ZERO
    delta: Decimal = ZERO

    def plus(self, cost: PrivacyCost) -> Spend:
        return Spend(self.epsilon + cost.epsilon, self.rho + cost.rho, self.delta + cost.delta)

    def to_dict(self) -> dict[str, str]:
        return {"epsilon": str(self.epsilon), "rho": str(self.rho), "delta": str(self.delta)}


@dataclass(frozen=True)
class Verdict:
    """Whether a charge fits, and if not why (the message names no data)."""

    fits: bool
    reason: str = ""


def _float_at_least(amount: Decimal) -> float:
    approx = float(amount)
    if Decimal(approx) < amount:
        approx = math.nextafter(approx, math.inf)
    return approx


@functools.lru_cache(maxsize=4096)
def epsilon_from_rho(rho: Decimal, delta: Decimal) -> float:
    """The ε of a ρ-zCDP guarantee at a given δ, by OpenDP's zCDP → (ε, δ) conversion.

    The ρ is read as a float no smaller than it, so the ε is never understated.

    Args:
        rho: total ρ (exact).
        delta: the δ at which ε is stated; must be in (0, 1).

    Returns:
        ε as a float (0 for ρ = 0).
    """
    if rho <= 0:
        return 0.0
    rho_float = _float_at_least(rho)
    # A Gaussian of scale 1 at distance d has ρ = d²/2: choose d so that ρ' ≥ ρ.
    gaussian = dp.m.make_gaussian(
        dp.atom_domain(T=float, nan=False), dp.absolute_distance(T=float), scale=1.0
    )
    distance = math.sqrt(2.0 * rho_float)
    for _ in range(64):
        if gaussian.map(distance) >= rho_float:
            break
        distance = math.nextafter(distance, math.inf)
    profile = dp.c.make_zCDP_to_approxDP(gaussian).map(distance)
    return float(profile.epsilon(float_at_most(delta)))


def rho_capacity(budget: Budget, delta_spent: Decimal = ZERO) -> Decimal:
    """The largest ρ (to 1e-9 relative) whose (ε, δ) fits a zCDP budget, given key-selection δ.

    Returns:
        0 when no δ is left for the conversion.
    """
    delta_left = budget.delta - delta_spent
    if delta_left <= 0:
        return ZERO
    low, high = Decimal(0), Decimal(1)
    while epsilon_from_rho(high, delta_left) <= float(budget.epsilon):
        high *= 2
    for _ in range(60):
        middle = (low + high) / 2
        if epsilon_from_rho(middle, delta_left) <= float(budget.epsilon):
            low = middle
        else:
            high = middle
        if high - low <= high * Decimal("1e-9"):
            break
    return low.quantize(Decimal("1e-12"), rounding="ROUND_FLOOR")


def epsilon_spent(budget: Budget, spend: Spend) -> float:
    """The ε-equivalent of what was spent: ε itself (pure) or ρ converted at the left δ."""
    if budget.accounting is Accounting.PURE:
        return float(spend.epsilon)
    delta_left = budget.delta - spend.delta
    if spend.rho <= 0:
        return 0.0
    if delta_left <= 0:
        return math.inf
    return epsilon_from_rho(spend.rho, delta_left)


def check_charge(budget: Budget, spent: Spend, cost: PrivacyCost) -> Verdict:
    """Decide whether ``cost`` may be added to ``spent`` under ``budget``.

    This is the one rule every ledger applies inside its lock.

    Returns:
        ``Verdict(True)`` if the new total stays within the budget; otherwise the reason,
        naming the remaining amount.
    """
    if cost.accounting is not budget.accounting:
        return Verdict(
            False,
            f"the query was priced in {cost.accounting.value} units but the budget uses "
            f"{budget.accounting.value} accounting",
        )
    total = spent.plus(cost)
    if total.delta > budget.delta:
        return Verdict(
            False,
            f"the δ budget is exhausted: {budget.delta - spent.delta} left, "
            f"the query needs {cost.delta}",
        )
    if budget.accounting is Accounting.PURE:
        if total.epsilon > budget.epsilon:
            return Verdict(
                False,
                f"the ε budget is exhausted: {budget.epsilon - spent.epsilon} of "
                f"{budget.epsilon} left, the query needs {cost.epsilon}",
            )
        return Verdict(True)
    delta_left = budget.delta - total.delta
    if delta_left <= 0 and total.rho > 0:
        return Verdict(False, "the δ budget is exhausted: no δ is left to state ε")
    if epsilon_from_rho(total.rho, delta_left) > float(budget.epsilon):
        capacity = rho_capacity(budget, total.delta)
        return Verdict(
            False,
            f"the zCDP budget is exhausted: about ρ = {max(capacity - spent.rho, ZERO)} of "
            f"{capacity} left (ε = {budget.epsilon} at δ = {budget.delta}), the query needs "
            f"ρ = {cost.rho}",
        )
    return Verdict(True)
