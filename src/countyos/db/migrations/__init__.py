"""Alembic migrations of the metadata database (one file per revision under versions/)."""
