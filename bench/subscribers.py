"""Many subscribers on one server process while writers commit: latency and memory.

Starts `hub serve` on a fresh database, opens SUBSCRIBERS graphql-transport-ws subscriptions to
`events` (from now), then commits EVENTS registrations at a steady rate and measures, for every
delivered event, the time from its recording (`recordedAt`) to its arrival at the client. The
baselines are the same run with one subscriber, and with SUBSCRIBERS whose selections all
differ (an alias each), so the hub renders each event once per subscriber, as it did before it
shared renders. Also prints the server's resident memory, what each idle subscriber adds, and
the CPU time the server spent per event committed (writes, projection and fan-out together),
which a busy machine disturbs less than the latencies.

    python bench/subscribers.py [--subscribers 2000] [--distinct 1000] [--events 40] [--rate 10]
        [--baseline-tree DIR] [--workers N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from http_client import SECRET, ServedHub, graphql  # noqa: E402

from hub.domain.envelope import Role  # noqa: E402
from hub.domain.identifiers import make_credit_code  # noqa: E402
from hub.service.auth import issue_token  # noqa: E402

SUBSCRIPTION = "subscription { %s: events { position recordedAt } }"
REGISTER = """mutation($input: RegisterAgencyInput!) { registerAgency(input: $input) {
  position errors { message } } }"""
_serial = iter(range(10**8))


def rss_mib(pid: int) -> float:
    """The resident memory of process `pid` and its children (`hub serve --workers N`)."""
    total = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            total += int(line.split()[1]) / 1024
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            total += rss_mib(int(child))
    return total


def cpu_seconds(pid: int) -> tuple[float, float]:
    """The CPU time (user, system) process `pid` and its children have spent so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    user, system = int(fields[11]) / tick, int(fields[12]) / tick
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            more = cpu_seconds(int(child))
            user, system = user + more[0], system + more[1]
    return user, system


class Frames(asyncio.Protocol):
    """A minimal graphql-transport-ws client: the upgrade, then each server frame kept as it
    arrives with its arrival time, decoded after the round. A Python WebSocket library spends
    tens of microseconds on every message, and 2,000 subscribers in one client process on the
    hub's own cores would measure the client; this one spends a few."""

    def __init__(self, token: str, alias: str) -> None:
        self.token, self.alias = token, alias
        self.buffer = b""
        self.upgraded = False
        self.acknowledged = asyncio.get_running_loop().create_future()
        self.arrived: list[tuple[float, bytes]] = []
        self.transport: asyncio.Transport | None = None
        self.closed: int | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(
            b"GET /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
        )

    def send(self, message: dict, opcode: int = 1) -> None:
        """A text frame of `message` (or, with `opcode` 10, a pong of its `data`)."""
        data = message["data"] if opcode == 10 else json.dumps(message).encode()
        mask = b"\x00\x00\x00\x00"
        if len(data) < 126:
            head = bytes([0x80 | opcode, 0x80 | len(data)])
        else:
            head = bytes([0x80 | opcode, 0x80 | 126]) + len(data).to_bytes(2, "big")
        assert self.transport is not None
        self.transport.write(head + mask + data)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            assert self.buffer.startswith(b"HTTP/1.1 101"), self.buffer[:200]
            self.buffer, self.upgraded = self.buffer[end + 4 :], True
            auth = {"Authorization": f"Bearer {self.token}"}
            self.send({"type": "connection_init", "payload": auth})
        while len(self.buffer) >= 2:
            size, start = self.buffer[1] & 0x7F, 2
            if size == 126:
                size, start = int.from_bytes(self.buffer[2:4], "big"), 4
            elif size == 127:
                size, start = int.from_bytes(self.buffer[2:10], "big"), 10
            if len(self.buffer) < start + size:
                return
            opcode, payload = self.buffer[0] & 0x0F, self.buffer[start : start + size]
            self.buffer = self.buffer[start + size :]
            if opcode == 8:
                self.closed = int.from_bytes(payload[:2], "big")
            elif opcode == 9:  # the server's keep-alive ping: unanswered, it closes with 1011
                self.send({"data": payload}, opcode=10)
            elif opcode != 1:
                continue
            elif not self.acknowledged.done():
                assert json.loads(payload)["type"] == "connection_ack", payload
                self.acknowledged.set_result(None)
                query = SUBSCRIPTION % self.alias
                self.send({"id": "1", "type": "subscribe", "payload": {"query": query}})
            else:
                self.arrived.append((now, payload))

    def latencies(self) -> list[float]:
        found = []
        for arrived, payload in self.arrived:
            message = json.loads(payload)
            if message["type"] == "next":
                event = message["payload"]["data"][self.alias]
                recorded = datetime.fromisoformat(event["recordedAt"]).timestamp()
                found.append((arrived - recorded) * 1000)
        return found

    def received(self) -> int:
        return sum(b'"type":"next"' in payload for _, payload in self.arrived)


