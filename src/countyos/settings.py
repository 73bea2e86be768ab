"""The one Settings object of CountyOS.

Every setting has an embedded default (SQLite, local files, DuckDB) and an environment variable
``COUNTYOS_<FIELD>`` (nested sections: ``COUNTYOS_<SECTION>__<FIELD>``). Settings are built once at
an entry point (CLI, web app factory, test fixture) and passed down; nothing reads the environment
at import time. This module imports nothing else from the package.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_home() -> Path:
    return Path.home() / ".countyos"


class IngestSettings(BaseModel):
    max_file_bytes: int = Field(
        8 * 1024**3, description="Largest file `dataset import` accepts, in bytes (default 8 GiB)."
    )
    batch_rows: int = Field(
        131_072, description="Rows per record batch while streaming an import (bounds memory)."
    )


class EngineSettings(BaseModel):
    name: str = Field("duckdb", description="Query engine: `duckdb` (embedded default).")
    memory_limit: str = Field("4GB", description="Memory limit of one DuckDB query connection.")
    threads: int = Field(2, description="Threads of one DuckDB query connection.")
    timeout_s: float = Field(60.0, description="A query running longer is interrupted.")
    max_result_rows: int = Field(10_000, description="Most rows one query returns to a caller.")


class WebSettings(BaseModel):
    host: str = Field("127.0.0.1", description="Address `countyos serve` binds to.")
    port: int = Field(8000, description="Port `countyos serve` listens on.")
    max_upload_bytes: int = Field(
        1024**3, description="Largest file accepted by the import endpoint, in bytes."
    )


class Settings(BaseSettings):
    """All configuration of one CountyOS installation."""

    model_config = SettingsConfigDict(
        env_prefix="COUNTYOS_", env_nested_delimiter="__", extra="ignore"
    )

    home: Path = Field(
        default_factory=default_home,
        description="Data directory; everything CountyOS writes lives under it.",
    )
    database_url: str | None = Field(
        None,
        description="Metadata database (SQLAlchemy URL). Default: SQLite file `countyos.db` "
        "under home. Example: postgresql+psycopg://user@127.0.0.1:5432/countyos",
    )
    language: str = Field("zh", description="Default UI language: `zh` or `en`.")
    county_name: str = Field("示范县", description="The county's name shown in the portal.")
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    engine: EngineSettings = Field(default_factory=EngineSettings)
    web: WebSettings = Field(default_factory=WebSettings)

    @property
    def metadata_url(self) -> str:
        """The SQLAlchemy URL of the metadata database."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'countyos.db'}"

    @property
    def warehouse_dir(self) -> Path:
        """Where Iceberg table data and metadata files live."""
        return self.home / "warehouse"

    @property
    def staging_dir(self) -> Path:
        """Scratch space for imports in progress; emptied of a failed import at once."""
        return self.home / "staging"

    def ensure_dirs(self) -> None:
        for path in (self.home, self.warehouse_dir, self.staging_dir):
            path.mkdir(parents=True, exist_ok=True)
