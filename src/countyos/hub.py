"""The running installation: settings plus the metadata DB, the lake and the query engine.

One ``Hub`` is built at an entry point (CLI command, web app factory, test fixture) from a
``Settings`` object and handed to service functions. Nothing here holds business rules.
"""

from __future__ import annotations

from functools import cached_property

from countyos.db import Database
from countyos.engine import Engine, QueryLimits, get_engine
from countyos.lake import Lake
from countyos.settings import Settings


class Hub:
    def __init__(self, settings: Settings, *, migrate: bool = True) -> None:
        self.settings = settings
        settings.ensure_dirs()
        self.db = Database(settings.metadata_url)
        if migrate:
            self.db.migrate()

    @cached_property
    def lake(self) -> Lake:
        return Lake(self.settings.metadata_url, self.settings.warehouse_dir)

    @cached_property
    def engine(self) -> Engine:
        return get_engine(self.settings.engine)

    def query_limits(self, *, max_rows: int | None = None) -> QueryLimits:
        cfg = self.settings.engine
        return QueryLimits(
            timeout_s=cfg.timeout_s,
            max_rows=max_rows if max_rows is not None else cfg.max_result_rows,
            memory_limit=cfg.memory_limit,
            threads=cfg.threads,
        )

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.close()
        if "lake" in self.__dict__:
            self.lake.close()
        self.db.dispose()
