"""`hub relay`: the ordered event log published into a NATS JetStream stream, each event once.

Each logged event becomes one message on `<prefix>.<entityType>.<district>` (`CITY` for a
record of no district) whose body is the event exactly as the SSE stream sends it to a PARTNER
(`hub.schema.events`: personal data left out), with the headers `Hub-Position`, `Hub-Type`,
`Hub-Schema-Version`, `Hub-Recorded-At` and `Nats-Msg-Id` (the position).

Exactly once, in order, rests on the stream itself, not on anything the relay remembers: it
resumes after the `Hub-Position` of the stream's last message, and every publish carries
`Nats-Expected-Last-Sequence`, the stream sequence the message before it got. So a publish that
JetStream did not store makes every later one in flight fail (nothing can land after a gap),
and the relay starts again from what the stream holds; a repeat within the duplicate window is
dropped by its `Nats-Msg-Id` as well. Publishes are pipelined, up to `WINDOW` unacknowledged.

Several relays of one stream may run: one holds a PostgreSQL advisory lock and publishes, the
others wait for it; a relay whose lock connection is lost stops at once.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig

from hub.domain.envelope import Actor, Role
from hub.projections.event_log import events_after
from hub.schema.events import as_json, present
from hub.service.config import Settings
from hub.service.runtime import Hub
from hub.streams.follow import Scope, StreamEnded, follow

log = logging.getLogger(__name__)
T = TypeVar("T")

NO_DISTRICT = "CITY"
"""The subject's district token for a record of no district (a city-wide one)."""
WINDOW = 512
"""Publishes awaiting their acknowledgement at once."""
ACK_SECONDS = 5.0
"""How long a publish's acknowledgement may take before the relay starts again."""
PAUSE_SECONDS = 0.5
"""The pause before starting again after NATS or the database failed."""
DUPLICATE_WINDOW_SECONDS = 120.0
"""The stream's `Nats-Msg-Id` memory, when the relay creates the stream."""
LOCK_CHECK_SECONDS = 1.0
REPORT_SECONDS = 10.0

PARTNER = Actor(sub="hub-relay", role=Role.PARTNER)
"""Whom the relayed events are shown as: a PARTNER, who sees every record, no personal data."""

_SCOPE = Scope.of(PARTNER, None, None)


class RelayRefused(Exception):
    """The relay cannot publish into the stream as it is (its settings or the stream's)."""


class _Again(Exception):
    """Publishing stopped; start again from what the stream holds."""


def subject(prefix: str, row: Any) -> str:
    """`<prefix>.<entityType>.<district>` of a logged event."""
    return f"{prefix}.{row['entity_type']}.{row['district'] or NO_DISTRICT}"


