"""Nested lists resolve with one query per level, however many rows there are."""

from __future__ import annotations

import asyncio

from tests.agency_api import AUDITOR, register, send
from tests.conftest import Client, running
from tests.worker_api import register_worker

SCHEDULE = """mutation($input: ScheduleCourseInput!) { scheduleCourse(input: $input) {
  course { id } errors { code message } } }"""
ATTEND = """mutation($input: RecordAttendanceInput!) { recordAttendance(input: $input) {
  course { id } errors { code message } } }"""
AWARD = """mutation($input: AwardCertificateInput!) { awardCertificate(input: $input) {
  worker { id } errors { code message } } }"""

NESTED = """query($first: Int!) { workers(first: $first, filter: {district: "500103"}) {
  totalCount edges { node {
    name employer { name }
    certificates { level number }
    attendances { hours course { title deliveredBy { name } attendances { worker { id } } } }
  } } } }"""


async def populate(client: Client, workers: int) -> None:
    agency = (await register(client))["agency"]["id"]
    course = await send(
        client,
        SCHEDULE,
        title="社工实务",
        category="GENERAL_AWARENESS",
        level="MUNICIPAL",
        deliveredBy=agency,
        startsOn="2018-03-01",
        endsOn="2018-03-03",
        hours="12",
        effectiveOn="2018-02-01",
    )
    assert course["errors"] == [], course

    async def one(n: int) -> None:
        worker = await register_worker(client, employer=agency, effectiveOn="2018-01-01")
        await send(
            client, AWARD, id=worker["id"], level="SOCIAL_WORK_ASSISTANT", number=f"NEST-{n}"
        )
        attended = await send(
            client,
            ATTEND,
            id=course["course"]["id"],
            worker=worker["id"],
            hours="6",
            passed=True,
            effectiveOn="2018-03-02",
        )
        assert attended["errors"] == [], attended

    for start in range(0, workers, 20):
        await asyncio.gather(*(one(n) for n in range(start, min(start + 20, workers))))


async def statements_for(client: Client, first: int) -> tuple[int, int]:
    before = client.hub.statements
    data = await client.run(NESTED, {"first": first}, auth=AUDITOR)
    rows = len(data["workers"]["edges"])
    assert all(e["node"]["attendances"] for e in data["workers"]["edges"])
    return client.hub.statements - before, rows


async def test_three_levels_cost_the_same_for_10_and_200_rows(database: str) -> None:
    # 200 workers three levels down is a report far above the default cost limit
    async with running(database, max_cost_auditor=10**6) as client:
        await populate(client, 200)
        small, ten = await statements_for(client, 10)
        large, two_hundred = await statements_for(client, 200)
        assert (ten, two_hundred) == (10, 200)
        assert small == large, f"{small} statements for 10 rows, {large} for 200"
