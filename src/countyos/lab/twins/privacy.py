"""Privacy of a twin: how much of it re-creates real records or real values.

Owns ``privacy_report``: the share of twin rows equal to a real row on all quasi-identifiers
(and to a real row that is unique on them), nearest-record distances (Gower distance from a
sample of twin rows to the closest of a sample of real rows, beside the same distance between
real rows as a baseline; a twin row equal to any real row counts 0), real identifier and key values found in the twin, and twin rows
whose category is rare in the real column.

Must not return or log any row value: only counts, shares and distances.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from countyos.errors import InvalidInputError
from countyos.lab.twins.association import encode_pair
from countyos.lab.twins.fidelity import check_same_schema
from countyos.lab.twins.marginals import decode
from countyos.lab.twins.schema import (
    KIND_CATEGORICAL,
    KIND_IDENTIFIER,
    KIND_KEY,
    KIND_NUMERIC,
    ColumnPlan,
    TwinColumn,
    plan_table,
    value_type,
)

_DISTANCE_CHUNK = 512


@dataclass(frozen=True)
class PrivacyReport:
    """Disclosure measures of a twin against its real table.

    Attributes:
        match_columns: Columns compared for exact matches (the quasi-identifiers, or every
            attribute column when none is declared).
        exact_match_rows: Twin rows equal to some real row on all match columns.
        exact_match_share: The same as a share of twin rows.
        unique_match_share: Share of twin rows equal to a real row that is unique on them.
        baseline_match_share: Share of real rows equal to another real row on the match
            columns: what a realistic row matches by chance. A twin well above it copies.
        distance_columns: Attribute columns of the nearest-record distance.
        sample_size: Twin rows (and real reference rows, at most) in the distance sample.
        dcr_median: Median Gower distance (0..1) from a sampled twin row to the closest row of
            a sample of real rows; 0 for twin rows equal to any real row.
        dcr_p05: 5th percentile of that distance.
        dcr_zero_share: Share of sampled twin rows at distance 0 from a real row.
        baseline_dcr_median: Median distance from a real row to the closest other real row.
        baseline_dcr_p05: 5th percentile of that distance.
        identifier_overlaps: Per identifier and key column, twin values equal to a real value.
        rare_category_rows: Per categorical column, twin rows whose value is rare in the real
            column (seen fewer than ``min_category_count`` times).
    """

    match_columns: tuple[str, ...]
    exact_match_rows: int
    exact_match_share: float
    unique_match_share: float
    baseline_match_share: float
    distance_columns: tuple[str, ...]
    sample_size: int
    dcr_median: float
    dcr_p05: float
    dcr_zero_share: float
    baseline_dcr_median: float
    baseline_dcr_p05: float
    identifier_overlaps: dict[str, int]
    rare_category_rows: dict[str, int]

    @property
    def identifiers_leaked(self) -> bool:
        """True when any real identifier or key value appears in the twin."""
        return any(self.identifier_overlaps.values())

    def to_dict(self) -> dict:
        """JSON-serialisable form."""
        return asdict(self)


def _row_ids(real: pa.Table, twin: pa.Table, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Integer ids of the rows' value combinations on ``names``, shared by both tables."""
    codes = []
    for name in names:
        both = pa.concat_arrays([decode(real.column(name)), decode(twin.column(name)).cast(decode(real.column(name)).type)])
        codes.append(pc.dictionary_encode(both, null_encoding="encode").indices.to_numpy(zero_copy_only=False))
    radices = [int(c.max()) + 1 if c.size else 1 for c in codes]
    if float(np.prod(np.array(radices, dtype=np.float64))) < 2.0**62:
        combined = np.zeros(real.num_rows + twin.num_rows, dtype=np.int64)
        for column_codes, radix in zip(codes, radices):
            combined = combined * radix + column_codes.astype(np.int64)
        _, ids = np.unique(combined, return_inverse=True)
    else:
        _, ids = np.unique(np.stack(codes, axis=1).astype(np.int64), axis=0, return_inverse=True)
    ids = ids.ravel()
    return ids[: real.num_rows], ids[real.num_rows:]


def _exact_matches(real: pa.Table, twin: pa.Table, names: Sequence[str]) -> tuple[int, float, float, float]:
    """Twin rows equal to a real row, their share, the share equal to a unique real row, and
    the share of real rows equal to another real row."""
    if twin.num_rows == 0 or real.num_rows == 0:
        return 0, 0.0, 0.0, 0.0
    real_ids, twin_ids = _row_ids(real, twin, names)
    counts = np.bincount(real_ids, minlength=int(max(real_ids.max(), twin_ids.max())) + 1)
    matched = counts[twin_ids] > 0
    unique = counts[twin_ids] == 1
    return int(matched.sum()), float(matched.mean()), float(unique.mean()), float(np.mean(counts[real_ids] > 1))


def _distance_features(
    plans: Sequence[ColumnPlan], real: pa.Table, twin: pa.Table, real_rows: np.ndarray, twin_rows: np.ndarray
) -> list[tuple[bool, np.ndarray, np.ndarray]]:
    """Per column: (categorical, real values, twin values) scaled for Gower distance."""
    features = []
    for plan in plans:
        categorical = plan.kind == KIND_CATEGORICAL
        pair = encode_pair(
            decode(real.column(plan.name)).take(pa.array(real_rows)),
            decode(twin.column(plan.name)).take(pa.array(twin_rows)),
            categorical, value_type(plan.field.type),
        )
        if categorical:
            features.append((True, pair.real, pair.twin))
            continue
        finite = pair.real[np.isfinite(pair.real)]
        spread = float(np.subtract(*np.percentile(finite, [99, 1]))) if finite.size else 0.0
        if spread <= 0:
            spread = float(finite.max() - finite.min()) if finite.size else 0.0
        spread = spread if spread > 0 else 1.0
        features.append((False, (pair.real / spread).astype(np.float32), (pair.twin / spread).astype(np.float32)))
    return features


