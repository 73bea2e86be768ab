"""Fidelity of a twin: how close its columns and their associations are to the real ones.

Owns ``fidelity_report``: per attribute column a distance (total variation for categories,
Kolmogorov–Smirnov for numbers, dates and times, with the normalised Wasserstein-1 distance
beside it) and null rates; per key column the KS distance between fan-out distributions
(rows per key); per identifier the difference in share of distinct values; and the mean and
largest absolute difference between the real and twin association matrices.

Must not change either table, and reports only aggregate distances: never a row value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from countyos.errors import InvalidInputError, NotFoundError
from countyos.lab.twins.association import Encoded, association_matrix, encode_pair, ks_and_wasserstein, total_variation
from countyos.lab.twins.keys import fanout_counts
from countyos.lab.twins.marginals import decode
from countyos.lab.twins.schema import (
    KIND_CATEGORICAL,
    KIND_IDENTIFIER,
    KIND_KEY,
    TwinColumn,
    plan_table,
    value_type,
)

ASSOCIATION_SAMPLE_ROWS = 100_000
_SAMPLE_SEED = 20_240_601


@dataclass(frozen=True)
class ColumnFidelity:
    """Distance between a real column and its twin.

    Attributes:
        name: Column name.
        kind: ``categorical``, ``numeric``, ``key`` or ``identifier``.
        metric: ``total_variation``, ``ks``, ``fanout_ks`` or ``distinct_share_difference``.
        distance: The metric's value, 0 for identical distributions, at most 1.
        null_rate_real: Share of nulls in the real column.
        null_rate_twin: Share of nulls in the twin column.
        wasserstein: Wasserstein-1 distance over the real standard deviation (numbers only).
    """

    name: str
    kind: str
    metric: str
    distance: float
    null_rate_real: float
    null_rate_twin: float
    wasserstein: float | None = None


@dataclass(frozen=True)
class FidelityReport:
    """Per-column distances and the difference of association matrices.

    Attributes:
        columns: One entry per column, in table order.
        association_columns: Attribute columns of the association matrices, in their order.
        association_real: Association matrix of the real table (Spearman, η, Cramér's V).
        association_twin: The same for the twin.
        association_mean_abs_diff: Mean absolute difference over pairs (0 with fewer than 2).
        association_max_abs_diff: Largest absolute difference over pairs.
        worst_pair: The pair with the largest difference, or ``None``.
    """

    columns: tuple[ColumnFidelity, ...]
    association_columns: tuple[str, ...]
    association_real: tuple[tuple[float, ...], ...]
    association_twin: tuple[tuple[float, ...], ...]
    association_mean_abs_diff: float
    association_max_abs_diff: float
    worst_pair: tuple[str, str] | None

    def column(self, name: str) -> ColumnFidelity:
        """The entry of one column.

        Raises:
            NotFoundError: no column of that name.
        """
        for entry in self.columns:
            if entry.name == name:
                return entry
        raise NotFoundError(f"no column {name!r} in the fidelity report")

    def association(self, first: str, second: str) -> tuple[float, float]:
        """Real and twin association of two attribute columns."""
        try:
            i, j = self.association_columns.index(first), self.association_columns.index(second)
        except ValueError as error:
            raise NotFoundError(f"no association between {first!r} and {second!r} in the report") from error
        return self.association_real[i][j], self.association_twin[i][j]

    @property
    def max_column_distance(self) -> float:
        """Largest per-column distance."""
        return max((entry.distance for entry in self.columns), default=0.0)

    def to_dict(self) -> dict:
        """JSON-serialisable form."""
        return asdict(self)


def _null_rate(column: pa.ChunkedArray) -> float:
    return column.null_count / len(column) if len(column) else 0.0


def _as_matrix(matrix: np.ndarray) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(float(v) for v in row) for row in matrix)


def _sample_rows(rows: int, rng: np.random.Generator) -> np.ndarray:
    if rows <= ASSOCIATION_SAMPLE_ROWS:
        return np.arange(rows)
    return np.sort(rng.choice(rows, size=ASSOCIATION_SAMPLE_ROWS, replace=False))


def check_same_schema(real: pa.Table, twin: pa.Table) -> None:
    """Raise ``InvalidInputError`` unless the twin has the real table's column names and types."""
    if real.schema.names != twin.schema.names:
        raise InvalidInputError("the twin's columns differ from the real table's columns")
    for real_field, twin_field in zip(real.schema, twin.schema):
        if value_type(real_field.type) != value_type(twin_field.type):
            raise InvalidInputError(f"column {real_field.name!r} has another type in the twin")


def fidelity_report(real: pa.Table, twin: pa.Table, columns: Sequence[TwinColumn]) -> FidelityReport:
    """Compare a twin with its real table.

    Args:
        real: The real rows.
        twin: The twin (same schema).
        columns: The column descriptions used to build the twin.

    Returns:
        Per-column distances and association-matrix differences.

    Raises:
        InvalidInputError: the descriptions do not match the table, or the schemas differ.
    """
    check_same_schema(real, twin)
    plans = plan_table(real, columns)
    entries: list[ColumnFidelity] = []
    encoded: list[tuple[str, Encoded]] = []
    for plan in plans:
        real_column, twin_column = real.column(plan.name), twin.column(plan.name)
        rates = (_null_rate(real_column), _null_rate(twin_column))
        if plan.kind == KIND_KEY:
            ks, _ = ks_and_wasserstein(
                fanout_counts(decode(real_column)).astype(np.float64), fanout_counts(decode(twin_column)).astype(np.float64)
            )
            entries.append(ColumnFidelity(plan.name, KIND_KEY, "fanout_ks", ks, *rates))
        elif plan.kind == KIND_IDENTIFIER:
            shares = []
            for column in (real_column, twin_column):
                present = column.drop_null()
                shares.append(len(pc.unique(present)) / len(present) if len(present) else 0.0)
            entries.append(
                ColumnFidelity(plan.name, KIND_IDENTIFIER, "distinct_share_difference", abs(shares[0] - shares[1]), *rates)
            )
        else:
            categorical = plan.kind == KIND_CATEGORICAL
            pair = encode_pair(real_column, twin_column, categorical, value_type(plan.field.type))
            if categorical:
                entries.append(ColumnFidelity(plan.name, plan.kind, "total_variation", total_variation(pair), *rates))
            else:
                ks, wasserstein = ks_and_wasserstein(pair.real, pair.twin)
                entries.append(ColumnFidelity(plan.name, plan.kind, "ks", ks, *rates, wasserstein=wasserstein))
            encoded.append((plan.name, pair))
    rng = np.random.default_rng(_SAMPLE_SEED)
    real_rows, twin_rows = _sample_rows(real.num_rows, rng), _sample_rows(twin.num_rows, rng)
    sampled = [
        Encoded(pair.categorical, pair.real[real_rows], pair.twin[twin_rows], pair.categories) for _, pair in encoded
    ]
    real_matrix, twin_matrix = association_matrix(sampled, "real"), association_matrix(sampled, "twin")
    names = tuple(name for name, _ in encoded)
    mean_diff, max_diff, worst = 0.0, 0.0, None
    if len(names) >= 2:
        upper = np.triu_indices(len(names), k=1)
        differences = np.abs(real_matrix - twin_matrix)[upper]
        mean_diff, max_diff = float(differences.mean()), float(differences.max())
        index = int(np.argmax(differences))
        worst = (names[upper[0][index]], names[upper[1][index]])
    return FidelityReport(
        tuple(entries), names, _as_matrix(real_matrix), _as_matrix(twin_matrix), mean_diff, max_diff, worst
    )
