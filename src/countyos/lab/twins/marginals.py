"""Per-column marginal distributions of a twin: category frequencies and smoothed quantiles.

Owns what a twin learns about one column on its own: the null (and NaN) rate; for categories,
the frequencies of values seen at least ``min_category_count`` times (rarer values merge into an
"other" label for text, or are dropped for other types, so a rare real value never reappears);
for ordered values, a quantile function on a grid whose every interval holds at least
``min_category_count`` real values, after top- and bottom-coding (the ``min_category_count``
most extreme values on each side are left out and the ends are means of the next ones), with
linear interpolation in between, so the single largest income or oldest birth date is never
copied nor dominates an end.

Must not model dependencies between columns (see ``copula``) and never handles identifiers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from countyos.lab.twins.convert import detect_step, from_numbers, step_candidates
from countyos.lab.twins.schema import is_textual

OTHER_LABEL = "other"
OTHER_LABEL_CHINESE = "其他"
MAX_QUANTILE_INTERVALS = 1000
STEP_SAMPLE = 10_000
_CJK = "[\u4e00-\u9fff]"


def decode(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """One contiguous array of plain values (dictionary columns decoded)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if pa.types.is_string_view(column.type):
        column = column.cast(pa.large_string())
    return column


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


@dataclass(frozen=True)
class CategoricalMarginal:
    """Frequencies of the categories a twin may emit.

    Attributes:
        categories: The values (of the column's value type) the twin may emit.
        probabilities: Probability of each category among non-null values.
        order: Category indices from the lowest to the highest copula interval.
        null_rate: Share of null values.
        other_index: Index of the merged "other" label, or ``None``.
    """

    categories: pa.Array
    probabilities: np.ndarray
    order: np.ndarray
    null_rate: float
    other_index: int | None

    @classmethod
    def fit(cls, column: pa.Array, min_count: int) -> CategoricalMarginal:
        """Learn the frequencies of a decoded column; rare values merge or drop."""
        rows = len(column)
        nulls = column.null_count
        counts = pc.value_counts(column.drop_null())
        values = counts.field("values")
        frequencies = counts.field("counts").to_numpy(zero_copy_only=False).astype(np.int64)
        kept = frequencies >= min_count
        rare_total = int(frequencies[~kept].sum())
        categories = values.filter(pa.array(kept))
        weights = frequencies[kept].astype(np.float64)
        other_index = None
        if rare_total and is_textual(column.type):
            chinese = bool(pc.any(pc.match_substring_regex(values, _CJK)).as_py())
            label = OTHER_LABEL_CHINESE if chinese else OTHER_LABEL
            position = pc.index(categories, label).as_py()
            if position >= 0:
                weights[position] += rare_total
                other_index = position
            else:
                categories = pa.concat_arrays([categories, pa.array([label], type=categories.type)])
                weights = np.append(weights, float(rare_total))
                other_index = len(weights) - 1
        if weights.size:
            # frequency order as the default copula order, most frequent first
            order = np.argsort(-weights, kind="stable")
            probabilities = weights / weights.sum()
        else:
            order = np.zeros(0, dtype=np.int64)
            probabilities = np.zeros(0)
        return cls(categories, probabilities, order, _rate(nulls, rows), other_index)

    @property
    def empty(self) -> bool:
        """True when no category may be emitted (every value was rare)."""
        return len(self.categories) == 0

    def with_order(self, order: np.ndarray) -> CategoricalMarginal:
        """The same marginal with another copula order."""
        return CategoricalMarginal(self.categories, self.probabilities, order, self.null_rate, self.other_index)

    def codes(self, column: pa.Array) -> np.ndarray:
        """Category index per row of a decoded column: rare values get the "other" index, or
        ``-1`` like nulls when there is none."""
        index = pc.index_in(column, value_set=self.categories)
        codes = index.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        if self.other_index is not None:
            rare = (codes < 0) & column.is_valid().to_numpy(zero_copy_only=False)
            codes[rare] = self.other_index
        return codes

    def sample(self, uniforms: np.ndarray) -> pa.Array:
        """Categories for uniforms in [0, 1] (inverse distribution function in copula order)."""
        if self.empty:
            raise ValueError("an empty categorical marginal cannot be sampled")
        cumulative = np.cumsum(self.probabilities[self.order])
        positions = np.searchsorted(cumulative, uniforms, side="right")
        positions = np.minimum(positions, len(self.order) - 1)
        return self.categories.take(pa.array(self.order[positions]))


