"""The cost of the guards on a simple query: requests a second and latency with every guard on,
against the same hub with every guard off, in the same run.

Two `hub serve` processes on one database, both on core 0; the load generator on core 1:
  - on: the defaults (token, depth, alias and cost limits, body and WebSocket message
    limits), the allow-list holding the query (`HUB_OPERATIONS=allow-listed`), and a request
    budget so large it is taken on every request but never refuses;
  - off: each of those limits 0 (off), no allow-list, no request budget.
Rounds alternate (on, off, on, off...); each sends the query from `--clients` keep-alive
connections for `--seconds`. The database server is not pinned.

    python bench/guards.py [--rounds 3] [--seconds 5] [--clients 8] [--open]

`--open` leaves the allow-list out of "on", to tell its share from the limits'.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from http_client import (  # noqa: E402
    SECRET,
    Connection,
    ServedHub,
    closed_loop,
    compare,
    fresh_database,
    graphql,
    interleaved,
)

from hub.domain.identifiers import make_credit_code  # noqa: E402

QUERY = "query Agencies { agencies(first: 10) { edges { node { id name } } } }"
ROWS = 10
SERVER_CORE, CLIENT_CORE = 0, 1
GUARDS_ON = {
    "HUB_OPERATIONS": "allow-listed",
    "HUB_RATE_LIMIT_PER_TOKEN": "1000000",
}
GUARDS_OFF = {
    "HUB_MAX_TOKENS": "0",
    "HUB_MAX_DEPTH": "0",
    "HUB_MAX_ALIASES": "0",
    "HUB_MAX_COST": "0",
    "HUB_MAX_BODY_BYTES": "0",
    "HUB_MAX_WS_MESSAGE_BYTES": "0",
    "HUB_RATE_LIMIT_PER_TOKEN": "0",
    "HUB_OPERATIONS": "open",
}
MEASURED = {"HUB_PROJECTIONS": "off"}
"""Neither measured process projects: the records are there before they start."""
REGISTER = """mutation($input: RegisterAgencyInput!) {
  registerAgency(input: $input) { agency { id } errors { message } } }"""


async def populate(hub: ServedHub) -> None:
    """`ROWS` agencies, registered through GraphQL and visible on the read side."""
    connection = await hub.connect()
    for n in range(ROWS):
        await graphql(
            connection,
            REGISTER,
            {
                "input": {
                    "name": f"压测社工服务中心{n}",
                    "creditCode": make_credit_code("52", "500103", f"G{n:08d}"),
                    "district": "500103",
                    "kind": "COMPREHENSIVE",
                    "fields": ["SOCIAL_WELFARE"],
                    "effectiveOn": date(2017, 1, 1).isoformat(),
                }
            },
        )
    for _ in range(100):
        if len((await graphql(connection, QUERY))["edges"]) == ROWS:
            break
        await asyncio.sleep(0.1)
    await connection.close()


def allow(url: str) -> None:
    """Put the query on the allow-list of database `url` (`hub operations add`)."""
    with tempfile.NamedTemporaryFile("w", suffix=".graphql", delete=False) as file:
        file.write(QUERY + "\n")
    try:
        subprocess.run(
            [sys.executable, "-m", "hub", "operations", "add", file.name],
            env={**os.environ, "HUB_DATABASE_URL": url, "HUB_JWT_SECRET": SECRET},
            check=True,
            capture_output=True,
        )
    finally:
        os.unlink(file.name)


async def load(hub: ServedHub, clients: int, seconds: float) -> tuple[float, list[float]]:
    """Requests a second and each request's latency (ms), `clients` connections at once."""

    async def ask(connection: Connection) -> None:
        data = await graphql(connection, QUERY)
        assert len(data["edges"]) == ROWS, data

    return await closed_loop([await hub.connect() for _ in range(clients)], ask, seconds)


async def guarded(hub: ServedHub, allow_listed: bool) -> None:
    """Make sure the guards of `hub` are on: a query over the depth limit is refused (with
    the allow-list, for not being on it)."""
    connection = await hub.connect()
    deep = "{ " + "a { " * 30 + "b" + " }" * 30 + " }"
    body = await connection.post("/graphql", {"query": deep})
    assert ("OPERATION_NOT_ALLOWED" if allow_listed else "QUERY_TOO_DEEP") in str(body), body
    await connection.close()


async def main(rounds: int, seconds: float, clients: int, allow_listed: bool) -> None:
    url = await fresh_database(ROOT)
    async with ServedHub(ROOT, url) as loader:
        await populate(loader)
    allow(url)
    guards = {**GUARDS_ON, "HUB_OPERATIONS": "allow-listed" if allow_listed else "open"}
    os.sched_setaffinity(0, {SERVER_CORE})  # the hubs started now inherit it
    async with (
        ServedHub(ROOT, url, {**MEASURED, **guards}) as on,
        ServedHub(ROOT, url, {**MEASURED, **GUARDS_OFF}) as off,
    ):
        os.sched_setaffinity(0, {CLIENT_CORE})
        hubs = {"on": on, "off": off}
        await guarded(on, allow_listed)
        cores = {
            name: sorted(os.sched_getaffinity(hub.process.pid))  # type: ignore[union-attr]
            for name, hub in hubs.items()
        }
        for hub in hubs.values():
            await load(hub, clients, 1)  # warm the caches
        print(f"{QUERY}, allow-list {'on' if allow_listed else 'off'} in the guarded hub")
        print(
            f"{clients} clients, {seconds:g} s a round; hubs on cores {cores}, "
            f"load generator on core {sorted(os.sched_getaffinity(0))}"
        )
        rates, timings = await interleaved(
            hubs, lambda hub: load(hub, clients, seconds), rounds, "guards"
        )

    compare(rates, timings, "on", "off")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--open", action="store_true", help="guards on without the allow-list (HUB_OPERATIONS=open)"
    )
    arguments = parser.parse_args()
    asyncio.run(main(arguments.rounds, arguments.seconds, arguments.clients, not arguments.open))
