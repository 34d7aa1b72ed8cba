"""Courses and their attendances with their history, for `course`, `courses` and attendances."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg

from hub.domain.course import Course
from hub.projections.changes import Change, optional_id
from hub.projections.paging import by_key, page, related
from hub.projections.timeline import Moment, RecordViews, RowHistory, State, Table

COLUMNS = (
    "id",
    "seq",
    "version",
    "title",
    "category",
    "level",
    "district",
    "delivered_by",
    "starts_on",
    "ends_on",
    "hours",
    "status",
    "attendance_count",
    "scheduled_on",
    "completed_on",
    "cancelled_on",
    "updated_at",
)
ATTENDANCE_COLUMNS = ("course_id", "worker_id", "hours", "passed", "position", "effective_on")

RUNNING = "RUNNING"
SCHEDULED = "SCHEDULED"


def _scheduled(row: dict[str, Any], change: Change) -> None:
    facts = change.facts
    row.update(
        title=facts["title"],
        category=facts["category"],
        level=facts["level"],
        district=facts["district"],
        delivered_by=optional_id(facts["delivered_by"]),
        starts_on=facts["starts_on"],
        ends_on=facts["ends_on"],
        hours=facts["hours"],
        status=SCHEDULED,
        attendance_count=0,
        scheduled_on=change.effective_on,
    )


def _attended(row: dict[str, Any], change: Change) -> None:
    row["attendance_count"] += 1


def _completed(row: dict[str, Any], change: Change) -> None:
    row.update(status="COMPLETED", completed_on=change.effective_on)


def _cancelled(row: dict[str, Any], change: Change) -> None:
    row.update(status="CANCELLED", cancelled_on=change.effective_on)


def _attendance(state: State, change: Change) -> None:
    worker = UUID(change.facts["worker"])
    state["course_attendances"][(change.entity_id, worker)] = {
        "course_id": change.entity_id,
        "worker_id": worker,
        "hours": change.facts["hours"],
        "passed": change.facts["passed"],
        "position": change.position,
        "effective_on": change.effective_on,
    }


class CourseHistory(RowHistory):
    record = Course
    tables = (
        Table("courses", COLUMNS),
        Table("course_attendances", ATTENDANCE_COLUMNS, ("course_id", "worker_id")),
    )
    steps = {
        Course.Scheduled: _scheduled,
        Course.AttendanceRecorded: _attended,
        Course.Completed: _completed,
        Course.Cancelled: _cancelled,
    }
    child_steps = {Course.AttendanceRecorded: _attendance}
    fields = {"course_attendances": "attendances"}


class Courses(RecordViews):
    def __init__(self) -> None:
        super().__init__("courses", CourseHistory())


async def courses_by_id(
    pool: asyncpg.Pool, ids: Sequence[Any], moment: Moment | None = None
) -> list[asyncpg.Record | None]:
    """Course rows in the order of `ids` (None where unknown): one query for a whole level."""
    return await by_key(pool, "courses", COLUMNS, "id", ids, moment)


async def attendances_by_course(
    pool: asyncpg.Pool, course_ids: Sequence[Any], moment: Moment | None = None
) -> list[list[asyncpg.Record]]:
    """Each course's attendances in the order they were recorded, for all courses at once."""
    return await related(
        pool, "course_attendances", ATTENDANCE_COLUMNS, "course_id", course_ids, moment, "position"
    )


async def attendances_by_worker(
    pool: asyncpg.Pool, worker_ids: Sequence[Any], moment: Moment | None = None
) -> list[list[asyncpg.Record]]:
    """Each worker's attendances in the order they were recorded, for all workers at once."""
    return await related(
        pool, "course_attendances", ATTENDANCE_COLUMNS, "worker_id", worker_ids, moment, "position"
    )


async def course_page(
    pool: asyncpg.Pool,
    *,
    first: int,
    after_seq: int,
    today: date,
    district: str | None = None,
    status: str | None = None,
    category: str | None = None,
    level: str | None = None,
    delivered_by: UUID | None = None,
    moment: Moment | None = None,
) -> tuple[list[asyncpg.Record], bool, int]:
    """One page of courses in scheduling order, whether more follow, and the total.

    `status` RUNNING means a scheduled course whose dates include `today`; SCHEDULED then
    means the scheduled courses that are not running.
    """
    filters = {
        "district": district,
        "category": category,
        "level": level,
        "delivered_by": delivered_by,
        "status": SCHEDULED if status == RUNNING else status,
    }
    running = "(starts_on <= $? AND ends_on >= $?)"
    conditions = {}
    if status == RUNNING:
        conditions["running"] = (running, today)
    elif status == SCHEDULED:
        conditions["running"] = (f"NOT {running}", today)
    return await page(
        pool, "courses", COLUMNS, first, after_seq, filters, conditions=conditions, moment=moment
    )
