"""Course: a training course (培训) and the workers who attended it.

The organiser level decides who answers for the course: the municipal bureau for MUNICIPAL
courses, the district bureau for DISTRICT and TOWNSHIP courses in its district, and the agency
that delivers it, if a contractor does.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from eventsourcing.domain import event

from hub.domain import checks
from hub.domain.agency import Agency
from hub.domain.envelope import Envelope
from hub.domain.errors import InvalidInput, InvalidState
from hub.domain.record import Record, require_reason
from hub.domain.reference import district as known_district
from hub.domain.rules import Answerable, Target, answerable, authorize
from hub.domain.vocabulary import (
    AgencyStatus,
    CourseCategory,
    CourseLevel,
    CourseStatus,
    EntityType,
)
from hub.domain.worker import Worker

HOURS_PER_DAY = 24


class Course(Record):
    entity_type = EntityType.COURSE
    answers_to = Answerable(fact="delivered_by")

    @classmethod
    def schedule(
        cls,
        *,
        title: str,
        category: str,
        level: str,
        district: str | None,
        delivered_by: Agency | None,
        starts_on: date,
        ends_on: date,
        hours: Decimal,
        envelope: Envelope,
    ) -> Course:
        level = checks.member(level, CourseLevel, "level").value
        if district is not None:
            district = known_district(district).code
        elif level != CourseLevel.MUNICIPAL.value:
            raise InvalidInput(
                f"a {level}-level course needs the district that organises it", "district"
            )
        agency = str(delivered_by.id) if delivered_by is not None else None
        authorize("scheduleCourse", envelope.actor, answerable(district, agency, level=level))
        if delivered_by is not None and delivered_by.status != AgencyStatus.ACTIVE.value:
            raise InvalidState(
                f"agency {agency} is {delivered_by.status}: only an ACTIVE agency can deliver "
                f"a course",
                "deliveredBy",
            )
        checks.period(starts_on, ends_on, "startsOn", "endsOn")
        days = (ends_on - starts_on).days + 1
        return cls(
            title=checks.text(title, "title"),
            category=checks.member(category, CourseCategory, "category").value,
            level=level,
            district=district,
            delivered_by=agency,
            starts_on=starts_on,
            ends_on=ends_on,
            hours=_hours(hours, HOURS_PER_DAY * days, f"{HOURS_PER_DAY} a day for {days} day(s)"),
            envelope=envelope.as_dict(),
        )

    @event("Scheduled")
    def __init__(
        self,
        *,
        title: str,
        category: str,
        level: str,
        district: str | None,
        delivered_by: str | None,
        starts_on: date,
        ends_on: date,
        hours: Decimal,
        envelope: dict[str, Any],
    ) -> None:
        self.title = title
        self.category = category
        self.level = level
        self.district = district
        self.delivered_by = delivered_by
        self.starts_on = starts_on
        self.ends_on = ends_on
        self.hours = hours
        self.status = CourseStatus.SCHEDULED.value
        self.effective_from = date.fromisoformat(envelope["effective_on"])
        self.attendances: dict[str, dict[str, Any]] = {}

    @property
    def target(self) -> Target:
        return answerable(self.district, self.answerable_agency, level=self.level)

    def _require_scheduled(self, command: str) -> None:
        """RUNNING is only how a scheduled course looks between its dates, so it counts here."""
        if self.status != CourseStatus.SCHEDULED.value:
            raise InvalidState(
                f"course {self.id} is {self.status}: {command} needs a SCHEDULED course"
            )

    def _require_started(self, envelope: Envelope, what: str) -> None:
        if envelope.effective_on < self.starts_on:
            raise InvalidInput(
                f"effectiveOn {envelope.effective_on.isoformat()} is before the course starts "
                f"({self.starts_on.isoformat()}): {what}",
                "effectiveOn",
            )

    def record_attendance(
        self, *, worker: Worker, hours: Decimal, passed: bool | None, envelope: Envelope
    ) -> None:
        stamp = self.stamp("recordAttendance", envelope)
        self._require_scheduled("recordAttendance")
        worker_id = str(worker.id)
        if worker_id in self.attendances:
            raise InvalidInput(
                f"worker {worker_id} already has an attendance on course {self.id}", "worker"
            )
        self._require_started(envelope, "nobody can have attended it yet")
        self._attendance_recorded(
            worker=worker_id,
            hours=_hours(hours, self.hours, "the course's hours"),
            passed=passed,
            envelope=stamp,
        )

    @event("AttendanceRecorded")
    def _attendance_recorded(
        self, worker: str, hours: Decimal, passed: bool | None, envelope: dict[str, Any]
    ) -> None:
        self.attendances[worker] = {"hours": hours, "passed": passed}

    def complete(self, *, envelope: Envelope) -> None:
        stamp = self.stamp("completeCourse", envelope)
        self._require_scheduled("completeCourse")
        self._require_started(envelope, "a course cannot be completed before it starts")
        self._completed(envelope=stamp)

    @event("Completed")
    def _completed(self, envelope: dict[str, Any]) -> None:
        self.status = CourseStatus.COMPLETED.value

    def cancel(self, *, envelope: Envelope) -> None:
        stamp = self.stamp("cancelCourse", envelope)
        require_reason(envelope, "cancelCourse")
        self._require_scheduled("cancelCourse")
        self._cancelled(envelope=stamp)

    @event("Cancelled")
    def _cancelled(self, envelope: dict[str, Any]) -> None:
        self.status = CourseStatus.CANCELLED.value


def _hours(value: Decimal, most: Decimal | int, why: str) -> Decimal:
    """Exact hours in tenths (training is counted to the tenth of an hour), above zero."""
    if not value.is_finite() or value <= 0:
        raise InvalidInput(f"hours must be a number above 0, got {value}", "hours")
    if value.normalize().as_tuple().exponent < -1:  # type: ignore[operator]
        raise InvalidInput(f"hours {value} has more than one decimal place", "hours")
    if value > most:
        raise InvalidInput(f"hours {value} is more than {most} ({why})", "hours")
    return value.quantize(Decimal("0.1"))
