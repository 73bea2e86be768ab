"""The DP budget ledger and answer store in the metadata database.

``DatabaseBudgetLedger`` implements ``countyos.lab.dp.BudgetLedger`` with the same contract as
the in-memory ledger: a charge checks every budget it touches and records them all, or nothing.
Atomicity across processes comes from the database: the charge first *writes* to the budget rows
(a no-op update), which takes PostgreSQL row locks and SQLite's write lock before anything is
read, so two concurrent charges are serialised and neither can overspend. Each entry is appended
to the audit chain in the same transaction.
"""

from __future__ import annotations

import pickle
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from countyos import audit
from countyos.db import Database
from countyos.db.dp_models import DPBudget, DPLedgerEntry, DPStoredAnswer
from countyos.errors import ConflictError, NotFoundError
from countyos.lab.dp import (
    Budget,
    BudgetExhaustedError,
    BudgetStatus,
    ChargeRequest,
    DPAnswer,
    InMemoryAnswerCache,
    LedgerEntry,
    Spend,
    check_charge,
)
from countyos.lab.dp.accounting import epsilon_spent, rho_capacity
from countyos.lab.dp.params import Accounting, PrivacyCost


def _budget(row: DPBudget) -> Budget:
    return Budget(Accounting(row.accounting), Decimal(row.epsilon), Decimal(row.delta))


def _spend(row: DPBudget) -> Spend:
    return Spend(Decimal(row.spent_epsilon), Decimal(row.spent_rho), Decimal(row.spent_delta))


def _cost(data: dict) -> PrivacyCost:
    return PrivacyCost(Accounting(data["accounting"]), Decimal(data["epsilon"]),
                       Decimal(data["rho"]), Decimal(data["delta"]))


def _missing(project: str, dataset: str) -> NotFoundError:
    return NotFoundError(
        f"no DP budget is set for project {project} on dataset {dataset}; "
        "ask the dataset's steward to set one", details={"project": project, "dataset": dataset})


