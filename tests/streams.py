"""Clients of the event stream for tests: the app served over real HTTP and WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import websockets

from hub.service.config import Settings
from hub.service.runtime import Hub
from hub.service.web import create_app
from tests.conftest import PERSONAL_DATA_KEY, ROOT, SECRET

EVENTS = """subscription($after: Int, $types: [EntityType!], $district: String) {
  events(after: $after, entityTypes: $types, district: $district) {
    position type entityId entityType data } }"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Served:
    hub: Hub
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.asynccontextmanager
async def served(url: str, **settings: Any) -> AsyncIterator[Served]:
    """The whole app under uvicorn on a free port of this machine."""
    values: dict[str, Any] = dict(
        database_url=url,
        jwt_secret=SECRET,
        personal_data_key=PERSONAL_DATA_KEY,
        rate_limit_per_token=0,  # tests send bursts; tests/test_server_limits.py sets one
    )
    hub = Hub(Settings.from_env(**{**values, **settings}))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(hub=hub), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    try:
        yield Served(hub, port)
    finally:
        server.should_exit = True
        await task


class Subscriber:
    """A graphql-transport-ws (or legacy graphql-ws) client of the `events` subscription."""

    def __init__(self, port: int, token: str | None, protocol: str = "graphql-transport-ws"):
        self.port, self.token, self.protocol = port, token, protocol
        self.ws: Any = None

    async def __aenter__(self) -> Subscriber:
        self.ws = await websockets.connect(
            f"ws://127.0.0.1:{self.port}/graphql", subprotocols=[self.protocol]
        )
        payload = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        await self.ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.ws.close()

    async def acknowledged(self) -> None:
        while True:
            message = json.loads(await self.ws.recv())
            if message["type"] == "connection_ack":
                return
            assert message["type"] == "ka", message

    async def subscribe(self, **variables: Any) -> None:
        await self.acknowledged()
        kind = "subscribe" if self.protocol == "graphql-transport-ws" else "start"
        await self.ws.send(
            json.dumps(
                {"id": "1", "type": kind, "payload": {"query": EVENTS, "variables": variables}}
            )
        )

    async def next(self, timeout: float = 10) -> dict[str, Any]:
        """The next message about the subscription (`next`/`data`, `error` or `complete`)."""
        while True:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            if message["type"] not in ("ka", "ping", "pong"):
                return message

    async def events(self, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        found = []
        while len(found) < count:
            message = await self.next(timeout)
            assert message["type"] in ("next", "data"), message
            assert "errors" not in message["payload"], message
            found.append(message["payload"]["data"]["events"])
        return found


@contextlib.asynccontextmanager
async def hub_serve(
    log: Path | None, timeout: float = 30, **env: str
) -> AsyncIterator[tuple[httpx.AsyncClient, subprocess.Popen[bytes]]]:
    """`hub serve` as a process of its own with `env` (its output to `log`, if given), and a
    client for it once `/readyz` answers 200; terminated afterwards (killed if it lingers)."""
    port = free_port()
    with contextlib.ExitStack() as files:
        output = files.enter_context(log.open("wb")) if log else subprocess.DEVNULL
        process = subprocess.Popen(
            [sys.executable, "-m", "hub", "serve"],
            env={**os.environ, "HUB_JWT_SECRET": SECRET, **env, "HUB_PORT": str(port)},
            stdout=output,
            stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
            cwd=ROOT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base, timeout=timeout) as http:
                deadline = time.monotonic() + 90
                while True:
                    said = log.read_text()[-3000:] if log else "hub serve ended"
                    assert process.poll() is None, said
                    assert time.monotonic() < deadline, "hub serve not ready within 90 s"
                    with contextlib.suppress(httpx.HTTPError):
                        if (await http.get("/readyz")).status_code == 200:
                            break
                    await asyncio.sleep(0.05)
                yield http, process
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
