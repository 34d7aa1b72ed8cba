"""Training courses through the real app: each command, each rule's refusal, who may do what."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from hub.projections.courses import attendances_by_course, attendances_by_worker
from hub.projections.runner import Projector
from hub.service.runtime import projections
from tests.agency_api import AUDITOR, MUNICIPAL, SUSPEND, refused, register, send
from tests.conftest import Client, running, token
from tests.worker_api import new_worker_id

COURSE_FIELDS = """
  id version status title category level startsOn endsOn hours attendanceCount
  scheduledOn completedOn cancelledOn updatedAt
  district { code name }
  deliveredBy { id name }
  attendances { workerId hours passed effectiveOn course { id } }
"""
PAYLOAD = f"course {{ {COURSE_FIELDS} }} position errors {{ code field message }}"


def mutation(name: str, input_type: str) -> str:
    return f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ {PAYLOAD} }} }}"


SCHEDULE = mutation("scheduleCourse", "ScheduleCourseInput")
ATTEND = mutation("recordAttendance", "RecordAttendanceInput")
COMPLETE = mutation("completeCourse", "CourseLifecycleInput")
CANCEL = mutation("cancelCourse", "CourseLifecycleInput")
COURSE = f"query($id: ID!) {{ course(id: $id) {{ {COURSE_FIELDS} }} }}"
COURSES = """query($first: Int, $after: String, $filter: CourseFilter) {
  courses(first: $first, after: $after, filter: $filter) {
    totalCount edges { cursor node { id status } } pageInfo { hasNextPage endCursor } } }"""
HISTORY = "query($id: ID!) { history(id: $id) { type version effectiveOn reason data } }"

YUZHONG = token("DISTRICT", district="500103", sub="yuzhong")
JIANGBEI = token("DISTRICT", district="500105", sub="jiangbei")
NOWHERE = "00000000-0000-0000-0000-000000000000"


def course_input(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "title": "社会工作骨干人才培训班",
        "category": "KEY_TALENT",
        "level": "MUNICIPAL",
        "startsOn": "2018-05-07",
        "endsOn": "2018-05-09",
        "hours": "24",
        "effectiveOn": "2018-04-20",
    }
    values.update(overrides)
    return values


async def schedule(client: Client, auth: str = MUNICIPAL, **overrides: Any) -> dict[str, Any]:
    """Schedule a course that must be accepted; return it as the payload shows it."""
    payload = await send(client, SCHEDULE, auth=auth, **course_input(**overrides))
    assert payload["errors"] == [], payload["errors"]
    return payload["course"]


async def accepted(client: Client, document: str, auth: str = MUNICIPAL, **input: Any) -> dict:
    payload = await send(client, document, auth=auth, **input)
    assert payload["errors"] == [], payload["errors"]
    return payload


def today(client: Client) -> date:
    return client.hub.settings.today()


# --- each command succeeds and its payload shows the change ---------------------------------


async def test_schedule_shows_a_city_wide_course(client: Client) -> None:
    course = await schedule(client, title="  考前公益培训  ", category="EXAM_PREPARATION")
    assert course["title"] == "考前公益培训"
    assert (course["category"], course["level"]) == ("EXAM_PREPARATION", "MUNICIPAL")
    assert (course["district"], course["deliveredBy"]) == (None, None)
    assert (course["startsOn"], course["endsOn"], course["hours"]) == (
        "2018-05-07",
        "2018-05-09",
        "24.0",
    )
    assert (course["status"], course["version"], course["scheduledOn"]) == (
        "SCHEDULED",
        1,
        "2018-04-20",
    )
    assert (course["attendances"], course["attendanceCount"]) == ([], 0)
    again = await client.run(COURSE, {"id": course["id"]}, auth=AUDITOR)
    assert again["course"] == course
    history = (await client.run(HISTORY, {"id": course["id"]}, auth=AUDITOR))["history"]
    assert [e["type"] for e in history] == ["CourseScheduled"]
    assert history[0]["data"]["district"] is None
    assert history[0]["data"]["hours"] == "24.0"


async def test_a_district_course_delivered_by_an_agency(client: Client) -> None:
    agency = (await register(client, district="500103"))["agency"]
    course = await schedule(
        client,
        auth=YUZHONG,
        level="DISTRICT",
        district="500103",
        deliveredBy=agency["id"],
        category="GENERAL_AWARENESS",
        hours="7.5",
    )
    assert course["district"] == {"code": "500103", "name": "渝中区"}
    assert course["deliveredBy"] == {"id": agency["id"], "name": agency["name"]}
    assert course["hours"] == "7.5"


async def test_attendance_then_completion(client: Client) -> None:
    course = await schedule(client)
    first, second = await new_worker_id(client), await new_worker_id(client, "500105")
    attended = await accepted(
        client, ATTEND, id=course["id"], worker=first, hours="24", passed=True
    )
    shown = attended["course"]
    assert (shown["version"], shown["attendanceCount"]) == (2, 1)
    assert shown["attendances"] == [
        {
            "workerId": first,
            "hours": "24.0",
            "passed": True,
            "effectiveOn": today(client).isoformat(),
            "course": {"id": course["id"]},
        }
    ]
    attended = await accepted(
        client, ATTEND, id=course["id"], worker=second, hours=7.5, effectiveOn="2018-05-07"
    )
    assert [
        (a["workerId"], a["hours"], a["passed"]) for a in attended["course"]["attendances"]
    ] == [
        (first, "24.0", True),
        (second, "7.5", None),
    ]
    completed = await accepted(
        client, COMPLETE, id=course["id"], effectiveOn="2018-05-09", expectedVersion=3
    )
    assert (completed["course"]["status"], completed["course"]["version"]) == ("COMPLETED", 4)
    assert completed["course"]["completedOn"] == "2018-05-09"
    assert completed["course"]["attendanceCount"] == 2
    assert completed["position"] > attended["position"]
    history = (await client.run(HISTORY, {"id": course["id"]}, auth=AUDITOR))["history"]
    assert [e["type"] for e in history] == [
        "CourseScheduled",
        "CourseAttendanceRecorded",
        "CourseAttendanceRecorded",
        "CourseCompleted",
    ]
    assert history[1]["data"] == {"worker": first, "hours": "24.0", "passed": True}


async def test_cancel_with_a_reason(client: Client) -> None:
    course = await schedule(client)
    cancelled = await accepted(
        client, CANCEL, id=course["id"], reason="报名人数不足", effectiveOn="2018-05-01"
    )
    assert (cancelled["course"]["status"], cancelled["course"]["cancelledOn"]) == (
        "CANCELLED",
        "2018-05-01",
    )
    history = (await client.run(HISTORY, {"id": course["id"]}, auth=AUDITOR))["history"]
    assert (history[-1]["type"], history[-1]["reason"]) == ("CourseCancelled", "报名人数不足")


async def test_a_course_between_its_dates_is_running(client: Client) -> None:
    day = today(client)
    course = await schedule(
        client,
        startsOn=(day - timedelta(days=1)).isoformat(),
        endsOn=(day + timedelta(days=1)).isoformat(),
        effectiveOn=(day - timedelta(days=5)).isoformat(),
    )
    assert course["status"] == "RUNNING"
    worker = await new_worker_id(client)
    attended = await accepted(client, ATTEND, id=course["id"], worker=worker, hours="6")
    assert attended["course"]["status"] == "RUNNING"
    completed = await accepted(client, COMPLETE, id=course["id"])
    assert completed["course"]["status"] == "COMPLETED"


async def test_an_idempotent_retry_returns_the_first_answer(client: Client) -> None:
    input = course_input(idempotencyKey=f"course-{uuid4()}")
    first = await accepted(client, SCHEDULE, **input)
    before = await client.events()
    again = await accepted(client, SCHEDULE, **input)
    assert (again["course"]["id"], again["position"]) == (first["course"]["id"], first["position"])
    assert await client.events() == before


# --- lists, filters, nested records ---------------------------------------------------------


async def test_list_filters_and_pages(client: Client) -> None:
    district, day = "500241", today(client)
    xiushan = token("DISTRICT", district=district, sub="xiushan")
    agency = (await register(client, district=district))["agency"]["id"]
    near = {
        "startsOn": (day - timedelta(days=1)).isoformat(),
        "endsOn": (day + timedelta(days=1)).isoformat(),
    }
    far = {
        "startsOn": (day + timedelta(days=30)).isoformat(),
        "endsOn": (day + timedelta(days=31)).isoformat(),
    }
    made = [
        (await schedule(client, auth=xiushan, district=district, **extra))["id"]
        for extra in [
            {"level": "DISTRICT", "category": "GENERAL_AWARENESS"},
            {"level": "TOWNSHIP", "category": "EXAM_PREPARATION", **near},
            {"level": "DISTRICT", "category": "KEY_TALENT", "deliveredBy": agency},
            {"level": "TOWNSHIP", "category": "GENERAL_AWARENESS", **far},
        ]
    ]
    await accepted(client, COMPLETE, auth=xiushan, id=made[2])
    await accepted(client, CANCEL, auth=xiushan, id=made[3], reason="改期")

    async def ids(**filter: str) -> list[str]:
        data = await client.run(COURSES, {"filter": {"district": district, **filter}}, auth=AUDITOR)
        return [e["node"]["id"] for e in data["courses"]["edges"]]

    assert await ids() == made
    assert await ids(status="SCHEDULED") == made[:1]
    assert await ids(status="RUNNING") == made[1:2]
    assert await ids(status="COMPLETED") == made[2:3]
    assert await ids(status="CANCELLED") == made[3:]
    assert await ids(category="GENERAL_AWARENESS") == [made[0], made[3]]
    assert await ids(level="TOWNSHIP") == [made[1], made[3]]
    assert await ids(deliveredBy=agency) == made[2:3]
    everywhere = await client.run(COURSES, {"filter": {"deliveredBy": agency}}, auth=AUDITOR)
    assert [e["node"]["id"] for e in everywhere["courses"]["edges"]] == made[2:3]

    page = {"first": 3, "filter": {"district": district}}
    first = (await client.run(COURSES, page, auth=AUDITOR))["courses"]
    assert (first["totalCount"], first["pageInfo"]["hasNextPage"]) == (4, True)
    rest = await client.run(
        COURSES, {**page, "after": first["pageInfo"]["endCursor"]}, auth=AUDITOR
    )
    assert [e["node"]["id"] for e in rest["courses"]["edges"]] == made[3:]
    assert rest["courses"]["pageInfo"]["hasNextPage"] is False


async def test_list_arguments_are_checked(client: Client) -> None:
    body = await client.post(
        'query { courses(filter: {deliveredBy: "42"}) { totalCount } }', auth=AUDITOR
    )
    assert body["errors"][0]["extensions"] == {"code": "VALIDATION", "field": "deliveredBy"}
    body = await client.post('{ courses(after: "bogus") { totalCount } }', auth=AUDITOR)
    assert body["errors"][0]["extensions"]["code"] == "VALIDATION"


async def test_nested_agencies_attendances_and_courses(client: Client) -> None:
    agency = (await register(client))["agency"]
    courses = [(await schedule(client, deliveredBy=agency["id"]))["id"] for _ in range(3)]
    worker = await new_worker_id(client)
    for id in courses[:2]:
        await accepted(client, ATTEND, id=id, worker=worker, hours="3")
    query = """query($filter: CourseFilter) { courses(filter: $filter) { edges { node {
      id deliveredBy { name } attendances { workerId course { id deliveredBy { id } } } } } } }"""
    data = await client.run(query, {"filter": {"deliveredBy": agency["id"]}}, auth=AUDITOR)
    nodes = [e["node"] for e in data["courses"]["edges"]]
    assert [n["id"] for n in nodes] == courses
    assert {n["deliveredBy"]["name"] for n in nodes} == {agency["name"]}
    assert [len(n["attendances"]) for n in nodes] == [1, 1, 0]
    for node in nodes[:2]:
        assert node["attendances"][0]["workerId"] == worker
        assert node["attendances"][0]["course"] == {
            "id": node["id"],
            "deliveredBy": {"id": agency["id"]},
        }


async def test_attendances_are_read_for_many_workers_and_courses_at_once(client: Client) -> None:
    a, b = [(await schedule(client))["id"] for _ in range(2)]
    one, two = await new_worker_id(client), await new_worker_id(client)
    await accepted(client, ATTEND, id=b, worker=one, hours="2")
    await accepted(client, ATTEND, id=a, worker=one, hours="3", passed=False)
    await accepted(client, ATTEND, id=a, worker=two, hours="4")
    pool, unknown = client.hub.pool, uuid4()

    by_worker = await attendances_by_worker(pool, [UUID(two), unknown, UUID(one)])
    assert [[(str(r["course_id"]), str(r["hours"])) for r in rows] for rows in by_worker] == [
        [(a, "4.0")],
        [],
        [(b, "2.0"), (a, "3.0")],
    ]
    assert by_worker[2][1]["passed"] is False
    by_course = await attendances_by_course(pool, [UUID(a), unknown, UUID(b)])
    assert [[str(r["worker_id"]) for r in rows] for rows in by_course] == [[one, two], [], [one]]


# --- every rule's refusal writes nothing ----------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "code", "field", "words"),
    [
        ({"level": "DISTRICT"}, "VALIDATION", "district", "DISTRICT-level course needs"),
        ({"level": "TOWNSHIP"}, "VALIDATION", "district", "TOWNSHIP-level course needs"),
        ({"district": "500199"}, "VALIDATION", "district", "unknown district code"),
        ({"endsOn": "2018-05-06"}, "VALIDATION", "endsOn", "before startsOn"),
        ({"hours": "0"}, "VALIDATION", "hours", "above 0"),
        ({"hours": "-2"}, "VALIDATION", "hours", "above 0"),
        ({"hours": "NaN"}, "VALIDATION", "hours", "above 0"),
        ({"hours": "7.25"}, "VALIDATION", "hours", "more than one decimal place"),
        ({"hours": "72.5"}, "VALIDATION", "hours", "more than 72 (24 a day for 3 day(s))"),
        ({"title": "  "}, "VALIDATION", "title", "title must not be empty"),
        ({"effectiveOn": "2999-01-01"}, "VALIDATION", "effectiveOn", "in the future"),
        ({"deliveredBy": "42"}, "VALIDATION", "deliveredBy", "not a record id"),
        ({"deliveredBy": NOWHERE}, "NOT_FOUND", "deliveredBy", "no agency with id"),
    ],
)
async def test_scheduling_is_checked(
    client: Client, overrides: dict, code: str, field: str, words: str
) -> None:
    await refused(client, SCHEDULE, code, field, words, **course_input(**overrides))


async def test_only_an_active_agency_delivers_a_course(client: Client) -> None:
    agency = (await register(client))["agency"]["id"]
    assert (await send(client, SUSPEND, id=agency, reason="年检逾期"))["errors"] == []
    await refused(
        client,
        SCHEDULE,
        "INVALID_STATE",
        "deliveredBy",
        "only an ACTIVE agency",
        **course_input(deliveredBy=agency),
    )


async def test_attendance_is_checked(client: Client) -> None:
    id = (await schedule(client))["id"]
    worker = await new_worker_id(client)
    await refused(client, ATTEND, "VALIDATION", "hours", "above 0", id=id, worker=worker, hours="0")
    await refused(
        client, ATTEND, "VALIDATION", "hours", "one decimal place", id=id, worker=worker, hours=0.15
    )
    await refused(
        client,
        ATTEND,
        "VALIDATION",
        "hours",
        "more than 24.0 (the course's hours)",
        id=id,
        worker=worker,
        hours="24.1",
    )
    await refused(
        client,
        ATTEND,
        "VALIDATION",
        "effectiveOn",
        "before the course starts",
        id=id,
        worker=worker,
        hours="8",
        effectiveOn="2018-05-06",
    )
    await refused(
        client,
        ATTEND,
        "VALIDATION",
        "effectiveOn",
        "before the record was created",
        id=id,
        worker=worker,
        hours="8",
        effectiveOn="2018-04-19",
    )
    await refused(
        client, ATTEND, "NOT_FOUND", "worker", "no worker with id", id=id, worker=NOWHERE, hours="8"
    )
    await refused(
        client, ATTEND, "NOT_FOUND", "worker", "no worker with id", id=id, worker=id, hours="8"
    )
    await refused(
        client, ATTEND, "VALIDATION", "worker", "not a record id", id=id, worker="x", hours="8"
    )
    await refused(
        client, ATTEND, "NOT_FOUND", "id", "no course with id", id=NOWHERE, worker=worker, hours="8"
    )
    await refused(
        client,
        ATTEND,
        "CONFLICT",
        "expectedVersion",
        "not the expected 2",
        id=id,
        worker=worker,
        hours="8",
        expectedVersion=2,
    )
    await accepted(client, ATTEND, id=id, worker=worker, hours="8")
    await refused(
        client,
        ATTEND,
        "VALIDATION",
        "worker",
        "already has an attendance",
        id=id,
        worker=worker,
        hours="16",
    )


async def test_attendance_only_on_a_scheduled_course(client: Client) -> None:
    worker = await new_worker_id(client)
    completed, cancelled = (await schedule(client))["id"], (await schedule(client))["id"]
    await accepted(client, COMPLETE, id=completed)
    await accepted(client, CANCEL, id=cancelled, reason="停办")
    for id, status in [(completed, "COMPLETED"), (cancelled, "CANCELLED")]:
        await refused(
            client,
            ATTEND,
            "INVALID_STATE",
            None,
            f"is {status}: recordAttendance needs a SCHEDULED course",
            id=id,
            worker=worker,
            hours="8",
        )


async def test_completion_and_cancellation_are_checked(client: Client) -> None:
    id = (await schedule(client))["id"]
    await refused(
        client,
        COMPLETE,
        "VALIDATION",
        "effectiveOn",
        "cannot be completed before it starts",
        id=id,
        effectiveOn="2018-05-06",
    )
    await refused(client, CANCEL, "VALIDATION", "reason", "cancelCourse requires a reason", id=id)
    await refused(client, CANCEL, "VALIDATION", "reason", "requires a reason", id=id, reason=" ")
    await accepted(client, COMPLETE, id=id)
    await refused(client, COMPLETE, "INVALID_STATE", None, "is COMPLETED: completeCourse", id=id)
    await refused(
        client, CANCEL, "INVALID_STATE", None, "is COMPLETED: cancelCourse", id=id, reason="x"
    )
    other = (await schedule(client))["id"]
    await accepted(client, CANCEL, id=other, reason="停办")
    await refused(client, COMPLETE, "INVALID_STATE", None, "is CANCELLED", id=other)
    await refused(client, CANCEL, "INVALID_STATE", None, "is CANCELLED", id=other, reason="again")
    await refused(client, COMPLETE, "NOT_FOUND", "id", "no course with id", id=NOWHERE)


# --- who may do what ------------------------------------------------------------------------


async def forbidden(client: Client, document: str, auth: str, words: str, **input: Any) -> None:
    await refused(client, document, "FORBIDDEN", None, words, auth=auth, **input)


async def test_the_municipal_bureau_answers_for_municipal_courses_only(client: Client) -> None:
    words = "MUNICIPAL CITY may scheduleCourse only on municipal-level courses"
    for level in ("DISTRICT", "TOWNSHIP"):
        await forbidden(
            client, SCHEDULE, MUNICIPAL, words, **course_input(level=level, district="500103")
        )
    id = (await schedule(client, auth=YUZHONG, level="DISTRICT", district="500103"))["id"]
    worker = await new_worker_id(client)
    await forbidden(client, COMPLETE, MUNICIPAL, "only on municipal-level courses", id=id)
    await forbidden(client, CANCEL, MUNICIPAL, "only on municipal-level courses", id=id, reason="r")
    await forbidden(
        client,
        ATTEND,
        MUNICIPAL,
        "only on municipal-level courses",
        id=id,
        worker=worker,
        hours="1",
    )


async def test_a_district_answers_for_its_own_district_and_township_courses(
    client: Client,
) -> None:
    words = "on district- and township-level courses in its own district"
    await forbidden(client, SCHEDULE, YUZHONG, words, **course_input())
    await forbidden(client, SCHEDULE, YUZHONG, words, **course_input(district="500103"))
    await forbidden(
        client, SCHEDULE, JIANGBEI, words, **course_input(level="DISTRICT", district="500103")
    )
    municipal = (await schedule(client, district="500103"))["id"]
    worker = await new_worker_id(client)
    await forbidden(client, ATTEND, YUZHONG, words, id=municipal, worker=worker, hours="1")
    await forbidden(client, COMPLETE, YUZHONG, words, id=municipal)

    own = await schedule(client, auth=YUZHONG, level="TOWNSHIP", district="500103")
    assert (own["level"], own["district"]["code"]) == ("TOWNSHIP", "500103")
    await forbidden(client, ATTEND, JIANGBEI, words, id=own["id"], worker=worker, hours="1")
    await forbidden(client, CANCEL, JIANGBEI, words, id=own["id"], reason="r")
    await forbidden(client, COMPLETE, JIANGBEI, words, id=own["id"])
    attended = await accepted(
        client, ATTEND, auth=YUZHONG, id=own["id"], worker=worker, hours="8", passed=True
    )
    assert attended["course"]["attendanceCount"] == 1
    completed = await accepted(client, COMPLETE, auth=YUZHONG, id=own["id"])
    assert completed["course"]["status"] == "COMPLETED"


async def test_a_contractor_answers_for_the_courses_it_delivers(client: Client) -> None:
    own, other = [(await register(client))["agency"]["id"] for _ in range(2)]
    contractor = token("CONTRACTOR", agency=own, sub="contractor")
    words = "only on records its agency is answerable for"
    await forbidden(client, SCHEDULE, contractor, words, **course_input())
    await forbidden(client, SCHEDULE, contractor, words, **course_input(deliveredBy=other))
    theirs = (await schedule(client, deliveredBy=other))["id"]
    worker = await new_worker_id(client)
    await forbidden(client, ATTEND, contractor, words, id=theirs, worker=worker, hours="1")
    await forbidden(client, COMPLETE, contractor, words, id=theirs)
    await forbidden(client, CANCEL, contractor, words, id=theirs, reason="r")

    mine = await schedule(client, auth=contractor, deliveredBy=own)
    assert mine["deliveredBy"]["id"] == own
    for id in (mine["id"], (await schedule(client, deliveredBy=own))["id"]):
        attended = await accepted(
            client, ATTEND, auth=contractor, id=id, worker=worker, hours="20", passed=False
        )
        assert attended["course"]["attendances"][0]["passed"] is False
    cancelled = await accepted(client, CANCEL, auth=contractor, id=mine["id"], reason="讲师缺席")
    assert cancelled["course"]["status"] == "CANCELLED"


@pytest.mark.parametrize("role", ["AUDITOR", "PARTNER"])
async def test_readers_never_write(client: Client, role: str) -> None:
    reader = token(role)
    id = (await schedule(client))["id"]
    worker = await new_worker_id(client)
    await forbidden(client, SCHEDULE, reader, f"{role} may not scheduleCourse", **course_input())
    await forbidden(
        client, ATTEND, reader, f"{role} may not recordAttendance", id=id, worker=worker, hours="1"
    )
    await forbidden(client, COMPLETE, reader, f"{role} may not completeCourse", id=id)
    await forbidden(client, CANCEL, reader, f"{role} may not cancelCourse", id=id, reason="r")
    data = await client.run(COURSE, {"id": id}, auth=reader)
    assert data["course"]["id"] == id


# --- the read model ------------------------------------------------------------------------


async def test_a_rebuild_gives_the_same_courses_and_attendances(database: str) -> None:
    async with running(database) as client:
        ids = [(await schedule(client))["id"] for _ in range(3)]
        workers = [await new_worker_id(client) for _ in range(3)]
        for n, id in enumerate(ids):
            for worker in workers[n:]:
                await accepted(client, ATTEND, id=id, worker=worker, hours="5")
        await accepted(client, COMPLETE, id=ids[0])
        await accepted(client, CANCEL, id=ids[1], reason="r")
        hub = client.hub

        async def snapshot() -> list[list[tuple]]:
            return [
                sorted((tuple(r) for r in await hub.pool.fetch(f"SELECT * FROM {table}")), key=repr)
                for table in ("courses", "course_attendances")
            ]

        before = await snapshot()
        assert len(before[1]) == 6
        projector = Projector(
            hub.pool, hub.registry.mapper, projections(), wake=asyncio.Event(), batch_size=4
        )
        await projector.rewind(["courses"])
        assert await hub.pool.fetchval("SELECT count(*) FROM course_attendances") == 0
        await projector.catch_up()
        assert await snapshot() == before
