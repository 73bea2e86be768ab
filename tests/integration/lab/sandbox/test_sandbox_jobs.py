"""Real jobs in the real sandbox: checked outputs, failures that say nothing, concurrency.

Expected aggregates are computed on the host with pandas from the same Parquet file.
"""

from __future__ import annotations

import os
import threading

import pandas as pd
import pytest

from countyos.lab.disclosure import DisclosureRules, check_table
from countyos.lab.sandbox import (
    load_metrics,
    load_model_summary,
    load_published_table,
    probe,
    read_manifest,
)

from .conftest import job_cgroups


def test_probe_reports_every_protection(sandbox_venv):
    capabilities = probe(venv=sandbox_venv)
    assert capabilities.ok
    assert all([capabilities.bwrap, capabilities.setpriv, capabilities.unprivileged_uid,
                capabilities.memory_cgroup, capabilities.pids_cgroup, capabilities.seccomp,
                capabilities.output_tmpfs, capabilities.network_isolated, capabilities.venv])


def test_table_job_publishes_checked_aggregates(run_job, people_file):
    result = run_job("""
import countyos_job
people = countyos_job.read("people")
countyos_job.publish_table("income", people, by=["town", "sex"], entity="pid",
                           count=True, sum="income", mean="income")
""")
    assert result.succeeded, result.log_path.read_text()
    assert result.error_class is None and result.exit_code == 0
    [output] = read_manifest(result.output_dir)
    table = load_published_table(output)
    released = {(r["town"], r["sex"]): r for r in table.table.to_pylist()}
    expected = pd.read_parquet(people_file).groupby(["town", "sex"])
    assert len(released) == expected.ngroups
    for key, group in expected:
        line = released[key]
        assert line["count"] == len(group)
        assert line["sum_income"] == pytest.approx(group["income"].sum())
        assert line["mean_income"] == pytest.approx(group["income"].mean())
    counts = {cell.key: cell.n_entities for cell in table.output_table("count").cells}
    assert counts == {key: group["pid"].nunique() for key, group in expected}
    report = check_table(table.output_table("sum_income"), DisclosureRules())
    assert report is not None
    assert result.output_dir.stat().st_uid == 0
    assert all(path.stat().st_uid == 0 for path in result.output_dir.rglob("*"))


def test_figure_metrics_and_model_summary(run_job):
    result = run_job("""
import countyos_job, matplotlib.pyplot as plt, statsmodels.formula.api as smf
people = countyos_job.read("people").dropna()
counts = people.groupby("town").size()
figure, axes = plt.subplots()
axes.bar(range(len(counts)), counts.values)
countyos_job.publish_figure("towns", figure, data=people, by=["town"], entity="pid")
model = smf.ols("income ~ C(sex)", data=people).fit()
countyos_job.publish_model_summary("ols", params=dict(model.params),
                                   residual_df=int(model.df_resid), n_obs=int(model.nobs))
countyos_job.publish_metrics("fit", {"r2": float(model.rsquared)},
                             n_entities=int(people["pid"].nunique()))
""")
    assert result.succeeded, result.log_path.read_text()
    outputs = {output.name: output for output in read_manifest(result.output_dir)}
    assert {name: output.kind for name, output in outputs.items()} == {
        "towns": "figure", "ols": "model_summary", "fit": "metrics"}
    assert outputs["towns"].files["figure"].read_bytes().startswith(b"\x89PNG")
    assert set(outputs["towns"].release_files) == {"table", "figure"}
    load_published_table(outputs["towns"])
    summary = load_model_summary(outputs["ols"])
    assert summary["residual_df"] == summary["n_obs"] - 2
    assert 0 <= load_metrics(outputs["fit"])["metrics"]["r2"] <= 1


def test_duckdb_and_scikit_learn_work_on_mounted_data(run_job, people_file):
    result = run_job("""
import duckdb, numpy, countyos_job
from sklearn.linear_model import LinearRegression
frame = duckdb.sql("SELECT sex, pid, income FROM read_parquet('/data/people.parquet') "
                   "WHERE income IS NOT NULL").df()
model = LinearRegression().fit((frame[["sex"]] == "F").to_numpy(), frame["income"].to_numpy())
countyos_job.publish_metrics("fit", {"slope": float(model.coef_[0]), "rows": len(frame)},
                             n_entities=int(frame["pid"].nunique()))
""")
    assert result.succeeded, result.log_path.read_text()
    [output] = read_manifest(result.output_dir)
    body = load_metrics(output)
    people = pd.read_parquet(people_file).dropna()
    assert body["metrics"]["rows"] == len(people)
    assert body["n_entities"] == people["pid"].nunique()
    means = people.groupby("sex")["income"].mean()
    assert body["metrics"]["slope"] == pytest.approx(means["F"] - means["M"], rel=1e-6)


def test_failure_reports_the_class_name_only(run_job):
    secret = "P00042 earns 98765"
    result = run_job(f"""
print({secret!r})
raise ValueError({secret!r})
""")
    assert (result.status, result.reason, result.error_class) == ("failed", "exception",
                                                                  "ValueError")
    assert "98765" not in repr(result)
    assert "98765" in result.log_path.read_text()  # kept for the trusted zone
    assert os.stat(result.log_path).st_mode & 0o077 == 0
    assert list(result.output_dir.iterdir()) == []  # nothing of a failed run is kept


def test_exception_class_names_cannot_carry_data(run_job):
    result = run_job("""
import os
def target(fd):
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""
channel = next(int(fd) for fd in os.listdir("/proc/self/fd")
               if target(fd).endswith("status.jsonl"))
os.write(channel, b'{"event": "finished", "exit_code": 0, "error_mro": ["Income98765"]}\\n')
Leak = type("Income98765", (KeyError,), {})
raise Leak()
""")
    assert result.error_class == "KeyError"
    assert "98765" not in repr(result)


def test_publishing_errors_are_reported_by_class(run_job):
    result = run_job("""
import countyos_job
countyos_job.publish_table("t", countyos_job.read("people"), by=["town"], entity="nope")
""")
    assert (result.reason, result.error_class) == ("exception", "PublishError")


def test_unreadable_input_is_staged_for_the_sandbox(run_job, people_file, tmp_path):
    private = tmp_path / "private.parquet"
    private.write_bytes(people_file.read_bytes())
    private.chmod(0o600)
    result = run_job("""
import countyos_job
assert len(countyos_job.read("people")) == 2000
""", inputs={"people": private})
    assert result.succeeded, result.log_path.read_text()
    assert private.stat().st_mode & 0o777 == 0o600


def test_concurrent_jobs_get_their_own_cgroups(run_job):
    seen: set = set()
    results = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            seen.update(path.name for path in job_cgroups())
            stop.wait(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    source = "import time, countyos_job\ntime.sleep(1.5)\n" \
             "countyos_job.publish_metrics('m', {'x': 1.0}, n_entities=0)\n"
    threads = [threading.Thread(target=lambda: results.append(run_job(source))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    watcher.join()
    assert all(result.succeeded for result in results)
    ids = {result.job_id for result in results}
    assert len(ids) == 2
    assert {f"countyos-sandbox-{job_id}" for job_id in ids} <= seen
    for job_id in ids:
        assert job_cgroups(job_id) == []
