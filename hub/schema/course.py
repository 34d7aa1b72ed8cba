"""Training courses in the API: the course, its attendances, its list, its mutations."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import strawberry

from hub.commands import course as course_commands
from hub.domain.errors import InvalidInput
from hub.domain.vocabulary import CourseCategory as DomainCourseCategory
from hub.domain.vocabulary import CourseLevel as DomainCourseLevel
from hub.domain.vocabulary import CourseStatus as DomainCourseStatus
from hub.projections.courses import attendances_by_course, course_page, courses_by_id
from hub.projections.timeline import Moment
from hub.schema.agency import Agency, load_agency
from hub.schema.common import (
    AsOf,
    Connection,
    District,
    connection,
    decode_cursor,
    moment_of,
    page_size,
    value_of,
)
from hub.schema.context import Info
from hub.schema.mutations import ExistingRecordInput, RecordInput, record_id, record_payload
from hub.schema.worker import Worker, related_worker

CourseLevel = strawberry.enum(
    DomainCourseLevel, description="The organiser's level (市、区县、镇街)."
)
CourseCategory = strawberry.enum(DomainCourseCategory, description="The kind of training.")
CourseStatus = strawberry.enum(
    DomainCourseStatus,
    description="RUNNING is a scheduled course on a day between its start and end dates.",
)


def shown_status(row: Any, today: date) -> DomainCourseStatus:
    """The stored status, except that a scheduled course shows RUNNING between its dates."""
    status = DomainCourseStatus(row["status"])
    if status is DomainCourseStatus.SCHEDULED and row["starts_on"] <= today <= row["ends_on"]:
        return DomainCourseStatus.RUNNING
    return status


@strawberry.type(description="A training course (培训).")
class Course:
    id: strawberry.ID
    version: int
    status: CourseStatus
    title: str
    category: CourseCategory
    level: CourseLevel
    district: District | None = strawberry.field(
        description="The organising district; none for a city-wide municipal course."
    )
    starts_on: date
    ends_on: date
    hours: Decimal = strawberry.field(description="Hours of training, to the tenth of an hour.")
    attendance_count: int
    scheduled_on: date
    completed_on: date | None
    cancelled_on: date | None
    updated_at: datetime = strawberry.field(description="When the last change was recorded.")
    delivered_by_id: strawberry.Private[UUID | None]
    moment: strawberry.Private[Moment | None]

    @classmethod
    def of(cls, row: Any, today: date, moment: Moment | None = None) -> Course:
        """The course of `row`; its status reads RUNNING between its dates on `today` (the
        moment's effective date when one is asked)."""
        return cls(
            id=strawberry.ID(str(row["id"])),
            version=row["version"],
            status=shown_status(row, today),
            title=row["title"],
            category=DomainCourseCategory(row["category"]),
            level=DomainCourseLevel(row["level"]),
            district=District.of(row["district"]) if row["district"] else None,
            starts_on=row["starts_on"],
            ends_on=row["ends_on"],
            hours=row["hours"],
            attendance_count=row["attendance_count"],
            scheduled_on=row["scheduled_on"],
            completed_on=row["completed_on"],
            cancelled_on=row["cancelled_on"],
            updated_at=row["updated_at"],
            delivered_by_id=row["delivered_by"],
            moment=moment,
        )

    @strawberry.field(description="The agency that delivers the course, if a contractor does.")
    async def delivered_by(self, info: Info) -> Agency | None:
        if self.delivered_by_id is None:
            return None
        return await load_agency(info, self.delivered_by_id, self.moment)

    @strawberry.field(description="Who attended, in the order it was recorded.")
    async def attendances(self, info: Info) -> list[Attendance]:
        rows = await info.context.loader(attendances_by_course, self.moment).load(UUID(self.id))
        return [Attendance.of(r, self.moment) for r in rows]


@strawberry.type(description="One worker's attendance at one course.")
class Attendance:
    worker_id: strawberry.ID
    hours: Decimal
    passed: bool | None = strawberry.field(description="Null when no assessment was recorded.")
    effective_on: date = strawberry.field(description="The business date of the attendance.")
    course_id: strawberry.Private[UUID]
    moment: strawberry.Private[Moment | None]

    @classmethod
    def of(cls, row: Any, moment: Moment | None = None) -> Attendance:
        return cls(
            worker_id=strawberry.ID(str(row["worker_id"])),
            hours=row["hours"],
            passed=row["passed"],
            effective_on=row["effective_on"],
            course_id=row["course_id"],
            moment=moment,
        )

    @strawberry.field
    async def worker(self, info: Info) -> Worker:
        return await related_worker(info, UUID(self.worker_id), self.moment)

    @strawberry.field
    async def course(self, info: Info) -> Course:
        course = await load_course(info, self.course_id, self.moment)
        assert course is not None, f"attendance of an unknown course {self.course_id}"
        return course


async def load_course(info: Info, id: UUID, moment: Moment | None = None) -> Course | None:
    row = await info.context.loader(courses_by_id, moment).load(id)
    return Course.of(row, _today(info, moment), moment) if row else None


def _today(info: Info, moment: Moment | None) -> date:
    return moment.effective if moment else info.context.hub.settings.today()


@strawberry.input
class CourseFilter:
    district: str | None = None
    status: CourseStatus | None = None
    category: CourseCategory | None = None
    level: CourseLevel | None = None
    delivered_by: strawberry.ID | None = None


@strawberry.type
class CourseQueries:
    @strawberry.field(description="One course by id.")
    async def course(
        self, info: Info, id: strawberry.ID, as_of: AsOf | None = None
    ) -> Course | None:
        return await load_course(info, record_id(id), await moment_of(info, as_of))

    @strawberry.field(description="Courses in scheduling order, filtered.")
    async def courses(
        self,
        info: Info,
        first: int = 50,
        after: str | None = None,
        filter: CourseFilter | None = None,
        as_of: AsOf | None = None,
    ) -> Connection[Course]:
        moment = await moment_of(info, as_of)
        return await course_connection(info, first, after, filter or CourseFilter(), moment)


async def course_connection(
    info: Info,
    first: int,
    after: str | None,
    chosen: CourseFilter,
    moment: Moment | None = None,
) -> Connection[Course]:
    today = _today(info, moment)
    rows, more, total = await course_page(
        info.context.hub.pool,
        first=page_size(first),
        after_seq=decode_cursor("course", after),
        today=today,
        district=chosen.district,
        status=value_of(chosen.status),
        category=value_of(chosen.category),
        level=value_of(chosen.level),
        delivered_by=_agency_id(chosen.delivered_by) if chosen.delivered_by else None,
        moment=moment,
    )
    return connection("course", rows, more, total, node=lambda r: Course.of(r, today, moment))


def _agency_id(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise InvalidInput(
            f"deliveredBy {value!r} is not an agency id (a UUID)", "deliveredBy"
        ) from None


CoursePayload = record_payload(Course, load_course)


@strawberry.input
class ScheduleCourseInput(RecordInput):
    title: str
    category: CourseCategory
    level: CourseLevel
    district: str | None = strawberry.field(
        default=None, description="Required for DISTRICT and TOWNSHIP courses."
    )
    delivered_by: strawberry.ID | None = strawberry.field(
        default=None, description="The agency delivering the course, if a contractor does."
    )
    starts_on: date
    ends_on: date
    hours: Decimal


@strawberry.input
class RecordAttendanceInput(ExistingRecordInput):
    id: strawberry.ID = strawberry.field(description="The course.")
    worker: strawberry.ID
    hours: Decimal
    passed: bool | None = None


@strawberry.input(description="Complete or cancel a course; cancelling requires a reason.")
class CourseLifecycleInput(ExistingRecordInput):
    pass


@strawberry.type
class CourseMutations:
    @strawberry.mutation
    async def schedule_course(self, info: Info, input: ScheduleCourseInput) -> CoursePayload:
        return await CoursePayload.answer(
            info,
            course_commands.schedule_course,
            input,
            title=input.title,
            category=input.category.value,
            level=input.level.value,
            district=input.district,
            delivered_by=input.delivered_by,
            starts_on=input.starts_on,
            ends_on=input.ends_on,
            hours=input.hours,
        )

    @strawberry.mutation
    async def record_attendance(self, info: Info, input: RecordAttendanceInput) -> CoursePayload:
        return await CoursePayload.answer(
            info,
            course_commands.record_attendance,
            input,
            worker=input.worker,
            hours=input.hours,
            passed=input.passed,
        )

    @strawberry.mutation
    async def complete_course(self, info: Info, input: CourseLifecycleInput) -> CoursePayload:
        return await CoursePayload.answer(info, course_commands.complete_course, input)

    @strawberry.mutation
    async def cancel_course(self, info: Info, input: CourseLifecycleInput) -> CoursePayload:
        return await CoursePayload.answer(info, course_commands.cancel_course, input)
