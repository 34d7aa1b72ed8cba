"""The ordered event stream partners follow (GraphQL subscription and Server-Sent Events).

A follower replays the log after a position, then follows it live, woken by the projector's
NOTIFY (one LISTEN per process, see `hub.signals`). Each follower reads ahead into a bounded
buffer; a consumer that leaves it full for too long is sent what is buffered and then told
to resume from its last position, so the server's memory stays flat whatever consumers do.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from hub.domain.envelope import Actor, Role
from hub.domain.errors import Forbidden
from hub.projections.event_log import events_after, included_position
from hub.runtime import Hub

BATCH = 200
BUFFER = 1000
STALL_SECONDS = 30.0
HEARTBEAT_SECONDS = 15.0


class StreamEnded(Exception):
    """The stream stops here; `code` says why and `resume_after` where to pick up."""

    def __init__(self, code: str, message: str, resume_after: int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.resume_after = resume_after


@dataclass(frozen=True)
class Scope:
    """What one follower may see: its filters narrowed by the caller's role."""

    entity_types: tuple[str, ...] | None
    district: str | None
    agency: UUID | None

    @classmethod
    def of(cls, actor: Actor, entity_types: Sequence[str] | None, district: str | None) -> Scope:
        if actor.role is Role.DISTRICT:
            if district is not None and district != actor.district:
                raise Forbidden(
                    f"DISTRICT {actor.district} may follow only its own district's records",
                    "district",
                )
            district = actor.district
        agency = None
        if actor.role is Role.CONTRACTOR:
            assert actor.agency is not None
            try:
                agency = UUID(actor.agency)
            except ValueError:
                raise Forbidden("the token's agency is not a record id", "agency") from None
        types = tuple(entity_types) if entity_types else None
        return cls(types, district, agency)


_stopping: set[asyncio.Task[None]] = set()


@dataclass
class _Gap:
    """A marker in the buffer: nothing was lost, the consumer just fell behind."""

    resume_after: int


async def follow(
    hub: Hub,
    scope: Scope,
    after: int | None,
    *,
    expires_at: float | None = None,
    buffer: int = BUFFER,
    stall_seconds: float = STALL_SECONDS,
    heartbeat_seconds: float = HEARTBEAT_SECONDS,
) -> AsyncIterator[Any]:
    """Logged events after `after` (None: from now), replayed then live; None is a heartbeat.

    Ends with `StreamEnded` when the token expires or the consumer stalls.
    """
    start = await included_position(hub.pool) if after is None else after
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=buffer)
    producer = asyncio.create_task(
        _produce(hub, scope, start, queue, stall_seconds, heartbeat_seconds)
    )
    delivered = start
    try:
        while True:
            item = await queue.get()
            if expires_at is not None and time.time() >= expires_at:
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
            if item is not None:
                delivered = item["position"]
            yield item
    finally:
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
    try:
        while True:
            seen = hub.signals.projected
            rows = await events_after(
                hub.pool,
                last,
                limit=BATCH,
                entity_types=scope.entity_types,
                district=scope.district,
                agency=scope.agency,
            )
            for row in rows:
                try:
                    await asyncio.wait_for(queue.put(row), stall_seconds)
                except TimeoutError:
                    await _force(queue, _Gap(last))
                    return
                last = row["position"]
            if len(rows) == BATCH:
                continue
            last = max(last, seen)
            moved = await hub.signals.projected_past(seen + 1, heartbeat_seconds)
            if not moved:
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(None)
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
