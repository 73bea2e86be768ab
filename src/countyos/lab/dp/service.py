"""The one entry point of DP answering: SQL in, a charged, noisy, cached answer out.

Owns the order of the steps and what each guarantees:

1. plan (refuse unsupported SQL with its reason; nothing is charged for a refused query);
2. read the budgets of the datasets read (all must use the same accounting) and check the
   parameters; design and calibrate the OpenDP measurements (public inputs only);
3. under the query key's lock: return the stored answer if this exact query (same project,
   SQL, dataset versions, metadata and parameters) was answered before — no new charge;
4. compute the exact bounded aggregates in the engine (nothing is released); the bounding
   step is left out only where ``entities`` proves it is the identity for these data files;
5. charge the budget atomically (``BudgetLedger.charge``), refusing an exhausted budget;
6. add OpenDP noise, assemble values with 95% accuracy, store and return the answer.

Must not know about HTTP, users' roles or the database: the lead's API layer checks that the
member may query the project's ``dp`` grant and passes the ledger and cache it backs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pyarrow as pa

from countyos.engine import TableSource
from countyos.errors import InvalidInputError, QueryRefusedError
from countyos.lab.dp.answer import DPAnswer
from countyos.lab.dp.budget import BudgetLedger, ChargeRequest
from countyos.lab.dp.cache import AnswerCache, InMemoryAnswerCache, dataset_version, query_key
from countyos.lab.dp.design import Design, design_query
from countyos.lab.dp.entities import ranked_sources, skip_identity_bounding
from countyos.lab.dp.metadata import TableMetadata, check_metadata
from countyos.lab.dp.params import Accounting, PrivacyParams, cost_of
from countyos.lab.dp.plan import QueryPlan
from countyos.lab.dp.planner import plan_query
from countyos.lab.dp.release import collect, release

#: Runs trusted SQL over the granted tables (``runner.EngineRunner`` is the default kind).
Runner = Callable[[str, Mapping[str, TableSource]], pa.Table]

_DEFAULT_CACHE = InMemoryAnswerCache()


@dataclass(frozen=True)
class QueryContext:
    """Who asks, and which versions of the datasets they query.

    Attributes:
        project: the project whose budget is charged.
        member: the project member asking (recorded in the ledger).
        dataset_versions: dataset name → version id; ``None`` derives a fingerprint from the
            table sources' data files.
    """

    project: str
    member: str
    dataset_versions: Mapping[str, str] | None = None


@dataclass(frozen=True)
class PreparedQuery:
    """A planned and calibrated query: everything known before touching data."""

    plan: QueryPlan
    params: PrivacyParams
    accounting: Accounting
    design: Design


def prepare_query(
    sql: str,
    *,
    context: QueryContext,
    metadata: Mapping[str, TableMetadata],
    budget: BudgetLedger,
    privacy: PrivacyParams,
) -> PreparedQuery:
    """Plan and calibrate a query without reading data or charging anything.

    Raises:
        QueryRefusedError: unsupported SQL, mixed accounting, or key selection without δ.
        NotFoundError: a table without DP metadata or a dataset without a budget.
        InvalidInputError: bad privacy parameters.
    """
    if not isinstance(privacy, PrivacyParams):
        raise InvalidInputError("privacy must be PrivacyParams")
    checked_metadata = check_metadata(metadata)
    plan = plan_query(sql, checked_metadata, max_contributions=privacy.max_contributions)
    budgets = {name: budget.budget(context.project, name) for name in plan.tables}
    modes = {b.accounting for b in budgets.values()}
    if len(modes) > 1:
        raise QueryRefusedError(
            "the datasets of this query have budgets with different accounting (pure ε and "
            "zCDP); ask the steward to align them or query them separately"
        )
    accounting = modes.pop()
    params = privacy.checked(accounting)
    design = design_query(plan, params, accounting)
    return PreparedQuery(plan, params, accounting, design)


def answer_query(
    sql: str,
    *,
    context: QueryContext,
    tables: Mapping[str, TableSource],
    metadata: Mapping[str, TableMetadata],
    budget: BudgetLedger,
    privacy: PrivacyParams,
    run: Runner,
    cache: AnswerCache | None = None,
) -> DPAnswer:
    """Answer one SQL aggregate query with differential privacy, charged to the budget.

    Args:
        sql: the developer's SELECT (DuckDB dialect).
        context: project, member and dataset versions.
        tables: the granted table sources by name.
        metadata: DP metadata of the granted tables by name.
        budget: the ledger to charge.
        privacy: what the query may spend.
        run: executes trusted SQL over ``tables`` (e.g. ``EngineRunner(engine)``).
        cache: stored answers; ``None`` uses a process-wide in-memory store.

    Returns:
        The answer; ``from_cache`` is true when a stored answer was returned without charge.

    Raises:
        QueryRefusedError: unsupported SQL or parameters (nothing charged).
        BudgetExhaustedError: the budget cannot cover the query (nothing charged).
        NotFoundError: no metadata, table source or budget for a dataset read.
        InvalidInputError, TooLargeError: bad parameters, or the engine refused the work.
    """
    prepared = prepare_query(
        sql, context=context, metadata=metadata, budget=budget, privacy=privacy
    )
    plan = prepared.plan
    store = cache if cache is not None else _DEFAULT_CACHE
    granted = {name.lower(): source for name, source in tables.items()}
    versions = {}
    for name in plan.tables:
        given = (context.dataset_versions or {}).get(name)
        if given is not None:
            versions[name] = str(given)
        elif name in granted:
            versions[name] = dataset_version(granted[name])
        else:
            versions[name] = "unknown"
    checked = check_metadata(metadata)
    read_metadata = {name: checked[name] for name in plan.tables}
    key = query_key(
        project=context.project, canonical_sql=plan.canonical_sql, versions=versions,
        metadata=read_metadata, params=prepared.params, accounting=prepared.accounting,
        max_contributions=plan.max_contributions,
    )
    with store.reserve(key):
        stored = store.get(key)
        if stored is not None:
            return stored.as_repeat()

        first = plan.tables[0]
        entity_key = read_metadata[first].entity_key
        read = {name: granted[name] for name in plan.tables if name in granted}

        def on(sources: Mapping[str, TableSource]) -> Callable[[str], pa.Table]:
            return lambda text: run(text, sources)

        # the profile reads the files as granted; the aggregates the resident (ranked) tables
        executed = skip_identity_bounding(
            plan, read.get(first) if plan.single_table else None, entity_key, on(read),
        )
        executed, resident = ranked_sources(executed, read, entity_key)
        exact = collect(executed, prepared.design, on(resident))
        cost = cost_of(prepared.params, prepared.accounting,
                       uses_delta=prepared.design.keys is not None)
        budget.charge(ChargeRequest(
            project=context.project, datasets=plan.tables, cost=cost, member=context.member,
            query_key=key, description=plan.canonical_sql,
        ))
        rows, accuracy, records = release(plan, prepared.design, exact)
        answer = DPAnswer(
            columns=tuple(output.name for output in plan.outputs),
            rows=tuple(rows),
            accuracy=tuple(accuracy),
            cost=cost,
            mechanisms=tuple(records),
            query_key=key,
            sql=plan.canonical_sql,
            max_contributions=plan.max_contributions,
            key_origins=tuple(f"{k.name}: {k.origin}" for k in plan.keys),
        )
        store.put(key, answer)
    return answer
