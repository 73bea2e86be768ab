"""One part of the lab benchmark in a fresh interpreter (called by ``run.py``, prints JSON).

    python benchmarks/lab/parts.py install --home H --scale F
    python benchmarks/lab/parts.py turnaround --home H --jobs N --keys township_code,sex --tag T
    python benchmarks/lab/parts.py checked-sql --home H --runs N
    python benchmarks/lab/parts.py twin-table --home H --out T.parquet --sample N --sample-out S.parquet
    python benchmarks/lab/parts.py twin-countyos --table T.parquet --runs N --out twin.parquet
    python benchmarks/lab/parts.py twin-fidelity --real T.parquet --twin twin.parquet

Owns only the argument handling; the measurements live in ``turnaround.py``,
``checked_bench.py`` and ``twin_bench.py``. The last line of stdout is the part's JSON result.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _install(args: argparse.Namespace) -> dict:
    from countyos.demo.install import install_demo
    from countyos.hub import Hub
    from countyos.settings import Settings

    hub = Hub(Settings(home=Path(args.home)))
    started = time.perf_counter()
    result = install_demo(hub, scale=args.scale)
    hub.close()
    return {"seconds": time.perf_counter() - started, "datasets": result.datasets}


def _turnaround(args: argparse.Namespace) -> dict:
    import turnaround

    return turnaround.measure(Path(args.home), Path(args.sandbox_venv), args.jobs,
                              args.keys.split(","), args.tag)


def _checked(args: argparse.Namespace) -> dict:
    import checked_bench

    return checked_bench.measure(Path(args.home), args.runs)


def _twin_table(args: argparse.Namespace) -> dict:
    import twin_bench

    return twin_bench.build_table(Path(args.home), Path(args.out), args.sample,
                                  Path(args.sample_out))


def _twin_countyos(args: argparse.Namespace) -> dict:
    import twin_bench

    return twin_bench.countyos_twin(Path(args.table), args.runs, Path(args.out))


def _twin_fidelity(args: argparse.Namespace) -> dict:
    import twin_bench

    return twin_bench.comparator_fidelity(Path(args.real), Path(args.twin))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    install = commands.add_parser("install")
    install.add_argument("--home", required=True)
    install.add_argument("--scale", type=float, required=True)
    install.set_defaults(run=_install)
    turn = commands.add_parser("turnaround")
    turn.add_argument("--home", required=True)
    turn.add_argument("--sandbox-venv", required=True)
    turn.add_argument("--jobs", type=int, required=True)
    turn.add_argument("--keys", required=True)
    turn.add_argument("--tag", required=True)
    turn.set_defaults(run=_turnaround)
    checked = commands.add_parser("checked-sql")
    checked.add_argument("--home", required=True)
    checked.add_argument("--runs", type=int, required=True)
    checked.set_defaults(run=_checked)
    table = commands.add_parser("twin-table")
    table.add_argument("--home", required=True)
    table.add_argument("--out", required=True)
    table.add_argument("--sample", type=int, required=True)
    table.add_argument("--sample-out", required=True)
    table.set_defaults(run=_twin_table)
    twin = commands.add_parser("twin-countyos")
    twin.add_argument("--table", required=True)
    twin.add_argument("--runs", type=int, required=True)
    twin.add_argument("--out", required=True)
    twin.set_defaults(run=_twin_countyos)
    fidelity = commands.add_parser("twin-fidelity")
    fidelity.add_argument("--real", required=True)
    fidelity.add_argument("--twin", required=True)
    fidelity.set_defaults(run=_twin_fidelity)
    args = parser.parse_args()
    result = args.run(args)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


if __name__ == "__main__":
    main()
