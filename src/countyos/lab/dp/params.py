"""Privacy parameters: what a developer asks one query to spend, and what a query costs.

Owns the accounting modes, ``PrivacyParams`` (per query, from the developer), ``PrivacyCost``
(what is charged to a budget) and the exact decimal arithmetic of privacy amounts. Amounts are
``Decimal`` so that a ledger in a database (NUMERIC) and the in-memory ledger add them exactly
and ten charges of 0.1 fill a budget of 1 exactly. Must not compute mechanisms or touch a ledger.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import Enum

from countyos.errors import InvalidInputError

ZERO = Decimal(0)

#: Largest k a developer may ask for.
MAX_CONTRIBUTIONS_LIMIT = 10_000


class Accounting(str, Enum):
    """How privacy loss is measured and added up.

    ``pure``: ε-DP with basic composition (ε add up); a δ > 0 is spent only by DP key
    selection. ``zcdp``: zero-concentrated DP (ρ add up), reported as (ε, δ) through OpenDP's
    zCDP → approximate-DP conversion; key selection adds its δ on top.
    """

    PURE = "pure"
    ZCDP = "zcdp"


def to_amount(value: object, what: str) -> Decimal:
    """An exact, finite, non-negative privacy amount.

    Floats are read through their shortest representation (``0.1`` is exactly one tenth).

    Raises:
        InvalidInputError: the value is not a finite non-negative number.
    """
    if isinstance(value, bool):
        raise InvalidInputError(f"{what} must be a number")
    try:
        if isinstance(value, float):
            if not math.isfinite(value):
                raise InvalidInputError(f"{what} must be finite")
            amount = Decimal(repr(value))
        elif isinstance(value, (int, str, Decimal)):
            amount = Decimal(value)
        else:
            raise InvalidInputError(f"{what} must be a number")
    except InvalidOperation:
        raise InvalidInputError(f"{what} must be a number") from None
    if not amount.is_finite() or amount < 0:
        raise InvalidInputError(f"{what} must be a finite number ≥ 0")
    return amount


def float_at_most(amount: Decimal) -> float:
    """The largest float not above ``amount`` (mechanisms are calibrated to it)."""
    approx = float(amount)
    if Decimal(approx) > amount:
        approx = math.nextafter(approx, -math.inf)
    return max(approx, 0.0)


@dataclass(frozen=True)
class PrivacyParams:
    """What one query may spend, as asked by the developer.

    Attributes:
        epsilon: ε of the whole query (``pure`` accounting).
        rho: ρ of the whole query (``zcdp`` accounting).
        delta: δ for DP key selection of GROUP BY keys without a declared domain; 0 refuses
            such queries.
        max_contributions: k, the most rows per entity; ``None`` uses the tables' default.
        max_quantile_candidates: the size of the candidate grid of quantiles over bounds.
    """

    epsilon: Decimal | float | str | None = None
    rho: Decimal | float | str | None = None
    delta: Decimal | float | str = ZERO
    max_contributions: int | None = None
    max_quantile_candidates: int = 512

    def checked(self, accounting: Accounting) -> PrivacyParams:
        """These parameters with exact amounts, checked against the budget's accounting.

        Raises:
            InvalidInputError: the amount the accounting needs is missing or not positive, the
                other one is given, δ is 1 or more, or k or the candidate count is bad.
        """
        if accounting is Accounting.PURE:
            if self.rho is not None:
                raise InvalidInputError(
                    "this budget uses pure ε accounting: give epsilon, not rho"
                )
            if self.epsilon is None:
                raise InvalidInputError("give the epsilon this query may spend")
            epsilon, rho = to_amount(self.epsilon, "epsilon"), None
            if epsilon <= 0:
                raise InvalidInputError("epsilon must be greater than 0")
        else:
            if self.epsilon is not None:
                raise InvalidInputError(
                    "this budget uses zCDP accounting: give rho (ε is derived from it); "
                    "plan_accuracy() tells the rho an accuracy target needs"
                )
            if self.rho is None:
                raise InvalidInputError("give the rho this query may spend")
            epsilon, rho = None, to_amount(self.rho, "rho")
            if rho <= 0:
                raise InvalidInputError("rho must be greater than 0")
        delta = to_amount(self.delta, "delta")
        if delta >= 1:
            raise InvalidInputError("delta must be below 1")
        k = self.max_contributions
        if k is not None and (
            isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_CONTRIBUTIONS_LIMIT
        ):
            raise InvalidInputError(
                f"max_contributions must be an integer from 1 to {MAX_CONTRIBUTIONS_LIMIT}"
            )
        candidates = self.max_quantile_candidates
        if isinstance(candidates, bool) or not isinstance(candidates, int) or not (
            2 <= candidates <= 10_000
        ):
            raise InvalidInputError("max_quantile_candidates must be an integer from 2 to 10000")
        return PrivacyParams(
            epsilon=epsilon, rho=rho, delta=delta, max_contributions=k,
            max_quantile_candidates=candidates,
        )


@dataclass(frozen=True)
class PrivacyCost:
    """What one answer is charged.

    Attributes:
        accounting: the unit of ``epsilon`` / ``rho``.
        epsilon: ε charged (``pure``), else 0.
        rho: ρ charged (``zcdp``), else 0.
        delta: δ charged by key selection (both modes).
    """

    accounting: Accounting
    epsilon: Decimal = ZERO
    rho: Decimal = ZERO
    delta: Decimal = ZERO

    def to_dict(self) -> dict[str, str]:
        """A JSON-friendly form (amounts as exact decimal strings)."""
        return {
            "accounting": self.accounting.value,
            "epsilon": str(self.epsilon),
            "rho": str(self.rho),
            "delta": str(self.delta),
        }


def cost_of(params: PrivacyParams, accounting: Accounting, *, uses_delta: bool) -> PrivacyCost:
    """The charge of a query with checked ``params``; δ is charged only if key selection ran."""
    delta = to_amount(params.delta, "delta") if uses_delta else ZERO
    if accounting is Accounting.PURE:
        return PrivacyCost(accounting, epsilon=to_amount(params.epsilon, "epsilon"), delta=delta)
    return PrivacyCost(accounting, rho=to_amount(params.rho, "rho"), delta=delta)
