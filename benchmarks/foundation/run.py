"""Foundation benchmarks: Demo County generation, a 1 GB CSV import, query overhead.

    python benchmarks/foundation/run.py            # full run (F = 0.1 and F = 1, 1 GB CSV)
    python benchmarks/foundation/run.py --quick    # smoke run (small sizes), same code paths

Cases (../shared/BENCHMARKS.md shape, written to results/foundation.json and README.md):
- ``demo_generation_F0.1``, ``demo_generation_F1``: wall time and peak RSS of ``generate_county``,
  each run in a fresh process.
- ``import_csv_1GB``: the Eurostat LFS sample (../shared/data, read in place) resampled to 1 GB of
  CSV, imported as a new dataset (detect, validate, stream to Parquet, profile, classify, commit an
  Iceberg snapshot) — rows/s and peak RSS — beside DuckDB's own CSV → Parquet ``COPY`` of the
  same file, each in a fresh process.
- ``query_overhead_<query>``: five aggregate queries over the Demo County at F = 1 through
  CountyOS's engine (guard, allowlist, locked-down connection) — metric ``latency_s``, target
  ≤ 1.2× — and through the whole API path (plus catalog lookup, permission check and an audit
  entry committed per query) — metric ``latency_s_with_catalog_and_audit`` — each beside a plain
  DuckDB connection on the same Parquet files, alternating, after a warm-up.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE.parent))

from report import median, row, write_results  # noqa: E402

DATA = HERE.parent / ".data"
LFS_ZIP = ROOT.parent / "shared" / "data" / "eurostat_lfs_fr_50k.csv.zip"

QUERIES = {
    "population_by_township_sex": (
        "SELECT township_code, sex, count(*) AS people FROM population_registry "
        "GROUP BY township_code, sex"
    ),
    "electricity_by_month": (
        "SELECT date_trunc('month', date) AS month, sum(kwh) AS kwh FROM electricity_daily "
        "GROUP BY 1 ORDER BY 1"
    ),
    "output_by_industry_join": (
        "SELECT e.industry_section, sum(o.output_value) AS output FROM industrial_output_monthly o "
        "JOIN enterprise_registry e ON o.uscc = e.uscc GROUP BY e.industry_section"
    ),
    "visit_cost_by_age_band_join": (
        "SELECT (2025 - year(p.birth_date)) // 10 AS age_band, count(*) AS visits, avg(v.cost) AS cost "
        "FROM outpatient_visits v JOIN population_registry p ON v.person_id = p.person_id "
        "GROUP BY 1"
    ),
    "hotline_response_hours_by_category": (
        "SELECT category, avg(epoch(responded_at) - epoch(created_at)) / 3600 AS hours, "
        "count(*) AS events FROM hotline_events GROUP BY category"
    ),
}


def child(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; it must print one JSON object as its last line.
    The child's peak RSS (MB) is added as ``peak_rss_mb``."""
    wrapper = textwrap.dedent("""
        import json, resource, sys, time
        _result = {}
        def emit(**values):
            _result.update(values)
    """) + textwrap.dedent(code) + textwrap.dedent("""
        _result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(_result))
    """)
    done = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True,
                          cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{done.stderr[-3000:]}")
    for line in reversed(done.stdout.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"benchmark child printed no result:\n{done.stdout[-2000:]}")


def bench_demo(scale: float, runs: int, label: str) -> list[dict]:
    results = [child(f"""
        from countyos.demo import generate_county
        start = time.perf_counter()
        county = generate_county(scale={scale}, seed=2026)
        emit(seconds=time.perf_counter() - start,
             rows=sum(d.table.num_rows for d in county.datasets))
    """) for _ in range(runs)]
    seconds = [r["seconds"] for r in results]
    rss = [r["peak_rss_mb"] for r in results]
    rows = results[0]["rows"]
    limit = 30 if scale <= 0.1 else 300
    return [
        row(f"demo_generation_F{label}", "seconds", "lower", median(seconds), runs=seconds,
            target=f"countyos <= {limit}", note=f"{rows:,} rows in 7 datasets, seed 2026"),
        row(f"demo_generation_F{label}", "peak_rss_mb", "lower", median(rss), runs=rss,
            target="countyos <= 16384"),
    ]


