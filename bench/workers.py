"""Requests a second of one read with one `hub serve` worker against two (`--workers 2`), in
the same run.

    python bench/workers.py [--rounds 3] [--seconds 5] [--clients 16] [--hub-cores 0,1]
                            [--load-cores 1]

Two hubs on one database, both allowed on `--hub-cores` (default both cores of a 2-core machine,
as an operator would run them), neither projecting (the records are there before they start);
the load generator pinned to `--load-cores`. Rounds alternate (1 worker, 2 workers, ...); each
sends `agencies(first: 10)` with a token from `--clients` keep-alive connections for `--seconds`
(the kernel hands each connection to one worker). The database server is not pinned: on two
cores the hub, its database and the load generator share them, so a second worker cannot
double the rate; what it can show is the rate one process, bound to one core, leaves unused.

The workers share one listening socket, and a worker woken by a burst of new connections may
accept them all: "busiest" shows each worker's CPU, and a round where one worker took every
connection (x/0.00) measures one worker, not two.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from guards import MEASURED, QUERY, load, populate  # noqa: E402
from http_client import ServedHub, compare, fresh_database, p  # noqa: E402


def cores(text: str) -> set[int]:
    return {int(core) for core in text.split(",")}


def cpu_seconds(pid: int, *, children: bool) -> dict[int, float]:
    """User and system CPU seconds so far of process `pid`, and of its children (a hub's
    workers), by process."""
    parent = psutil.Process(pid)
    family = [parent, *parent.children(recursive=True)] if children else [parent]
    return {p.pid: sum(p.cpu_times()[:2]) for p in family}


def used(before: dict[int, float], after: dict[int, float], seconds: float) -> list[float]:
    """Cores' worth each process used between `before` and `after`, most first."""
    return sorted(((t - before.get(pid, 0.0)) / seconds for pid, t in after.items()), reverse=True)


async def main(
    rounds: int, seconds: float, clients: int, hub_cores: set[int], load_cores: set[int]
) -> None:
    url = await fresh_database(ROOT)
    async with ServedHub(ROOT, url) as loader:
        await populate(loader)
    os.sched_setaffinity(0, hub_cores)  # the hubs started now, and their workers, inherit it
    async with (
        ServedHub(ROOT, url, {**MEASURED, "HUB_WORKERS": "1"}) as one,
        ServedHub(ROOT, url, {**MEASURED, "HUB_WORKERS": "2"}) as two,
    ):
        os.sched_setaffinity(0, load_cores)
        hubs = {"1": one, "2": two}
        for hub in hubs.values():
            await load(hub, clients, 1)  # warm the caches
        rates: dict[str, list[float]] = {name: [] for name in hubs}
        timings: dict[str, list[float]] = {name: [] for name in hubs}
        print(f"{QUERY}")
        print(
            f"{clients} clients, {seconds:g} s a round; hubs on cores {sorted(hub_cores)}, "
            f"load generator on cores {sorted(os.sched_getaffinity(0))}, {os.cpu_count()} cores"
        )
        print(
            "CPU: cores' worth the hub's processes (in all, and the two busiest: workers) and"
            " the load generator used in the round"
        )
        print(
            f"{'round':>5} {'workers':>7} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7}"
            f" {'hub CPU':>7} {'busiest':>9} {'load CPU':>8}"
        )
        for n in range(1, rounds + 1):
            for name, hub in hubs.items():
                pid = hub.process.pid  # type: ignore[union-attr]
                hub_before = cpu_seconds(pid, children=True)
                load_before = cpu_seconds(os.getpid(), children=False)
                started = time.time()
                rate, latencies = await load(hub, clients, seconds)
                elapsed = time.time() - started
                hub_cpu = used(hub_before, cpu_seconds(pid, children=True), elapsed)
                load_cpu = used(load_before, cpu_seconds(os.getpid(), children=False), elapsed)
                rates[name].append(rate)
                timings[name] += latencies
                busiest = "/".join(f"{c:.2f}" for c in hub_cpu[:2])
                print(
                    f"{n:5} {name:>7} {rate:8.0f} {p(latencies, 50):7.2f} {p(latencies, 99):7.2f}"
                    f" {sum(hub_cpu):7.2f} {busiest:>9} {load_cpu[0]:8.2f}"
                )

    compare(rates, timings, "2", "1")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--hub-cores", type=cores, default={0, 1})
    parser.add_argument("--load-cores", type=cores, default={1})
    arguments = parser.parse_args()
    asyncio.run(
        main(
            arguments.rounds,
            arguments.seconds,
            arguments.clients,
            arguments.hub_cores,
            arguments.load_cores,
        )
    )
