"""The shapes of the Demo County: datasets, columns, departments, townships and the county.

Owns the public dataclasses and writing a generated county to files (one Parquet per dataset, the
township GeoJSON and a JSON manifest with every title and description). It must not generate data
(the topic modules do) and must not touch the lake or the catalog: it only writes plain files.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from countyos.errors import InternalError, InvalidInputError, NotFoundError

DATASET_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

#: Arrow types every dataset column must use, so that Iceberg, DuckDB and Spark read them as is.
ICEBERG_FRIENDLY_TYPES: tuple[pa.DataType, ...] = (
    pa.string(),
    pa.int64(),
    pa.float64(),
    pa.bool_(),
    pa.date32(),
    pa.timestamp("us"),
)

GEOJSON_FILE = "townships.geojson"
MANIFEST_FILE = "county.json"


@dataclass(frozen=True)
class DemoColumn:
    """One column of a demo dataset with its bilingual description."""

    name: str
    description_zh: str
    description_en: str


@dataclass
class DemoDataset:
    """One table of the Demo County, owned by one department.

    ``table`` uses Iceberg-friendly Arrow types only (see ``ICEBERG_FRIENDLY_TYPES``); a field is
    declared non-nullable exactly when the column never holds a null. ``columns`` describes every
    table column, in table order.
    """

    name: str
    title_zh: str
    title_en: str
    description_zh: str
    description_en: str
    department: str
    table: pa.Table
    columns: list[DemoColumn]

    def __post_init__(self) -> None:
        if not DATASET_NAME_RE.match(self.name):
            raise InternalError(f"demo dataset name {self.name!r} is not a valid SQL table name")
        names = [column.name for column in self.columns]
        if names != self.table.column_names:
            raise InternalError(
                f"demo dataset {self.name}: described columns {names} differ from the table's "
                f"{self.table.column_names}"
            )
        for schema_field in self.table.schema:
            if schema_field.type not in ICEBERG_FRIENDLY_TYPES:
                raise InternalError(
                    f"demo dataset {self.name}: column {schema_field.name} has type "
                    f"{schema_field.type}, which is not Iceberg-friendly"
                )

    @property
    def num_rows(self) -> int:
        """Number of rows of the table."""
        return self.table.num_rows

    def column(self, name: str) -> DemoColumn:
        """The description of one column.

        Raises:
            NotFoundError: the dataset has no such column.
        """
        for column in self.columns:
            if column.name == name:
                return column
        raise NotFoundError(f"demo dataset {self.name} has no column {name!r}")


@dataclass(frozen=True)
class DemoDepartment:
    """A department of the county government (or a utility) that owns datasets."""

    code: str
    name_zh: str
    name_en: str


@dataclass(frozen=True)
class DemoTownship:
    """A township-level division: a town (镇), a subdistrict (街道) or a township (乡).

    ``code`` is a 9-digit administrative code under the county code; ``population`` counts the
    residents in the population registry; ``area_km2`` and ``centroid`` (lon, lat) come from the
    township's polygon in the county GeoJSON.
    """

    code: str
    name_zh: str
    name_pinyin: str
    kind: str
    population: int
    area_km2: float
    centroid: tuple[float, float]


@dataclass
class DemoCounty:
    """A generated Demo County: townships, departments, datasets and boundaries."""

    name_zh: str
    name_en: str
    scale: float
    seed: int
    townships: list[DemoTownship]
    departments: list[DemoDepartment]
    datasets: list[DemoDataset]
    geojson: dict[str, Any]
    county_code: str = ""
    reference_date: str = ""

    def dataset(self, name: str) -> DemoDataset:
        """The dataset called ``name``.

        Raises:
            NotFoundError: no dataset has that name.
        """
        for dataset in self.datasets:
            if dataset.name == name:
                return dataset
        raise NotFoundError(f"the Demo County has no dataset {name!r}")

    def township(self, code: str) -> DemoTownship:
        """The township with administrative code ``code``.

        Raises:
            NotFoundError: no township has that code.
        """
        for township in self.townships:
            if township.code == code:
                return township
        raise NotFoundError(f"the Demo County has no township with code {code!r}")

    def department(self, code: str) -> DemoDepartment:
        """The department with code ``code``.

        Raises:
            NotFoundError: no department has that code.
        """
        for department in self.departments:
            if department.code == code:
                return department
        raise NotFoundError(f"the Demo County has no department {code!r}")

    def manifest(self) -> dict[str, Any]:
        """Everything but the rows: county, townships, departments, dataset and column texts."""
        return {
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "county_code": self.county_code,
            "reference_date": self.reference_date,
            "scale": self.scale,
            "seed": self.seed,
            "townships": [
                {
                    "code": t.code,
                    "name_zh": t.name_zh,
                    "name_pinyin": t.name_pinyin,
                    "kind": t.kind,
                    "population": t.population,
                    "area_km2": t.area_km2,
                    "centroid": list(t.centroid),
                }
                for t in self.townships
            ],
            "departments": [
                {"code": d.code, "name_zh": d.name_zh, "name_en": d.name_en}
                for d in self.departments
            ],
            "datasets": [
                {
                    "name": d.name,
                    "title_zh": d.title_zh,
                    "title_en": d.title_en,
                    "description_zh": d.description_zh,
                    "description_en": d.description_en,
                    "department": d.department,
                    "rows": d.num_rows,
                    "file": f"{d.name}.parquet",
                    "columns": [
                        {
                            "name": c.name,
                            "type": str(d.table.schema.field(c.name).type),
                            "description_zh": c.description_zh,
                            "description_en": c.description_en,
                        }
                        for c in d.columns
                    ],
                }
                for d in self.datasets
            ],
        }

    def write(self, out_dir: Path) -> dict[str, Path]:
        """Write the county to ``out_dir``: one Parquet per dataset, GeoJSON and a manifest.

        Each file is written to a temporary name and renamed into place, so a failed write never
        leaves a truncated file under its final name.

        Args:
            out_dir: Directory to write into; created if missing.

        Returns:
            Paths by key: every dataset name, ``"townships"`` (the GeoJSON) and ``"manifest"``.

        Raises:
            InvalidInputError: ``out_dir`` exists and is not a directory.
        """
        out_dir = Path(out_dir)
        if out_dir.exists() and not out_dir.is_dir():
            raise InvalidInputError(f"output path {out_dir} exists and is not a directory")
        out_dir.mkdir(parents=True, exist_ok=True)
        written: dict[str, Path] = {}
        for dataset in self.datasets:
            path = out_dir / f"{dataset.name}.parquet"
            _atomic_write(path, lambda tmp, d=dataset: pq.write_table(
                d.table, tmp, compression="zstd"))
            written[dataset.name] = path
        geojson_path = out_dir / GEOJSON_FILE
        _atomic_write(geojson_path, lambda tmp: Path(tmp).write_text(
            json.dumps(self.geojson, ensure_ascii=False), encoding="utf-8"))
        written["townships"] = geojson_path
        manifest_path = out_dir / MANIFEST_FILE
        _atomic_write(manifest_path, lambda tmp: Path(tmp).write_text(
            json.dumps(self.manifest(), ensure_ascii=False, indent=2), encoding="utf-8"))
        written["manifest"] = manifest_path
        return written


def _atomic_write(path: Path, writer: Callable[[str], object]) -> None:
    """Run ``writer`` on a temporary file next to ``path``, then rename it into place."""
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        writer(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def make_dataset(
    *,
    name: str,
    department: str,
    title: tuple[str, str],
    description: tuple[str, str],
    columns: list[tuple[str, pa.Array, str, str]],
) -> DemoDataset:
    """Build a ``DemoDataset`` from ``(name, values, description_zh, description_en)`` columns.

    A field is declared non-nullable when its values hold no null.
    """
    fields = []
    arrays = []
    described = []
    for column_name, values, description_zh, description_en in columns:
        values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        fields.append(pa.field(column_name, values.type, nullable=values.null_count > 0))
        arrays.append(values)
        described.append(DemoColumn(column_name, description_zh, description_en))
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields))
    return DemoDataset(
        name=name,
        title_zh=title[0],
        title_en=title[1],
        description_zh=description[0],
        description_en=description[1],
        department=department,
        table=table,
        columns=described,
    )
