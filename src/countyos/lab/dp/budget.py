"""The budget ledger: per (project, dataset) budgets and the atomic charge of each DP answer.

Owns the ``BudgetLedger`` contract, its record types and ``InMemoryBudgetLedger``. The lead backs
the same contract with the metadata database; both must behave identically:

- ``set_budget`` (the steward) creates or changes the budget of one (project, dataset). Lowering
  it below what was spent is allowed (further queries are refused); changing the accounting mode
  after anything was spent is refused (the amounts would change meaning).
- ``charge`` is atomic: it checks every dataset of the request with
  ``accounting.check_charge`` and, only if all fit, records one ``LedgerEntry`` per dataset; if
  any does not fit it raises ``BudgetExhaustedError`` and records nothing. Concurrent charges
  never overspend: the in-memory ledger holds one lock around check-and-record; the database
  ledger takes ``SELECT … FOR UPDATE`` on the budget rows in sorted dataset order in one
  transaction.
- ``entries`` is the audit trail shown to both sides (steward and project members): who asked
  what, what it cost, and what was left.

Must not compute noise or run queries.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from countyos.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from countyos.lab.dp.accounting import (
    Budget,
    Spend,
    check_charge,
    epsilon_spent,
    rho_capacity,
)
from countyos.lab.dp.params import Accounting, PrivacyCost


class BudgetExhaustedError(PermissionDeniedError):
    """The query would spend more than the budget left; nothing was charged."""

    code = "dp_budget_exhausted"


@dataclass(frozen=True)
class ChargeRequest:
    """One answer's charge, to be recorded on every dataset the query reads.

    Attributes:
        project: the project asking.
        datasets: the datasets the query reads (each budget is charged the full cost).
        cost: what the answer costs.
        member: the project member who asked.
        query_key: the answer's cache key (``cache.query_key``), linking entry and answer.
        description: the normalised SQL, for the audit trail.
    """

    project: str
    datasets: tuple[str, ...]
    cost: PrivacyCost
    member: str
    query_key: str
    description: str = ""


@dataclass(frozen=True)
class LedgerEntry:
    """One recorded charge on one budget."""

    entry_id: int
    project: str
    dataset: str
    member: str
    query_key: str
    description: str
    cost: PrivacyCost
    spent_after: Spend
    at: datetime

    def to_dict(self) -> dict[str, object]:
        return {
            "entry_id": self.entry_id, "project": self.project, "dataset": self.dataset,
            "member": self.member, "query_key": self.query_key,
            "description": self.description, "cost": self.cost.to_dict(),
            "spent_after": self.spent_after.to_dict(), "at": self.at.isoformat(),
        }


@dataclass(frozen=True)
class BudgetStatus:
    """A budget, what was spent and what is left, for both sides to see."""

    project: str
    dataset: str
    budget: Budget
    spent: Spend
    epsilon_spent: float
    rho_capacity: float | None
    answers_charged: int

    @property
    def epsilon_left(self) -> float:
        return max(float(self.budget.epsilon) - self.epsilon_spent, 0.0)

    def to_dict(self) -> dict[str, object]:
        return {
            "project": self.project, "dataset": self.dataset,
            "budget": self.budget.to_dict(), "spent": self.spent.to_dict(),
            "epsilon_spent": self.epsilon_spent, "epsilon_left": self.epsilon_left,
            "rho_capacity": self.rho_capacity, "answers_charged": self.answers_charged,
        }


@runtime_checkable
class BudgetLedger(Protocol):
    """Budgets per (project, dataset) and the audited, atomic charges against them."""

    def set_budget(self, project: str, dataset: str, budget: Budget, *, steward: str) -> None:
        """Create or change a budget.

        Raises:
            ConflictError: the accounting mode changes after something was spent.
        """

    def budget(self, project: str, dataset: str) -> Budget:
        """The budget of (project, dataset).

        Raises:
            NotFoundError: no budget was set.
        """

    def status(self, project: str, dataset: str) -> BudgetStatus:
        """The budget, the spend and what is left.

        Raises:
            NotFoundError: no budget was set.
        """

    def charge(self, request: ChargeRequest) -> list[LedgerEntry]:
        """Atomically check and record the charge on every dataset of the request.

        Raises:
            NotFoundError: a dataset has no budget for the project.
            BudgetExhaustedError: a dataset's budget would be exceeded; nothing is recorded.
        """

    def entries(self, project: str, dataset: str | None = None) -> list[LedgerEntry]:
        """The recorded charges of a project (optionally one dataset), oldest first."""


@dataclass
class _Account:
    budget: Budget
    spent: Spend = field(default_factory=Spend)
    entries: list[LedgerEntry] = field(default_factory=list)


class InMemoryBudgetLedger:
    """A ``BudgetLedger`` in process memory, for tests, the CLI and single-process use.

    Args:
        on_charge: called with each recorded entry while the lock is held (e.g. to append to
            the audit log); if it raises, the charge is rolled back and the error propagates.
    """

    def __init__(self, *, on_charge: Callable[[LedgerEntry], None] | None = None) -> None:
        self._accounts: dict[tuple[str, str], _Account] = {}
        self._lock = threading.Lock()
        self._next_id = 1
        self._on_charge = on_charge

    def set_budget(self, project: str, dataset: str, budget: Budget, *, steward: str) -> None:
        """See ``BudgetLedger.set_budget``."""
        _check_names(project, [dataset])
        if not isinstance(budget, Budget):
            raise InvalidInputError("budget must be a Budget")
        with self._lock:
            account = self._accounts.get((project, dataset))
            if account is None:
                self._accounts[(project, dataset)] = _Account(budget)
                return
            if account.budget.accounting is not budget.accounting and account.entries:
                raise ConflictError(
                    f"the budget of project {project} on dataset {dataset} already has charges "
                    f"in {account.budget.accounting.value} accounting; it cannot switch to "
                    f"{budget.accounting.value}"
                )
            account.budget = budget

    def budget(self, project: str, dataset: str) -> Budget:
        """See ``BudgetLedger.budget``."""
        with self._lock:
            return self._account(project, dataset).budget

    def status(self, project: str, dataset: str) -> BudgetStatus:
        """See ``BudgetLedger.status``."""
        with self._lock:
            account = self._account(project, dataset)
            budget, spent, count = account.budget, account.spent, len(account.entries)
        capacity = (
            float(rho_capacity(budget, spent.delta))
            if budget.accounting is Accounting.ZCDP
            else None
        )
        return BudgetStatus(
            project=project, dataset=dataset, budget=budget, spent=spent,
            epsilon_spent=epsilon_spent(budget, spent), rho_capacity=capacity,
            answers_charged=count,
        )

    def charge(self, request: ChargeRequest) -> list[LedgerEntry]:
        """See ``BudgetLedger.charge``."""
        _check_names(request.project, request.datasets)
        datasets = sorted(set(request.datasets))
        with self._lock:
            accounts = [self._account(request.project, name) for name in datasets]
            for name, account in zip(datasets, accounts):
                verdict = check_charge(account.budget, account.spent, request.cost)
                if not verdict.fits:
                    raise BudgetExhaustedError(
                        f"budget of project {request.project} on dataset {name}: "
                        f"{verdict.reason}; nothing was charged",
                        details={"project": request.project, "dataset": name},
                    )
            now = datetime.now(UTC)
            recorded: list[tuple[_Account, Spend, LedgerEntry]] = []
            try:
                for name, account in zip(datasets, accounts):
                    after = account.spent.plus(request.cost)
                    entry = LedgerEntry(
                        entry_id=self._next_id, project=request.project, dataset=name,
                        member=request.member, query_key=request.query_key,
                        description=request.description, cost=request.cost,
                        spent_after=after, at=now,
                    )
                    self._next_id += 1
                    recorded.append((account, account.spent, entry))
                    account.spent = after
                    account.entries.append(entry)
                    if self._on_charge is not None:
                        self._on_charge(entry)
            except BaseException:
                for account, before, entry in recorded:
                    account.spent = before
                    if account.entries and account.entries[-1] is entry:
                        account.entries.pop()
                raise
            return [entry for _, _, entry in recorded]

    def entries(self, project: str, dataset: str | None = None) -> list[LedgerEntry]:
        """See ``BudgetLedger.entries``."""
        with self._lock:
            found = [
                entry
                for (owner, name), account in self._accounts.items()
                if owner == project and (dataset is None or name == dataset)
                for entry in account.entries
            ]
        return sorted(found, key=lambda entry: entry.entry_id)

    def _account(self, project: str, dataset: str) -> _Account:
        account = self._accounts.get((project, dataset))
        if account is None:
            raise NotFoundError(
                f"no DP budget is set for project {project} on dataset {dataset}; "
                "ask the dataset's steward to set one",
                details={"project": project, "dataset": dataset},
            )
        return account


def _check_names(project: str, datasets: Sequence[str]) -> None:
    if not isinstance(project, str) or not project:
        raise InvalidInputError("project must be a non-empty name")
    if isinstance(datasets, str) or not datasets:
        raise InvalidInputError("a charge names at least one dataset")
    for name in datasets:
        if not isinstance(name, str) or not name:
            raise InvalidInputError("dataset names must be non-empty")
