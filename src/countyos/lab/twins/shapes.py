"""Fresh values in the shape of a column's real values, for keys and unnamed identifiers.

Owns the "shape" of text values (digits, and if needed letters, replaced by placeholders; other
characters kept), keeping only shapes seen at least ``min_category_count`` times so a rare
value's literal parts never reappear, and filling shapes with random characters; and random
integers of the real values' usual digit count. Shapes are widened (more digits) until they hold
many more values than needed, so fresh values rarely collide.

Must not copy any real value: only shapes shared by many values are kept, and every placeholder is
filled at random. Collisions with real values are removed by the caller.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from countyos.errors import InvalidInputError
from countyos.lab.twins.convert import type_bounds

DIGIT, UPPER, LOWER = "\x01", "\x02", "\x03"
_CLASS_ALPHABETS = {
    DIGIT: np.array(list("0123456789")),
    UPPER: np.array(list("ABCDEFGHJKLMNPQRSTUVWXYZ")),
    LOWER: np.array(list("abcdefghijkmnpqrstuvwxyz")),
}
_SHAPE_SAMPLE = 50_000
_CAPACITY_FACTOR = 20
_MIN_SHAPE_COVERAGE = 0.5
_FALLBACK_LENGTH_RANGE = (8, 32)

Maker = Callable[[np.ndarray], pa.Array]


def _capacity(shape: str) -> float:
    return math.prod(len(_CLASS_ALPHABETS[c]) for c in shape if c in _CLASS_ALPHABETS)


def _widen(shape: str) -> str:
    """Insert one more digit placeholder into the longest run of digits (or at the end)."""
    best_start, best_length, start = len(shape), 0, None
    for position, character in enumerate(shape + "\0"):
        if character == DIGIT and start is None:
            start = position
        elif character != DIGIT and start is not None:
            if position - start > best_length:
                best_start, best_length = start, position - start
            start = None
    return shape[:best_start] + DIGIT + shape[best_start:]


def _frequent_shapes(values: pa.Array, min_count: int, coarse: bool) -> tuple[list[str], np.ndarray, float]:
    shapes = pc.replace_substring_regex(values, "[0-9]", DIGIT)
    if coarse:
        shapes = pc.replace_substring_regex(shapes, "[A-Z]", UPPER)
        shapes = pc.replace_substring_regex(shapes, "[a-z]", LOWER)
    counts = pc.value_counts(shapes)
    names = counts.field("values").to_pylist()
    frequencies = counts.field("counts").to_numpy(zero_copy_only=False).astype(np.float64)
    kept = frequencies >= min_count
    coverage = frequencies[kept].sum() / max(frequencies.sum(), 1.0)
    kept_names = [name for name, keep in zip(names, kept) if keep]
    return kept_names, frequencies[kept], coverage


class StringShapes:
    """Random text values in the frequent shapes of a column's real values."""

    def __init__(self, shapes: list[str], weights: np.ndarray) -> None:
        self.shapes = shapes
        self.probabilities = weights / weights.sum()

    @classmethod
    def fit(cls, real: pa.Array, min_count: int, needed: int, rng: np.random.Generator) -> StringShapes:
        """Learn frequent shapes of the non-null text values ``real``.

        Args:
            real: The real column (decoded, text).
            min_count: A shape must be seen this often to be used.
            needed: How many distinct fresh values may be needed (sets the minimum capacity).
            rng: Random generator (for the sample of values whose shapes are counted).
        """
        values = real.drop_null()
        if len(values) > _SHAPE_SAMPLE:
            values = values.take(pa.array(rng.choice(len(values), _SHAPE_SAMPLE, replace=False)))
        # the threshold applies to the sample itself: conservative when the column is larger
        threshold = max(1, min_count)
        shapes, weights, coverage = _frequent_shapes(values, threshold, coarse=False)
        if coverage < _MIN_SHAPE_COVERAGE:
            shapes, weights, coverage = _frequent_shapes(values, threshold, coarse=True)
        if not shapes:
            lengths = pc.utf8_length(values).to_numpy(zero_copy_only=False) if len(values) else np.array([12])
            length = int(np.clip(np.median(lengths), *_FALLBACK_LENGTH_RANGE))
            shapes, weights = [DIGIT * length], np.array([1.0])
        target = _CAPACITY_FACTOR * max(needed, 1)
        widened = []
        for shape in shapes:
            while _capacity(shape) < target:
                shape = _widen(shape)
            widened.append(shape)
        return cls(widened, weights)

    def make(self, count: int, rng: np.random.Generator) -> pa.Array:
        """``count`` random values (type string) in the learned shapes."""
        chosen = rng.choice(len(self.shapes), size=count, p=self.probabilities)
        parts, order = [], []
        for index, shape in enumerate(self.shapes):
            rows = np.flatnonzero(chosen == index)
            if rows.size == 0:
                continue
            characters = np.tile(np.array(list(shape), dtype="<U1"), (rows.size, 1))
            for position, placeholder in enumerate(shape):
                alphabet = _CLASS_ALPHABETS.get(placeholder)
                if alphabet is not None:
                    characters[:, position] = alphabet[rng.integers(0, len(alphabet), size=rows.size)]
            parts.append(pa.array(np.ascontiguousarray(characters).view(f"<U{len(shape)}").ravel()))
            order.append(rows)
        if not parts:
            return pa.array([], type=pa.string())
        combined = pa.concat_arrays([p.cast(pa.string()) for p in parts])
        positions = np.empty(count, dtype=np.int64)
        positions[np.concatenate(order)] = np.arange(count)
        return combined.take(pa.array(positions))


class IntegerShapes:
    """Random positive integers with the usual digit count of a column's real values."""

    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = low, high

    @classmethod
    def fit(cls, real: pa.Array, data_type: pa.DataType, min_count: int, needed: int) -> IntegerShapes:
        """Learn the digit count of ``real`` and widen it until it holds ``needed`` values many
        times over.

        Raises:
            InvalidInputError: the column's integer type cannot hold enough fresh values.
        """
        values = np.abs(real.drop_null().to_numpy(zero_copy_only=False).astype(np.float64))
        digits = np.floor(np.log10(np.maximum(values, 1.0))).astype(np.int64) + 1
        counts = np.bincount(digits) if digits.size else np.zeros(1, dtype=np.int64)
        frequent = np.flatnonzero(counts >= min_count)
        width = int(frequent[np.argmax(counts[frequent])]) if frequent.size else 6
        needed_width = math.ceil(math.log10(_CAPACITY_FACTOR * max(needed, 1) / 0.9))
        width = max(width, needed_width, 1)
        _, type_high = type_bounds(data_type)
        high = min(10**width - 1, int(type_high))
        low = 10 ** (width - 1) if width > 1 else 1
        if low > high:
            low = max(1, high // 10)
        if high - low + 1 < 2 * max(needed, 1):
            raise InvalidInputError(
                f"the key type {data_type} is too small for {needed} fresh values; use a wider type"
            )
        return cls(low, high)

    def make(self, count: int, rng: np.random.Generator) -> pa.Array:
        """``count`` random integers (type int64) in the learned range."""
        return pa.array(rng.integers(self.low, self.high, size=count, endpoint=True), type=pa.int64())
