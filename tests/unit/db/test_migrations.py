"""The Alembic migrations create exactly the schema the models describe, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from countyos.db import Base, Database


def test_migrations_match_models(metadata_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "home").mkdir(exist_ok=True)
    db = Database(metadata_url)
    db.migrate()
    db.migrate()  # idempotent
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection)
        diff = [d for d in compare_metadata(context, Base.metadata)
                if not (d[0] == "remove_table" and d[1].name.startswith("iceberg_"))]
    db.dispose()
    assert diff == []
