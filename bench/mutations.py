"""Mutations per second through GraphQL over HTTP, against baselines measured in the same run.

Starts `hub serve` in a subprocess on a fresh database (HUB_DATABASE_URL's server, or the
embedded one), then measures:
  - baseline: the same commands called on the registry directly (no HTTP, no GraphQL, no
    waiting for the read views), and a read-only GraphQL query over HTTP;
  - registerAgency and updateAgencyProfile through GraphQL, one client and 16 concurrent,
    with the median call's time (read-your-writes included), in rounds that alternate a hub
    without group commit (HUB_GROUP_COMMIT_MS=0) and one with it.
Prints each figure and its ratio to the direct-command baseline.

On a machine with two cores or more the served hub runs on core 0 and this process (the
clients, the direct baseline) on core 1, so that they do not take each other's time;
PostgreSQL is left where it runs. `--cores ""` pins nothing.

    python bench/mutations.py [--count 400] [--rounds 3] [--group-commit-ms 2] [--workers 1]
        [--cores 0,1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from pathlib import Path

from hub.commands.agency import register_agency
from hub.domain.envelope import Actor, Role
from hub.domain.identifiers import make_credit_code
from hub.registry.application import Registry, Request
from hub.registry.personal_data import load_kek
from hub.service.config import Settings
from hub.service.database import event_store_env

sys.path.insert(0, str(Path(__file__).resolve().parent))
from http_client import Connection, ServedHub, graphql  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
REGISTER = """mutation($input: RegisterAgencyInput!) { registerAgency(input: $input) {
  agency { id version } position errors { code message } } }"""
UPDATE = """mutation($input: UpdateAgencyProfileInput!) { updateAgencyProfile(input: $input) {
  agency { id version name } position errors { code message } } }"""

_serial = iter(range(10**8))

CORES: tuple[int, int] | None = None
"""The served hub's core and this process's, when pinned (`--cores`)."""


@contextlib.asynccontextmanager
async def served(env: dict[str, str] | None = None) -> AsyncIterator[ServedHub]:
    """A `ServedHub`, started on the server's core when pinned (a child keeps its parent's
    cores), this process going back to its own once it has started."""
    if CORES is None:
        async with served(env) as hub:
            yield hub
        return
    server, client = CORES
    os.sched_setaffinity(0, {server})
    try:
        hub = await ServedHub(ROOT, env=env).__aenter__()
    finally:
        os.sched_setaffinity(0, {client})
    try:
        yield hub
    finally:
        await hub.__aexit__()


def cores(said: str) -> tuple[int, int] | None:
    """`--cores`' server and client core, or None: nothing pinned (asked, or one core)."""
    if not said or len(os.sched_getaffinity(0)) < 2:
        return None
    server, client = (int(n) for n in said.split(","))
    return server, client


def registration() -> dict:
    return {
        "name": "压测社工服务中心",
        "creditCode": make_credit_code("52", "500103", f"B{next(_serial):08d}"),
        "district": "500103",
        "kind": "COMPREHENSIVE",
        "fields": ["SOCIAL_WELFARE"],
    }


async def rate(
    connect: Callable[[], Awaitable[Connection]],
    count: int,
    concurrency: int,
    one: Callable[[Connection, int], Awaitable[None]],
) -> tuple[float, float]:
    """Operations per second for `count` calls of `one`, `concurrency` connections at a time,
    and the median call's milliseconds."""
    queue = iter(range(count))
    connections = [await connect() for _ in range(concurrency)]
    took: list[float] = []

    async def worker(connection: Connection) -> None:
        for n in queue:
            began = time.perf_counter()
            await one(connection, n)
            took.append(time.perf_counter() - began)

    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in connections))
    elapsed = time.perf_counter() - started
    for connection in connections:
        await connection.close()
    return count / elapsed, statistics.median(took) * 1000


