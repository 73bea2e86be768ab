"""Lab benchmarks: job turnaround, checked-SQL overhead, twin generation beside smartnoise MST.

    python benchmarks/lab/run.py            # full run: Demo County F = 1, 20 jobs of each kind
    python benchmarks/lab/run.py --quick    # smoke run: F = 0.02, 3 jobs, small twin, same code

Cases (../shared/BENCHMARKS.md shape, written to results/lab.json and README.md); every part runs
in a fresh process against the benchmark's own Demo County (benchmarks/.data/lab/home-F<F>,
reinstalled per run):

- ``turnaround_sql``, ``turnaround_python``: seconds from ``submit_job`` returning to the job
  being ``released`` (p50 and p95 over the jobs, after one warm-up job of each kind), with a real
  worker in a separate process (``python -m countyos worker``, ``COUNTYOS_LAB__WORKER_POLL_S`` =
  0.05) polling the queue, and the driver polling the job's status every 10 ms. SQL: a GROUP BY
  over ``population_registry``; Python: the same count as a script in the bubblewrap sandbox.
  Each job cuts at another birth year, so each has its own hash (no fast path, no cache).
- ``checked_sql_overhead_<query>``: ``plan_checked_query`` + ``run_checked_query`` as the worker
  runs them (entity sets, differencing against a store holding one earlier release) beside the
  same SQL in a plain DuckDB connection on the same Parquet files, alternating, medians; a
  diagnostic row without entity sets and differencing.
- ``twin_1M``: ``TwinBuilder`` rows/s and fidelity on a 9-column resident table (1M rows at F = 1)
  beside smartnoise-synth's MST (ε = 3, its own venv benchmarks/.venv-smartnoise-synth, created
  on first use), both scored by ``countyos.lab.twins.fidelity_report``. If MST cannot finish all
  rows within ``--mst-timeout`` seconds it runs on a seeded subsample, and CountyOS is scored on
  the same subsample for the fidelity rows.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from common import (  # noqa: E402
    DATA,
    ensure_mst_venv,
    ensure_sandbox_venv,
    fresh_home,
    mst_version,
    run_child,
)
from report import median, row, write_results  # noqa: E402

EPSILON = 3.0
BARE = "duckdb direct on the same Parquet files"


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[94] if len(values) > 1 else values[0]


def turnaround_rows(result: dict, label: str) -> list[dict]:
    rows = []
    for kind, limit, what in (("sql", 2, "GROUP BY SQL job (checked planner, disclosure checks, "
                                         "release)"),
                              ("python", 5, "Python job in the bubblewrap sandbox (inputs "
                                            "materialised, run, published table checked, release)")):
        jobs = result[kind]
        seconds = [j["turnaround_s"] for j in jobs]
        note = (f"{len(jobs)} distinct jobs at {label}, one at a time, after a warm-up job; {what}; "
                f"median queue wait {median([j['queue_s'] for j in jobs]):.3f} s, median worker "
                f"run {median([j['run_s'] for j in jobs]):.2f} s, median submit_job call "
                f"{median([j['submit_s'] for j in jobs]):.3f} s (not counted)")
        rows.append(row(f"turnaround_{kind}", "p50_s", "lower", median(seconds), runs=seconds,
                        target=f"countyos < {limit}", note=note))
        rows.append(row(f"turnaround_{kind}", "p95_s", "lower", p95(seconds), runs=seconds,
                        target=f"countyos < {limit}"))
    return rows


def checked_rows(result: dict) -> list[dict]:
    rows = []
    for key, timing in result["timings"].items():
        bare = median(timing["bare"])
        rows.append(row(
            f"checked_sql_overhead_{key}", "latency_s", "lower", median(timing["checked"]),
            runs=timing["checked"], comparator=BARE, comparator_value=bare,
            comparator_runs=timing["bare"], target="ratio >= 0.5",
            note=f"the worker's path: plan + rewritten query on the hub engine + entity sets + "
                 f"disclosure checks + differencing against {timing['released_cells_in_store']} "
                 f"released cells; {timing['cells']} cells; ratio ≥ 0.5 ⇔ overhead ≤ 2×"))
        rows.append(row(
            f"checked_sql_overhead_{key}", "latency_s_without_entity_sets", "lower",
            median(timing["checked_no_sets"]), runs=timing["checked_no_sets"], comparator=BARE,
            comparator_value=bare, comparator_runs=timing["bare"], target="ratio >= 0.5"))
    return rows


def run_mst(python: Path, table: Path, sample: Path, timeout: float | None) -> tuple[dict, Path, str]:
    """MST on every row if it finishes within ``timeout``; else on the subsample."""
    out = DATA / "mst_twin.parquet"
    args = [str(table), str(out), repr(EPSILON)]
    if timeout is not None:
        try:
            return (run_child(args, python=str(python), script=HERE / "mst_worker.py",
                              timeout=timeout), table, "")
        except subprocess.TimeoutExpired:
            why = f"MST did not finish all rows within {timeout:.0f} s (stopped)"
            print(why + "; running it on the subsample", flush=True)
    else:
        why = "quick run"
    args[0] = str(sample)
    return run_child(args, python=str(python), script=HERE / "mst_worker.py"), sample, why


def twin_rows(full: Path, sample: Path, label: str, runs: int,
              mst_timeout: float | None) -> list[dict]:
    ours = run_child(["twin-countyos", "--table", str(full), "--runs", str(runs),
                      "--out", str(DATA / "countyos_twin.parquet")])
    python = ensure_mst_venv()
    comparator = f"smartnoise-synth {mst_version(python)} MST (ε = {EPSILON:g})"
    print("MST …", flush=True)
    theirs, trained_on, why = run_mst(python, full, sample, mst_timeout)
    their_fidelity = run_child(["twin-fidelity", "--real", str(trained_on),
                                "--twin", str(DATA / "mst_twin.parquet")])
    if trained_on == full:
        same, scope = ours, f"all {ours['rows']:,} rows"
    else:
        same = run_child(["twin-countyos", "--table", str(trained_on), "--runs", "1",
                          "--out", str(DATA / "countyos_twin_sample.parquet")])
        scope = (f"MST on a seeded subsample of {theirs['rows']:,} rows ({why}); CountyOS "
                 f"fidelity here is on that subsample too (on all {ours['rows']:,} rows: mean "
                 f"column distance {ours['mean_column_distance']:.4f}, association "
                 f"{ours['association_mean_abs_diff']:.4f})")
    mst_rate = theirs["rows"] / (theirs["fit_s"] + theirs["sample_s"])
    rows = [row(
        f"twin_{label}", "rows_per_s", "higher", median(ours["rows_per_s"]),
        runs=ours["rows_per_s"], comparator=comparator, comparator_value=mst_rate,
        target="ratio >= 1",
        note=f"CountyOS: TwinBuilder.add (fit + sample) on {ours['rows']:,} rows × 9 columns, "
             f"median of {runs}; MST: fit (its transformer, measurements, PGM estimation) + sample on "
             f"{theirs['rows']:,} rows, one run ({theirs['fit_s']:.0f} s + "
             f"{theirs['sample_s']:.0f} s). CountyOS twins are not DP; MST is (ε = "
             f"{theirs['epsilon_left']:g} all to MST: bin bounds given as public knowledge, 10 "
             f"equal-width bins per number and 20 per date, values back as bin midpoints)")]
    for metric in ("mean_column_distance", "association_mean_abs_diff"):
        rows.append(row(f"twin_{label}", metric, "lower", same[metric], comparator=comparator,
                        comparator_value=their_fidelity[metric], target="ratio >= 1",
                        note=f"fidelity_report on {scope}" if metric == "mean_column_distance"
                        else f"per-column distances, CountyOS: {same['columns']} / "
                             f"MST: {their_fidelity['columns']}"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="F = 0.02, 3 jobs, small twin")
    parser.add_argument("--mst-timeout", type=float, default=600,
                        help="seconds MST may take on all rows before the subsample is used")
    args = parser.parse_args()
    started = time.time()
    load_before = os.getloadavg()[1]
    scale, jobs, runs, twin_runs = (0.02, 3, 3, 1) if args.quick else (1.0, 20, 7, 3)
    sample_rows = 2_000 if args.quick else 50_000
    label = f"F = {scale:g}"
    DATA.mkdir(parents=True, exist_ok=True)
    sandbox = ensure_sandbox_venv()
    print(f"installing the Demo County at F = {scale:g} …", flush=True)
    home = fresh_home(scale)
    rows: list[dict] = []
    print("turnaround …", flush=True)
    keys = "township_code,sex" if scale >= 0.5 else "sex"   # cells stay well above threshold
    turn = run_child(["turnaround", "--home", str(home), "--sandbox-venv", str(sandbox),
                      "--jobs", str(jobs), "--keys", keys, "--tag", str(int(started))])
    rows += turnaround_rows(turn, label)
    print("checked SQL …", flush=True)
    checked = run_child(["checked-sql", "--home", str(home), "--runs", str(runs)])
    rows += checked_rows(checked)
    print("twins …", flush=True)
    full, sample = DATA / "twin_table.parquet", DATA / "twin_table_sample.parquet"
    table = run_child(["twin-table", "--home", str(home), "--out", str(full),
                       "--sample", str(sample_rows), "--sample-out", str(sample)])
    count = table["rows"]
    twin_label = f"{count // 1_000_000}M" if count >= 1_000_000 else f"{count // 1000}k"
    rows += twin_rows(full, sample, twin_label, twin_runs, None if args.quick else args.mst_timeout)
    data_rows = ", ".join(f"{name} {count:,}" for name, count in checked["rows"].items())
    notes = (
        f"Demo County at F = {scale:g} ({data_rows} rows), installed fresh for the run. "
        f"Turnaround: real worker process (poll 0.05 s), driver polls every 0.01 s; the worker "
        f"built the project's twin of population_registry in {turn['twin_build_s']:.1f} s before "
        f"the first job. Checked SQL: medians of {runs} alternating runs after a warm-up; rows "
        f"`latency_s_without_entity_sets` are a diagnostic, not a path the worker takes "
        f"(entity_sets=False, no released-cell store: no differencing, nothing recordable). "
        f"Twins: CountyOS twins are not differentially private; smartnoise-synth MST is "
        f"(ε = {EPSILON:g}); both scored by countyos.lab.twins.fidelity_report against the rows "
        f"they learnt from. Run took {time.time() - started:.0f} s; 5-minute load average "
        f"{load_before:.1f} at the start and {os.getloadavg()[1]:.1f} at the end (the 2 cores are "
        f"shared with other work, so absolute times drift)."
    )
    command = "python benchmarks/lab/run.py" + (" --quick" if args.quick else "")
    path = write_results("lab", rows, command, notes=notes)
    print(path.read_text())


if __name__ == "__main__":
    main()
