"""The SmartNoise SQL side of ``run.py``: its venv, and a worker serving one dataset.

``SmartNoise`` starts ``smartnoise_worker.py`` in benchmarks/.venv-smartnoise (created on first
use: SmartNoise pins opendp < 0.15 and pandas < 3, which clash with CountyOS's), hands it the
data, metadata variants and queries, and then sends one request at a time: timed runs of a query
(so ``run.py`` can time each query on CountyOS and right after on SmartNoise), or releases of a
query for its error, which the worker draws while ``run.py`` runs CountyOS's accuracy runs (no
timing is taken then). Must not import CountyOS.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV = HERE.parent / ".venv-smartnoise"
EPSILON = 1.0
#: Suffix of the cases where each row is declared to be one person (SmartNoise row_privacy).
UNIQUE = "_unique_key"


def ensure_smartnoise() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        print("creating", VENV, flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "smartnoise-sql==1.0.10",
                        "pyarrow"], check=True)
    return python


class SmartNoise:
    """A SmartNoise worker serving one dataset (readers built once), one request at a time.

    ``score(rows, exact)`` turns one release's rows into its error.
    """

    def __init__(self, path: Path, spec: dict, exact: dict,
                 score: Callable[[list, dict], float]) -> None:
        python = ensure_smartnoise()
        table = spec["table"]

        def metadata(row_privacy: bool) -> dict:
            columns = {"pid": {"type": "int", "private_id": not row_privacy},
                       **spec["smartnoise"]}
            return {"": {"BENCH": {table: {"censor_dims": False, "row_privacy": row_privacy,
                                           "max_ids": 1, **columns}}}}

        queries = {}
        for name, sql in spec["queries"].items():
            rewritten = sql.replace(f"FROM {table}", f"FROM BENCH.{table}")
            queries[name] = ("bounded", rewritten)
            queries[f"{name}{UNIQUE}"] = ("row_privacy", rewritten)
        job = {
            "data": str(path), "columns": spec["columns"], "epsilon": EPSILON, "delta": 1e-15,
            "variants": {"bounded": metadata(False), "row_privacy": metadata(True)},
            "queries": queries,
        }
        self.exact, self.score = exact, score
        self.scratch = tempfile.TemporaryDirectory()
        job_path = Path(self.scratch.name) / "job.json"
        job_path.write_text(json.dumps(job), encoding="utf-8")
        self.process = subprocess.Popen(
            [str(python), str(HERE / "smartnoise_worker.py"), str(job_path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.setup_s = float(self._answer()["setup_s"])

    def _request(self, mode: str, name: str, runs: int) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"mode": mode, "query": name, "runs": runs}) + "\n")
        self.process.stdin.flush()

    def _answer(self, name: str = "") -> dict:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"the SmartNoise worker stopped (exit {self.process.wait()})")
        data = json.loads(line)
        if name and abs(data["total_cost"][0] - EPSILON) > 1e-9:
            raise SystemExit(f"SmartNoise {name} spends ε = {data['total_cost'][0]}, not {EPSILON}")
        return data

    def case(self, name: str, runs: int) -> dict:
        """Latencies and mechanism count of one query (``runs`` timed runs after a warm-up)."""
        self._request("latency", name, runs)
        data = self._answer(name)
        return {"latency": [run["latency_s"] for run in data["runs"]],
                "mechanisms": data["mechanisms"]}

    def start_accuracy(self, name: str, runs: int) -> None:
        """Ask for ``runs`` releases of one query; the worker draws them while the caller works
        (collect them with ``accuracy``)."""
        self._request("accuracy", name, runs)

    def accuracy(self, name: str) -> dict:
        """The errors of the releases asked for by ``start_accuracy(name, …)``, the mechanisms'
        noise scales and the output columns' types."""
        data = self._answer(name)
        base = name.removesuffix(UNIQUE)
        return {"error": [self.score(rows, self.exact[base]) for rows in data["releases"]],
                "noise": data["noise"], "output_types": data["output_types"]}

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        if self.process.wait() != 0:
            raise SystemExit(f"the SmartNoise worker failed (exit {self.process.returncode})")
        self.scratch.cleanup()
