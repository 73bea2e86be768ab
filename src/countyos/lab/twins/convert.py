"""Conversion between Arrow columns of ordered types and float64 numpy arrays.

Owns the mapping of integers, floats, decimals, dates, timestamps, times and durations to plain
numbers (days, time units) and back to exactly the original Arrow type, with rounding to the
column's granularity and clipping to the type's range.

Must not model distributions (see ``marginals``) and must not change a type: what comes back has
the value type it was given.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_DAY_SECONDS = 86_400
_UNIT_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def to_numbers(column: pa.ChunkedArray | pa.Array, data_type: pa.DataType) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Numbers of an ordered column.

    Args:
        column: The column (dictionary columns must already be decoded).
        data_type: Its value type.

    Returns:
        ``(values, is_null, is_nan)``: float64 values (NaN where null or not finite), the null
        mask and the mask of non-null values that are not finite (NaN or infinite floats).
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    is_null = column.is_null().to_numpy(zero_copy_only=False)
    if pa.types.is_date32(data_type) or pa.types.is_time32(data_type):
        column = column.cast(pa.int32())
    elif pa.types.is_temporal(data_type):
        column = column.cast(pa.int64())
    elif pa.types.is_decimal(data_type):
        column = pc.cast(column, pa.float64())
    values = column.to_numpy(zero_copy_only=False)
    values = np.asarray(values, dtype=np.float64)
    values = np.where(is_null, np.nan, values)
    is_nan = ~is_null & ~np.isfinite(values)
    values[is_nan] = np.nan
    return values, is_null, is_nan


def type_bounds(data_type: pa.DataType) -> tuple[float, float]:
    """Smallest and largest number a column of ``data_type`` can hold (as float64)."""
    if pa.types.is_integer(data_type):
        info = np.iinfo(data_type.to_pandas_dtype())
        return float(info.min), float(info.max)
    if pa.types.is_decimal(data_type):
        largest = 10.0 ** (data_type.precision - data_type.scale) - 10.0 ** (-data_type.scale)
        return -largest, largest
    if pa.types.is_date32(data_type) or pa.types.is_time32(data_type):
        return float(np.iinfo(np.int32).min), float(np.iinfo(np.int32).max)
    if pa.types.is_temporal(data_type):
        # float64 cannot hold int64 max exactly; stay one ulp inside
        return -9.2e18, 9.2e18
    if pa.types.is_float16(data_type):
        return -65504.0, 65504.0
    if pa.types.is_float32(data_type):
        largest = float(np.finfo(np.float32).max)
        return -largest, largest
    return -np.inf, np.inf


def step_candidates(data_type: pa.DataType) -> tuple[float, ...]:
    """Granularities to test, largest first, for rounding twin values like the real ones."""
    if pa.types.is_integer(data_type):
        return (1000.0, 100.0, 10.0, 1.0)
    if pa.types.is_decimal(data_type):
        return tuple(10.0 ** -d for d in range(0, data_type.scale + 1))
    if pa.types.is_date(data_type):
        if pa.types.is_date64(data_type):
            return (_DAY_SECONDS * 1000.0, 1000.0, 1.0)
        return (1.0,)
    if pa.types.is_timestamp(data_type) or pa.types.is_time(data_type) or pa.types.is_duration(data_type):
        per_second = _UNIT_PER_SECOND[data_type.unit]
        seconds = (float(_DAY_SECONDS), 3600.0, 60.0, 1.0, 1e-3, 1e-6, 1e-9)
        return tuple(s * per_second for s in seconds if s * per_second >= 1)
    return (1000.0, 100.0, 10.0, 1.0, 0.1, 0.01, 0.001, 1e-4, 1e-5, 1e-6)


def detect_step(values: np.ndarray, candidates: tuple[float, ...]) -> float | None:
    """The largest candidate step of which every value is a multiple, or ``None``.

    Args:
        values: Finite values (a sample is enough).
        candidates: Steps to test, largest first.
    """
    if values.size == 0:
        return candidates[-1] if candidates else None
    for step in candidates:
        ratio = values / step
        if np.all(np.abs(ratio - np.rint(ratio)) <= 1e-6 + 1e-12 * np.abs(ratio)):
            return step
    return None


def from_numbers(values: np.ndarray, data_type: pa.DataType, step: float | None) -> pa.Array:
    """Arrow array of ``data_type`` from float64 values (no NaN), rounded to ``step``.

    Values are clipped to the type's range so a cast never overflows.
    """
    values = np.asarray(values, dtype=np.float64)
    if step is not None and step > 0:
        values = np.rint(values / step) * step
    low, high = type_bounds(data_type)
    values = np.clip(values, low, high)
    if pa.types.is_floating(data_type):
        return pa.array(values.astype(data_type.to_pandas_dtype()), type=data_type)
    if pa.types.is_decimal(data_type):
        return pa.array(np.round(values, data_type.scale), type=pa.float64()).cast(data_type)
    if pa.types.is_unsigned_integer(data_type):
        return pa.array(np.rint(values).astype(np.uint64)).cast(data_type)
    if pa.types.is_integer(data_type):
        return pa.array(np.rint(values).astype(np.int64)).cast(data_type)
    if pa.types.is_date32(data_type) or pa.types.is_time32(data_type):
        return pa.array(np.rint(values).astype(np.int32)).cast(data_type)
    if pa.types.is_temporal(data_type):
        return pa.array(np.rint(values).astype(np.int64)).cast(data_type)
    raise TypeError(f"not an ordered type: {data_type}")
