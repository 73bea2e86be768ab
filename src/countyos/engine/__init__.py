"""Query engines: one ``Engine`` protocol, DuckDB as the embedded default.

Owns the read-only SQL guard (sqlglot) and running validated queries over the Parquet data files
of dataset versions. Engines receive file lists, never catalog objects, so a Spark engine reading
the same Iceberg data files can be added without touching any caller. Knows nothing about users.
"""
