"""The `Lake`: dataset tables in Apache Iceberg over a pyiceberg `SqlCatalog`.

Owns creating tables, committing a dataset version (one Iceberg snapshot that replaces the
table's content with staged Parquet files, atomically), time travel (files and schema of any
version), version history and dropping tables. The catalog lives in the metadata database (any
SQLAlchemy URL: SQLite or PostgreSQL), table files under the warehouse directory, one folder per
table incarnation: ``<warehouse>/<namespace>/<table>/<uuid>/{data,metadata}``.

It must not write Parquet itself (importers do, see `iceberg_compatible`), read row values, or
know about users, departments or permissions. Concurrency is optimistic: a commit that races
with another commit to the same table raises `ConflictError` and changes nothing; commits to
different tables do not interfere.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import (
    CommitFailedException,
    NamespaceAlreadyExistsError,
    NoSuchTableError,
    TableAlreadyExistsError,
    ValidationException,
)
from pyiceberg.io import load_file_io
from pyiceberg.io.pyarrow import parquet_file_to_data_file, schema_to_pyarrow
from pyiceberg.table import Table, TableProperties
from pyiceberg.table.snapshots import Snapshot
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from countyos.errors import ConflictError, InternalError, InvalidInputError, NotFoundError
from countyos.lake.schemas import check_commit_schema, iceberg_compatible, plan_evolution
from countyos.lake.snapshots import SnapshotInfo, check_name, check_snapshot_properties
from countyos.lake.staging import check_staged_files, move_into, remove_quietly

__all__ = ["Lake"]

logger = logging.getLogger(__name__)

CATALOG_NAME = "countyos"
_TABLE_PROPERTIES = {
    TableProperties.FORMAT_VERSION: "2",
    # Old metadata JSON files are pruned; snapshots (and so time travel) are not affected.
    TableProperties.METADATA_DELETE_AFTER_COMMIT_ENABLED: "true",
    TableProperties.METADATA_PREVIOUS_VERSIONS_MAX: "20",
}
_CONFLICTS = (CommitFailedException, ValidationException, TableAlreadyExistsError)


# Remembered snapshot file lists (immutable); bounded so a long-lived server stays small.
FILES_CACHE_SIZE = 1024

class Lake:
    """Iceberg tables of one namespace, catalogued in the metadata database.

    A `Lake` is safe to share between threads. Close it (or use it as a context manager) to
    release its database connections.

    Attributes:
        namespace: The Iceberg namespace of the tables.
        warehouse_dir: The resolved warehouse directory.
    """

    def __init__(self, catalog_url: str, warehouse_dir: Path, *, namespace: str = "hub") -> None:
        """Open the lake, creating the catalog tables, namespace and warehouse when missing.

        Args:
            catalog_url: SQLAlchemy URL of the metadata database, e.g.
                ``sqlite:////abs/path/countyos.db`` or
                ``postgresql+psycopg://user@127.0.0.1:5432/countyos``.
            warehouse_dir: Local directory for table data and metadata files. Iceberg records
                absolute paths, so the directory cannot be moved once tables exist.
            namespace: Iceberg namespace of this lake's tables (same rules as table names).

        Raises:
            InvalidInputError: Bad namespace or URL, or no driver for the URL's database.
            InternalError: The metadata database cannot be reached.
        """
        self.namespace = check_name(namespace, "namespace")
        self._files_cache: dict[tuple[str, int], tuple[str, ...]] = {}
        self.warehouse_dir = Path(warehouse_dir).resolve()
        self.warehouse_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._catalog = SqlCatalog(
                CATALOG_NAME, uri=catalog_url, warehouse=str(self.warehouse_dir), pool_pre_ping="true"
            )
        except NoSuchModuleError as error:
            raise InvalidInputError("no database driver is installed for the metadata database URL") from error
        except ArgumentError as error:
            raise InvalidInputError("the metadata database URL is not a valid SQLAlchemy URL") from error
        except SQLAlchemyError as error:
            raise InternalError(f"cannot open the lake catalog ({type(error).__name__})") from error
        with self._catalog_errors():
            try:
                self._catalog.create_namespace_if_not_exists(self.namespace)
            except NamespaceAlreadyExistsError:
                pass  # created concurrently by another process

    def close(self) -> None:
        """Release the catalog's database connections."""
        self._catalog.close()

    def __enter__(self) -> Lake:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- reading -----------------------------------------------------------------------------

    def exists(self, table: str) -> bool:
        """Whether ``table`` exists (raises InvalidInputError for an invalid name)."""
        identifier = self._identifier(table)
        with self._catalog_errors():
            return self._catalog.table_exists(identifier)

    def tables(self) -> list[str]:
        """Names of this namespace's tables, sorted."""
        with self._catalog_errors():
            return sorted(name for *_, name in self._catalog.list_tables(self.namespace))

    def iceberg_table(self, table: str) -> Table:
        """The pyiceberg ``Table`` (for readers that want Iceberg metadata, e.g. a scan).

        Read through it only: versions are committed with `commit_version`.

        Raises:
            NotFoundError: No such table.
        """
        return self._load(table)

    def current_snapshot_id(self, table: str) -> int | None:
        """The snapshot id of the table's current version (None if it has none)."""
        snapshot = self._load(table).current_snapshot()
        return snapshot.snapshot_id if snapshot is not None else None

    def snapshots(self, table: str) -> list[SnapshotInfo]:
        """All versions of ``table``, oldest first.

        Raises:
            NotFoundError: No such table.
        """
        loaded = self._load(table)
        ordered = sorted(loaded.snapshots(), key=lambda snap: (snap.sequence_number or 0, snap.timestamp_ms))
        return [SnapshotInfo.from_snapshot(snapshot) for snapshot in ordered]

    def schema(self, table: str, snapshot_id: int | None = None) -> pa.Schema:
        """The Arrow schema of a version (the current one if ``snapshot_id`` is None).

        Types are in the `iceberg_compatible` form, every column nullable, no field metadata;
        the schema equals (by column names and types) that of the version's Parquet files.

        Raises:
            NotFoundError: No such table or snapshot.
        """
        loaded = self._load(table)
        iceberg_schema = loaded.schema()
        if snapshot_id is not None:
            snapshot = self._snapshot(loaded, table, snapshot_id)
            if snapshot.schema_id is not None:
                iceberg_schema = loaded.schemas()[snapshot.schema_id]
        return _arrow_schema(iceberg_schema)

    def data_files(self, table: str, snapshot_id: int | None = None) -> list[str]:
        """Absolute local paths of the Parquet files of a version (the current if None), sorted.

        An engine reads exactly these files (e.g. DuckDB ``read_parquet``) to see the version.

        Raises:
            NotFoundError: No such table or snapshot.
            InternalError: The version has delete files (the lake never writes them).
        """
        if snapshot_id is not None and (table, snapshot_id) in self._files_cache:
            return list(self._files_cache[(table, snapshot_id)])
        loaded = self._load(table)
        snapshot = loaded.current_snapshot() if snapshot_id is None else self._snapshot(loaded, table, snapshot_id)
        if snapshot is None:
            return []
        files = sorted(_local_path(file.file_path) for file in self._snapshot_files(loaded, snapshot))
        # A snapshot never changes, so its file list can be remembered (every query needs it).
        if len(self._files_cache) >= FILES_CACHE_SIZE:
            self._files_cache.pop(next(iter(self._files_cache)))
        self._files_cache[(table, snapshot.snapshot_id)] = tuple(files)
        return files

    # -- writing -----------------------------------------------------------------------------

    def commit_version(
        self,
        table: str,
        schema: pa.Schema,
        data_files: list[Path],
        *,
        snapshot_properties: Mapping[str, str] | None = None,
    ) -> int:
        """Make ``data_files`` the new content of ``table`` in one Iceberg commit.

        The table is created on first use, in the same commit as its first version. The files
        (Parquet, already written, e.g. in a staging folder, all with ``schema``, which must be
        `iceberg_compatible`) are moved into the table's data folder. A version may add columns
        and reorder them (matched by name); it may not drop a column or change its type.

        On any failure nothing is visible: the current snapshot is unchanged, a table this call
        would have created does not exist, and files already moved are deleted (files not yet
        moved stay where they were).

        Args:
            table: Table name, ``[a-z][a-z0-9_]{0,62}``.
            schema: Schema of every file (nullability is ignored: all columns are optional).
            data_files: Absolute paths of the Parquet files, outside the warehouse; may be empty
                (an empty version).
            snapshot_properties: Extra ``countyos.*`` entries for the snapshot summary.

        Returns:
            The new current snapshot id.

        Raises:
            InvalidInputError: Bad table name, schema or properties; a dropped column or a
                changed column type (naming the column).
            ImportFileError: A data file is missing, unreadable, or does not match ``schema``.
            ConflictError: Another writer committed to (or dropped) the table meanwhile.
        """
        identifier = self._identifier(table)
        check_commit_schema(schema)
        properties = check_snapshot_properties(snapshot_properties)
        staged = check_staged_files(data_files, schema, self.warehouse_dir)
        with self._catalog_errors():
            current = self._load_or_none(identifier)
            if current is not None:
                added, reordered = plan_evolution(_arrow_schema(current.schema()), schema, table=table)
                transaction = current.transaction()
                location = Path(_local_path(current.location()))
            else:
                added, reordered = [], False
                location = self.warehouse_dir / self.namespace / table / uuid.uuid4().hex
                transaction = self._catalog.create_table_transaction(
                    identifier,
                    _nullable(schema),
                    location=str(location),
                    properties=_TABLE_PROPERTIES,
                )
                name_mapping = transaction.table_metadata.schema().name_mapping.model_dump_json()
                transaction.set_properties(**{TableProperties.DEFAULT_NAME_MAPPING: name_mapping})
            evolve = bool(added) or reordered
            return self._commit(identifier, table, current, transaction, location, staged, schema, evolve, properties)

    def drop(self, table: str) -> None:
        """Drop ``table`` and delete all its files (every version).

        Raises:
            NotFoundError: No such table.
        """
        identifier = self._identifier(table)
        loaded = self._load(table)
        location = Path(_local_path(loaded.location()))
        for key in [k for k in self._files_cache if k[0] == table]:
            self._files_cache.pop(key, None)
        with self._catalog_errors():
            try:
                self._catalog.purge_table(identifier)
            except NoSuchTableError:
                raise NotFoundError(f"lake table '{table}' does not exist") from None
        self._remove_location(location)

    # -- internals ---------------------------------------------------------------------------

    def _commit(
        self,
        identifier: tuple[str, str],
        table: str,
        current: Table | None,
        transaction: Any,
        location: Path,
        staged: Sequence[Path],
        schema: pa.Schema,
        evolve: bool,
        properties: dict[str, str],
    ) -> int:
        moved: list[Path] = []
        producer = None
        try:
            moved = move_into(staged, location / "data", uuid.uuid4().hex)
            if evolve:
                with transaction.update_schema() as update:
                    update.union_by_name(_nullable(schema))
                    update.move_first((schema.names[0],))
                    for before, name in zip(schema.names, schema.names[1:]):
                        update.move_after((name,), (before,))
            io = load_file_io(properties=self._catalog.properties, location=str(location))
            with transaction.update_snapshot(snapshot_properties=properties).overwrite() as producer:
                if current is not None and (base := current.current_snapshot()) is not None:
                    for data_file in self._snapshot_files(current, base):
                        producer.delete_data_file(data_file)
                for path in moved:
                    producer.append_data_file(parquet_file_to_data_file(io, transaction.table_metadata, str(path)))
            transaction.commit_transaction()
            return producer.snapshot_id
        except BaseException as error:
            if producer is not None and not isinstance(error, _CONFLICTS) and self._landed(identifier, producer):
                if not isinstance(error, Exception):
                    raise  # interrupted after the commit landed: keep its files, stop anyway
                logger.warning("lake commit to %s reported %r but landed", table, error)
                return producer.snapshot_id
            if producer is not None and hasattr(producer, "_clean_all_uncommitted"):
                producer._clean_all_uncommitted()  # manifests of an attempt that did not land
            remove_quietly(moved)
            if current is None:
                self._remove_location(location)
            if isinstance(error, (*_CONFLICTS, NoSuchTableError)):
                raise ConflictError(
                    f"lake table '{table}' was changed or dropped by another writer while this "
                    "version was being committed; nothing was changed, retry",
                    details={"table": table},
                ) from error
            raise

    def _landed(self, identifier: tuple[str, str], producer: Any) -> bool:
        """Whether a commit whose outcome is unknown is in the table (re-raise if unknowable)."""
        try:
            table = self._catalog.load_table(identifier)
        except NoSuchTableError:
            return False
        except Exception as error:
            raise InternalError(
                "the outcome of a lake commit is unknown (the metadata database failed); "
                "its files were kept, check the table before retrying"
            ) from error
        return table.metadata.snapshot_by_id(producer.snapshot_id) is not None

    def _snapshot_files(self, table: Table, snapshot: Snapshot) -> list[Any]:
        files = []
        for task in table.scan(snapshot_id=snapshot.snapshot_id).plan_files():
            if task.delete_files:
                raise InternalError(
                    f"lake table '{table.name()[-1]}' has delete files, which the lake never writes"
                )
            files.append(task.file)
        return files

    def _remove_location(self, location: Path) -> None:
        """Delete a table incarnation's folder, and its table folder when it is left empty."""
        namespace_dir = self.warehouse_dir / self.namespace
        if not location.resolve().is_relative_to(namespace_dir) or location.parent.parent != namespace_dir:
            logger.warning("not deleting %s: outside the lake's namespace folder", location)
            return
        shutil.rmtree(location, ignore_errors=True)
        try:
            location.parent.rmdir()
        except OSError:
            pass  # other incarnations (or a concurrent creator) still use the folder

    def _identifier(self, table: str) -> tuple[str, str]:
        return (self.namespace, check_name(table))

    def _load(self, table: str) -> Table:
        identifier = self._identifier(table)
        with self._catalog_errors():
            loaded = self._load_or_none(identifier)
        if loaded is None:
            raise NotFoundError(f"lake table '{table}' does not exist", details={"table": table})
        return loaded

    def _load_or_none(self, identifier: tuple[str, str]) -> Table | None:
        try:
            return self._catalog.load_table(identifier)
        except NoSuchTableError:
            return None

    @staticmethod
    def _snapshot(table: Table, name: str, snapshot_id: int) -> Snapshot:
        snapshot = table.snapshot_by_id(snapshot_id) if isinstance(snapshot_id, int) else None
        if snapshot is None:
            raise NotFoundError(
                f"lake table '{name}' has no snapshot {snapshot_id!r}",
                details={"table": name, "snapshot_id": snapshot_id},
            )
        return snapshot

    @contextmanager
    def _catalog_errors(self) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as error:
            raise InternalError(f"the metadata database failed ({type(error).__name__})") from error


def _nullable(schema: pa.Schema) -> pa.Schema:
    return pa.schema([field.with_nullable(True).remove_metadata() for field in schema])


def _arrow_schema(iceberg_schema: Any) -> pa.Schema:
    return _nullable(iceberg_compatible(schema_to_pyarrow(iceberg_schema, include_field_ids=False)))


def _local_path(location: str) -> str:
    parsed = urlparse(location)
    if parsed.scheme == "file":
        return unquote(parsed.path)
    if parsed.scheme and len(parsed.scheme) > 1:
        raise InternalError(f"lake file location with unsupported scheme '{parsed.scheme}'")
    return location
