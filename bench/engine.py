"""The engine's rates in one run, each beside a baseline measured in the same run.

On a fresh database (HUB_DATABASE_URL's server, or the embedded one):
  - batch write: `hub seed` of the city at `--scale` (the registry's batch mode), against the
    `eventsourcing` library's own batched save of the same stored events into a fresh store;
  - live catch-up: the views emptied in place (`Projector.rewind`) and caught up batch by
    batch, as the live projector does after a bulk load; same baseline; then the views are
    vacuumed and analyzed, as `hub seed` and `hub project` do after a catch-up;
  - rebuild: `Projector.rebuild` of every view beside the live ones, allowed both cores (it
    works the views out in two processes where it may); same baseline;
  - mutations: registerAgency through GraphQL over HTTP from 1 and 16 clients (with
    read-your-writes), against the command called directly on the registry.
The hub's work (the seed, the projector, `hub serve`, the direct commands, the library's save)
runs on core 0, but for the rebuild, and the GraphQL clients on core 1; PostgreSQL is not
pinned. A checkpoint before the catch-up and the rebuild keeps each from paying for flushing
what the phase before wrote.

    python bench/engine.py [--scale 0.05] [--count 200]

`--scale 0.25` is the scale the engine's targets (TARGETS) are set at.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import logging
import os
import re
import resource
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

sys.path.insert(0, str(Path(__file__).resolve().parent))
from http_client import SECRET, Connection, ServedHub, fresh_database, graphql  # noqa: E402
from mutations import REGISTER, direct_baseline, rate, registration  # noqa: E402

from hub.registry.recorder import EventStoreReads  # noqa: E402
from hub.service.config import Settings  # noqa: E402
from hub.service.database import migrate  # noqa: E402
from hub.service.runtime import Hub, projections  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
HUB_CORE, CLIENT_CORE = 0, 1
LIBRARY_BATCH = 500
"""Events per save of the baseline (the library's pipelined insert stalls far above 1,000)."""
TARGETS = {"batch write": 8_000, "live catch-up": 10_000, "rebuild": 20_000, "16 clients": 400}
"""The engine's targets (events/s, or mutations/s with a median call of 25 ms at most) at scale
0.25."""


def pin(core: int) -> str:
    """Run this process (and what it starts from now on) on `core`, if the machine has it."""
    cores = os.sched_getaffinity(0) | set(range(os.cpu_count() or 1))
    if core in cores:
        os.sched_setaffinity(0, {core})
    return f"core {sorted(os.sched_getaffinity(0))}"


def unpin() -> str:
    """Let this process (and what it starts from now on) run on every core."""
    os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    return f"cores {sorted(os.sched_getaffinity(0))}"


def seed(url: str, scale: float) -> tuple[int, float]:
    """`hub seed` on `url`: the events it wrote, and its batch mode's events/s."""
    done = subprocess.run(
        [sys.executable, "-m", "hub", "seed", "--profile", "city-2018", "--scale", str(scale)],
        env={**os.environ, "HUB_DATABASE_URL": url},
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    found = re.search(r"wrote (\d+) events .* \((\d+) events/s\)", done.stdout)
    if done.returncode or not found:
        raise SystemExit(f"hub seed failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return int(found[1]), float(found[2])


async def stored_events(hub: Hub) -> list[StoredEvent]:
    """Every stored event of the hub's store, in position order."""
    rows, position = [], 0
    reads = EventStoreReads(hub.pool)
    while page := await reads.events_after(position, 10_000):
        rows += page
        position = page[-1]["notification_id"]
    return [
        StoredEvent(
            originator_id=r["originator_id"],
            originator_version=r["originator_version"],
            topic=r["topic"],
            state=bytes(r["state"]),
        )
        for r in rows
    ]


def library_save(url: str, events: list[StoredEvent]) -> float:
    """Events/s of the library's own recorder saving `events` in batches into a fresh table."""
    parts = psycopg.conninfo.conninfo_to_dict(url)
    datastore = PostgresDatastore(
        str(parts.get("dbname")),
        str(parts.get("host", "127.0.0.1")),
        str(parts.get("port", "5432")),
        str(parts.get("user", "postgres")),
        str(parts.get("password", "")),
    )
    recorder = PostgresApplicationRecorder(datastore, events_table_name="library_baseline")
    recorder.create_table()
    started = time.perf_counter()
    for n in range(0, len(events), LIBRARY_BATCH):
        recorder.insert_events(events[n : n + LIBRARY_BATCH])
    elapsed = time.perf_counter() - started
    with datastore.transaction(commit=True) as curs:
        curs.execute("DROP TABLE library_baseline")
    datastore.close()
    return len(events) / elapsed


async def settled(hub: Hub) -> None:
    """A checkpoint, so that a phase does not pay for flushing what the one before wrote."""
    await hub.pool.execute("CHECKPOINT")


async def timed(step: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await step()
    return time.perf_counter() - started


async def mutations(
    count: int,
) -> tuple[float, tuple[float, float], tuple[float, float], str, str]:
    """Direct commands/s; GraphQL registerAgency/s and the median call's ms from 1 client, and
    from 16; and the cores of the hub and of the clients."""
    hub_core = pin(HUB_CORE)
    async with ServedHub(ROOT) as served:  # started on the hub's core, and stays there
        direct = await asyncio.to_thread(direct_baseline, served.url, count)
        client_core = pin(CLIENT_CORE)

        async def register(connection: Connection, _: int) -> None:
            await graphql(connection, REGISTER, {"input": registration()})

        one = await rate(served.connect, count, 1, register)
        sixteen = await rate(served.connect, count, 16, register)
    return direct, one, sixteen, hub_core, client_core


async def main(scale: float, count: int) -> None:
    logging.basicConfig(format="  %(message)s", level=logging.WARNING)
    logging.getLogger("hub.projections.runner").setLevel(logging.INFO)  # the rebuild's phases
    os.environ.setdefault("HUB_JWT_SECRET", SECRET)
    os.environ.setdefault("HUB_PERSONAL_DATA_KEY", base64.b64encode(os.urandom(32)).decode())
    load = os.getloadavg()
    core = pin(HUB_CORE)
    url = await fresh_database(ROOT)
    await migrate(url)
    events, batch = seed(url, scale)
    os.environ["HUB_DATABASE_URL"] = url
    hub = Hub(Settings.from_env())
    await hub.start(project=False)
    try:
        saved = await stored_events(hub)
        baseline = await asyncio.to_thread(library_save, url, saved)
        views = [p.name for p in projections()]
        await hub.projector.rewind(views)
        await settled(hub)
        catch_up = len(saved) / await timed(hub.projector.catch_up)
        await hub.projector.tidy()  # as `hub seed` and `hub project` do after a catch-up
        await settled(hub)
        both = unpin()  # a rebuild works its views out in two processes where it has two cores
        rebuilding = hub.projector.rebuild(views, writers=hub.primary)  # as `hub project` does
        rebuild = len(saved) / await timed(lambda: rebuilding)
        pin(HUB_CORE)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    finally:
        await hub.stop()
    direct, one, sixteen, hub_core, client_core = await mutations(count)

    print(f"city-2018 at scale {scale:g}: {events} events; load average before {load[0]:.2f}")
    print(
        f"{'what':34} {'per second':>11} {'baseline':>10} {'ratio':>6} {'p50 ms':>7}"
        f" {'target':>13}  cores"
    )
    rows = [
        ("batch write (hub seed)", batch, None, baseline, "batch write", f"seed on {core}"),
        ("live catch-up (all views)", catch_up, None, baseline, "live catch-up", f"hub on {core}"),
        ("rebuild beside (all views)", rebuild, None, baseline, "rebuild", f"hub on {both}"),
        ("registerAgency, 1 client", *one, direct, "", f"hub on {hub_core}"),
        ("registerAgency, 16 clients", *sixteen, direct, "16 clients", f"clients on {client_core}"),
    ]
    for what, figure, p50, against, target, cores in rows:
        goal = f"{TARGETS[target]:,}" if target else ""
        if target == "16 clients":
            goal += ", p50 25"
        median = f"{p50:7.1f}" if p50 is not None else ""
        ratio = figure / against
        print(
            f"{what:34} {figure:11,.0f} {against:10,.0f} {ratio:5.2f}x {median:>7}"
            f" {goal:>13}  {cores}"
        )
    print(
        "baselines: the eventsourcing library's batched save of the same stored events"
        f" ({LIBRARY_BATCH} a save); for mutations, registerAgency called directly ({count})"
    )
    print(f"peak memory of this process by the end of the rebuild: {peak:,.0f} MB")
    print(f"load average after {os.getloadavg()[0]:.2f}; PostgreSQL not pinned")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.05, help="the seed's scale")
    parser.add_argument("--count", type=int, default=200, help="mutations per figure")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.scale, arguments.count))