class DatabaseBudgetLedger:
    """Budgets per (project, dataset) and their charges, in the metadata DB."""

    def __init__(self, db: Database, *, actor: str = "lab-dp") -> None:
        self._db = db
        self._actor = actor

    def set_budget(self, project: str, dataset: str, budget: Budget, *, steward: str) -> None:
        with self._db.session() as session:
            row = session.execute(select(DPBudget).where(
                DPBudget.project == project, DPBudget.dataset == dataset)).scalar_one_or_none()
            if row is None:
                row = DPBudget(project=project, dataset=dataset, set_by=steward)
                session.add(row)
            elif row.accounting != budget.accounting.value and row.answers_charged:
                raise ConflictError(
                    f"the budget of project {project} on dataset {dataset} already has charges in "
                    f"{row.accounting} accounting; it cannot switch to {budget.accounting.value}")
            row.accounting, row.epsilon = budget.accounting.value, str(budget.epsilon)
            row.delta, row.set_by, row.updated_at = str(budget.delta), steward, datetime.now(UTC)
            session.flush()
            audit.append(session, actor=steward, action="lab.dp_budget_set",
                         target=f"project:{project}",
                         details={"dataset": dataset, "budget": budget.to_dict()})

    def _row(self, session, project: str, dataset: str) -> DPBudget:  # type: ignore[no-untyped-def]
        row = session.execute(select(DPBudget).where(
            DPBudget.project == project, DPBudget.dataset == dataset)).scalar_one_or_none()
        if row is None:
            raise _missing(project, dataset)
        return row

    def budget(self, project: str, dataset: str) -> Budget:
        with self._db.session() as session:
            return _budget(self._row(session, project, dataset))

    def status(self, project: str, dataset: str) -> BudgetStatus:
        with self._db.session() as session:
            row = self._row(session, project, dataset)
            budget, spent, count = _budget(row), _spend(row), row.answers_charged
        capacity = (float(rho_capacity(budget, spent.delta))
                    if budget.accounting is Accounting.ZCDP else None)
        return BudgetStatus(project=project, dataset=dataset, budget=budget, spent=spent,
                            epsilon_spent=epsilon_spent(budget, spent), rho_capacity=capacity,
                            answers_charged=count)

    def charge(self, request: ChargeRequest) -> list[LedgerEntry]:
        datasets = sorted(set(request.datasets))
        with self._db.session() as session:
            # write first: takes the locks before the budgets are read (see module docstring)
            session.execute(
                update(DPBudget).where(DPBudget.project == request.project,
                                       DPBudget.dataset.in_(datasets))
                .values(answers_charged=DPBudget.answers_charged))
            rows = {r.dataset: r for r in session.execute(
                select(DPBudget).where(DPBudget.project == request.project,
                                       DPBudget.dataset.in_(datasets))
                .with_for_update()).scalars()}
            for name in datasets:
                if name not in rows:
                    raise _missing(request.project, name)
            for name in datasets:
                verdict = check_charge(_budget(rows[name]), _spend(rows[name]), request.cost)
                if not verdict.fits:
                    raise BudgetExhaustedError(
                        f"budget of project {request.project} on dataset {name}: "
                        f"{verdict.reason}; nothing was charged",
                        details={"project": request.project, "dataset": name})
            entries = []
            now = datetime.now(UTC)
            for name in datasets:
                row = rows[name]
                after = _spend(row).plus(request.cost)
                row.spent_epsilon, row.spent_rho = str(after.epsilon), str(after.rho)
                row.spent_delta = str(after.delta)
                row.answers_charged += 1
                record = DPLedgerEntry(project=request.project, dataset=name, member=request.member,
                                       query_key=request.query_key,
                                       description=request.description,
                                       cost=request.cost.to_dict(), spent_after=after.to_dict(),
                                       at=now)
                session.add(record)
                session.flush()
                entry = LedgerEntry(entry_id=record.id, project=request.project, dataset=name,
                                    member=request.member, query_key=request.query_key,
                                    description=request.description, cost=request.cost,
                                    spent_after=after, at=now)
                audit.append(session, actor=request.member, action="lab.dp_charge",
                             target=f"project:{request.project}", details=entry.to_dict())
                entries.append(entry)
            return entries

    def entries(self, project: str, dataset: str | None = None) -> list[LedgerEntry]:
        with self._db.session() as session:
            query = select(DPLedgerEntry).where(DPLedgerEntry.project == project)
            if dataset is not None:
                query = query.where(DPLedgerEntry.dataset == dataset)
            rows = session.execute(query.order_by(DPLedgerEntry.id)).scalars().all()
            return [LedgerEntry(entry_id=r.id, project=r.project, dataset=r.dataset,
                                member=r.member, query_key=r.query_key, description=r.description,
                                cost=_cost(r.cost),
                                spent_after=Spend(Decimal(r.spent_after["epsilon"]),
                                                  Decimal(r.spent_after["rho"]),
                                                  Decimal(r.spent_after["delta"])),
                                at=r.at) for r in rows]


# One lock per query key within this process (the per-key locking of the in-memory store).
_KEY_LOCKS = InMemoryAnswerCache()


class DatabaseAnswerCache:
    """Answers already paid for, in the metadata DB; a repeat returns them without a charge."""

    def __init__(self, db: Database, *, project: str) -> None:
        self._db = db
        self._project = project

    def get(self, key: str) -> DPAnswer | None:
        with self._db.session() as session:
            row = session.execute(select(DPStoredAnswer).where(DPStoredAnswer.query_key == key)).scalar_one_or_none()
            # the answers are written only by this module, inside the domain's own database
            return pickle.loads(row.payload) if row is not None else None  # noqa: S301

    def put(self, key: str, answer: DPAnswer) -> None:
        try:
            with self._db.session() as session:
                session.add(DPStoredAnswer(query_key=key, project=self._project,
                                           answer=answer.to_dict(), payload=pickle.dumps(answer)))
        except IntegrityError:
            pass  # the first answer stored for a key wins

    def reserve(self, key: str) -> AbstractContextManager[None]:
        return _KEY_LOCKS.reserve(key)
