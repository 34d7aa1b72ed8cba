"""Live events written straight to the WebSocket connections that follow them, by one
dispatcher per process.

An `events` subscription over a WebSocket (either protocol) caught up with the process's
`Tail` is handed to the dispatcher. On each advance of the tail it makes each new event's
message frame once per (role view, selection, operation), packs each connection's frames into
one write and writes them to the connection's socket itself: no task, queue, GraphQL execution
or ASGI send chain per subscriber and event. What it cannot do that way (a client whose socket
is full, a token that expires, an event whose render has errors, a subscriber fallen out of
the tail) it hands back to the subscription with the last position written; the subscription
goes on from there through `follow` and the ordinary send path, with their buffer, stall limit
and errors, so a client gets the same messages either way, with no gap and no repeat.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Container, Hashable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from graphql import ExecutionResult
from websockets.frames import Frame, Opcode

from hub.service import metrics
from hub.service.runtime import Hub
from hub.streams.fanout import Rendered, next_message, renderings_of
from hub.streams.follow import BATCH, Scope, Tail, tail_of

log = logging.getLogger(__name__)

CAUGHT_UP_SECONDS = 1.0
"""How long a subscription that was handed back follows the log idle before it is handed
over again."""


@dataclass(frozen=True)
class Operation:
    """One WebSocket operation: its id, the ids of its connection's running operations (which
    lose it as soon as the client stops it), and its event messages' type: `next`
    (graphql-transport-ws) or `data` (the legacy graphql-ws)."""

    id: str
    running: Container[str] = field(compare=False)
    type: str = "next"

    def message(self) -> dict[str, str]:
        """An event message but its payload, its fields in the order strawberry sends them."""
        if self.type == "data":
            return {"type": "data", "id": self.id}
        return {"id": self.id, "type": self.type}


OPERATION: ContextVar[Operation | None] = ContextVar("hub_ws_operation", default=None)
"""The WebSocket operation whose task runs here (the web layer sets it around starting the
task; the task inherits it)."""


class Socket:
    """The server's side of one WebSocket connection, for frames written to it directly.

    Only a server protocol that writes each frame whole to its transport and says whether the
    connection is open and writable (uvicorn's) qualifies; under any other, `of` finds none and
    subscriptions take the ordinary send path. A frame written here is never compressed, which
    permessage-deflate allows message by message.
    """

    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol
        self.transport: asyncio.WriteTransport = protocol.transport

    @classmethod
    def of(cls, scope: Any) -> Socket | None:
        protocol = getattr(scope.get("state", {}).get("server_send"), "__self__", None)
        needs = ("transport", "writable", "close_sent", "handshake_complete", "disconnected")
        if protocol is None or not all(hasattr(protocol, name) for name in needs):
            return None
        return cls(protocol)

    def takes(self) -> bool:
        """Open, and not asking writers to wait (its buffer is under the high-water mark)."""
        protocol = self.protocol
        return (
            protocol.handshake_complete
            and not protocol.close_sent
            and not protocol.disconnected
            and protocol.writable.is_set()
            and not self.transport.is_closing()
        )


@dataclass(eq=False)
class Listener:
    """One subscription (`Direct`) while the dispatcher writes its events; `ended` gets why
    it stopped ("expired", "handed back") once it does, and `last` is the last position
    written."""

    direct: Direct
    last: int
    kind: tuple[Any, ...] = ()
    """What decides its frames: the same object for every listener whose scope, view,
    selection and operation id are the same (`Dispatcher.add`)."""
    ended: asyncio.Future[str] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def end(self, why: str) -> None:
        if not self.ended.done():
            self.ended.set_result(why)

    def takes(self) -> bool:
        """Whether it may be written to now: running (not completed by its client, not
        ended) on a connection that takes frames."""
        direct = self.direct
        return (
            not self.ended.done()
            and direct.operation.id in direct.operation.running
            and direct.socket.takes()
        )


@dataclass
class Direct:
    """What one subscription needs to be handed to the dispatcher, whenever it is caught up."""

    hub: Hub
    socket: Socket
    scope: Scope
    view: Hashable
    show: Callable[[Any], Awaitable[Any]]
    execution: Any
    operation: Operation

    @classmethod
    def of(
        cls,
        hub: Hub,
        connection: Any,
        scope: Scope,
        view: Hashable,
        show: Callable[[Any], Awaitable[Any]],
        execution: Any,
    ) -> Direct | None:
        """None unless this is a WebSocket operation on a connection whose frames can be
        written directly (`Socket`)."""
        operation, socket = OPERATION.get(), Socket.of(connection)
        if operation is None or execution is None or socket is None:
            return None
        return cls(hub, socket, scope, view, show, execution, operation)

    def following(self, caught_up: Callable[[int], None]) -> dict[str, Any]:
        """How the subscription follows the log while not handed over: told when it is
        caught up, and soon, so that it is handed over again."""
        return {"heartbeat_seconds": CAUGHT_UP_SECONDS, "caught_up": caught_up}

    async def ready(self, last: int) -> bool:
        """Whether the subscription at `last` may be handed over now: its client takes
        frames, and the tail holds what follows `last`, at most a batch of it."""
        if not self.socket.takes():
            return False
        rows = (await tail_of(self.hub)).since(last)
        return rows is not None and len(rows) <= BATCH

    async def run(self, last: int, expires_at: float | None) -> tuple[str, int]:
        """Have the dispatcher write the events after `last` until it hands the subscription
        back or the token's `exp` comes ("expired"), with the last position written;
        cancelled, it stops at once."""
        dispatcher = await dispatcher_of(self.hub)
        listener = Listener(self, last)
        loop = asyncio.get_running_loop()
        expiry = (
            None
            if expires_at is None
            else loop.call_later(max(0.0, expires_at - time.time()), listener.end, "expired")
        )
        with metrics.Subscriber("websocket"):
            dispatcher.add(listener)
            try:
                return await listener.ended, listener.last
            finally:
                dispatcher.remove(listener)
                if expiry is not None:
                    expiry.cancel()


class Dispatcher:
    """Writes the tail's new events to every listener of the process, once per advance (and
    to a listener just added, at once)."""

    def __init__(self, hub: Hub, tail: Tail) -> None:
        self.hub = hub
        self.tail = tail
        self.listeners: set[Listener] = set()
        self._added: set[Listener] = set()
        self._kinds: dict[tuple[Any, ...], list[Any]] = {}
        """Each kind of listener of the process (`Listener.kind`), with how many there are."""
        self._head = tail.head
        self._wake = asyncio.Event()
        tail.watchers.append(self._wake.set)
        hub.background.append(asyncio.create_task(self._run(), name="event dispatcher"))

    def add(self, listener: Listener) -> None:
        direct = listener.direct
        kind = (direct.scope, direct.view, direct.execution.selection, direct.operation)
        known = self._kinds.setdefault(kind, [kind, 0])
        known[1] += 1
        listener.kind = known[0]
        self.listeners.add(listener)
        self._added.add(listener)
        self._wake.set()

    def remove(self, listener: Listener) -> None:
        if listener not in self.listeners:
            return
        self.listeners.discard(listener)
        self._added.discard(listener)
        known = self._kinds[listener.kind]
        known[1] -= 1
        if not known[1]:
            del self._kinds[listener.kind]

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            # Only the listeners just added, unless the tail moved: the others are up to date.
            moved, self._head = self.tail.head != self._head, self.tail.head
            listeners = self.listeners if moved else self._added
            self._added = set()
            try:
                await self._round(list(listeners))
            except Exception:
                log.exception("the event dispatcher failed; its subscriptions go on by themselves")
                for listener in self.listeners:
                    listener.end("handed back")

    async def _round(self, listeners: list[Listener]) -> None:
        """Each listener's events after its `last`: worked out once for the listeners that
        share their position and their `Listener.kind`, written to each connection in one
        write, checked writable after the last wait for a frame."""
        sharing: dict[tuple[int, int], list[Listener]] = {}
        for listener in listeners:
            if not listener.ended.done():
                sharing.setdefault((listener.last, id(listener.kind)), []).append(listener)
        tail, frames = self.tail, _Frames(self.hub)
        delivered = 0
        for (last, _), group in sharing.items():
            head = tail.head
            rows = tail.since(last)
            if rows is None:
                for listener in group:
                    listener.end("handed back")
                continue
            admitted = [row for row in rows if group[0].direct.scope.admits(row)]
            if any(row["entity_type"] == "WORKER" for row in admitted):
                ones = [[listener] for listener in group]  # made for each (`hub.streams.fanout`)
            else:
                ones = [group]
            for listeners_of in ones:
                made: list[bytes] = []
                for row in admitted:
                    frame = frames.made.get(frames.key(listeners_of[0], row), _MISSING)
                    if frame is _MISSING:
                        frame = await frames.make(listeners_of[0], row)
                    if frame is None:
                        break
                    made.append(frame)
                data = b"".join(made)
                upto = admitted[len(made) - 1]["position"] if made else last
                complete = len(made) == len(admitted)
                for listener in listeners_of:
                    if listener.ended.done():
                        continue
                    if made:
                        if not listener.takes():
                            listener.end("handed back")
                            continue
                        listener.direct.socket.transport.write(data)
                        delivered += len(made)
                    listener.last = max(upto, head) if complete else upto
                    if not complete:
                        listener.end("handed back")  # its subscription renders it, errors and all
        if delivered:
            metrics.DELIVERED.labels("websocket").inc(delivered)


_MISSING: Any = object()


class _Frames:
    """The `next` frames of one round, made once per (event, role view, selection, operation);
    a worker's event is made for each listener (see `hub.streams.fanout`)."""

    def __init__(self, hub: Hub) -> None:
        self.renderings = renderings_of(hub)
        self.made: dict[Hashable, bytes | None] = {}

    @staticmethod
    def key(listener: Listener, row: Any) -> Hashable:
        direct = listener.direct
        shared = (row["position"], direct.view, direct.execution.selection, direct.operation)
        return shared if row["entity_type"] != "WORKER" else (shared, id(listener))

    async def make(self, listener: Listener, row: Any) -> bytes | None:
        """`row`'s frame for `listener`, or None if its render has errors."""
        direct = listener.direct
        execution = direct.execution
        shown = await self.renderings.shown(direct.view, row, direct.show)
        result = execution.build_per_event_executor(shown).execute_operation(False)
        if execution.is_awaitable(result):
            result = await result
        frame = None
        if isinstance(result, ExecutionResult) and isinstance(result.data, Rendered):
            text = next_message(direct.operation.message(), result.data).encode()
            frame = Frame(Opcode.TEXT, text).serialize(mask=False)
        self.made[self.key(listener, row)] = frame
        return frame


_dispatchers: dict[int, Dispatcher] = {}


async def dispatcher_of(hub: Hub) -> Dispatcher:
    """The process's dispatcher for `hub`, reading the process's tail."""
    tail = await tail_of(hub)
    found = _dispatchers.get(id(hub))
    if found is None or found.hub is not hub or found.tail is not tail:
        found = _dispatchers[id(hub)] = Dispatcher(hub, tail)
    return found
