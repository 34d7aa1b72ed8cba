"""Many subscribers on one server process while writers commit: latency and memory.

Starts `hub serve` on a fresh database, opens SUBSCRIBERS graphql-transport-ws subscriptions to
`events` (from now), then commits EVENTS registrations at a steady rate and measures, for every
delivered event, the time from its recording (`recordedAt`) to its arrival at the client. The
baselines are the same run with one subscriber, and with SUBSCRIBERS whose selections all
differ (an alias each), so the hub renders each event once per subscriber, as it did before it
shared renders. Also prints the server's resident memory and what each idle subscriber adds.

    python bench/subscribers.py [--subscribers 2000] [--distinct 1000] [--events 40] [--rate 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

import websockets

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
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def subscriber(
    port: int,
    token: str,
    ready: asyncio.Event,
    opened: list[int],
    latencies: list[float],
    expected: int,
    done: asyncio.Event,
    alias: str,
) -> None:
    async with websockets.connect(
        f"ws://127.0.0.1:{port}/graphql",
        subprotocols=["graphql-transport-ws"],
        max_queue=None,
        ping_interval=None,
    ) as ws:
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        )
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION % alias}})
        )
        opened.append(1)
        ready.set()
        received = 0
        while received < expected:
            message = json.loads(await ws.recv())
            if message["type"] != "next":
                continue
            event = message["payload"]["data"][alias]
            recorded = datetime.fromisoformat(event["recordedAt"]).timestamp()
            latencies.append((time.time() - recorded) * 1000)
            received += 1
        done.set()


async def round_of(
    hub: ServedHub, subscribers: int, events: int, rate: float, distinct: bool = False
) -> dict:
    token = issue_token(SECRET, Role.PARTNER, sub="bench-partner", ttl_seconds=3600)
    latencies: list[float] = []
    opened: list[int] = []
    ready = asyncio.Event()
    finished = [asyncio.Event() for _ in range(subscribers)]
    assert hub.process is not None
    before = rss_mib(hub.process.pid)
    tasks = []
    for n in range(subscribers):
        tasks.append(
            asyncio.create_task(
                subscriber(
                    hub.port,
                    token,
                    ready,
                    opened,
                    latencies,
                    events,
                    finished[n],
                    f"e{n}" if distinct else "events",
                )
            )
        )
        if n % 50 == 49:
            await asyncio.sleep(0.05)
    while len(opened) < subscribers:
        await asyncio.sleep(0.1)
    await asyncio.sleep(1)
    subscribed = rss_mib(hub.process.pid)
    writer = await hub.connect()
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
    await asyncio.wait_for(asyncio.gather(*(f.wait() for f in finished)), 120)
    after = rss_mib(hub.process.pid)
    await writer.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "subscribers": subscribers,
        "selections": subscribers if distinct else 1,
        "delivered": len(latencies),
        "p50": cuts[49],
        "p99": cuts[98],
        "rss_before": before,
        "rss_subscribed": subscribed,
        "rss_after": after,
    }


async def main(subscribers: int, distinct: int, events: int, rate: float) -> None:
    # Every subscriber holds the same token: let them all in (and the baseline's one).
    most = str(max(subscribers, distinct) + 1)
    caps = {"HUB_MAX_STREAMS": most, "HUB_MAX_STREAMS_PER_TOKEN": most}
    async with ServedHub(ROOT, env=caps) as hub:
        baseline = await round_of(hub, 1, events, rate)
        rounds = [baseline]
        for count in sorted({distinct, subscribers}):
            rounds.append(await round_of(hub, count, events, rate, distinct=True))
            rounds.append(await round_of(hub, count, events, rate))
    print(
        f"{events} events committed at {rate:g}/s; `hub serve` in its own process; "
        f"latency = client arrival - recordedAt"
    )
    print(
        f"{'subscribers':>11} {'selections':>10} {'delivered':>10} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'p50 vs 1':>9} {'RSS MiB before/subscribed/after':>32} "
        f"{'KiB/idle sub':>12}"
    )
    for figures in rounds:
        idle = (figures["rss_subscribed"] - figures["rss_before"]) * 1024 / figures["subscribers"]
        print(
            f"{figures['subscribers']:>11} {figures['selections']:>10} "
            f"{figures['delivered']:>10} {figures['p50']:8.1f} "
            f"{figures['p99']:8.1f} {figures['p50'] / baseline['p50']:8.2f}x "
            f"{figures['rss_before']:>12.0f} / {figures['rss_subscribed']:.0f} / "
            f"{figures['rss_after']:.0f} {idle:12.1f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument(
        "--distinct",
        type=int,
        default=1000,
        help="subscribers in the rounds whose selections all differ (and a shared round of "
        "as many)",
    )
    parser.add_argument("--events", type=int, default=40)
    parser.add_argument("--rate", type=float, default=10.0)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.subscribers, arguments.distinct, arguments.events, arguments.rate))
