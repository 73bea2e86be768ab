"""Running a Python job action on real data: inputs materialised, the sandbox run, and the
outputs it published checked (threshold, dominance, differencing, regressions), in quarantine.

Owns :func:`run_python_action` and the checks of published outputs that pre-flight reuses
(:func:`check_published`). Nothing here decides release (``countyos.lab.release`` does) and
nothing here may put a data value into an error the submitter sees.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from countyos.errors import PermissionDeniedError
from countyos.hub import Hub
from countyos.lab.actions import JobStopped, QuarantinedOutput, public_summary
from countyos.lab.disclosure import (
    InMemoryReleasedCellStore,
    check_regression,
    check_table,
    entity_hashes,
    record_release,
)
from countyos.lab.job_context import JobContext
from countyos.lab.jobspec import Action, JobBundle
from countyos.lab.released_cells import DatabaseReleasedCellStore
from countyos.lab.sandbox import (
    SandboxLimits,
    load_metrics,
    load_model_summary,
    load_published_table,
    read_manifest,
    run_python_job,
)


def materialise_inputs(hub: Hub, ctx: JobContext, datasets: tuple[str, ...], folder: Path) -> dict[str, Path]:
    """Write the granted columns of each dataset version as one Parquet file for the sandbox."""
    folder.mkdir(parents=True, exist_ok=True)
    inputs = {}
    for name in datasets:
        source = ctx.sources[name]
        table = pads.dataset(list(source.files), format="parquet").to_table(columns=list(source.columns or []))
        path = folder / f"{name}.parquet"
        pq.write_table(table, path)
        inputs[name] = path
    return inputs


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
        store = released if len(released) else None
        return [check_published(ctx, published[name], inputs, store) for name in action.outputs]


def sandbox_venv(hub: Hub) -> Path:
    configured = hub.settings.lab.sandbox_venv
    if configured:
        return configured
    beside_source = Path(__file__).resolve().parents[3] / ".venv-sandbox"
    return beside_source if beside_source.exists() else hub.settings.home / "sandbox-venv"


def _real_entities(inputs: dict[str, Path], column: str) -> pa.Array:
    """The distinct values of ``column`` across the job's real inputs, as text."""
    parts = [pc.cast(pq.read_table(path, columns=[column])[column], pa.string()).combine_chunks()
             for path in inputs.values() if column in pq.read_schema(path).names]
    return pc.unique(pa.concat_arrays(parts)) if parts else pa.array([], pa.string())


def _all_real(claimed: list[pa.Array], real: pa.Array) -> bool:
    """Whether every unit the job published exists in its granted input (no invented units)."""
    if not claimed:
        return True
    units = pc.unique(pc.cast(pa.concat_arrays([a.combine_chunks() if isinstance(a, pa.ChunkedArray)
                                                 else a for a in claimed]), pa.string()))
    return bool(pc.all(pc.is_in(units, value_set=real)).as_py() is not False)


def check_published(ctx: JobContext, output, inputs: dict[str, Path], released) -> QuarantinedOutput:  # type: ignore[no-untyped-def]
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
    entity = output.metadata["entity"]
    real = _real_entities(inputs, entity)
    reports, pending = {}, InMemoryReleasedCellStore()
    masked = published.table
    for column in published.output_columns:
        keys = published.entity_keys(column)
        if not _all_real(list(keys.values()), real):
            raise PermissionDeniedError("the job published entities that are not in its granted data")
        table = published.output_table(column)
        sets = {key: entity_hashes(arr, ctx.secret) for key, arr in keys.items()}
        report = check_table(table, ctx.rules, table_id=f"job{ctx.job_id}/{output.name}/{column}",
                             released=released, entity_sets=sets)
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


def _mask_column(table: pa.Table, by: list[str], column: str, report) -> pa.Table:  # type: ignore[no-untyped-def]
    released = report.released_keys()
    keys = list(zip(*(table[c].to_pylist() for c in by))) if by else [()] * table.num_rows
    keep = np.array([key in released for key in keys], dtype=bool)
    values = pc.if_else(pa.array(keep), table[column], pa.nulls(table.num_rows, table[column].type))
    return table.set_column(table.schema.get_field_index(column), column, values)
