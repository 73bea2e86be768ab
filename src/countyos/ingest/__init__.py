"""Importers: files (CSV in UTF-8/GBK/GB18030, XLSX, Parquet, JSON Lines) and database tables.

Owns format and encoding detection, schema inference with type overrides, validation with errors
that name file, row and column, and streaming the rows into Parquet files in a staging directory.
Never writes to the catalog or the lake: the catalog commits what ingest staged.
"""
