"""Alembic environment: runs migrations on the connection CountyOS hands it."""

from alembic import context

from countyos.db.models import Base

target_metadata = Base.metadata


def _include_object(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    # pyiceberg's SQL catalog keeps its own tables in the same database; they are not ours.
    return not (type_ == "table" and name.startswith("iceberg_"))


connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=target_metadata,
    include_object=_include_object,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
