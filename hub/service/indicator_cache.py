"""Answers of `indicators` and `indicatorSeries`, kept while the read views stay as they were.

One such statement costs 10–20 ms of the database's time, yet its answer for a district and a
moment changes only when the read tables do. Every answer is kept under the views generation
it was computed in (`Signals.generation`, which moves whenever the views may have changed): the
generation is read before the statement runs, so a change committed meanwhile moves it past the
entry and the entry is never served again. Concurrent misses for one key share one statement.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from hub.service.metrics import INDICATOR_CACHE

Kept = tuple[int, Hashable]
"""Where an answer is kept: the views generation it was asked for in, and what it asks."""
MISSING = object()


class IndicatorCache:
    """The last `size` answers (least recently used first out), under `generation()`'s value
    when each was asked for; `size` 0 keeps none (every call runs its statement)."""

    def __init__(self, generation: Callable[[], int], size: int) -> None:
        self.generation = generation
        self.size = size
        self.entries: OrderedDict[Kept, Any] = OrderedDict()
        self._computing: dict[Kept, asyncio.Task[Any]] = {}
        self._current = 0
        self.hits = 0
        self.misses = 0
        self.shared = 0
        """Misses that waited for another caller's statement for the same key."""

    def counts(self) -> dict[str, int]:
        """As `/readyz` shows them."""
        return {
            "size": self.size,
            "entries": len(self.entries),
            "hits": self.hits,
            "misses": self.misses,
            "shared": self.shared,
        }

    def kept(self, key: Hashable) -> tuple[Kept, Any]:
        """Where an answer for `key` is kept in the current generation, and the answer kept
        there (`MISSING`: none; counted a hit otherwise)."""
        at = (self.generation(), key)
        if at[0] != self._current:  # the views moved: no kept answer can serve again
            self.entries.clear()
            self._current = at[0]
        found = self.entries.get(at, MISSING)
        if found is not MISSING:
            self.entries.move_to_end(at)
            self.hits += 1
            INDICATOR_CACHE.labels("hit").inc()
        return at, found

    def keep(self, at: Kept, answer: Any) -> None:
        """Keep `answer` where `kept` said, unless the views moved meanwhile."""
        if not self.size or at[0] != self.generation():
            return
        self.entries[at] = answer
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[Any]]) -> Any:
        """The answer for `key` (what it asks, such as district and moment): kept, or being
        computed for another caller, or computed now by `compute`."""
        if not self.size:
            return await compute()
        at, found = self.kept(key)
        if found is not MISSING:
            return found
        computing = self._computing.get(at)
        if computing is None:
            self.misses += 1
            INDICATOR_CACHE.labels("miss").inc()
            computing = asyncio.ensure_future(compute())
            self._computing[at] = computing
            computing.add_done_callback(lambda done: self._computed(at, done))
        else:
            self.shared += 1
            INDICATOR_CACHE.labels("shared").inc()
        # one caller going away (its client disconnected) does not cancel the others' answer
        return await asyncio.shield(computing)

    def _computed(self, at: Kept, done: asyncio.Task[Any]) -> None:
        del self._computing[at]
        if not done.cancelled() and done.exception() is None:
            self.keep(at, done.result())
