"""The ordered event stream partners follow (GraphQL subscription and Server-Sent Events).

A follower replays the log after a position from the database, then follows it live from the
process's `Tail`: the newest events, read once per process when the projector's NOTIFY wakes
it (one LISTEN per process, see `hub.service.signals`), however many followers there are. Each
follower reads ahead into a bounded buffer; a consumer that leaves it full for too long is
sent what is buffered and then told to resume from its last position, so the server's memory
stays flat whatever consumers do.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from hub.domain.envelope import Actor
from hub.domain.errors import Forbidden
from hub.domain.rules import Visibility, visibility
from hub.projections.event_log import complete_position, events_after
from hub.service import metrics
from hub.service.database import Outage, until_available
from hub.service.runtime import Hub

log = logging.getLogger(__name__)

BATCH = 200
TAIL = 5000
HEARTBEAT_SECONDS = 15.0
ERROR_PAUSE_SECONDS = 1.0


class StreamEnded(Exception):
    """The stream stops here; `code` says why and `resume_after` where to pick up."""

    def __init__(self, code: str, message: str, resume_after: int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.resume_after = resume_after


@dataclass(frozen=True)
class Scope:
    """What one follower asks for (its entity types), narrowed to what its caller may see
    (`hub.domain.rules.visibility`), as the event log's columns hold it."""

    entity_types: tuple[str, ...] | None
    district: str | None
    agency: UUID | None

    @classmethod
    def of(cls, actor: Actor, entity_types: Sequence[str] | None, district: str | None) -> Scope:
        seen = visibility(actor, district)
        agency = None
        if seen.agency is not None:
            try:
                agency = UUID(seen.agency)
            except ValueError:
                raise Forbidden("the token's agency is not a record id", "agency") from None
        types = tuple(entity_types) if entity_types else None
        return cls(types, seen.district, agency)

    @functools.cached_property
    def visible(self) -> Visibility:
        return Visibility(self.district, str(self.agency) if self.agency else None)

    def admits(self, row: Any) -> bool:
        return (
            self.entity_types is None or row["entity_type"] in self.entity_types
        ) and self.visible.admits(row["district"], row["agency"])


class Tail:
    """The newest logged events of this process, for every live follower to read in memory."""

    def __init__(self, hub: Hub, size: int = TAIL) -> None:
        self.hub = hub
        self.size = size
        self.rows: list[Any] = []
        self.positions: list[int] = []
        self.base = 0
        self.head = 0
        self._advanced = asyncio.Event()
        self.watchers: list[Callable[[], None]] = []
        """Called whenever `head` moves (`hub.streams.dispatch`)."""

    async def start(self) -> None:
        self.base = self.head = await complete_position(self.hub.pool)
        self.hub.background.append(asyncio.create_task(self._run(), name="event tail"))

    def since(self, last: int) -> list[Any] | None:
        """Every logged event after `last` up to `head`, or None if `last` is before the tail."""
        if last < self.base:
            return None
        return self.rows[bisect.bisect_right(self.positions, last) :]

    async def moved_past(self, position: int, timeout: float) -> bool:
        advanced = self._advanced
        if self.head > position:
            return True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):  # no task per follower, as `wait_for` makes
                await advanced.wait()
        return self.head > position

    async def _run(self) -> None:
        """Read what the views log, for ever: no failure ends it (see `Outage`; any other
        error is logged and retried after a pause), so live followers go on from where they
        are once the database is back."""
        outage = Outage("the event tail", log)
        while True:
            try:
                await self._advance(outage)
            except Exception:
                log.exception("the event tail failed; retrying in %g s", ERROR_PAUSE_SECONDS)
                await asyncio.sleep(ERROR_PAUSE_SECONDS)

    async def _advance(self, outage: Outage) -> None:
        """Read the newest logged events once, then wait for the views to move on."""
        signals = self.hub.signals
        projected = signals.projected
        seen = await until_available(lambda: complete_position(self.hub.pool, projected), outage)
        rows = await until_available(
            lambda: events_after(self.hub.pool, self.head, limit=BATCH), outage
        )
        self.rows += rows
        self.positions += [r["position"] for r in rows]
        if len(self.rows) > 2 * self.size:
            self.base = self.positions[-self.size - 1]
            del self.rows[: -self.size], self.positions[: -self.size]
        head = rows[-1]["position"] if rows else self.head
        if len(rows) < BATCH:
            head = max(head, seen)
        if head > self.head:
            self.head = head
            self._advanced.set()
            self._advanced = asyncio.Event()
            for watch in self.watchers:
                watch()
        if len(rows) < BATCH:
            await signals.projected_past(projected + 1, HEARTBEAT_SECONDS)


_tails: dict[int, tuple[Tail, asyncio.Task[None]]] = {}


async def tail_of(hub: Hub) -> Tail:
    """The process's tail, once started: followers that ask while it starts wait for it (a tail
    not started yet looks empty and caught up, so they would wait for new events instead)."""
    found = _tails.get(id(hub))
    if found is None or found[0].hub is not hub:
        tail = Tail(hub)
        found = _tails[id(hub)] = (tail, asyncio.create_task(tail.start()))
    tail, starting = found
    try:
        await asyncio.shield(starting)
    except Exception:
        if _tails.get(id(hub)) is found:
            del _tails[id(hub)]
        raise
    return tail


