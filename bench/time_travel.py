"""Latency of `asOf` list queries and `indicators` on the seeded city's history, against a
flat list of the same rows as they stand now.

Seeds a fresh database with `hub seed --profile city-2018 --scale S` (timed, with its event
count), serves it with `hub serve`, then times each query one after another.

    python bench/time_travel.py [--scale 1] [--repeat 100] [--database-url URL]

`--database-url` reuses a database seeded before (nothing is seeded then).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from http_client import Connection, ServedHub, fresh_database, graphql  # noqa: E402

FLAT = """{ workers(first: 50) { edges { node { id } } } }"""
AS_OF_LIST = """query($asOf: AsOf) { workers(first: 50, asOf: $asOf) { totalCount edges { node {
  id district { code } education registeredOn employer { name }
  certificates { level number awardedOn revoked } posts { sector station { name } }
} } } }"""
AS_OF_STATIONS = """query($asOf: AsOf) { stations(first: 50, asOf: $asOf) { totalCount edges {
  node { name status community { name urban } operator { name }
         staff { fullTime since worker { id } } } } } }"""
INDICATORS = """query($asOf: AsOf, $district: String) {
  indicators(asOf: $asOf, district: $district) {
  workers certifiedWorkers agencies demonstrationAgencies stations demonstrationStations
  stationsFullyStaffed posts filledPosts trainingPersonTimes projects fundsDisbursed
  urbanCommunities urbanCommunitiesOnTarget ruralCommunities ruralCommunitiesOnTarget
  certificatesByLevel { level count } postsBySector { sector count }
  projectsByField { field count } trainingByCategory { category count } } }"""


def seed(url: str, scale: float) -> None:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "hub", "seed", "--profile", "city-2018", "--scale", str(scale)],
        env={**os.environ, "HUB_DATABASE_URL": url},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr or done.stdout)
    lines = done.stdout.strip().splitlines()
    print(f"seeded at scale {scale} in {time.perf_counter() - started:.0f} s: {lines[-1]}")


async def timed(connection: Connection, document: str, variables: dict, repeat: int) -> list[float]:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        await graphql(connection, document, variables)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


async def main(scale: float, repeat: int, url: str) -> None:
    if not url:
        url = await fresh_database(ROOT)
        await asyncio.to_thread(seed, url, scale)
    async with ServedHub(ROOT, url) as hub:
        connection = await hub.connect()
        end_2017 = {"asOf": {"effective": "2017-12-31"}}
        mid_2018 = {"asOf": {"effective": "2018-06-30"}}
        for name, variables in (("2017-12-31", end_2017), ("2018-06-30", mid_2018)):
            figures = await graphql(connection, INDICATORS, variables)
            shown = {k: v for k, v in figures.items() if not isinstance(v, list)}
            levels = {r["level"]: r["count"] for r in figures["certificatesByLevel"]}
            judicial = next(r for r in figures["postsBySector"] if r["sector"] == "JUDICIAL")
            print(f"indicators as of {name}: {shown}")
            print(f"  certificates by level {levels}; JUDICIAL posts {judicial['count']}")
        position = await graphql(connection, "{ position }", {})
        cases = [
            ("flat: workers(first: 50) { id }, now (baseline)", FLAT, {}),
            ("workers(first: 50, asOf 2017-12-31), nested", AS_OF_LIST, end_2017),
            ("stations(first: 50, asOf 2017-12-31), nested", AS_OF_STATIONS, end_2017),
            (
                "workers(first: 50, asOf 2017-12-31 + recorded)",
                AS_OF_LIST,
                {"asOf": {"effective": "2017-12-31", "recorded": "2100-01-01T00:00:00Z"}},
            ),
            ("indicators(asOf 2017-12-31)", INDICATORS, end_2017),
            ("indicators(asOf 2018-06-30)", INDICATORS, mid_2018),
            ("indicators now", INDICATORS, {}),
            (
                "indicators(asOf 2017-12-31, district 500103)",
                INDICATORS,
                {**end_2017, "district": "500103"},
            ),
        ]
        results = []
        for name, document, variables in cases:
            await timed(connection, document, variables, 5)  # warm the caches
            results.append((name, await timed(connection, document, variables, repeat)))
        await connection.close()

    def p(values: list[float], q: int) -> float:
        return statistics.quantiles(values, n=100)[q - 1]

    baseline = p(results[0][1], 50)
    print(
        f"{repeat} requests each, one client, `hub serve` in its own process, at position "
        f"{position}"
    )
    print(f"{'query':50} {'p50 ms':>8} {'p95 ms':>8} {'p50 vs flat':>12}")
    for name, values in results:
        print(
            f"{name:50} {p(values, 50):8.2f} {p(values, 95):8.2f} {p(values, 50) / baseline:11.2f}x"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--database-url", default="")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.scale, arguments.repeat, arguments.database_url))
