"""The joint model of a table's attribute columns: marginals tied by a Gaussian copula.

Owns fitting one table's categorical and numeric columns (marginals on all rows, the copula on
a random sample of rows), choosing each category order so that its strongest association is
monotone, and sampling twin columns with the learned null and NaN rates.

Must not handle identifiers or keys (see ``builder``), and must not keep real rows: a fitted
model holds only frequencies of common categories, smoothed quantiles and a correlation matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from countyos.lab.twins.convert import from_numbers, to_numbers
from countyos.lab.twins.copula import (
    GaussianCopula,
    average_ranks,
    category_scores,
    group_means,
    rank_normal_scores,
)
from countyos.lab.twins.marginals import CategoricalMarginal, NumericMarginal, decode
from countyos.lab.twins.schema import KIND_CATEGORICAL, KIND_NUMERIC, ColumnPlan, value_type

COPULA_SAMPLE_ROWS = 100_000
_WEAK_ASSOCIATION = 0.01

Marginal = CategoricalMarginal | NumericMarginal


@dataclass(frozen=True)
class TableModel:
    """Fitted marginals of a table's attribute columns and the copula joining them.

    Attributes:
        marginals: Marginal per column name (categorical and numeric columns only).
        copula_columns: Names of the columns in the copula, in its order.
        copula: The Gaussian copula over those columns.
    """

    marginals: dict[str, Marginal]
    copula_columns: tuple[str, ...]
    copula: GaussianCopula

    @classmethod
    def fit(
        cls, table: pa.Table, plans: Sequence[ColumnPlan], min_count: int, rng: np.random.Generator
    ) -> TableModel:
        """Fit the attribute columns of ``table`` (those planned categorical or numeric)."""
        marginals: dict[str, Marginal] = {}
        for plan in plans:
            if plan.kind == KIND_CATEGORICAL:
                marginals[plan.name] = CategoricalMarginal.fit(decode(table.column(plan.name)), min_count)
            elif plan.kind == KIND_NUMERIC:
                data_type = value_type(plan.field.type)
                values, is_null, is_nan = to_numbers(decode(table.column(plan.name)), data_type)
                marginals[plan.name] = NumericMarginal.fit(values, is_null, is_nan, data_type, min_count, rng)
        names = tuple(name for name, marginal in marginals.items() if not marginal.empty)
        if not names or table.num_rows == 0:
            return cls(marginals, names, GaussianCopula(np.eye(len(names))))
        rows = table.num_rows
        if rows > COPULA_SAMPLE_ROWS:
            chosen = np.sort(rng.choice(rows, size=COPULA_SAMPLE_ROWS, replace=False))
            sample = table.select(list(names)).take(pa.array(chosen))
        else:
            sample = table.select(list(names))
        scores, spreads, ranks = _scores(sample, names, marginals)
        return cls(marginals, names, GaussianCopula.fit(scores, spreads, ranks))

    def sample(self, rows: int, fields: dict[str, pa.Field], rng: np.random.Generator) -> dict[str, pa.Array]:
        """Twin columns (value types, nulls applied) for every modelled column.

        Columns whose marginal is empty (too few real values to release anything) come back
        all null when nullable, else filled with the type's zero.
        """
        uniforms = self.copula.sample_uniforms(rows, rng)
        result: dict[str, pa.Array] = {}
        for name, marginal in self.marginals.items():
            field = fields[name]
            data_type = value_type(field.type)
            if marginal.empty:
                result[name] = _empty_column(data_type, rows, field.nullable)
                continue
            values = marginal.sample(uniforms[:, self.copula_columns.index(name)])
            if pa.types.is_floating(data_type) and marginal.nan_rate > 0:
                values = pc.if_else(pa.array(rng.random(rows) < marginal.nan_rate), pa.scalar(np.nan, data_type), values)
            if field.nullable and marginal.null_rate > 0:
                nulls = pa.array(rng.random(rows) < marginal.null_rate)
                values = pc.if_else(nulls, pa.scalar(None, values.type), values)
            result[name] = values
        return result


def _empty_column(data_type: pa.DataType, rows: int, nullable: bool) -> pa.Array:
    if nullable:
        return pa.nulls(rows, type=data_type)
    if pa.types.is_boolean(data_type):
        return pa.array(np.zeros(rows, dtype=bool))
    if pa.types.is_string(data_type) or pa.types.is_large_string(data_type):
        return pa.array([""] * rows, type=data_type)
    return from_numbers(np.zeros(rows), data_type, None)


def _scores(
    sample: pa.Table, names: tuple[str, ...], marginals: dict[str, Marginal]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normal scores of the sample's columns, their spreads (1 for numbers) and the ranks of
    the numeric columns (NaN columns for categories).

    Categorical orders are updated in ``marginals``.
    """
    scores = np.full((sample.num_rows, len(names)), np.nan)
    ranks = np.full((sample.num_rows, len(names)), np.nan)
    spreads = np.ones(len(names))
    codes: dict[str, np.ndarray] = {}
    for position, name in enumerate(names):
        marginal = marginals[name]
        column = decode(sample.column(name))
        if isinstance(marginal, NumericMarginal):
            values, _, _ = to_numbers(column, marginal.data_type)
            ranks[:, position] = average_ranks(values)
            scores[:, position] = rank_normal_scores(values)
        else:
            codes[name] = marginal.codes(column)
    numeric_positions = [p for p, n in enumerate(names) if n not in codes]
    # categories most tied to a number are ordered first; the others may then anchor on them
    strength = {}
    for name, column_codes in codes.items():
        k = len(marginals[name].categories)
        strength[name] = max((group_means(column_codes, scores[:, p], k)[1] for p in numeric_positions), default=0.0)
    scored = list(numeric_positions)
    for name in sorted(codes, key=lambda n: -strength[n]):
        marginal = marginals[name]
        k = len(marginal.categories)
        best_means, best_eta = None, _WEAK_ASSOCIATION
        for p in scored:
            means, eta = group_means(codes[name], scores[:, p], k)
            if eta > best_eta:
                best_means, best_eta = means, eta
        if best_means is not None:
            marginal = marginal.with_order(np.argsort(best_means, kind="stable"))
            marginals[name] = marginal
        position = names.index(name)
        scores[:, position], spreads[position] = category_scores(codes[name], marginal.probabilities, marginal.order)
        scored.append(position)
    return scores, spreads, ranks
