"""Vectorised string building for the Demo County generator.

Owns turning numpy index and number arrays into Arrow string arrays without per-row Python loops:
picking words from a vocabulary, zero-padded numbers, fixed-width ASCII codes, joining pieces and
filling sentence templates. It knows nothing about any dataset.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

Piece = pa.Array | str


def pick(vocabulary: Sequence[str], index: np.ndarray) -> pa.Array:
    """Strings ``vocabulary[index[i]]`` as an Arrow string array."""
    return pa.array(list(vocabulary), type=pa.string()).take(pa.array(np.asarray(index, np.int64)))


def ascii_rows(codes: np.ndarray) -> pa.Array:
    """Rows of an ``(n, width)`` array of ASCII codes as ``n`` strings of ``width`` characters."""
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    n, width = codes.shape
    if n == 0:
        return pa.array([], type=pa.string())
    as_bytes = codes.view(f"S{width}").reshape(n)
    return pa.array(as_bytes, type=pa.binary()).cast(pa.string())


def digit_codes(values: np.ndarray, width: int) -> np.ndarray:
    """The ASCII codes of ``values`` written with ``width`` decimal digits, zero-padded."""
    values = np.asarray(values, dtype=np.int64)
    if np.any(values < 0) or np.any(values >= 10**width):
        raise ValueError(f"values do not fit in {width} decimal digits")
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (values[:, None] // powers[None, :] % 10 + 48).astype(np.uint8)


def padded(values: np.ndarray, width: int) -> pa.Array:
    """``values`` as zero-padded decimal strings of ``width`` digits."""
    return ascii_rows(digit_codes(values, width))


def join(*pieces: Piece) -> pa.Array:
    """Concatenate string arrays and literal strings element-wise (nulls become empty)."""
    arrays = [p for p in pieces if not isinstance(p, str)]
    if not arrays:
        raise ValueError("join needs at least one array")
    length = len(arrays[0])
    parts = [pa.scalar(p, pa.string()) if isinstance(p, str) else p.fill_null("") for p in pieces]
    if length == 0:
        return pa.array([], type=pa.string())
    return pc.binary_join_element_wise(*parts, "")


def fill_templates(
    templates: Sequence[str], which: np.ndarray, slots: Mapping[str, pa.Array]
) -> pa.Array:
    """Fill ``templates[which[i]]`` for every row ``i`` with the row's slot values.

    Args:
        templates: Format strings whose fields (``{road}``) name keys of ``slots``.
        which: Template index of every row.
        slots: One string array per field name, each as long as ``which``.

    Returns:
        One filled sentence per row, in row order.
    """
    which = np.asarray(which, dtype=np.int64)
    n = len(which)
    if n == 0:
        return pa.array([], type=pa.string())
    chunks: list[pa.Array] = []
    order: list[np.ndarray] = []
    for number, template in enumerate(templates):
        rows = np.flatnonzero(which == number)
        if len(rows) == 0:
            continue
        take = pa.array(rows)
        pieces: list[Piece] = []
        for literal, field_name, _, _ in string.Formatter().parse(template):
            if literal:
                pieces.append(literal)
            if field_name:
                pieces.append(slots[field_name].take(take))
        if all(isinstance(p, str) for p in pieces):
            sentence = "".join(str(p) for p in pieces)
            chunks.append(pa.array([sentence] * len(rows), type=pa.string()))
        else:
            chunks.append(join(*pieces))
        order.append(rows)
    rows_in_chunk_order = np.concatenate(order)
    inverse = np.empty(n, dtype=np.int64)
    inverse[rows_in_chunk_order] = np.arange(n)
    return pa.concat_arrays(chunks).take(pa.array(inverse))