def make_csv(target_bytes: int) -> tuple[Path, int]:
    """The LFS sample's rows resampled (with replacement, fixed seed) to ``target_bytes``."""
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"lfs_resampled_{target_bytes // 1_000_000}MB.csv"
    meta = path.with_suffix(".rows")
    if path.exists() and meta.exists():
        return path, int(meta.read_text())
    with zipfile.ZipFile(LFS_ZIP) as archive:
        lines = archive.read(archive.namelist()[0]).decode("utf-8").splitlines(keepends=True)
    header, body = lines[0], lines[1:]
    rng = random.Random(2026)
    written, rows = 0, 0
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(header)
        while written < target_bytes:
            chunk = rng.choices(body, k=20_000)
            text = "".join(chunk)
            out.write(text)
            written += len(text)
            rows += len(chunk)
    meta.write_text(str(rows))
    return path, rows


def bench_import(target_bytes: int, runs: int) -> list[dict]:
    path, rows = make_csv(target_bytes)
    size_label = f"{target_bytes / 1e9:.0f}GB" if target_bytes >= 1e9 else f"{target_bytes // 1_000_000}MB"
    ours, theirs = [], []
    for index in range(runs):
        home = DATA / f"import-home-{index}"
        subprocess.run(["rm", "-rf", str(home)], check=True)
        ours.append(child(f"""
            from pathlib import Path
            from countyos.auth import Principal
            from countyos.catalog import organisation
            from countyos.catalog.datasets import import_dataset
            from countyos.hub import Hub
            from countyos.settings import Settings
            hub = Hub(Settings(home=Path({str(home)!r})))
            admin = Principal(username="bench", role="admin")
            with hub.db.session() as s:
                organisation.create_department(s, admin, code="statistics", name_zh="统计局")
            start = time.perf_counter()
            version = import_dataset(hub, admin, source=Path({str(path)!r}), name="lfs",
                                     department="statistics")
            emit(seconds=time.perf_counter() - start, rows=version.rows)
        """))
        subprocess.run(["rm", "-rf", str(home)], check=True)
        out = DATA / "duckdb-copy.parquet"
        theirs.append(child(f"""
            import duckdb
            con = duckdb.connect()
            con.execute("SET threads = 2")
            start = time.perf_counter()
            con.execute("COPY (SELECT * FROM read_csv({str(path)!r})) TO {str(out)!r} (FORMAT parquet)")
            emit(seconds=time.perf_counter() - start,
                 rows=con.execute("SELECT count(*) FROM {str(out)!r}").fetchone()[0])
        """))
        out.unlink(missing_ok=True)
    for result in ours + theirs:
        if result["rows"] != rows:
            raise RuntimeError(f"row count mismatch: {result['rows']} != {rows}")
    ours_rate = [rows / r["seconds"] for r in ours]
    theirs_rate = [rows / r["seconds"] for r in theirs]
    return [
        row(f"import_csv_{size_label}", "rows_per_s", "higher", median(ours_rate), runs=ours_rate,
            comparator="duckdb COPY read_csv → parquet", comparator_value=median(theirs_rate),
            comparator_runs=theirs_rate, target="ratio >= 0.5",
            note=f"{rows:,} rows × 100 columns of the Eurostat LFS sample resampled; CountyOS also "
                 "detects encoding, validates, profiles, classifies and commits an Iceberg snapshot"),
        row(f"import_csv_{size_label}", "peak_rss_mb", "lower",
            median([r["peak_rss_mb"] for r in ours]), runs=[r["peak_rss_mb"] for r in ours],
            comparator="duckdb COPY read_csv → parquet",
            comparator_value=median([r["peak_rss_mb"] for r in theirs]),
            target="countyos <= 1024"),
    ]