def message(event_json: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one event's message."""
    position = str(event_json["position"])
    headers = {
        "Nats-Msg-Id": position,
        "Hub-Position": position,
        "Hub-Type": event_json["type"],
        "Hub-Schema-Version": str(event_json["schemaVersion"]),
        "Hub-Recorded-At": event_json["recordedAt"],
    }
    body = json.dumps(event_json, ensure_ascii=False, default=str).encode()
    return body, headers


@dataclass
class Resume:
    """Where the stream ends: the last relayed position and its stream sequence."""

    position: int
    sequence: int


async def ensure_stream(js: JetStreamContext, name: str, prefix: str) -> None:
    """Create stream `name` on `<prefix>.>` if it is missing; refuse one on other subjects."""
    wanted = f"{prefix}.>"
    try:
        info = await js.stream_info(name)
    except nats.js.errors.NotFoundError:
        await js.add_stream(
            StreamConfig(
                name=name,
                subjects=[wanted],
                storage=StorageType.FILE,
                duplicate_window=DUPLICATE_WINDOW_SECONDS,
            )
        )
        log.info("created the JetStream stream %s on %s", name, wanted)
        return
    if wanted not in (info.config.subjects or []):
        raise RelayRefused(
            f"the stream {name} takes {info.config.subjects}, not {wanted} "
            f"(HUB_NATS_SUBJECT_PREFIX={prefix})"
        )


async def resume_point(js: JetStreamContext, name: str) -> Resume:
    """After what the stream's last message holds (its `Hub-Position`), or from the start."""
    state = (await js.stream_info(name)).state
    if state.last_seq == 0:
        return Resume(0, 0)
    if state.messages == 0:
        raise RelayRefused(
            f"the stream {name} is empty but has held messages (purged?): the relay cannot "
            f"tell where to resume; delete the stream to relay the log again from the start"
        )
    last = await js.get_msg(name, seq=state.last_seq)
    position = (last.headers or {}).get("Hub-Position")
    if position is None or not position.isdigit():
        raise RelayRefused(f"the last message of the stream {name} has no Hub-Position header")
    return Resume(int(position), state.last_seq)


class Relay:
    """Publishes the log into one stream, from where the stream ends, until cancelled."""

    def __init__(
        self,
        hub: Hub,
        js: JetStreamContext,
        stream: str,
        prefix: str,
        *,
        window: int = WINDOW,
        once: bool = False,
    ) -> None:
        self.hub = hub
        self.js = js
        self.stream = stream
        self.prefix = prefix
        self.window = window
        self.once = once
        self.published = 0
        self.position = 0
        self.publishing: tuple[float, float] | None = None
        """When the first publish of this run was sent and the last one acknowledged."""

    @property
    def rate(self) -> float:
        """Events acknowledged per second while publishing (0 before any)."""
        if self.publishing is None:
            return 0.0
        first, last = self.publishing
        return self.published / max(last - first, 1e-9)

    async def run(self) -> None:
        """Publish for ever (with `once`: until caught up), starting again after failures."""
        await _until_ok(lambda: ensure_stream(self.js, self.stream, self.prefix))
        while True:
            resume = await _until_ok(lambda: resume_point(self.js, self.stream))
            self.position = resume.position
            try:
                if await self._publish_from(resume):
                    return
            except (_Again, StreamEnded) as stopped:
                log.warning(
                    "relaying stopped after position %d (%s); starting again from the stream",
                    self.position,
                    stopped,
                )
                await asyncio.sleep(PAUSE_SECONDS)

    async def _publish_from(self, resume: Resume) -> bool:
        """Publish what the log has after `resume`; True once caught up, with `once`."""
        pending: collections.deque[tuple[int, asyncio.Future[Any]]] = collections.deque()
        expected = resume.sequence
        events = follow(self.hub, _SCOPE, resume.position, heartbeat_seconds=1.0, transport="relay")
        arrived: asyncio.Queue[Any] = asyncio.Queue(maxsize=self.window)
        reading = asyncio.create_task(_read(events, arrived), name="relay follower")
        reported, counted = time.monotonic(), self.published
        try:
            while True:
                rows = await _batch(arrived, self.window)
                if not rows:
                    await self._settle(pending, 0)
                    if self.once and not await events_after(self.hub.pool, self.position, limit=1):
                        return True
                    continue
                shown_all = await present(self.hub, PARTNER, rows, request_id=None)
                for row, shown in zip(rows, shown_all, strict=True):
                    body, headers = message(as_json(shown))
                    headers["Nats-Expected-Last-Sequence"] = str(expected)
                    try:
                        # never stalls: `_settle` keeps fewer than the client's window pending
                        ack = await self.js.publish_async(
                            subject(self.prefix, row), body, headers=headers
                        )
                    except (nats.errors.Error, OSError) as error:
                        raise _Again(f"publishing failed: {error!r}") from error
                    expected += 1
                    pending.append((shown.position, ack))
                    if self.publishing is None:
                        self.publishing = (time.monotonic(), time.monotonic())
                    await self._settle(pending, self.window - 1)
                if time.monotonic() - reported >= REPORT_SECONDS:
                    rate = (self.published - counted) / (time.monotonic() - reported)
                    log.info("relayed up to position %d (%.0f events/s)", self.position, rate)
                    reported, counted = time.monotonic(), self.published
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading
            await events.aclose()
            for _, ack in pending:
                ack.cancel()

    async def _settle(
        self, pending: collections.deque[tuple[int, asyncio.Future[Any]]], keep: int
    ) -> None:
        """Wait for acknowledgements until at most `keep` are outstanding (and take those
        already in), so the relay never runs more than a window ahead of the stream."""
        while pending and (len(pending) > keep or pending[0][1].done()):
            position, ack = pending[0]
            try:
                if not ack.done():
                    await asyncio.wait_for(asyncio.shield(ack), ACK_SECONDS)
                ack.result()
            except TimeoutError:
                raise _Again(f"no acknowledgement of position {position}") from None
            except (nats.errors.Error, OSError) as error:
                raise _Again(f"position {position} was not stored: {error}") from error
            pending.popleft()
            self.position = position
            self.published += 1
            if self.publishing is not None:
                self.publishing = (self.publishing[0], time.monotonic())


async def _read(events: AsyncIterator[Any], into: asyncio.Queue[Any]) -> None:
    """The follower's rows (None: caught up, a heartbeat) into `into`, then what ended it."""
    try:
        async for row in events:
            await into.put(row)
    except asyncio.CancelledError:
        raise
    except Exception as ended:  # noqa: BLE001 - raised again by `_batch`, in the relay
        await into.put(ended)


async def _batch(arrived: asyncio.Queue[Any], most: int) -> list[Any]:
    """The rows that have arrived (at least one, at most `most`), so that they are shown in one
    `present` and sent in one write; [] for a heartbeat."""
    rows: list[Any] = []
    item = await arrived.get()
    while True:
        if isinstance(item, Exception):
            raise item  # the rows before it are not lost: the relay starts again from the stream
        if item is None:
            if not rows:
                return rows
        else:
            rows.append(item)
        if len(rows) >= most or arrived.empty():
            return rows
        item = arrived.get_nowait()


async def _until_ok(attempt: Callable[[], Awaitable[T]]) -> T:
    """`attempt()`, again after a pause while NATS is away (a request JetStream refuses as
    bad, such as a stream whose subjects overlap another's, stops the relay)."""
    while True:
        try:
            return await attempt()
        except nats.js.errors.BadRequestError as error:
            raise RelayRefused(f"JetStream refused: {error}") from error
        except (nats.errors.Error, OSError) as error:
            log.warning("NATS is not answering (%r); trying again", error)
            await asyncio.sleep(PAUSE_SECONDS)


async def _said_error(error: Exception) -> None:
    log.warning("NATS: %r", error)


async def _said_disconnected() -> None:
    log.warning("disconnected from NATS; reconnecting")


async def _said_reconnected() -> None:
    log.info("reconnected to NATS")


async def connect(url: str) -> NATS:
    """A NATS connection that reconnects for ever; waits for the server if it is away. Its
    troubles are logged in one line each (the client's own logging is a traceback each)."""
    while True:
        try:
            return await nats.connect(
                url,
                name="hub-relay",
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                connect_timeout=2,
                allow_reconnect=True,
                error_cb=_said_error,
                disconnected_cb=_said_disconnected,
                reconnected_cb=_said_reconnected,
            )
        except (nats.errors.Error, OSError) as error:
            log.warning("cannot reach NATS at %s (%r); trying again", url, error)
            await asyncio.sleep(PAUSE_SECONDS)


async def lock(url: str, stream: str) -> asyncpg.Connection:
    """A connection holding the relay lock of `stream`, once no other relay holds it."""
    conn = await asyncpg.connect(url)
    said = False
    while not await conn.fetchval(
        "SELECT pg_try_advisory_lock(hashtext('hub.relay'), hashtext($1))", stream
    ):
        if not said:
            log.info("another relay publishes into %s; waiting for its lock", stream)
            said = True
        await asyncio.sleep(LOCK_CHECK_SECONDS)
    log.info("holding the relay lock of %s", stream)
    return conn


async def _lost(conn: asyncpg.Connection) -> None:
    """Return once the lock's connection is gone (the lock with it)."""
    while True:
        await asyncio.sleep(LOCK_CHECK_SECONDS)
        try:
            await asyncio.wait_for(conn.fetchval("SELECT 1"), LOCK_CHECK_SECONDS * 5)
        except (asyncpg.PostgresError, OSError, TimeoutError, asyncpg.InterfaceError):
            return


def nats_url(settings: Settings) -> str:
    """`HUB_NATS_URL`, which the relay cannot do without."""
    if not settings.nats_url:
        raise RelayRefused("HUB_NATS_URL is not set: which NATS server should it publish to?")
    return settings.nats_url


async def run(hub: Hub, *, once: bool = False) -> Relay:
    """Relay `hub`'s log into `HUB_NATS_STREAM` while this process holds the stream's lock."""
    settings = hub.settings
    url = nats_url(settings)
    held = await lock(hub.url, settings.nats_stream)
    nc = await connect(url)
    try:
        js = nc.jetstream(publish_async_max_pending=WINDOW)
        relay = Relay(hub, js, settings.nats_stream, settings.nats_subject_prefix, once=once)
        publishing = asyncio.create_task(relay.run(), name="relay")
        watching = asyncio.create_task(_lost(held), name="relay lock")
        done, _ = await asyncio.wait({publishing, watching}, return_when=asyncio.FIRST_COMPLETED)
        publishing.cancel()
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await publishing
        if publishing in done:
            publishing.result()
            return relay
        raise RelayRefused("the relay lock's database connection was lost; stopping")
    finally:
        with contextlib.suppress(Exception):
            await nc.close()
        with contextlib.suppress(Exception):
            await held.close()
