"""Latency of a three-level nested query over 50 rows, against a flat query of the same rows.

Starts `hub serve` on a fresh database, registers workers with a certificate, an employer and
an attendance at a course (through GraphQL), then times both queries one after another.

    python bench/nested_query.py [--rows 50] [--repeat 300]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from http_client import Connection, ServedHub, graphql  # noqa: E402

from hub.domain.identifiers import make_credit_code, make_id_number  # noqa: E402

FLAT = """query($first: Int!) { workers(first: $first) { edges { node { id } } } }"""
NESTED = """query($first: Int!) { workers(first: $first) { totalCount edges { node {
  id name idNumber employer { name district { name } }
  certificates { level number awardedOn }
  attendances { hours passed course { title level deliveredBy { name } } }
} } } }"""


async def populate(connection: Connection, rows: int) -> None:
    agency = await graphql(
        connection,
        """mutation($input: RegisterAgencyInput!) {
      registerAgency(input: $input) { agency { id } errors { message } } }""",
        {
            "input": {
                "name": "压测社工服务中心",
                "creditCode": make_credit_code("52", "500103", "NQ0000001"),
                "district": "500103",
                "kind": "COMPREHENSIVE",
                "fields": ["SOCIAL_WELFARE"],
                "effectiveOn": "2017-01-01",
            }
        },
    )
    agency_id = agency["agency"]["id"]
    course = await graphql(
        connection,
        """mutation($input: ScheduleCourseInput!) {
      scheduleCourse(input: $input) { course { id } errors { message } } }""",
        {
            "input": {
                "title": "骨干人才培训",
                "category": "KEY_TALENT",
                "level": "MUNICIPAL",
                "deliveredBy": agency_id,
                "startsOn": "2018-03-01",
                "endsOn": "2018-03-05",
                "hours": "30",
                "effectiveOn": "2018-02-01",
            }
        },
    )
    course_id = course["course"]["id"]
    for n in range(rows):
        worker = await graphql(
            connection,
            """mutation($input: RegisterWorkerInput!) {
          registerWorker(input: $input) { worker { id } errors { message } } }""",
            {
                "input": {
                    "name": f"社工{n}",
                    "idNumber": make_id_number("500103", date(1985, 1, 1), n),
                    "district": "500103",
                    "education": "BACHELOR",
                    "employer": agency_id,
                    "effectiveOn": "2017-06-01",
                }
            },
        )
        worker_id = worker["worker"]["id"]
        await graphql(
            connection,
            """mutation($input: AwardCertificateInput!) {
          awardCertificate(input: $input) { worker { id } errors { message } } }""",
            {"input": {"id": worker_id, "level": "SOCIAL_WORKER", "number": f"NQ-{n}"}},
        )
        await graphql(
            connection,
            """mutation($input: RecordAttendanceInput!) {
          recordAttendance(input: $input) { course { id } errors { message } } }""",
            {
                "input": {
                    "id": course_id,
                    "worker": worker_id,
                    "hours": "30",
                    "passed": True,
                    "effectiveOn": "2018-03-05",
                }
            },
        )


async def latencies(connection: Connection, document: str, rows: int, repeat: int) -> list[float]:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        data = await graphql(connection, document, {"first": rows})
        timings.append((time.perf_counter() - started) * 1000)
        assert len(data["edges"]) == rows
    return timings


async def main(rows: int, repeat: int) -> None:
    async with ServedHub(ROOT) as hub:
        connection = await hub.connect()
        started = time.perf_counter()
        await populate(connection, rows)
        print(f"populated {rows} workers in {time.perf_counter() - started:.1f} s")
        await latencies(connection, NESTED, rows, 20)  # warm the caches
        flat = await latencies(connection, FLAT, rows, repeat)
        nested = await latencies(connection, NESTED, rows, repeat)
        await connection.close()

    def p(values: list[float], q: int) -> float:
        return statistics.quantiles(values, n=100)[q - 1]

    print(f"{repeat} requests each, {rows} rows, one client, `hub serve` in its own process")
    print(f"{'query':44} {'p50 ms':>8} {'p95 ms':>8} {'p50 vs flat':>12}")
    for name, values in (
        ("flat: workers { id } (baseline)", flat),
        ("nested: worker > attendance > course > agency", nested),
    ):
        print(
            f"{name:44} {p(values, 50):8.2f} {p(values, 95):8.2f} "
            f"{p(values, 50) / p(flat, 50):11.2f}x"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=300)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.rows, arguments.repeat))