def _nearest_distances(features, source: str, exclude_self: bool) -> np.ndarray:
    """Gower distance from each row of ``source`` (``"twin"`` or ``"real"``) to the closest real row."""
    reference = [f[1] for f in features]
    queries = [f[1] if source == "real" else f[2] for f in features]
    gaps = [(False, False) if f[0] else (bool(np.isnan(r).any()), bool(np.isnan(q).any())) for f, r, q in zip(features, reference, queries)]
    count, size = queries[0].size, reference[0].size
    nearest = np.empty(count)
    for start in range(0, count, _DISTANCE_CHUNK):
        stop = min(start + _DISTANCE_CHUNK, count)
        total = np.zeros((stop - start, size), dtype=np.float32)
        for (categorical, _, _), ref, query, missing in zip(features, reference, queries, gaps):
            q = query[start:stop, None]
            if categorical:
                total += (q != ref[None, :]).astype(np.float32)
            else:
                difference = np.minimum(np.abs(q - ref[None, :]), np.float32(1.0))
                if missing[0] or missing[1]:
                    missing_q, missing_r = np.isnan(q), np.isnan(ref)[None, :]
                    difference = np.where(missing_q | missing_r, (missing_q != missing_r).astype(np.float32), difference)
                total += difference
        if exclude_self:
            total[np.arange(stop - start), np.arange(start, stop)] = np.inf
        nearest[start:stop] = total.min(axis=1) / len(features)
    return nearest


def privacy_report(
    real: pa.Table,
    twin: pa.Table,
    columns: Sequence[TwinColumn],
    *,
    sample: int = 5000,
    seed: int,
    min_category_count: int = 10,
) -> PrivacyReport:
    """Measure how much a twin re-creates real records and values.

    Args:
        real: The real rows.
        twin: The twin (same schema).
        columns: The column descriptions used to build the twin.
        sample: Twin rows (and real reference rows) in the nearest-record distance sample.
        seed: Seed of the samples.
        min_category_count: Categories rarer than this in the real column count as rare.

    Raises:
        InvalidInputError: bad descriptions, schemas that differ, or a sample below 2.
    """
    if not isinstance(sample, int) or sample < 2:
        raise InvalidInputError("the distance sample needs at least 2 rows")
    check_same_schema(real, twin)
    plans = plan_table(real, columns)
    attributes = [p for p in plans if p.kind in (KIND_CATEGORICAL, KIND_NUMERIC)]
    quasi = [p.name for p in attributes if p.column.role == "quasi_identifier"]
    match_columns = tuple(quasi or [p.name for p in attributes])
    matched_rows, match_share, unique_share, baseline_share = (
        _exact_matches(real, twin, match_columns) if match_columns else (0, 0.0, 0.0, 0.0)
    )

    rng = np.random.default_rng(seed)
    real_rows = np.sort(rng.choice(real.num_rows, size=min(sample, real.num_rows), replace=False))
    twin_rows = np.sort(rng.choice(twin.num_rows, size=min(sample, twin.num_rows), replace=False))
    dcr = baseline = np.zeros(0)
    if attributes and real_rows.size and twin_rows.size:
        features = _distance_features(attributes, real, twin, real_rows, twin_rows)
        dcr = _nearest_distances(features, "twin", exclude_self=False)
        # a twin row equal to any real row (not only to one in the reference sample) is at 0
        real_ids, twin_ids = _row_ids(real, twin, [p.name for p in attributes])
        dcr[np.isin(twin_ids[twin_rows], real_ids)] = 0.0
        if real_rows.size > 1:
            baseline = _nearest_distances(features, "real", exclude_self=True)

    overlaps = {}
    for plan in plans:
        if plan.kind in (KIND_IDENTIFIER, KIND_KEY):
            real_values = pc.unique(decode(real.column(plan.name)).drop_null())
            twin_values = decode(twin.column(plan.name)).drop_null()
            overlaps[plan.name] = int(pc.sum(pc.is_in(twin_values, value_set=real_values.cast(twin_values.type))).as_py() or 0)
    rare = {}
    for plan in attributes:
        if plan.kind == KIND_CATEGORICAL:
            counts = pc.value_counts(decode(real.column(plan.name)).drop_null())
            rare_values = counts.field("values").filter(pc.less(counts.field("counts"), min_category_count))
            twin_values = decode(twin.column(plan.name))
            rare[plan.name] = int(pc.sum(pc.is_in(twin_values, value_set=rare_values)).as_py() or 0)

    def quantile(values: np.ndarray, q: float) -> float:
        return float(np.quantile(values, q)) if values.size else float("nan")

    return PrivacyReport(
        match_columns=match_columns,
        exact_match_rows=matched_rows,
        exact_match_share=match_share,
        unique_match_share=unique_share,
        baseline_match_share=baseline_share,
        distance_columns=tuple(p.name for p in attributes),
        sample_size=int(twin_rows.size),
        dcr_median=quantile(dcr, 0.5),
        dcr_p05=quantile(dcr, 0.05),
        dcr_zero_share=float(np.mean(dcr == 0)) if dcr.size else float("nan"),
        baseline_dcr_median=quantile(baseline, 0.5),
        baseline_dcr_p05=quantile(baseline, 0.05),
        identifier_overlaps=overlaps,
        rare_category_rows=rare,
    )
