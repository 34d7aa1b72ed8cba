"""The cost of the personal-data access log on reads that reveal names: requests a second and
latency with `HUB_PERSONAL_DATA_ACCESS_LOG` on, against the same hub with it off, in the same
run (the issue asks for reads within 5% of their speed with it on).

Seeds a fresh database (`hub seed --scale S`), or reuses `--database-url` (seeded with
`HUB_PERSONAL_DATA_KEY` set as it is here), then runs two `hub serve` processes on it, both on
core 0, the load generator on core 1. Rounds alternate (on, off, on, off...); each sends, as an
AUDITOR, a page of workers with their names and ID numbers (every row a reveal) from
`--clients` keep-alive connections for `--seconds`. At the end it checks the log holds the
reveals of the "on" hub and none of the "off" one.

    python bench/access_log.py [--scale 0.05] [--rounds 3] [--seconds 5] [--clients 8]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from http_client import (  # noqa: E402
    Connection,
    ServedHub,
    closed_loop,
    compare,
    fresh_database,
    graphql,
    interleaved,
)

from hub.domain.envelope import Role  # noqa: E402

ROWS = 50
QUERY = f"{{ workers(first: {ROWS}) {{ edges {{ node {{ id name idNumber }} }} }} }}"
SERVER_CORE, CLIENT_CORE = 0, 1
MEASURED = {"HUB_PROJECTIONS": "off"}
"""Neither measured process projects: the records are there before they start."""


def seed(url: str, scale: float, key: str) -> None:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "hub", "seed", "--profile", "city-2018", "--scale", str(scale)],
        env={**os.environ, "HUB_DATABASE_URL": url, "HUB_PERSONAL_DATA_KEY": key},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr or done.stdout)
    print(f"seeded at scale {scale} in {time.perf_counter() - started:.0f} s")


async def load(hub: ServedHub, clients: int, seconds: float) -> tuple[float, list[float]]:
    """Requests a second and each request's latency (ms), `clients` connections at once."""

    async def ask(connection: Connection) -> None:
        data = await graphql(connection, QUERY)
        assert data["edges"][0]["node"]["name"], data

    connections = [await hub.connect(Role.AUDITOR) for _ in range(clients)]
    return await closed_loop(connections, ask, seconds)


async def main(scale: float, rounds: int, seconds: float, clients: int, url: str) -> None:
    key = (
        os.environ.get("HUB_PERSONAL_DATA_KEY")
        or base64.b64encode(secrets.token_bytes(32)).decode()
    )
    if not url:
        url = await fresh_database(ROOT)
        await asyncio.to_thread(seed, url, scale, key)
    common = {**MEASURED, "HUB_PERSONAL_DATA_KEY": key}
    os.sched_setaffinity(0, {SERVER_CORE})  # the hubs started now inherit it
    async with (
        ServedHub(ROOT, url, {**common, "HUB_PERSONAL_DATA_ACCESS_LOG": "on"}) as on,
        ServedHub(ROOT, url, {**common, "HUB_PERSONAL_DATA_ACCESS_LOG": "off"}) as off,
    ):
        os.sched_setaffinity(0, {CLIENT_CORE})
        hubs = {"on": on, "off": off}
        conn = await asyncpg.connect(url)
        before = await conn.fetchval("SELECT coalesce(max(seq), 0) FROM personal_data_access")
        warm = {name: len((await load(hub, clients, 1))[1]) for name, hub in hubs.items()}
        print(f"{QUERY} as AUDITOR: {ROWS} reveals a request")
        print(f"{clients} clients, {seconds:g} s a round; load (uptime): {os.getloadavg()}")
        rates, timings = await interleaved(
            hubs, lambda hub: load(hub, clients, seconds), rounds, "log"
        )
        await asyncio.sleep(0.5)  # the last batch
        # one row per request, listing its workers (two rows, should a batch's end fall
        # between its reveals)
        logged = await conn.fetchval(
            "SELECT count(DISTINCT (request_id, worker_id))"
            " FROM personal_data_access, unnest(workers) AS worker_id WHERE seq > $1",
            before,
        )
        await conn.close()
    answered = warm["on"] + len(timings["on"])
    print(
        f"\nthe log shows {logged} reveals: {ROWS} for each of the {answered} requests the "
        "'on' hub answered (warm-up included), none for the 'off' hub's"
    )
    assert logged == ROWS * answered, (logged, answered)
    compare(rates, timings, "on", "off")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.05)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--database-url", default="")
    arguments = parser.parse_args()
    asyncio.run(
        main(
            arguments.scale,
            arguments.rounds,
            arguments.seconds,
            arguments.clients,
            arguments.database_url,
        )
    )
