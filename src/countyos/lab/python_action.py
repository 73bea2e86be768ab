"""Running a Python job action on real data: inputs materialised, the sandbox run, and the
outputs it published checked (threshold, dominance, differencing, regressions), in quarantine.

Owns :func:`run_python_action` and the checks of published outputs that pre-flight reuses
(:func:`check_published`). Nothing here decides release (``countyos.lab.release`` does) and
nothing here may put a data value into an error the submitter sees.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from countyos.errors import PermissionDeniedError
from countyos.hub import Hub
from countyos.lab.actions import JobStopped, QuarantinedOutput, public_summary
from countyos.lab.checked_sql.recipes import materialise_recipe
from countyos.lab.disclosure import (
    InMemoryReleasedCellStore,
    check_regression,
    check_table,
    record_release,
)
from countyos.lab.disclosure.released_focus import Materialise
from countyos.lab.job_context import JobContext
from countyos.lab.jobspec import Action, JobBundle
from countyos.lab.released_cells import DatabaseReleasedCellStore, comparison_store
from countyos.lab.sandbox import (
    SandboxLimits,
    load_metrics,
    load_model_summary,
    load_published_table,
    read_manifest,
    run_python_job,
)
from countyos.lab.sandbox.input_cache import job_input
from countyos.lab.sandbox.published_units import cell_entity_sets, unit_hashes


def materialise_inputs(hub: Hub, ctx: JobContext, datasets: tuple[str, ...], folder: Path) -> dict[str, Path]:
    """The granted columns of each dataset version as one Parquet file for the sandbox.

    Written once per (version files, granted columns) into the lab's input cache and linked
    into ``folder`` for this job (see ``countyos.lab.sandbox.input_cache``).
    """
    inputs = {}
    for name in datasets:
        source = ctx.sources[name]
        inputs[name] = job_input(input_cache_dir(hub), folder, name, source.files,
                                 list(source.columns or []))
    return inputs


def input_cache_dir(hub: Hub) -> Path:
    """Where materialised job inputs are cached (trusted zone, mode 0700)."""
    return hub.settings.lab_private_dir / "input-cache"


def run_python_action(hub: Hub, ctx: JobContext, bundle: JobBundle, action: Action) -> list[QuarantinedOutput]:
    workdir = hub.settings.lab_private_dir / "sandbox" / f"job{ctx.job_id}-{action.name}"
    script = workdir / "job.py"
    workdir.mkdir(parents=True, exist_ok=True)
    script.write_bytes(bundle.files[action.script or ""])
    inputs = materialise_inputs(hub, ctx, action.reads, workdir / "inputs")
    out = workdir / "out"
    cfg = hub.settings.lab
    limits = SandboxLimits(cpu_seconds=cfg.job_cpu_seconds, memory_bytes=cfg.job_memory_bytes,
                           max_processes=cfg.job_max_processes, output_bytes=cfg.job_output_bytes,
                           wall_seconds=cfg.job_wall_seconds)
    result = run_python_job(script=script, inputs=inputs, output_dir=out, limits=limits,
                            venv=sandbox_venv(hub), workdir=workdir)
    if not result.succeeded:
        raise JobStopped(result.error_class or (result.reason or "Failed").title(),
                         f"the job did not finish: {result.reason or result.status}")
    published = {o.name: o for o in read_manifest(out)}
    missing = [n for n in action.outputs if n not in published]
    if missing:
        raise JobStopped("MissingOutput", f"declared outputs were not published: {', '.join(missing)}")
    with hub.db.session() as session:
        released = DatabaseReleasedCellStore(session, ctx.project_id)
        materialise = functools.partial(materialise_recipe, engine=hub.engine, secret=ctx.secret,
                                        limits=hub.query_limits())
        return [check_published(ctx, published[name], inputs, released, materialise=materialise)
                for name in action.outputs]


def sandbox_venv(hub: Hub) -> Path:
    configured = hub.settings.lab.sandbox_venv
    if configured:
        return configured
    beside_source = Path(__file__).resolve().parents[3] / ".venv-sandbox"
    return beside_source if beside_source.exists() else hub.settings.home / "sandbox-venv"


def check_published(  # type: ignore[no-untyped-def]
    ctx: JobContext, output, inputs: dict[str, Path], released, *,
    materialise: Materialise | None = None,
) -> QuarantinedOutput:
    """Check one published output; tables are compared with ``released`` (None: no store).

    ``materialise`` recomputes the sets of released cells that were recorded deferred (SQL
    releases, see ``countyos.lab.disclosure.differencing_focus``).
    """
    path = ctx.output_dir / f"{output.name}.parquet"
    if output.kind == "metrics":
        facts = load_metrics(output)
        ok = facts["n_entities"] >= ctx.rules.threshold
        pq.write_table(pa.table({k: [v] for k, v in facts["metrics"].items()}), path)
        return QuarantinedOutput(output.name, "metrics", path, {"kind": "metrics", **facts,
                                 "threshold_ok": ok}, {"rows": 1}, clean=ok)
    if output.kind == "model_summary":
        facts = load_model_summary(output)
        check = check_regression(facts["residual_df"])
        pq.write_table(pa.table({"parameter": list(facts["params"]),
                                 "estimate": list(facts["params"].values())}), path)
        return QuarantinedOutput(output.name, "model_summary", path,
                                 {"kind": "model_summary", **facts, "check": check.status},
                                 {"rows": len(facts["params"])}, clean=bool(check.passed))
    published = load_published_table(output)
    _require_entity_key(ctx, published.output.metadata.get("entity"), inputs)
    hashes = unit_hashes(published, inputs, ctx.secret)  # refuses units not in the real inputs
    reports, pending = {}, InMemoryReleasedCellStore()
    masked = published.table
    for column in published.output_columns:
        table = published.output_table(column)
        sets = cell_entity_sets(published, column, hashes)
        compare = comparison_store(released, sets, ctx.rules.threshold, materialise=materialise)
        report = check_table(table, ctx.rules, table_id=f"job{ctx.job_id}/{output.name}/{column}",
                             released=compare, entity_sets=sets)
        record_release(pending, report, table, sets)
        reports[column] = report
        masked = _mask_column(masked, published.by, column, report)
    pq.write_table(masked, path)
    clean = all(r.overall == "pass" for r in reports.values())
    return QuarantinedOutput(
        output.name, output.kind, path,
        {"kind": "python_" + output.kind, "columns": {c: r.to_dict() for c, r in reports.items()}},
        public_summary(reports.values(), masked.num_rows), clean=clean,
        must_review=output.kind == "figure", pending_cells=pending.to_bytes())


def _require_entity_key(ctx: JobContext, entity: object, inputs: dict[str, Path]) -> None:
    """A published table counts units of a dataset's entity key, never of another column (a
    column with several values per person, e.g. a visit id, would let one person pass for ten)."""
    keys = {ctx.policies[name].entity_key for name in inputs if name in ctx.policies}
    if entity not in keys:
        raise PermissionDeniedError(
            "publish_table(entity=…) must name the entity key of a dataset the job reads: "
            + ", ".join(sorted(keys)))


def _mask_column(table: pa.Table, by: list[str], column: str, report) -> pa.Table:  # type: ignore[no-untyped-def]
    released = report.released_keys()
    keys = list(zip(*(table[c].to_pylist() for c in by))) if by else [()] * table.num_rows
    keep = np.array([key in released for key in keys], dtype=bool)
    values = pc.if_else(pa.array(keep), table[column], pa.nulls(table.num_rows, table[column].type))
    return table.set_column(table.schema.get_field_index(column), column, values)