async def round_of(
    hub: ServedHub, subscribers: int, events: int, rate: float, distinct: bool = False
) -> dict:
    token = issue_token(SECRET, Role.PARTNER, sub="bench-partner", ttl_seconds=3600)
    assert hub.process is not None
    before = rss_mib(hub.process.pid)
    loop = asyncio.get_running_loop()
    clients = []
    for n in range(subscribers):
        _, client = await loop.create_connection(
            lambda n=n: Frames(token, f"e{n}" if distinct else "events"), "127.0.0.1", hub.port
        )
        clients.append(client)
        if n % 50 == 49:
            await asyncio.gather(*(c.acknowledged for c in clients))
    await asyncio.gather(*(c.acknowledged for c in clients))
    await asyncio.sleep(1 + subscribers / 1000)
    subscribed = rss_mib(hub.process.pid)
    writer = await hub.connect()
    cpu = cpu_seconds(hub.process.pid)
    started = time.perf_counter()
    for n in range(events):
        await graphql(
            writer,
            REGISTER,
            {
                "input": {
                    "name": "订阅压测机构",
                    "district": "500103",
                    "kind": "COMPREHENSIVE",
                    "fields": ["CHARITY"],
                    "creditCode": make_credit_code("52", "500103", f"W{next(_serial):08d}"),
                }
            },
        )
        await asyncio.sleep(max(0.0, (n + 1) / rate - (time.perf_counter() - started)))
    deadline = time.perf_counter() + 120
    while (
        any(c.received() < events and c.closed is None for c in clients)
        and time.perf_counter() < deadline
    ):
        await asyncio.sleep(0.2)
    after = rss_mib(hub.process.pid)
    cpu = [spent - before for spent, before in zip(cpu_seconds(hub.process.pid), cpu, strict=True)]
    await writer.close()
    for client in clients:
        assert client.transport is not None
        client.transport.close()
    latencies = [ms for client in clients for ms in client.latencies()]
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "subscribers": subscribers,
        "closed": ",".join(
            f"{code}x{n}" for code, n in Counter(c.closed for c in clients if c.closed).items()
        )
        or "0",
        "selections": subscribers if distinct else 1,
        "delivered": len(latencies),
        "p50": cuts[49],
        "p99": cuts[98],
        "rss_before": before,
        "rss_subscribed": subscribed,
        "rss_after": after,
        "cpu_ms": (cpu[0] * 1000 / events, cpu[1] * 1000 / events),
    }


async def main(
    subscribers: int,
    distinct: int,
    events: int,
    rate: float,
    baseline_tree: str | None,
    workers: int,
) -> None:
    # Every subscriber holds the same token: let them all in (and the baseline's one).
    most = str(max(subscribers, distinct) + 1)
    caps = {"HUB_MAX_STREAMS": most, "HUB_MAX_STREAMS_PER_TOKEN": most}
    if workers > 1:
        caps["HUB_WORKERS"] = str(workers)
    served = [("this tree", caps)]
    if baseline_tree:
        # PYTHONSAFEPATH: `python -m hub` must not import this tree's hub from the directory
        # it runs in, ahead of PYTHONPATH's.
        tree = str(Path(baseline_tree).resolve())
        served.append(("baseline", {**caps, "PYTHONPATH": tree, "PYTHONSAFEPATH": "1"}))
    rounds = []
    for name, env in served:
        async with ServedHub(ROOT, env=env) as hub:
            rounds.append((name, await round_of(hub, 1, events, rate)))
            for count in sorted({distinct, subscribers} - {0}):
                if name == "this tree" and count <= distinct:
                    rounds.append((name, await round_of(hub, count, events, rate, True)))
                rounds.append((name, await round_of(hub, count, events, rate)))
    print(
        f"{events} events committed at {rate:g}/s; `hub serve` in its own process "
        f"({workers} worker{'s' if workers > 1 else ''}); latency = client arrival - recordedAt; "
        f"selections = distinct selections"
    )
    print(
        f"{'served by':>10} {'subscribers':>11} {'selections':>10} {'delivered':>10} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'RSS MiB before/subscribed/after':>32} "
        f"{'KiB/idle sub':>12} {'server CPU ms/event user+sys':>28} {'closed':>6}"
    )
    for name, figures in rounds:
        idle = (figures["rss_subscribed"] - figures["rss_before"]) * 1024 / figures["subscribers"]
        print(
            f"{name:>10} {figures['subscribers']:>11} {figures['selections']:>10} "
            f"{figures['delivered']:>10} {figures['p50']:8.1f} {figures['p99']:8.1f} "
            f"{figures['rss_before']:>12.0f} / {figures['rss_subscribed']:.0f} / "
            f"{figures['rss_after']:.0f} {idle:12.1f} "
            f"{figures['cpu_ms'][0]:20.1f} + {figures['cpu_ms'][1]:5.1f} "
            f"{figures['closed']:>6}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument(
        "--distinct",
        type=int,
        default=1000,
        help="subscribers in the rounds whose selections all differ (and a shared round of "
        "as many); 0: no such rounds",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="`hub serve --workers N` (its processes)"
    )
    parser.add_argument("--events", type=int, default=40)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument(
        "--baseline-tree",
        help="another checkout of the hub (say, of main) whose `hub serve` the same rounds "
        "are run against after this tree's, for figures measured in the same run",
    )
    arguments = parser.parse_args()
    asyncio.run(
        main(
            arguments.subscribers,
            arguments.distinct,
            arguments.events,
            arguments.rate,
            arguments.baseline_tree,
            arguments.workers,
        )
    )
