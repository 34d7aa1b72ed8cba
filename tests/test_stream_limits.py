"""Streams under abuse: clients that never read are cut off at the stall limit, and open
streams are capped per token and in all (`TOO_MANY_STREAMS`), over real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import socket
import time
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import httpx
import jwt
import pytest
import websockets
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from hub.commands import agency as agencies
from hub.commands import request_for
from hub.domain.envelope import Actor, Role
from hub.registry.application import Registry
from tests.conftest import SECRET, credit_code, token
from tests.streams import Served, Subscriber, served

STALL = 1.0
BOUND = 10.0
"""How long the server may take to end or release a stream in the background (liveness only)."""

EVENTS = """subscription { events(after: 0) { position type reason data } }"""
REASON = "一个很长的理由，" * 250  # 2,000 characters, the most a reason may have: 6 kB of UTF-8
CITY = Actor("test-city", Role.MUNICIPAL)


def fill(registry: Registry, count: int, today: date) -> int:
    """Register `count` agencies with long reasons in one batch; the position of the last."""
    with registry.batch(200) as batch:
        for n in range(count):
            request = request_for(
                agencies.register_agency,
                CITY,
                today=today,
                reason=REASON,
                name=f"重庆市渝中区填充社工服务中心{n}",
                credit_code=credit_code(),
                district="500103",
                kind="COMPREHENSIVE",
                fields=["SOCIAL_WELFARE"],
            )
            agencies.register_agency(registry, request)
    return batch.position


async def filled(app: Served, count: int = 1200) -> None:
    """Enough logged data (about 7 MB) to fill any socket that is not read."""
    position = await asyncio.to_thread(fill, app.hub.registry, count, app.hub.settings.today())
    assert await app.hub.signals.projected_past(position, 60)


async def streams(app: Served) -> dict[str, int]:
    async with httpx.AsyncClient(base_url=app.base) as http:
        return (await http.get("/readyz")).json()["streams"]


async def open_count_becomes(app: Served, count: int, within: float = BOUND) -> bool:
    deadline = time.monotonic() + within
    while (await streams(app))["open"] != count:
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


def tiny_socket(port: int) -> socket.socket:
    """A client socket whose receive buffer is tiny, so that a server fills it at once."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


def was_reset(sock: socket.socket) -> bool:
    """Whether the server reset the connection, seen without reading anything from it."""
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == errno.ECONNRESET


async def all_reset(socks: list[socket.socket], deadline: float) -> list[int]:
    """Poll until every socket was reset or the deadline passes; the indexes never reset."""
    waiting = set(range(len(socks)))
    while waiting and time.monotonic() < deadline:
        waiting = {n for n in waiting if not was_reset(socks[n])}
        await asyncio.sleep(0.1)
    return sorted(waiting)


@contextlib.contextmanager
def records(*names: str) -> Any:
    """The log records the named loggers emit inside the block."""
    found: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            found.append(record)

    handler = Keep(logging.DEBUG)
    loggers = [logging.getLogger(name) for name in names]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield found
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


async def test_sse_clients_that_never_read_are_reset_at_the_stall_limit(database: str) -> None:
    async with served(database, stream_stall_seconds=STALL) as app:
        await filled(app)
        socks = []
        with records("hub.service.web", "uvicorn.error") as logged:
            started = time.monotonic()
            for n in range(20):
                sock = tiny_socket(app.port)
                auth = token("PARTNER", sub=f"partner-{n}")
                sock.send(
                    f"GET /events?after=0 HTTP/1.1\r\nHost: 127.0.0.1:{app.port}\r\n"
                    f"Authorization: Bearer {auth}\r\n\r\n".encode()
                )
                socks.append(sock)
            try:
                assert await all_reset(socks, started + STALL + BOUND) == []
                assert await open_count_becomes(app, 0)
            finally:
                for sock in socks:
                    sock.close()
        assert [r.levelname for r in logged] == ["WARNING"] * 20, [r.getMessage() for r in logged]
        assert all("GET /events" in r.getMessage() for r in logged)
        assert not any(r.exc_info for r in logged)
        # and the hub still serves
        async with Subscriber(app.port, token("AUDITOR")) as subscriber:
            await subscriber.subscribe(after=0)
            assert len(await subscriber.events(3)) == 3


