"""The cost of the personal-data access log on reads that reveal names: requests a second and
latency with `HUB_PERSONAL_DATA_ACCESS_LOG` on, against the same hub with it off, in the same
run (the issue asks for reads within 5% of their speed with it on).

Seeds a fresh database (`hub seed --scale S`), or reuses `--database-url` (seeded with
`HUB_PERSONAL_DATA_KEY` set as it is here), then runs two `hub serve` processes on it, both on
core 0, the load generator on core 1. Rounds alternate (on, off, on, off...); each sends, as an
AUDITOR, a page of workers with their names and ID numbers (every row a reveal) from
`--clients` keep-alive connections for `--seconds`. Before the rounds the tables read and
written are vacuumed and analysed, so both hubs start on the same state. Each round also
counts CPU per request: of the hub process, of its own PostgreSQL backends (told apart by
`application_name`; the log writer's apart), and of the server's other processes there when
the round starts (WAL writer, checkpointer..., and other clients' backends: noisy on a shared
server). At the end
it checks the log holds the reveals of the "on" hub and none of the "off" one.

    python bench/access_log.py [--scale 0.05] [--rounds 3] [--seconds 5] [--clients 8]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import secrets
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import psutil

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


def cpu_seconds(process: psutil.Process) -> float | None:
    """User and system CPU `process` has used; None once it is gone."""
    try:
        times = process.cpu_times()
    except psutil.Error:
        return None
    return times.user + times.system


COLUMNS = ("hub", "its reads", "its log", "pg else")
"""Where a round's CPU went: the hub process; its PostgreSQL backends (by `application_name`)
but the log's writer; the writer's (the backend whose last statement is a `COPY`); the
server's other processes."""


@dataclass
class Cpu:
    """CPU per request (ms) of one hub's rounds, a list of rounds for each of `COLUMNS`."""

    rounds: dict[str, list[float]] = field(default_factory=lambda: {c: [] for c in COLUMNS})


async def backends(conn: asyncpg.Connection, name: str) -> tuple[list[psutil.Process], ...]:
    """The backends of hub `name`: its reads', and its log writer's."""
    rows = await conn.fetch(
        "SELECT pid, query LIKE 'COPY %' AS writes FROM pg_stat_activity"
        " WHERE application_name = $1",
        f"bench {name}",
    )
    found: tuple[list[psutil.Process], ...] = ([], [])
    for row in rows:
        with contextlib.suppress(psutil.Error):
            found[row["writes"]].append(psutil.Process(row["pid"]))
    return found


def server_processes(conn: asyncpg.Connection) -> list[psutil.Process]:
    """The database server's processes (the postmaster's children), when it runs here."""
    pid = conn.get_server_pid()
    with contextlib.suppress(psutil.Error):
        return psutil.Process(pid).parent().children()
    return []


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


async def measured(
    hub: ServedHub, name: str, conn: asyncpg.Connection, cpu: Cpu, clients: int, seconds: float
) -> tuple[float, list[float]]:
    """`load`, adding the round's CPU per request to `cpu`."""
    assert hub.process is not None
    reads, writer = await backends(conn, name)
    own = {p.pid for p in (*reads, *writer)}
    groups = [
        [psutil.Process(hub.process.pid)],
        reads,
        writer,
        [p for p in server_processes(conn) if p.pid not in own],
    ]
    before = [[cpu_seconds(p) for p in group] for group in groups]
    rate, latencies = await load(hub, clients, seconds)
    for column, group, started in zip(COLUMNS, groups, before, strict=True):
        used = 0.0
        for process, b in zip(group, started, strict=True):
            a = cpu_seconds(process)
            if a is not None and b is not None:
                used += a - b
        cpu.rounds[column].append(used * 1000 / len(latencies))
    return rate, latencies


def print_cpu(cpu: dict[str, Cpu], name: str, baseline: str) -> None:
    """Each round's CPU per request, then the medians and their differences."""
    header = " ".join(f"{c:>9}" for c in COLUMNS)
    print(f"\nCPU ms a request {'round':>5} {'log':>6} {header}")
    for n in range(len(cpu[name].rounds["hub"])):
        for label, c in cpu.items():
            figures = " ".join(f"{c.rounds[k][n]:9.2f}" for k in COLUMNS)
            print(f"{'':16} {n + 1:5} {label:>6} {figures}")
    print(f"{'median':29} {header}")
    medians = {label: [statistics.median(c.rounds[k]) for k in COLUMNS] for label, c in cpu.items()}
    for label, m in medians.items():
        print(f"{label:29} " + " ".join(f"{v:9.2f}" for v in m))
    extra = [a - b for a, b in zip(medians[name], medians[baseline], strict=True)]
    print(f"{name + ' - ' + baseline:29} " + " ".join(f"{v:9.2f}" for v in extra))
    total = {label: sum(m[:3]) for label, m in medians.items()}  # "pg else" is anyone's
    print(
        f"the hub's and its backends' CPU a request (medians): {name} {total[name]:.2f} ms,"
        f" {baseline} {total[baseline]:.2f} ms, {name}/{baseline}"
        f" {total[name] / total[baseline]:.3f}"
    )


async def main(scale: float, rounds: int, seconds: float, clients: int, url: str) -> None:
    key = (
        os.environ.get("HUB_PERSONAL_DATA_KEY")
        or base64.b64encode(secrets.token_bytes(32)).decode()
    )
    if not url:
        url = await fresh_database(ROOT)
        await asyncio.to_thread(seed, url, scale, key)
    common = {**MEASURED, "HUB_PERSONAL_DATA_KEY": key}
    named = {
        log: {**common, "HUB_PERSONAL_DATA_ACCESS_LOG": log, "HUB_DATABASE_URL": tagged(url, log)}
        for log in ("on", "off")
    }
    os.sched_setaffinity(0, {SERVER_CORE})  # the hubs started now inherit it
    async with (
        ServedHub(ROOT, url, named["on"]) as on,
        ServedHub(ROOT, url, named["off"]) as off,
    ):
        os.sched_setaffinity(0, {CLIENT_CORE})
        hubs = {"on": on, "off": off}
        names = {id(hub): name for name, hub in hubs.items()}
        cpu = {name: Cpu() for name in hubs}
        conn = await asyncpg.connect(url)
        before = await conn.fetchval("SELECT coalesce(max(seq), 0) FROM personal_data_access")
        warm = {name: len((await load(hub, clients, 1))[1]) for name, hub in hubs.items()}
        await asyncio.sleep(0.5)  # the warm-up's last batch
        await conn.execute("VACUUM ANALYZE personal_data_access, workers, personal_data_keys")
        print(f"{QUERY} as AUDITOR: {ROWS} reveals a request")
        print(f"{clients} clients, {seconds:g} s a round; load (uptime): {os.getloadavg()}")
        rates, timings = await interleaved(
            hubs,
            lambda hub: measured(hub, names[id(hub)], conn, cpu[names[id(hub)]], clients, seconds),
            rounds,
            "log",
        )
        print(f"load (uptime) after the rounds: {os.getloadavg()}")
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
    print_cpu(cpu, "on", "off")


def tagged(url: str, name: str) -> str:
    """`url` with the hub's connections named `bench <name>` in `pg_stat_activity`."""
    return f"{url}{'&' if '?' in url else '?'}application_name=bench%20{name}"


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
