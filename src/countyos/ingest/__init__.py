"""Importers: files (CSV in UTF-8/GBK/GB18030, XLSX, Parquet, JSON Lines) and database tables.

Owns format and encoding detection, schema inference with type overrides, validation with errors
that name file, row and column, and streaming the rows into Parquet files in a staging directory.
Never writes to the catalog or the lake: the catalog commits what ingest staged.
"""

from countyos.ingest.database import arrow_type_for_sql, masked_url, stage_database_table
from countyos.ingest.files import FORMATS_BY_EXTENSION, detect_format, preview_file, stage_file
from countyos.ingest.staging import Preview, StagedImport
from countyos.ingest.types import TYPE_NAMES, parse_type_name, type_name

__all__ = [
    "FORMATS_BY_EXTENSION",
    "TYPE_NAMES",
    "Preview",
    "StagedImport",
    "arrow_type_for_sql",
    "detect_format",
    "masked_url",
    "parse_type_name",
    "preview_file",
    "stage_database_table",
    "stage_file",
    "type_name",
]