def bench_queries(scale: float, runs: int) -> list[dict]:
    home = DATA / f"demo-home-F{scale:g}"
    result = child(f"""
        from pathlib import Path
        import duckdb
        from countyos.auth import Principal
        from countyos.catalog.datasets import get_dataset, get_version
        from countyos.catalog.query import run_query
        from countyos.demo.install import install_demo
        from countyos.hub import Hub
        from countyos.settings import Settings
        queries = {QUERIES!r}
        hub = Hub(Settings(home=Path({str(home)!r})))
        install_demo(hub, scale={scale})
        admin = Principal(username="bench", role="admin")
        files = {{}}
        with hub.db.session() as s:
            for name in ("population_registry", "electricity_daily", "industrial_output_monthly",
                         "enterprise_registry", "outpatient_visits", "hotline_events"):
                d = get_dataset(s, name)
                files[name] = hub.lake.data_files(d.lake_table, get_version(s, d).snapshot_id)
        con = duckdb.connect()
        con.execute("SET threads = 2")
        for name, paths in files.items():
            con.execute(f"CREATE VIEW {{name}} AS SELECT * FROM read_parquet({{paths!r}})")
        from countyos.engine import TableSource, parse_read_only
        sources = {{n: TableSource(n, tuple(p)) for n, p in files.items()}}
        limits = hub.query_limits(max_rows=100000)
        def through_engine(sql):
            parsed = parse_read_only(sql)
            return hub.engine.execute(parsed, {{t: sources[t] for t in parsed.tables}}, limits=limits).table
        timings = {{}}
        for key, sql in queries.items():
            engine_runs, full_runs, theirs = [], [], []
            a = run_query(hub, admin, sql=sql, max_rows=100000).table
            through_engine(sql)
            con.execute(sql).to_arrow_table()
            for _ in range({runs}):
                t = time.perf_counter(); through_engine(sql)
                engine_runs.append(time.perf_counter() - t)
                t = time.perf_counter(); run_query(hub, admin, sql=sql, max_rows=100000)
                full_runs.append(time.perf_counter() - t)
                t = time.perf_counter(); con.execute(sql).to_arrow_table()
                theirs.append(time.perf_counter() - t)
            b = con.execute(sql).to_arrow_table()
            assert a.num_rows == b.num_rows, key
            timings[key] = {{"engine": engine_runs, "full": full_runs, "theirs": theirs}}
        emit(timings=timings)
    """)
    rows = []
    comparator = "duckdb direct on the same Parquet files"
    for key, timing in result["timings"].items():
        theirs = median(timing["theirs"])
        rows.append(row(f"query_overhead_{key}", "latency_s", "lower", median(timing["engine"]),
                        runs=timing["engine"], comparator=comparator, comparator_value=theirs,
                        comparator_runs=timing["theirs"], target="ratio >= 0.833",
                        note="through the CountyOS engine (SQL guard, function allowlist, "
                             "locked-down connection, row cap); ratio ≥ 0.833 ⇔ overhead ≤ 1.2×"))
        rows.append(row(f"query_overhead_{key}", "latency_s_with_catalog_and_audit", "lower",
                        median(timing["full"]), runs=timing["full"], comparator=comparator,
                        comparator_value=theirs, comparator_runs=timing["theirs"],
                        target="ratio >= 0.5",
                        note="the whole API path: catalog lookup, permission check, engine and "
                             "a hash-chained audit entry committed per query"))
    return rows


PART_PREFIXES = {"demo": "demo_generation_", "import": "import_csv_", "queries": "query_overhead_"}


def _keep_other_rows(rows: list[dict], parts: set[str]) -> list[dict]:
    """Rows of parts not rerun come from the last results file, in the usual order."""
    path = HERE.parent / "results" / "foundation.json"
    if parts == set(PART_PREFIXES) or not path.exists():
        return rows
    previous = json.loads(path.read_text(encoding="utf-8"))["rows"]
    merged = []
    for part, prefix in PART_PREFIXES.items():
        source = rows if part in parts else previous
        merged += [r for r in source if r["case"].startswith(prefix)]
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repetition")
    parser.add_argument("--only", choices=["demo", "import", "queries"], action="append",
                        help="rerun only these parts; the other rows of the last full run are kept")
    args = parser.parse_args()
    parts = set(args.only or ["demo", "import", "queries"])
    started = time.time()
    rows: list[dict] = []
    if args.quick:
        rows += bench_demo(0.01, 1, "0.01")
        rows += bench_import(50_000_000, 1)
        rows += bench_queries(0.02, 3)
    else:
        if "demo" in parts:
            rows += bench_demo(0.1, 3, "0.1")
            rows += bench_demo(1.0, 1, "1")
        if "import" in parts:
            rows += bench_import(1_000_000_000, 2)
        if "queries" in parts:
            rows += bench_queries(1.0, 7)
        rows = _keep_other_rows(rows, parts)
    command = "python benchmarks/foundation/run.py" + (" --quick" if args.quick else "")
    path = write_results("foundation", rows, command,
                         notes=f"Run took {time.time() - started:.0f} s.")
    print(path.read_text())


if __name__ == "__main__":
    main()