def direct_baseline(url: str, count: int) -> float:
    """Registrations per second called on the registry itself, in this process."""
    settings = Settings.from_env()  # the served hub's, so the same personal-data key
    registry = Registry(
        env=event_store_env(url), kek=load_kek(settings.personal_data_key, settings.home)
    )
    actor = Actor("bench", Role.MUNICIPAL)
    started = time.perf_counter()
    for _ in range(count):
        r = registration()
        register_agency(
            registry,
            Request(
                command="registerAgency",
                actor=actor,
                correlation_id=str(uuid.uuid4()),
                today=date.today(),
                inputs={
                    "name": r["name"],
                    "credit_code": r["creditCode"],
                    "district": "500103",
                    "kind": "COMPREHENSIVE",
                    "fields": ["SOCIAL_WELFARE"],
                },
            ),
        )
    elapsed = time.perf_counter() - started
    registry.close()
    return count / elapsed


async def measure(count: int, group_commit_ms: str, workers: int) -> dict[str, tuple[float, float]]:
    """One round of the GraphQL figures against a hub served with `HUB_GROUP_COMMIT_MS`."""
    env = {"HUB_GROUP_COMMIT_MS": group_commit_ms, "HUB_WORKERS": str(workers)}
    async with served(env) as hub:

        def connect() -> Awaitable[Connection]:
            return hub.connect()

        ids: list[str] = []

        async def register(connection: Connection, _: int) -> None:
            payload = await graphql(connection, REGISTER, {"input": registration()})
            ids.append(payload["agency"]["id"])

        async def update(connection: Connection, n: int) -> None:
            name = f"名称 {len(figures)}-{n}"
            await graphql(connection, UPDATE, {"input": {"id": ids[n % len(ids)], "name": name}})

        figures: dict[str, tuple[float, float]] = {}
        figures["GraphQL registerAgency, 1 client"] = await rate(connect, count, 1, register)
        figures["GraphQL registerAgency, 16 clients"] = await rate(connect, count, 16, register)
        figures["GraphQL updateAgencyProfile, 16 clients (distinct agencies)"] = await rate(
            connect, count, 16, update
        )
        ids[:] = ids[:1]
        figures["GraphQL updateAgencyProfile, 16 clients (one agency)"] = await rate(
            connect, count // 4, 16, update
        )
        return figures


async def main(count: int, rounds: int, group_commit_ms: str, workers: int) -> None:
    async with served() as hub:
        baseline = await asyncio.to_thread(direct_baseline, hub.url, count)
        query, _ = await rate(hub.connect, count * 4, 16, read)
    modes = ("0", group_commit_ms)
    runs: dict[str, list[dict[str, tuple[float, float]]]] = {m: [] for m in modes}
    for _ in range(rounds):
        for mode in modes:  # interleaved, so both see the same load on the machine
            runs[mode].append(await measure(count, mode, workers))

    print(f"{count} operations per figure, {rounds} interleaved rounds (medians); server:")
    print(f"`hub serve --workers {workers}` in its own process; HUB_GROUP_COMMIT_MS=0 is the")
    where = f"on core {CORES[0]}, clients on core {CORES[1]}" if CORES else "not pinned"
    print(f"ungrouped code path; server {where}")
    print(f"direct registerAgency (baseline): {baseline:.1f}/s")
    print(f"GraphQL query {{ position }}, 16 clients: {query:.1f}/s")
    head = f"{'what':60} {'ms':>4} {'per second':>11} {'vs direct':>10} {'p50 ms':>7}"
    print(head)
    for name in runs[modes[0]][0]:
        for mode in modes:
            per_second = statistics.median(r[name][0] for r in runs[mode])
            p50 = statistics.median(r[name][1] for r in runs[mode])
            ratio = per_second / baseline
            print(f"{name:60} {mode:>4} {per_second:11.1f} {ratio:9.2f}x {p50:7.1f}")


async def read(connection: Connection, _: int) -> None:
    await graphql(connection, "{ position }", {})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--group-commit-ms", default="2", help="the grouped figures' setting")
    parser.add_argument("--workers", type=int, default=1, help="the served hub's HUB_WORKERS")
    parser.add_argument("--cores", default="0,1", help='server,client cores ("": not pinned)')
    arguments = parser.parse_args()
    CORES = cores(arguments.cores)
    asyncio.run(
        main(arguments.count, arguments.rounds, arguments.group_commit_ms, arguments.workers)
    )