class RawSubscriber:
    """A WebSocket subscriber over a tiny-buffered raw socket, which stops reading when told."""

    def __init__(self, port: int, protocol: str) -> None:
        self.sock = tiny_socket(port)
        self.protocol = protocol
        self.client = ClientProtocol(
            parse_uri(f"ws://127.0.0.1:{port}/graphql"), subprotocols=[Subprotocol(protocol)]
        )
        self.pending: list[Any] = []

    async def _flush(self) -> None:
        await asyncio.get_running_loop().sock_sendall(
            self.sock, b"".join(self.client.data_to_send())
        )

    async def _until(self, wanted: Any) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self.pending += self.client.events_received()
            while self.pending:
                if wanted(self.pending.pop(0)):
                    return
            data = await asyncio.wait_for(loop.sock_recv(self.sock, 65536), 10)
            assert data, "the server closed the connection during the set-up"
            self.client.receive_data(data)

    async def _send(self, message: dict[str, Any]) -> None:
        self.client.send_text(json.dumps(message).encode())
        await self._flush()

    def _is(self, kind: str) -> Any:
        def check(event: Any) -> bool:
            return (
                isinstance(event, Frame)
                and event.opcode is Opcode.TEXT
                and json.loads(event.data)["type"] == kind
            )

        return check

    async def subscribe(self, auth: str) -> None:
        """Subscribe from position 0, take the first event, then read nothing more."""
        self.client.send_request(self.client.connect())
        await self._flush()
        await self._until(lambda event: isinstance(event, Response))
        init = {"Authorization": f"Bearer {auth}"}
        await self._send({"type": "connection_init", "payload": init})
        await self._until(self._is("connection_ack"))
        kind = "subscribe" if self.protocol == "graphql-transport-ws" else "start"
        await self._send({"id": "1", "type": kind, "payload": {"query": EVENTS}})
        await self._until(self._is("next" if kind == "subscribe" else "data"))


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_subscribers_that_never_read_are_reset_at_the_stall_limit(
    database: str, protocol: str
) -> None:
    async with served(database, stream_stall_seconds=STALL) as app:
        await filled(app)
        subscribers = [RawSubscriber(app.port, protocol) for _ in range(5)]
        with records("hub.service.web", "uvicorn.error", "strawberry") as logged:
            try:
                for subscriber in subscribers:
                    await subscriber.subscribe(token("PARTNER"))
                stalled = time.monotonic()
                assert await all_reset([s.sock for s in subscribers], stalled + STALL + BOUND) == []
                assert await open_count_becomes(app, 0)
            finally:
                for subscriber in subscribers:
                    subscriber.sock.close()
        assert [r.levelname for r in logged] == ["WARNING"] * 5, [r.getMessage() for r in logged]
        assert all("WebSocket /graphql" in r.getMessage() for r in logged)


class Streams:
    """Streams opened over both transports, each either admitted or refused."""

    def __init__(self, app: Served, http: httpx.AsyncClient) -> None:
        self.app, self.http = app, http
        self.open: dict[str, contextlib.AsyncExitStack] = {}

    async def sse(self, name: str, auth: str) -> str:
        """'admitted' once the first event arrives, else the refusal's code."""
        stack = contextlib.AsyncExitStack()
        response = await stack.enter_async_context(
            self.http.stream(
                "GET",
                "/events",
                params={"after": "0"},
                headers={"Authorization": f"Bearer {auth}"},
                timeout=10,
            )
        )
        if response.status_code != 200:
            body = json.loads(await response.aread())
            await stack.aclose()
            assert response.status_code == 429, body
            [error] = body["errors"]
            assert "HUB_MAX_STREAMS" in error["message"]
            return error["extensions"]["code"]
        lines = response.aiter_lines()
        stack.push_async_callback(lines.aclose)  # kept open: leaving the loop would close it
        async for line in lines:
            if line.startswith("id:"):
                break
        self.open[name] = stack
        return "admitted"

    async def subscription(self, name: str, auth: str) -> str:
        stack = contextlib.AsyncExitStack()
        subscriber = await stack.enter_async_context(Subscriber(self.app.port, auth))
        await subscriber.subscribe(after=0)
        message = await subscriber.next()
        await asyncio.sleep(0)
        if message["type"] == "next" and "errors" not in message["payload"]:
            self.open[name] = stack
            return "admitted"
        await stack.aclose()
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert "HUB_MAX_STREAMS" in errors[0]["message"]
        return errors[0]["extensions"]["code"]

    async def close(self, name: str) -> None:
        await self.open.pop(name).aclose()

    async def close_all(self) -> None:
        for name in list(self.open):
            await self.close(name)


