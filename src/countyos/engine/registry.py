"""Which engine runs queries: the registry from ``EngineSettings.name`` to an ``Engine``.

Owns the mapping from engine names to factories and turning ``EngineSettings`` into default
``QueryLimits``. Engines are imported only when asked for, so an installation without an
optional engine's packages still starts. Must not hold engine instances: callers (the web app
factory, the CLI, the lab worker) create one engine and keep it for their lifetime.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from countyos.engine.base import Engine, QueryLimits
from countyos.errors import InvalidInputError
from countyos.settings import EngineSettings

EngineFactory = Callable[[EngineSettings], Engine]

_FACTORIES: dict[str, EngineFactory] = {}
_LOCK = threading.Lock()


def limits_from_settings(settings: EngineSettings) -> QueryLimits:
    """The default query limits an engine configured by ``settings`` applies.

    Raises:
        InvalidInputError: a limit in the settings is not usable.
    """
    limits = QueryLimits(
        timeout_s=settings.timeout_s,
        max_rows=settings.max_result_rows,
        memory_limit=settings.memory_limit,
        threads=settings.threads,
    )
    limits.validate()
    return limits


def _duckdb_factory(settings: EngineSettings) -> Engine:
    from countyos.engine.duckdb import DuckDBEngine

    return DuckDBEngine(limits=limits_from_settings(settings),
                        resident_bytes=settings.resident_bytes)


def register_engine(name: str, factory: EngineFactory) -> None:
    """Make an engine available under ``name`` (replacing any engine of that name).

    Args:
        name: the value of ``EngineSettings.name`` (``COUNTYOS_ENGINE__NAME``) that selects it.
        factory: builds the engine from the engine settings.
    """
    with _LOCK:
        _FACTORIES[name.lower()] = factory


def available_engines() -> list[str]:
    """Names of the registered engines, sorted."""
    with _LOCK:
        return sorted(_FACTORIES)


def get_engine(settings: EngineSettings) -> Engine:
    """Create the engine named by ``settings.name`` with the configured default limits.

    Args:
        settings: the engine section of the CountyOS settings.

    Returns:
        A new engine; close it when done.

    Raises:
        InvalidInputError: no engine of that name, or unusable limits in the settings.
    """
    with _LOCK:
        factory = _FACTORIES.get(settings.name.lower())
    if factory is None:
        raise InvalidInputError(
            f"unknown query engine {settings.name!r}; available: {', '.join(available_engines())}"
        )
    return factory(settings)


register_engine("duckdb", _duckdb_factory)
