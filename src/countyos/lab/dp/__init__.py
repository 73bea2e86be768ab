"""Differential privacy for the lab's ``dp`` grant mode: SQL aggregates, budgets, accuracy.

Owns answering aggregate SQL (COUNT, COUNT(DISTINCT entity), SUM, AVG, quantiles, histograms,
GROUP BY, WHERE, JOINs on the entity key) with differential privacy: contribution bounding and
exact aggregation inside DuckDB, noise and accounting from OpenDP (no home-made noise), budgets
per (project, dataset) charged atomically, answers stored so repeats are free, each value with
its 95% accuracy, and accuracy planning before spending. Must not know about HTTP, roles or the
metadata database: the lab's API layer passes a ``BudgetLedger`` and an ``AnswerCache``.

Typical use::

    ledger = InMemoryBudgetLedger()
    ledger.set_budget("proj-1", "people", Budget("pure", epsilon=3, delta=1e-6), steward="li")
    answer = answer_query(
        "SELECT township, COUNT(*) AS n, AVG(income) AS income FROM people GROUP BY township",
        context=QueryContext(project="proj-1", member="wang"),
        tables={"people": TableSource("people", files)},
        metadata={"people": people_metadata},
        budget=ledger,
        privacy=PrivacyParams(epsilon=0.5),
        run=EngineRunner(engine),
    )
"""

from countyos.lab.dp.accounting import Budget, Spend, check_charge, epsilon_from_rho
from countyos.lab.dp.accuracy import (
    AccuracyTarget,
    BudgetPlan,
    ColumnAccuracy,
    plan_budget,
    preview_accuracy,
)
from countyos.lab.dp.answer import DPAnswer, ValueAccuracy
from countyos.lab.dp.budget import (
    BudgetExhaustedError,
    BudgetLedger,
    BudgetStatus,
    ChargeRequest,
    InMemoryBudgetLedger,
    LedgerEntry,
)
from countyos.lab.dp.cache import AnswerCache, InMemoryAnswerCache, query_key
from countyos.lab.dp.mechanisms import MechanismRecord
from countyos.lab.dp.metadata import ColumnKind, ColumnMetadata, TableMetadata
from countyos.lab.dp.params import Accounting, PrivacyCost, PrivacyParams
from countyos.lab.dp.planner import plan_query
from countyos.lab.dp.runner import EngineRunner
from countyos.lab.dp.service import QueryContext, answer_query, prepare_query

__all__ = [
    "AccuracyTarget", "Accounting", "AnswerCache", "Budget", "BudgetExhaustedError",
    "BudgetLedger", "BudgetPlan", "BudgetStatus", "ChargeRequest", "ColumnAccuracy",
    "ColumnKind", "ColumnMetadata", "DPAnswer", "EngineRunner", "InMemoryAnswerCache",
    "InMemoryBudgetLedger", "LedgerEntry", "MechanismRecord", "PrivacyCost", "PrivacyParams",
    "QueryContext", "Spend", "TableMetadata", "ValueAccuracy", "answer_query", "check_charge",
    "epsilon_from_rho", "plan_budget", "plan_query", "prepare_query", "preview_accuracy",
    "query_key",
]
