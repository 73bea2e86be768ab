"""SmartNoise SQL side of the DP benchmark; runs inside benchmarks/.venv-smartnoise.

    .venv-smartnoise/bin/python smartnoise_worker.py JOB.json RESULT.json   # all queries
    .venv-smartnoise/bin/python smartnoise_worker.py JOB.json               # serve (run.py)

Serving, it reads one query name per line on stdin and answers each with one JSON line on
stdout, so ``run.py`` can time each query right after CountyOS's runs of the same query (load
on the shared machine then hits both sides alike).

Reads the job written by ``run.py`` (Parquet file, SmartNoise metadata variants, queries, total
ε, runs), builds one ``PrivateReader`` per metadata variant with ``snsql.from_df`` (timed as
set-up), and for each query first
asks SmartNoise what the query costs at ε = 1 per mechanism (``get_privacy_cost``), then sets the
per-mechanism ε so that the query's total equals the job's ε — the same total CountyOS spends.
Each query runs once as warm-up, then ``runs`` times; latencies and released rows are written
back as JSON. Must not import CountyOS (its pins clash with this venv's).
"""

from __future__ import annotations

import json
import math
import sys
import time


def _plain(value: object) -> object:
    if hasattr(value, "item"):
        value = value.item()  # numpy scalar
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _run_query(reader, sql: str, job: dict) -> dict:  # type: ignore[no-untyped-def]
    from snsql import Privacy

    delta = float(job["delta"])
    reader.privacy = Privacy(epsilon=1.0, delta=delta)
    mechanisms = float(reader.get_privacy_cost(sql)[0])
    per_mechanism = float(job["epsilon"]) / mechanisms
    reader.privacy = Privacy(epsilon=per_mechanism, delta=delta)
    cost = [float(c) for c in reader.get_privacy_cost(sql)]
    reader.execute(sql)  # warm-up
    runs = []
    for _ in range(int(job["runs"])):
        begin = time.perf_counter()
        rows = reader.execute(sql)
        elapsed = time.perf_counter() - begin
        runs.append({"latency_s": elapsed,
                     "rows": [[_plain(v) for v in row] for row in rows[1:]]})
    return {"mechanisms": mechanisms, "epsilon_per_mechanism": per_mechanism,
            "total_cost": cost, "runs": runs}


def main(job_path: str, result_path: str | None = None) -> None:
    import pyarrow.parquet as pq
    import snsql
    from snsql import Privacy
    from snsql.metadata import Metadata

    answers = sys.stdout
    sys.stdout = sys.stderr  # nothing but answers goes to the answer stream
    with open(job_path, encoding="utf-8") as handle:
        job = json.load(handle)
    started = time.perf_counter()
    frame = pq.read_table(job["data"], columns=job["columns"]).to_pandas()
    delta = float(job["delta"])
    readers = {
        variant: snsql.from_df(frame, privacy=Privacy(epsilon=1.0, delta=delta),
                               metadata=Metadata.from_dict(metadata))
        for variant, metadata in job["variants"].items()
    }
    setup = (time.perf_counter() - started) / len(readers)
    version = getattr(snsql, "__version__", "1.0.10")
    if result_path is None:  # serve: one query name per input line, one JSON line per answer
        answers.write(json.dumps({"setup_s": setup, "version": version}) + "\n")
        answers.flush()
        for line in sys.stdin:
            variant, sql = job["queries"][line.strip()]
            answers.write(json.dumps(_run_query(readers[variant], sql, job)) + "\n")
            answers.flush()
        return
    result: dict[str, object] = {"setup_s": setup, "version": version, "queries": {
        name: _run_query(readers[variant], sql, job)
        for name, (variant, sql) in job["queries"].items()
    }}
    with open(result_path, "w", encoding="utf-8") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main(*sys.argv[1:3])