@dataclass(frozen=True)
class NumericMarginal:
    """Smoothed quantile function of an ordered column.

    Attributes:
        data_type: The column's value type.
        grid: Quantile function at ``linspace(0, 1, len(grid))``; empty when suppressed.
        step: Granularity of the real values (twin values are rounded to it), or ``None``.
        null_rate: Share of null values.
        nan_rate: Share of non-null values that are NaN or infinite (floats only).
    """

    data_type: pa.DataType
    grid: np.ndarray
    step: float | None
    null_rate: float
    nan_rate: float

    @classmethod
    def fit(
        cls,
        values: np.ndarray,
        is_null: np.ndarray,
        is_nan: np.ndarray,
        data_type: pa.DataType,
        min_count: int,
        rng: np.random.Generator,
    ) -> NumericMarginal:
        """Learn the quantile function of ``values`` (float64, NaN where missing).

        Fewer than ``min_count`` finite values give an empty grid: nothing may be released.
        """
        rows = len(values)
        nulls = int(np.count_nonzero(is_null))
        nans = int(np.count_nonzero(is_nan))
        finite = np.sort(values[np.isfinite(values)])
        count = finite.size
        if count < max(min_count, 1):
            return cls(data_type, np.zeros(0), None, _rate(nulls, rows), _rate(nans, rows - nulls))
        tail = max(min_count, 1)
        if count < 3 * tail:
            # too few values for tails: one robust aggregate (mean of the middle third)
            third = count // 3
            grid = np.full(2, finite[third : count - third].mean())
        else:
            # top- and bottom-coding: the ``tail`` most extreme values on each side are left out,
            # and the ends are means of the next ``tail`` values, so no outlier dominates them
            trimmed = finite[tail : count - tail]
            intervals = int(np.clip(trimmed.size // tail, 1, MAX_QUANTILE_INTERVALS))
            grid = np.quantile(trimmed, np.linspace(0.0, 1.0, intervals + 1))
            grid[0] = trimmed[:tail].mean()
            grid[-1] = trimmed[-tail:].mean()
            grid = np.maximum.accumulate(grid)
        sample = finite if count <= STEP_SAMPLE else rng.choice(finite, STEP_SAMPLE, replace=False)
        step = detect_step(sample, step_candidates(data_type))
        return cls(data_type, grid, step, _rate(nulls, rows), _rate(nans, rows - nulls))

    @property
    def empty(self) -> bool:
        """True when too few values were seen to release anything about the column."""
        return self.grid.size == 0

    def quantile(self, uniforms: np.ndarray) -> np.ndarray:
        """Values (float64, before rounding) at the given probabilities."""
        probabilities = np.linspace(0.0, 1.0, self.grid.size)
        return np.interp(uniforms, probabilities, self.grid)

    def sample(self, uniforms: np.ndarray) -> pa.Array:
        """Arrow values of the column's type for uniforms in [0, 1]."""
        if self.empty:
            raise ValueError("an empty numeric marginal cannot be sampled")
        values = self.quantile(uniforms)
        # rounding must not leave the smoothed range (e.g. step 1000 on values 0..400)
        low, high = self.grid[0], self.grid[-1]
        if self.step is not None:
            rounded = np.rint(values / self.step) * self.step
            inside = (rounded >= low - 1e-9 * abs(low)) & (rounded <= high + 1e-9 * abs(high))
            values = np.where(inside, rounded, values)
        return from_numbers(values, self.data_type, None)