@contextlib.asynccontextmanager
async def capped(database: str, **caps: int) -> AsyncIterator[Streams]:
    async with (
        served(database, **caps) as app,
        httpx.AsyncClient(base_url=app.base) as http,
    ):
        await filled(app, 1)
        opened = Streams(app, http)
        try:
            yield opened
        finally:
            await opened.close_all()


@pytest.mark.parametrize("transport", ["sse", "subscription"])
async def test_one_token_holds_at_most_its_cap_of_streams(database: str, transport: str) -> None:
    first, second = token("PARTNER", sub="partner-one"), token("PARTNER", sub="partner-two")
    async with capped(database, max_streams_per_token=2) as streams_:
        open_ = getattr(streams_, transport)
        assert await open_("a", first) == "admitted"
        assert await open_("b", first) == "admitted"
        assert await open_("c", first) == "TOO_MANY_STREAMS"
        assert await open_("d", second) == "admitted"
        assert await streams(streams_.app) == {"open": 3, "max": 1000, "maxPerToken": 2}
        await streams_.close("a")
        assert await open_count_becomes(streams_.app, 2)
        assert await open_("e", first) == "admitted"
        assert await open_("f", first) == "TOO_MANY_STREAMS"
        await streams_.close_all()
        assert await open_count_becomes(streams_.app, 0)


async def test_the_hub_serves_at_most_its_cap_of_streams_over_both_transports(
    database: str,
) -> None:
    tokens = [token("PARTNER", sub=f"partner-{n}") for n in range(4)]
    async with capped(database, max_streams=2) as streams_:
        assert await streams_.sse("a", tokens[0]) == "admitted"
        assert await streams_.subscription("b", tokens[1]) == "admitted"
        assert await streams_.sse("c", tokens[2]) == "TOO_MANY_STREAMS"
        assert await streams_.subscription("d", tokens[2]) == "TOO_MANY_STREAMS"
        assert (await streams(streams_.app))["open"] == 2
        await streams_.close("b")
        assert await open_count_becomes(streams_.app, 1)
        assert await streams_.sse("e", tokens[3]) == "admitted"
        assert await streams_.subscription("f", tokens[2]) == "TOO_MANY_STREAMS"


async def test_a_refused_stream_takes_no_slot_and_a_bad_request_none_either(
    database: str,
) -> None:
    async with capped(database, max_streams_per_token=1) as streams_:
        auth = token("PARTNER")
        refused = await streams_.http.get(
            "/events", params={"after": "x"}, headers={"Authorization": f"Bearer {auth}"}
        )
        assert refused.status_code == 400
        assert await streams_.sse("a", auth) == "admitted"
        assert await streams_.subscription("b", auth) == "TOO_MANY_STREAMS"
        await streams_.close("a")
        assert await open_count_becomes(streams_.app, 0)
        assert await streams_.subscription("c", auth) == "admitted"


async def test_a_subscriber_that_leaves_gives_its_slots_back(database: str) -> None:
    async with capped(database) as streams_:
        ws = await websockets.connect(
            f"ws://127.0.0.1:{streams_.app.port}/graphql", subprotocols=["graphql-transport-ws"]
        )
        init = {"Authorization": f"Bearer {token('PARTNER')}"}
        await ws.send(json.dumps({"type": "connection_init", "payload": init}))
        for n in range(3):
            payload = {"query": EVENTS}
            await ws.send(json.dumps({"id": str(n), "type": "subscribe", "payload": payload}))
        assert await open_count_becomes(streams_.app, 3)
        ws.transport.abort()
        assert await open_count_becomes(streams_.app, 0)


async def test_streams_whose_token_expires_give_their_slots_back(database: str) -> None:
    brief = jwt.encode(
        {"sub": "brief", "role": "PARTNER", "exp": int(time.time()) + 2}, SECRET, algorithm="HS256"
    )
    async with (
        capped(database) as streams_,
        streams_.http.stream(
            "GET",
            "/events",
            params={"after": "0"},
            headers={"Authorization": f"Bearer {brief}"},
            timeout=10,
        ) as response,
        Subscriber(streams_.app.port, brief) as subscriber,
    ):
        await subscriber.subscribe(after=0)
        await subscriber.events(1)
        assert await open_count_becomes(streams_.app, 2)
        await asyncio.sleep(2.5)
        await filled(streams_.app, 1)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await subscriber.next()
        assert closed.value.rcvd.code == 4401
        lines = [line async for line in response.aiter_lines()]
        end = json.loads(lines[lines.index("event: end") + 1].removeprefix("data: "))
        assert end["code"] == "UNAUTHENTICATED"
        assert await open_count_becomes(streams_.app, 0)
