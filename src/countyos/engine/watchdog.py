"""One timer thread for every running query's time limit.

A ``threading.Timer`` per query costs a thread start (about a millisecond here) on every query;
this module keeps one daemon thread and a heap of deadlines instead. ``schedule`` returns a handle;
``cancel`` it when the query ends. Callbacks run on the watchdog thread and must be quick
(interrupting a DuckDB connection is).
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable


class Watchdog:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._cancelled: set[int] = set()
        self._ids = itertools.count()
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None

    def schedule(self, delay_s: float, callback: Callable[[], None]) -> int:
        """Call ``callback`` after ``delay_s`` seconds unless cancelled first."""
        handle = next(self._ids)
        with self._condition:
            heapq.heappush(self._heap, (time.monotonic() + delay_s, handle, callback))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="countyos-watchdog",
                                                daemon=True)
                self._thread.start()
            self._condition.notify()
        return handle

    def cancel(self, handle: int) -> None:
        with self._condition:
            self._cancelled.add(handle)

    def _run(self) -> None:
        while True:
            with self._condition:
                while self._heap and self._heap[0][1] in self._cancelled:
                    self._cancelled.discard(heapq.heappop(self._heap)[1])
                if not self._heap:
                    self._condition.wait()
                    continue
                deadline, handle, callback = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._condition.wait(wait)
                    continue
                heapq.heappop(self._heap)
            callback()


WATCHDOG = Watchdog()
