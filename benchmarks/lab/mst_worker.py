"""smartnoise-synth MST side of the twin benchmark; runs inside benchmarks/.venv-smartnoise-synth.

    .venv-smartnoise-synth/bin/python mst_worker.py TABLE.parquet OUT.parquet EPSILON

Reads the benchmark table (dates become days since 1970, as numbers), fits MST with the column
kinds given below and ``nullable=True`` — smartnoise-synth's "cube" transformers: categories and
small integers label-encoded, continuous columns in equal-width ``BinTransformer`` bins with the
library's default bin counts (20 for dates, as its datetime default; 10 for numbers) — samples as
many rows as it read, writes them as Parquet (dates still as days) and prints one JSON line: fit
and sample seconds, rows, versions. The bins' bounds are given as public knowledge (``BOUNDS``:
calendar ranges, the published floor and cap of the contribution base, a cost cap) rather than
estimated from the data, so no ε goes to preprocessing and MST gets all of ``EPSILON``; without
them smartnoise-synth's DP bounds estimate is poor on small samples.
Must not import CountyOS (its pins clash with this venv's pandas and opendp).
"""

from __future__ import annotations

import json
import sys
import time

CATEGORICAL = ["sex", "township_code", "main_hospital"]
ORDINAL = ["household_size", "visits"]
CONTINUOUS = ["birth_date", "contribution_base", "insured_since", "visit_cost"]
DATES = ["birth_date", "insured_since"]
_EPOCH_DAYS = {"1900-01-01": -25567, "1990-01-01": 7305, "2026-12-31": 20818}
#: (lower, upper, bins) per continuous column; dates in days since 1970-01-01.
BOUNDS = {
    "birth_date": (_EPOCH_DAYS["1900-01-01"], _EPOCH_DAYS["2026-12-31"], 20),
    "insured_since": (_EPOCH_DAYS["1990-01-01"], _EPOCH_DAYS["2026-12-31"], 20),
    "contribution_base": (4_000.0, 25_000.0, 10),
    "visit_cost": (0.0, 20_000.0, 10),
}


def main(table_path: str, out_path: str, epsilon: float) -> None:
    import importlib.metadata as metadata

    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    from snsynth import Synthesizer
    from snsynth.transform import BinTransformer

    frame = pq.read_table(table_path).to_pandas()
    for column in DATES:
        days = (pd.to_datetime(frame[column]) - pd.Timestamp("1970-01-01")).dt.days
        frame[column] = days.astype("float64")
    for column in CATEGORICAL:
        values = frame[column].astype(object)
        frame[column] = values.where(values.notna(), None)
    started = time.perf_counter()
    synthesizer = Synthesizer.create("mst", epsilon=epsilon)
    bins = {name: BinTransformer(lower=lower, upper=upper, bins=count, nullable=True)
            for name, (lower, upper, count) in BOUNDS.items()}
    synthesizer.fit(frame, transformer=bins, categorical_columns=CATEGORICAL,
                    ordinal_columns=ORDINAL, continuous_columns=[], nullable=True)
    fitted = time.perf_counter()
    twin = synthesizer.sample(len(frame))
    sampled = time.perf_counter()
    if not isinstance(twin, pd.DataFrame):
        twin = pd.DataFrame(twin, columns=list(frame.columns))
    for column in ORDINAL + CONTINUOUS:
        twin[column] = pd.to_numeric(twin[column], errors="coerce").astype("float64")
    for column in CATEGORICAL:
        twin[column] = twin[column].map(lambda v: None if v is None or v != v else str(v))
    pq.write_table(pa.Table.from_pandas(twin[list(frame.columns)], preserve_index=False), out_path)
    print(json.dumps({
        "rows": len(frame), "fit_s": fitted - started, "sample_s": sampled - fitted,
        "epsilon": epsilon, "epsilon_left": synthesizer.epsilon,
        "version": metadata.version("smartnoise-synth"), "mbi": metadata.version("mbi"),
    }))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]))
