"""Seeded test data and metadata of the DP tests (people, visits)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from countyos.engine import TableSource
from countyos.lab.dp import ColumnMetadata, TableMetadata

TOWNSHIPS = ("east", "west", "north", "south")


def make_people(rows: int = 3000, seed: int = 7) -> pa.Table:
    """One row per person: township (declared), sex (declared), age, income, a rare job."""
    rng = np.random.default_rng(seed)
    jobs = rng.choice(["farmer", "teacher", "worker"], size=rows).astype(object)
    jobs[0] = "astronaut"  # a group of one person: must never be revealed by key selection
    return pa.table({
        "pid": np.arange(rows, dtype=np.int64),
        "township": rng.choice(TOWNSHIPS, size=rows),
        "sex": rng.integers(1, 3, size=rows),
        "age": rng.integers(0, 101, size=rows),
        "income": np.round(rng.gamma(2.0, 20_000.0, size=rows), 2),
        "job": pa.array(jobs.tolist(), type=pa.string()),
    })


def make_visits(people: pa.Table, per_person: int = 3, seed: int = 11) -> pa.Table:
    """Several clinic visits per person (the same entity key), with a cost."""
    rng = np.random.default_rng(seed)
    pids = np.repeat(people.column("pid").to_numpy(), per_person)
    return pa.table({
        "pid": pids,
        "cost": rng.integers(0, 1001, size=pids.size),
        "clinic": rng.choice(["a", "b"], size=pids.size),
    })


def people_metadata(max_contributions: int = 1) -> TableMetadata:
    return TableMetadata(
        "people", "pid",
        [
            ColumnMetadata("township", "categorical", public_domain=TOWNSHIPS),
            ColumnMetadata("sex", "categorical", public_domain=(1, 2)),
            ColumnMetadata("age", "integer", 0, 100),
            ColumnMetadata("income", "float", 0.0, 200_000.0),
            ColumnMetadata("job", "categorical"),
        ],
        max_contributions=max_contributions,
    )


def visits_metadata(max_contributions: int = 2) -> TableMetadata:
    return TableMetadata(
        "visits", "pid",
        [ColumnMetadata("cost", "integer", 0, 1000),
         ColumnMetadata("clinic", "categorical", public_domain=("a", "b"))],
        max_contributions=max_contributions,
    )


def write_table(directory: Path, name: str, table: pa.Table) -> TableSource:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.parquet"
    pq.write_table(table, path)
    return TableSource(name, (str(path),))


class Spy:
    """Runs DP's trusted SQL on the real engine and keeps every (SQL, tables, result)."""

    def __init__(self, runner) -> None:  # type: ignore[no-untyped-def]
        self.runner = runner
        self.calls: list[tuple[str, dict[str, TableSource], pa.Table]] = []

    def __call__(self, sql, tables):  # type: ignore[no-untyped-def]
        table = self.runner(sql, tables)
        self.calls.append((sql, tables, table))
        return table

    def aggregate(self) -> tuple[str, dict[str, list]]:
        """The SQL and result of the last aggregate (bounding) query."""
        sql, table = next((s, t) for s, _, t in reversed(self.calls) if "__bounded" in s)
        return sql, table.to_pydict()
