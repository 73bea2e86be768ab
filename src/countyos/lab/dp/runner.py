"""Running the trusted bounding SQL through a CountyOS engine.

Owns ``EngineRunner``: the default way ``answer_query`` executes the SQL it generated. The SQL
goes through the same read-only guard and locked DuckDB databases as any user query (it only
uses allowlisted functions: ``row_number``, ``random``, ``least``, ``greatest``, ``floor``,
``round``), so DP answering gains no power the engine does not already grant. The generated SQL
repeats from query to query, so each text's guarded parse is kept (the engine copies a parsed
tree before changing it). Must not build SQL or add noise.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

from countyos.engine import Engine, ParsedQuery, QueryLimits, TableSource, parse_read_only
from countyos.errors import TooLargeError
from countyos.lru import LRU

#: Most result rows (groups × candidates) one bounding query may return.
MAX_RESULT_ROWS = 2_000_000

#: Guarded parses of generated SQL texts remembered per runner.
PARSED_CACHE_SIZE = 256


class EngineRunner:
    """Runs bounding SQL on an ``Engine`` over the caller's granted tables.

    Args:
        engine: a CountyOS engine (``countyos.engine.get_engine``).
        limits: query limits; the row cap is raised to ``MAX_RESULT_ROWS`` if lower.
    """

    def __init__(self, engine: Engine, limits: QueryLimits | None = None) -> None:
        base = limits or QueryLimits(timeout_s=600.0)
        self.engine = engine
        self.limits = QueryLimits(
            timeout_s=base.timeout_s, max_rows=max(base.max_rows, MAX_RESULT_ROWS),
            memory_limit=base.memory_limit, threads=base.threads,
        )
        self._parsed: LRU[ParsedQuery] = LRU(PARSED_CACHE_SIZE)

    def _parse(self, sql: str) -> ParsedQuery:
        parsed = self._parsed.get(sql)
        if parsed is None:
            parsed = parse_read_only(sql)
            self._parsed.put(sql, parsed)
        return parsed

    def __call__(self, sql: str, tables: Mapping[str, TableSource]) -> pa.Table:
        """Run one bounding query.

        Raises:
            TooLargeError: the result has more rows than ``MAX_RESULT_ROWS``.
            QueryRefusedError, InvalidInputError: as ``Engine.execute``.
        """
        result = self.engine.execute(self._parse(sql), tables, limits=self.limits)
        if result.truncated:
            raise TooLargeError(
                f"the DP aggregation produced more than {MAX_RESULT_ROWS} groups or candidates"
            )
        return result.table
