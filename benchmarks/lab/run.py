"""Lab benchmarks: job turnaround, checked-SQL overhead, twin generation beside smartnoise MST.

    python benchmarks/lab/run.py            # full run: Demo County F = 1, 20 jobs of each kind
    python benchmarks/lab/run.py --quick    # smoke run: F = 0.02, 3 jobs, small twin, same code
    python benchmarks/lab/run.py --only turnaround   # one part; other parts' rows are kept

Cases (../shared/BENCHMARKS.md shape, written to results/lab.json and README.md); every part runs
in a fresh process against the benchmark's own Demo County (benchmarks/.data/lab/home-F<F>,
reinstalled per run):

- ``turnaround_sql``, ``turnaround_python``: seconds from ``submit_job`` returning to the job
  being ``released`` (p50 and p95 over the jobs, after one warm-up job of each kind), with a real
  worker in a separate process (``python -m countyos worker``, ``COUNTYOS_LAB__WORKER_POLL_S`` =
  0.05) polling the queue, and the driver polling the job's status every 10 ms. SQL: a GROUP BY
  over ``population_registry``; Python: the same count as a script in the bubblewrap sandbox.
  Each job cuts at another birth year, so each has its own hash (no fast path, no result
  cache); the Python jobs reuse the input cache and real-unit hashes the warm-up job made.
- ``checked_sql_overhead_<query>``: ``plan_checked_query`` + ``run_checked_query`` as the worker
  runs them (policies from the grant and the version profile, differencing against the
  project's released cells) beside the same SQL in a plain DuckDB connection on the same Parquet
  files, alternating, medians: ``latency_s`` in a project that released the query before,
  ``latency_s_first_release`` in a project with nothing released; the worst case (every cell one
  unit away from a released one, so every unit is hashed) is in the note.
- ``twin_1M``: ``TwinBuilder`` rows/s and fidelity on a 9-column resident table (1M rows at F = 1)
  beside smartnoise-synth's MST (ε = 3, its own venv benchmarks/.venv-smartnoise-synth, created
  on first use), both scored by ``countyos.lab.twins.fidelity_report``. If MST cannot finish all
  rows within ``--mst-timeout`` seconds it runs on a seeded subsample, and CountyOS is scored on
  the same subsample for the fidelity rows.

``--only turnaround`` (or ``checked-sql``, ``twins``, comma-separated) runs only those parts and
keeps the other parts' rows and notes from the existing results/lab.json.
"""

from __future__ import annotations