_stopping: set[asyncio.Task[None]] = set()


@dataclass
class _Gap:
    """A marker in the buffer: nothing was lost, the consumer just fell behind."""

    resume_after: int


@dataclass
class _Heartbeat:
    """A marker in the buffer: caught up, with nothing after `upto` for this follower."""

    upto: int


_EXPIRED = object()
"""The marker `_expire` leaves for the consumer: the token's `exp` has come."""


def _expire(queue: asyncio.Queue[Any]) -> None:
    """At the token's expiry, the consumer's next item is the end, however full its buffer:
    what was buffered but not delivered is dropped, since the client resumes after the last
    position it was delivered."""
    while not queue.empty():
        queue.get_nowait()
    queue.put_nowait(_EXPIRED)


async def follow(
    hub: Hub,
    scope: Scope,
    after: int | None,
    *,
    expires_at: float | None = None,
    buffer: int | None = None,
    stall_seconds: float | None = None,
    heartbeat_seconds: float = HEARTBEAT_SECONDS,
    transport: str = "websocket",
    caught_up: Callable[[int], None] | None = None,
) -> AsyncIterator[Any]:
    """Logged events after `after` (None: from now), replayed then live; None is a heartbeat,
    before which `caught_up` is told the position up to which the follower has been given all
    it may see.

    Ends with `StreamEnded` when the token expires (a timer at `expires_at`, so the end comes
    on time whether or not events flow, at no cost per event) or the consumer leaves `buffer`
    events (default `HUB_STREAM_BUFFER`) unread for `stall_seconds`
    (`HUB_STREAM_STALL_SECONDS`). Counted as a subscriber of `transport` (`hub.service.metrics`).
    """
    buffer = buffer or hub.settings.stream_buffer
    stall_seconds = stall_seconds or hub.settings.stream_stall_seconds
    start = await complete_position(hub.pool) if after is None else after
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=buffer)
    producer = asyncio.create_task(
        _produce(hub, scope, start, queue, stall_seconds, heartbeat_seconds)
    )
    delivered = start
    expiry = (
        None
        if expires_at is None
        else asyncio.get_running_loop().call_later(
            max(0.0, expires_at - time.time()), _expire, queue
        )
    )
    try:
        with metrics.Subscriber(transport) as subscriber:
            while True:
                item = await queue.get()
                if item is _EXPIRED:
                    raise StreamEnded("UNAUTHENTICATED", "the token has expired", delivered)
                if isinstance(item, _Gap):
                    raise StreamEnded(
                        "SLOW_CONSUMER",
                        f"the consumer fell {buffer} events behind for {stall_seconds:g} s: "
                        f"resume after position {delivered}",
                        delivered,
                    )
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, _Heartbeat):
                    delivered = max(delivered, item.upto)
                    if caught_up is not None:
                        caught_up(delivered)
                    item = None
                else:
                    delivered = item["position"]
                    subscriber.delivered.inc()
                yield item
    finally:
        if expiry is not None:
            expiry.cancel()
        # Not awaited: a query cancelled mid-flight can take seconds to unwind, and the
        # consumer's close must not wait for it.
        producer.cancel()
        _stopping.add(producer)
        producer.add_done_callback(_stopping.discard)


async def _produce(
    hub: Hub,
    scope: Scope,
    last: int,
    queue: asyncio.Queue[Any],
    stall_seconds: float,
    heartbeat_seconds: float,
) -> None:
    tail = await tail_of(hub)
    outage = Outage("a stream")
    try:
        while True:
            head = tail.head
            buffered = tail.since(last)
            if buffered is None:
                projected = hub.signals.projected
                seen = await until_available(
                    functools.partial(complete_position, hub.pool, projected), outage
                )
                rows = await until_available(
                    functools.partial(
                        events_after,
                        hub.pool,
                        last,
                        limit=BATCH,
                        entity_types=scope.entity_types,
                        district=scope.district,
                        agency=scope.agency,
                    ),
                    outage,
                )
                caught_up = len(rows) < BATCH
                upto = max(rows[-1]["position"] if rows else last, seen if caught_up else 0)
            else:
                rows = [row for row in buffered if scope.admits(row)]
                caught_up, upto = True, head
            for row in rows:
                if queue.full():  # only then a timer: a follower that keeps up costs none
                    try:
                        async with asyncio.timeout(stall_seconds):  # no task, as `wait_for` makes
                            await queue.put(row)
                    except TimeoutError:
                        await _force(queue, _Gap(last))
                        return
                else:
                    queue.put_nowait(row)
                last = row["position"]
            last = max(last, upto)
            if caught_up and not await tail.moved_past(last, heartbeat_seconds):
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(_Heartbeat(last))
    except asyncio.CancelledError:
        raise
    except Exception as error:  # noqa: BLE001 - handed to the consumer to end its stream
        await _force(queue, error)


async def _force(queue: asyncio.Queue[Any], item: Any) -> None:
    """Put `item` even into a full buffer, behind what is there (the consumer is slow)."""
    while True:
        try:
            queue.put_nowait(item)
            return
        except asyncio.QueueFull:
            await asyncio.sleep(0.05)
