"""Query engines: one ``Engine`` protocol, DuckDB as the embedded default.

Owns the read-only SQL guard (sqlglot) and running validated queries over the Parquet data files
of dataset versions. Engines receive file lists, never catalog objects, so a Spark engine reading
the same Iceberg data files can be added without touching any caller. Knows nothing about users.

Typical use::

    engine = get_engine(settings.engine)            # once per process
    query = parse_read_only(user_sql)               # QueryRefusedError if not one safe query
    result = engine.execute(query, {"firms": TableSource("firms", files, columns)})
"""

from countyos.engine.base import (
    DATASET_NAME_PATTERN,
    KEY_ROWS_COLUMN,
    RANK_COLUMN,
    Engine,
    ParsedQuery,
    QueryLimits,
    QueryResult,
    TableSource,
)
from countyos.engine.registry import (
    available_engines,
    get_engine,
    limits_from_settings,
    register_engine,
)
from countyos.engine.sql import parse_read_only

__all__ = [
    "DATASET_NAME_PATTERN",
    "KEY_ROWS_COLUMN",
    "RANK_COLUMN",
    "Engine",
    "ParsedQuery",
    "QueryLimits",
    "QueryResult",
    "TableSource",
    "available_engines",
    "get_engine",
    "limits_from_settings",
    "parse_read_only",
    "register_engine",
]