import argparse
import json
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
                              ("python", 5, "Python job in the bubblewrap sandbox (granted "
                                            "input linked from the cache, run, published table "
                                            "checked, release)")):
        jobs = result[kind]
        seconds = [j["turnaround_s"] for j in jobs]
        warm = result.get("warmup", {}).get(kind)
        warm_text = (f" (the warm-up job, not counted, took {warm['turnaround_s']:.2f} s"
                     + ("; it wrote the input cache and hashed the real units" if kind == "python"
                        else "") + ")") if warm else ""
        note = (f"{len(jobs)} distinct jobs at {label}, one at a time, after a warm-up "
                f"job{warm_text}; {what}; "
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
        path = ("registers: rows are units" if not timing["per_entity"] and timing["multiplicity"] == 1
                else f"bounded checks (at most {timing['multiplicity']} rows per unit)"
                if not timing["per_entity"] else "exact per-unit plan")
        rows.append(row(
            f"checked_sql_overhead_{key}", "latency_s", "lower", median(timing["checked"]),
            runs=timing["checked"], comparator=BARE, comparator_value=bare,
            comparator_runs=timing["bare"], target="ratio >= 0.5",
            note=f"the worker's path (plan, rewritten query on the hub engine, disclosure checks, "
                 f"differencing) in a project that released this query before "
                 f"({timing['released_cells_in_store']} cells, recorded deferred); "
                 f"{timing['cells']} cells; {path}; ratio ≥ 0.5 ⇔ overhead ≤ 2×"))
        rows.append(row(
            f"checked_sql_overhead_{key}", "latency_s_first_release", "lower",
            median(timing["checked_no_sets"]), runs=timing["checked_no_sets"], comparator=BARE,
            comparator_value=bare, comparator_runs=timing["bare"], target="ratio >= 0.5",
            note="the project's first release: nothing to compare with"))
        worst = median(timing["checked_all_close"])
        rows[-2]["note"] += (
            f"; worst case, not a target: when the project holds, for each of the "
            f"{timing['close_cells']} cells, a released set one unit away, every unit of every "
            f"cell is hashed and compared exactly (every cell is flagged): median {worst:.3f} s, "
            f"{worst / bare:.1f}× the bare query")
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


PARTS = ("turnaround", "checked-sql", "twins")
#: Which part each case (by its name's prefix) belongs to, for --only's merge with earlier rows.
CASE_PARTS = (("turnaround_", "turnaround"), ("checked_sql_overhead_", "checked-sql"),
              ("twin_", "twins"))
NOTE_MARKERS = {"turnaround": "Turnaround:", "checked-sql": "Checked SQL:", "twins": "Twins:"}


def part_of(case: str) -> str | None:
    return next((part for prefix, part in CASE_PARTS if case.startswith(prefix)), None)


def parse_parts(text: str | None) -> tuple[str, ...]:
    if text is None:
        return PARTS
    chosen = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [part for part in chosen if part not in PARTS]
    if unknown or not chosen:
        raise SystemExit(f"--only takes a comma-separated list of {', '.join(PARTS)}")
    return tuple(part for part in PARTS if part in chosen)


def note_sentences(notes: str) -> dict[str, str]:
    """Split the notes of an earlier run into its parts' sentences (by their markers)."""
    found, positions = {}, sorted((notes.find(m), part) for part, m in NOTE_MARKERS.items()
                                  if m in notes)
    ends = [start for start, _ in positions[1:]] + [notes.find(" Run took")
                                                   if " Run took" in notes else len(notes)]
    for (start, part), end in zip(positions, ends):
        found[part] = notes[start:end].strip()
    if positions and notes.startswith("Demo County"):
        found["county"] = notes[:positions[0][0]].strip()
    return found


def merge_with_earlier(rows: list[dict], parts: tuple[str, ...], sentences: dict[str, str]):
    """Rows and part notes of this run, plus the earlier results' rows of the other parts."""
    path = HERE.parent / "results" / "lab.json"
    if parts == PARTS or not path.exists():
        return rows, sentences, None
    earlier = json.loads(path.read_text(encoding="utf-8"))
    kept = [r for r in earlier["rows"] if part_of(r["case"]) not in parts]
    ours = {part: [r for r in rows if part_of(r["case"]) == part] for part in PARTS}
    theirs = {part: [r for r in kept if part_of(r["case"]) == part] for part in PARTS}
    merged = [r for part in PARTS for r in (ours[part] if part in parts else theirs[part])]
    old_sentences = note_sentences(earlier.get("notes", ""))
    for part in [*PARTS, "county"]:
        if part not in parts and part not in sentences and part in old_sentences:
            sentences[part] = old_sentences[part]
    return merged, sentences, earlier.get("date")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="F = 0.02, 3 jobs, small twin")
    parser.add_argument("--only", metavar="PARTS",
                        help=f"comma-separated parts to run ({', '.join(PARTS)}); the other "
                             "parts' rows are kept from results/lab.json")
    parser.add_argument("--mst-timeout", type=float, default=600,
                        help="seconds MST may take on all rows before the subsample is used")
    args = parser.parse_args()
    parts = parse_parts(args.only)
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
    sentences: dict[str, str] = {}
    data_rows = ""
    if "turnaround" in parts:
        print("turnaround …", flush=True)
        keys = "township_code,sex" if scale >= 0.5 else "sex"   # cells stay well above threshold
        load_at = os.getloadavg()
        turn = run_child(["turnaround", "--home", str(home), "--sandbox-venv", str(sandbox),
                          "--jobs", str(jobs), "--keys", keys, "--tag", str(int(started))])
        load_after = os.getloadavg()
        rows += turnaround_rows(turn, label)
        sentences["turnaround"] = (
            f"Turnaround: real worker process (poll 0.05 s), driver polls every 0.01 s; the "
            f"worker built the project's twin of population_registry in "
            f"{turn['twin_build_s']:.1f} s before the first job; 1-/5-minute load average "
            f"{load_at[0]:.1f}/{load_at[1]:.1f} when the part started and "
            f"{load_after[0]:.1f}/{load_after[1]:.1f} when it ended.")
    if "checked-sql" in parts:
        print("checked SQL …", flush=True)
        checked = run_child(["checked-sql", "--home", str(home), "--runs", str(runs)])
        rows += checked_rows(checked)
        data_rows = " (" + ", ".join(f"{name} {count:,}" for name, count
                                     in checked["rows"].items()) + " rows)"
        sentences["checked-sql"] = (
            f"Checked SQL: medians of {runs} alternating runs after a warm-up (which also proves "
            f"each table's most rows per unit, once per data version).")
    if "twins" in parts:
        print("twins …", flush=True)
        full, sample = DATA / "twin_table.parquet", DATA / "twin_table_sample.parquet"
        table = run_child(["twin-table", "--home", str(home), "--out", str(full),
                           "--sample", str(sample_rows), "--sample-out", str(sample)])
        count = table["rows"]
        twin_label = f"{count // 1_000_000}M" if count >= 1_000_000 else f"{count // 1000}k"
        rows += twin_rows(full, sample, twin_label, twin_runs,
                          None if args.quick else args.mst_timeout)
        sentences["twins"] = (
            f"Twins: CountyOS twins are not differentially private; smartnoise-synth MST is "
            f"(ε = {EPSILON:g}); both scored by countyos.lab.twins.fidelity_report against the "
            f"rows they learnt from.")
    rows, sentences, earlier_date = merge_with_earlier(rows, parts, sentences)
    kept = [part for part in PARTS if part not in parts and part in sentences]
    county = f"Demo County at F = {scale:g}{data_rows}, installed fresh for the run."
    if not data_rows and sentences.get("county", "").startswith(f"Demo County at F = {scale:g} "):
        county = sentences["county"]   # the row counts of this county, from the earlier run
    notes = " ".join(
        [county]
        + [sentences[part] for part in PARTS if part in sentences]
        + [f"Run took {time.time() - started:.0f} s; 5-minute load average {load_before:.1f} at "
           f"the start and {os.getloadavg()[1]:.1f} at the end (the 2 cores are shared with "
           f"other work, so absolute times drift)."]
        + ([f"This run measured only {', '.join(parts)}; the rows and notes of "
            f"{', '.join(kept)} are kept from the run of {earlier_date}."] if kept else []))
    command = ("python benchmarks/lab/run.py" + (" --quick" if args.quick else "")
               + (f" --only {','.join(parts)}" if parts != PARTS else ""))
    path = write_results("lab", rows, command, notes=notes)
    print(path.read_text())


if __name__ == "__main__":
    main()
