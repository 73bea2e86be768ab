"""Stored DP answers: a repeated query returns its first answer without a new charge.

Owns the canonical query key (project, normalised SQL, dataset versions, the DP metadata of the
tables read and the privacy parameters, hashed) and the ``AnswerCache`` contract with an
in-memory implementation. Returning a stored answer again is free under DP (it is
post-processing of a released answer); asking anew would both cost budget and, by averaging
repeats, erode the noise. Per-key locks make concurrent identical queries charge once. The lead
backs the contract with the metadata database (a unique key column); the lock then becomes a
row lock or an insert-first reservation. Must not compute answers or charge budgets.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict
from typing import Protocol, runtime_checkable

from countyos.engine import TableSource
from countyos.lab.dp.answer import DPAnswer
from countyos.lab.dp.metadata import TableMetadata
from countyos.lab.dp.params import Accounting, PrivacyParams


def dataset_version(source: TableSource) -> str:
    """A version fingerprint of a table source: its data files and granted columns."""
    payload = json.dumps([sorted(source.files), list(source.columns or ())])
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def query_key(
    *,
    project: str,
    canonical_sql: str,
    versions: Mapping[str, str],
    metadata: Mapping[str, TableMetadata],
    params: PrivacyParams,
    accounting: Accounting,
    max_contributions: int,
) -> str:
    """The cache key of one DP query.

    Args:
        project: the project asking (answers are not shared across projects).
        canonical_sql: the query as normalised by the SQL guard.
        versions: dataset name → version identifier, for every table read.
        metadata: DP metadata of the tables read (bounds and domains change answers).
        params: checked privacy parameters.
        accounting: the budget's accounting.
        max_contributions: the k in force.

    Returns:
        A hex SHA-256 digest.
    """
    payload = {
        "project": project,
        "sql": canonical_sql,
        "versions": dict(sorted(versions.items())),
        "metadata": {name: _metadata_payload(metadata[name]) for name in sorted(metadata)},
        "accounting": accounting.value,
        "epsilon": str(params.epsilon) if params.epsilon is not None else None,
        "rho": str(params.rho) if params.rho is not None else None,
        "delta": str(params.delta),
        "k": max_contributions,
        "candidates": params.max_quantile_candidates,
    }
    text = json.dumps(payload, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def _metadata_payload(table: TableMetadata) -> dict[str, object]:
    return {
        "entity_key": table.entity_key.lower(),
        "entity_kind": table.entity_kind,
        "entity_key_unique": table.entity_key_unique,
        "columns": {name: asdict(column) for name, column in sorted(table.columns.items())},
    }


@runtime_checkable
class AnswerCache(Protocol):
    """Released answers by query key."""

    def get(self, key: str) -> DPAnswer | None:
        """The stored answer of a key, or ``None``."""

    def put(self, key: str, answer: DPAnswer) -> None:
        """Store an answer (the first one stored for a key wins)."""

    def reserve(self, key: str) -> AbstractContextManager[None]:
        """A context manager held while a key is looked up, charged and stored."""


class InMemoryAnswerCache:
    """An ``AnswerCache`` in process memory with one lock per key."""

    def __init__(self) -> None:
        self._answers: dict[str, DPAnswer] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: str) -> DPAnswer | None:
        """See ``AnswerCache.get``."""
        with self._guard:
            return self._answers.get(key)

    def put(self, key: str, answer: DPAnswer) -> None:
        """See ``AnswerCache.put``."""
        with self._guard:
            self._answers.setdefault(key, answer)

    @contextmanager
    def reserve(self, key: str) -> Iterator[None]:
        """See ``AnswerCache.reserve``."""
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            yield

    def __len__(self) -> int:
        with self._guard:
            return len(self._answers)
