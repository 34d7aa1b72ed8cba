"""Mutations per second through GraphQL over HTTP, against baselines measured in the same run.

Starts `hub serve` in a subprocess on a fresh database (HUB_DATABASE_URL's server, or the
embedded one), then measures:
  - baseline: the same commands called on the registry directly (no HTTP, no GraphQL, no
    waiting for the read views), and a read-only GraphQL query over HTTP;
  - registerAgency and updateAgencyProfile through GraphQL, one client and 16 concurrent.
Prints each figure and its ratio to the direct-command baseline.

    python bench/mutations.py [--count 400]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
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
) -> float:
    """Operations per second for `count` calls of `one`, `concurrency` connections at a time."""
    queue = iter(range(count))
    connections = [await connect() for _ in range(concurrency)]

    async def worker(connection: Connection) -> None:
        for n in queue:
            await one(connection, n)

    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in connections))
    elapsed = time.perf_counter() - started
    for connection in connections:
        await connection.close()
    return count / elapsed


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


async def main(count: int) -> None:
    async with ServedHub(ROOT) as hub:

        def connect() -> Awaitable[Connection]:
            return hub.connect()

        ids: list[str] = []

        async def register(connection: Connection, _: int) -> None:
            payload = await graphql(connection, REGISTER, {"input": registration()})
            ids.append(payload["agency"]["id"])

        async def update(connection: Connection, n: int) -> None:
            name = f"名称 {len(figures)}-{n}"
            await graphql(connection, UPDATE, {"input": {"id": ids[n % len(ids)], "name": name}})

        async def read(connection: Connection, _: int) -> None:
            await graphql(connection, "{ position }", {})

        figures = [
            (
                "direct registerAgency (baseline)",
                await asyncio.to_thread(direct_baseline, hub.url, count),
            )
        ]
        figures.append(
            ("GraphQL query { position }, 16 clients", await rate(connect, count * 4, 16, read))
        )
        figures.append(
            ("GraphQL registerAgency, 1 client", await rate(connect, count, 1, register))
        )
        figures.append(
            ("GraphQL registerAgency, 16 clients", await rate(connect, count, 16, register))
        )
        figures.append(
            (
                "GraphQL updateAgencyProfile, 16 clients (distinct agencies)",
                await rate(connect, count, 16, update),
            )
        )
        ids[:] = ids[:1]
        figures.append(
            (
                "GraphQL updateAgencyProfile, 16 clients (one agency)",
                await rate(connect, count // 4, 16, update),
            )
        )

    baseline = figures[0][1]
    print(f"{count} operations per figure; server: `hub serve` in its own process")
    print(f"{'what':64} {'per second':>11} {'vs baseline':>12}")
    for name, value in figures:
        print(f"{name:64} {value:11.1f} {value / baseline:11.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=400)
    asyncio.run(main(parser.parse_args().count))
