"""Courses and their attendances with their history, for `course`, `courses` and attendances."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg

from hub.projections.changes import Change
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


def fold(row: dict[str, Any] | None, change: Change) -> dict[str, Any]:
    """The course row after one change."""
    facts = change.facts
    effective_on = date.fromisoformat(change.envelope["effective_on"])
    if change.kind == "Scheduled":
        row = {column: None for column in COLUMNS}
        row.update(
            id=change.entity_id,
            seq=change.position,
            title=facts["title"],
            category=facts["category"],
            level=facts["level"],
            district=facts["district"],
            delivered_by=UUID(facts["delivered_by"]) if facts["delivered_by"] else None,
            starts_on=facts["starts_on"],
            ends_on=facts["ends_on"],
            hours=facts["hours"],
            status=SCHEDULED,
            attendance_count=0,
            scheduled_on=effective_on,
        )
    else:
        assert row is not None, f"{change.type} at {change.position} for an unknown course"
        row = dict(row)
        if change.kind == "AttendanceRecorded":
            row["attendance_count"] += 1
        elif change.kind == "Completed":
            row.update(status="COMPLETED", completed_on=effective_on)
        elif change.kind == "Cancelled":
            row.update(status="CANCELLED", cancelled_on=effective_on)
        else:
            raise AssertionError(f"{change.type} at {change.position} is not a course event")
    row.update(version=change.version, updated_at=change.recorded_at)
    return row


class CourseHistory(RowHistory):
    entity_type = "COURSE"
    tables = (
        Table("courses", COLUMNS),
        Table("course_attendances", ATTENDANCE_COLUMNS, ("course_id", "worker_id")),
    )
    fold_row = staticmethod(fold)

    def fold_children(self, state: State, change: Change) -> None:
        if change.kind == "AttendanceRecorded":
            worker = UUID(change.facts["worker"])
            state["course_attendances"][(change.entity_id, worker)] = {
                "course_id": change.entity_id,
                "worker_id": worker,
                "hours": change.facts["hours"],
                "passed": change.facts["passed"],
                "position": change.position,
                "effective_on": change.effective_on,
            }


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
