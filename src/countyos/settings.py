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
    resident_bytes: int = Field(
        1024**3, ge=0,
        description="Memory the engine may use to keep hot tables loaded between queries (DP "
        "answers ask for it); 0 reads every query from the data files.",
    )


class LabSettings(BaseModel):
    sandbox_venv: Path | None = Field(
        None,
        description="Python venv the sandbox runs jobs with (built from Debian's python3 so the "
        "sandbox uid can read it). Default: `.venv-sandbox` beside the source tree, else under home.",
    )
    job_cpu_seconds: int = Field(120, description="CPU-time limit of one sandboxed Python job.")
    job_memory_bytes: int = Field(4 * 1024**3, description="Memory limit of one sandboxed job.")
    job_wall_seconds: float = Field(300, description="Wall-clock limit of one job.")
    job_max_processes: int = Field(64, description="Process limit of one sandboxed job.")
    job_output_bytes: int = Field(50 * 1024**2, description="Largest total output of one job.")
    twin_max_rows: int = Field(2_000_000, description="Most rows in one synthetic twin.")
    worker_poll_s: float = Field(0.5, description="How often an idle worker looks for work.")


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
    lab: LabSettings = Field(default_factory=LabSettings)

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

    @property
    def lab_private_dir(self) -> Path:
        """The lab's trusted zone on disk: job bundles, job inputs, quarantined outputs."""
        return self.home / "lab" / "private"

    @property
    def lab_released_dir(self) -> Path:
        """Outputs that passed review; the only lab files a developer may download."""
        return self.home / "lab" / "released"

    @property
    def lab_twins_dir(self) -> Path:
        """Synthetic twins (no real rows); developers download and query them freely."""
        return self.home / "lab" / "twins"

    def ensure_dirs(self) -> None:
        for path in (self.home, self.warehouse_dir, self.staging_dir, self.lab_private_dir,
                     self.lab_released_dir, self.lab_twins_dir):
            path.mkdir(parents=True, exist_ok=True)
