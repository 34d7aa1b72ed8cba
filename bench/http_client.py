"""What the benchmarks share: a hub served in its own process, and a minimal keep-alive
HTTP/1.1 JSON client (one connection per worker).

httpx spends more CPU per request than the hub does on a small query, so measuring the hub
with it would measure the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from hub.domain.envelope import Role
from hub.service.auth import issue_token
from hub.service.database import create_database, database_url, migrate


class Connection:
    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self.extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.reader: asyncio.StreamReader
        self.writer: asyncio.StreamWriter

    async def open(self) -> Connection:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def post(self, path: str, payload: Any) -> Any:
        return json.loads(await self.exchange(path, json.dumps(payload).encode()))

    async def exchange(self, path: str, body: bytes) -> bytes:
        """POST `body` (JSON) and return the response's body undecoded, so that a load
        generator spends no time parsing what it only counts."""
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{self.extra}\r\n"
        )
        self.writer.write(head.encode() + body)
        status = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        data = await self.reader.readexactly(length)
        if b" 200 " not in status:
            raise RuntimeError(f"{status!r}: {data!r}")
        return data

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


SECRET = "bench-secret-of-at-least-thirty-two-bytes"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def fresh_database(root: Path) -> str:
    """A new, empty database on `HUB_DATABASE_URL`'s server, or on an embedded one."""
    server = database_url(os.environ.get("HUB_DATABASE_URL"), root / ".hub" / "bench")
    return await create_database(server, f"hub_bench_{uuid.uuid4().hex[:8]}")


class ServedHub:
    """`hub serve` in its own process on database `url` (default: a fresh one), with `env`'s
    settings besides, for a benchmark to talk to."""

    def __init__(self, root: Path, url: str = "", env: dict[str, str] | None = None) -> None:
        self.root = root
        self.port = free_port()
        self.url = url
        self.env = env or {}
        self.process: subprocess.Popen[bytes] | None = None

    async def __aenter__(self) -> ServedHub:
        if not self.url:
            self.url = await fresh_database(self.root)
        await migrate(self.url)
        env = {
            **os.environ,
            "HUB_DATABASE_URL": self.url,
            "HUB_JWT_SECRET": SECRET,
            "HUB_PORT": str(self.port),
            "HUB_RATE_LIMIT_PER_TOKEN": "0",  # the benchmarks measure the hub, not its budget
            **self.env,
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hub", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}") as http:
            for _ in range(150):
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"hub serve exited ({self.process.returncode}) before it was ready:"
                        " run it by hand with the same settings to see why"
                    )
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/readyz")).status_code == 200:
                        return self
                await asyncio.sleep(0.2)
        raise RuntimeError("hub serve did not become ready in 30 s")

    async def __aexit__(self, *_: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)

    def connect(self, role: Role = Role.MUNICIPAL, **claims: str) -> Awaitable[Connection]:
        token = issue_token(SECRET, role, sub="bench", **claims)
        return Connection("127.0.0.1", self.port, {"Authorization": f"Bearer {token}"}).open()


async def graphql(connection: Connection, document: str, variables: dict | None = None) -> Any:
    """The data of a GraphQL request that must succeed, mutation errors included."""
    body = await connection.post("/graphql", {"query": document, "variables": variables or {}})
    assert "errors" not in body, body
    payload = next(iter(body["data"].values()))
    assert not isinstance(payload, dict) or not payload.get("errors"), payload
    return payload


async def closed_loop(
    connections: list[Connection], ask: Callable[[Connection], Awaitable[object]], seconds: float
) -> tuple[float, list[float]]:
    """Requests a second and each request's latency (ms): every connection sends `ask` again
    as soon as it is answered, for `seconds`; the connections are closed after."""
    timings: list[float] = []
    started = time.perf_counter()
    deadline = started + seconds

    async def client(connection: Connection) -> None:
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            await ask(connection)
            timings.append((time.perf_counter() - sent) * 1000)

    await asyncio.gather(*(client(c) for c in connections))
    elapsed = time.perf_counter() - started
    for connection in connections:
        await connection.close()
    return len(timings) / elapsed, timings


def p(values: list[float], q: int) -> float:
    """The `q`th percentile of `values`."""
    return statistics.quantiles(values, n=100)[q - 1]


async def interleaved(
    hubs: dict[str, ServedHub],
    load: Callable[[ServedHub], Awaitable[tuple[float, list[float]]]],
    rounds: int,
    column: str,
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Each hub loaded by `load` in turn, `rounds` times, printing a line a turn (the hub's
    name under `column`): every round's rate and all latencies of each hub, for `compare`.
    Every other round goes in the reverse order, so that no hub always follows the same one
    (a warm cache, a vacuum the one before set off)."""
    rates: dict[str, list[float]] = {name: [] for name in hubs}
    timings: dict[str, list[float]] = {name: [] for name in hubs}
    print(f"{'round':>5} {column:>6} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7}")
    for n in range(1, rounds + 1):
        order = list(hubs.items())
        for name, hub in order if n % 2 else reversed(order):
            rate, latencies = await load(hub)
            rates[name].append(rate)
            timings[name] += latencies
            print(f"{n:5} {name:>6} {rate:8.0f} {p(latencies, 50):7.2f} {p(latencies, 99):7.2f}")
    return rates, timings


def compare(
    rates: dict[str, list[float]], timings: dict[str, list[float]], name: str, baseline: str
) -> None:
    """Print the rounds' figures of `name` beside `baseline`'s (same run) and their ratio."""
    print(f"\n{'all rounds':24} {name:>8} {baseline:>8} {name + '/' + baseline:>7}")
    figures = {
        "req/s (median of rounds)": {k: statistics.median(v) for k, v in rates.items()},
        "p50 ms": {k: p(v, 50) for k, v in timings.items()},
        "p99 ms": {k: p(v, 99) for k, v in timings.items()},
    }
    for label, values in figures.items():
        ours, theirs = values[name], values[baseline]
        print(f"{label:24} {ours:8.2f} {theirs:8.2f} {ours / theirs:7.3f}")
