"""Course commands."""

from __future__ import annotations

from collections.abc import Callable

from hub.domain.agency import Agency
from hub.domain.course import Course
from hub.domain.envelope import Envelope
from hub.domain.record import Record
from hub.domain.worker import Worker
from hub.registry.application import Outcome, Registry, Request, Unit


def schedule_course(registry: Registry, request: Request) -> Outcome:
    def decide(unit: Unit) -> Record:
        inputs = dict(request.inputs)
        raw_agency = inputs.pop("delivered_by", None)
        agency = unit.refer(Agency, raw_agency, "deliveredBy") if raw_agency else None
        return Course.schedule(delivered_by=agency, envelope=unit.envelope, **inputs)

    return registry.run(request, decide)


def record_attendance(registry: Registry, request: Request) -> Outcome:
    def decide(unit: Unit) -> Record:
        inputs = dict(request.inputs)
        course = unit.load(Course)
        worker = unit.refer(Worker, inputs.pop("worker"), "worker")
        course.record_attendance(worker=worker, envelope=unit.envelope, **inputs)
        return course

    return registry.run(request, decide)


def complete_course(registry: Registry, request: Request) -> Outcome:
    return _on_course(registry, request, lambda c, e: c.complete(envelope=e))


def cancel_course(registry: Registry, request: Request) -> Outcome:
    return _on_course(registry, request, lambda c, e: c.cancel(envelope=e))


def _on_course(
    registry: Registry, request: Request, act: Callable[[Course, Envelope], None]
) -> Outcome:
    def decide(unit: Unit) -> Record:
        course = unit.load(Course)
        act(course, unit.envelope)
        return course

    return registry.run(request, decide)
