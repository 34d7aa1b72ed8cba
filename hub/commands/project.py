"""Service project commands."""

from __future__ import annotations

from collections.abc import Callable

from hub.domain.agency import Agency
from hub.domain.envelope import Envelope
from hub.domain.project import Project
from hub.domain.record import Record
from hub.registry.application import Outcome, Registry, Request, Unit


def approve_project(registry: Registry, request: Request) -> Outcome:
    def decide(unit: Unit) -> Record:
        inputs = dict(request.inputs)
        contractor = unit.refer(Agency, inputs.pop("contractor"), "contractor")
        return Project.approve(contractor=contractor, envelope=unit.envelope, **inputs)

    return registry.run(request, decide)


def disburse_funds(registry: Registry, request: Request) -> Outcome:
    return _on_project(registry, request, lambda p, e: p.disburse(envelope=e, **request.inputs))


def report_project_progress(registry: Registry, request: Request) -> Outcome:
    return _on_project(
        registry, request, lambda p, e: p.report_progress(envelope=e, **request.inputs)
    )


def commission_evaluation(registry: Registry, request: Request) -> Outcome:
    return _on_project(
        registry, request, lambda p, e: p.commission_evaluation(envelope=e, **request.inputs)
    )


def conclude_evaluation(registry: Registry, request: Request) -> Outcome:
    return _on_project(
        registry, request, lambda p, e: p.conclude_evaluation(envelope=e, **request.inputs)
    )


def close_project(registry: Registry, request: Request) -> Outcome:
    return _on_project(registry, request, lambda p, e: p.close(envelope=e))


def _on_project(
    registry: Registry, request: Request, act: Callable[[Project, Envelope], None]
) -> Outcome:
    def decide(unit: Unit) -> Record:
        project = unit.load(Project)
        act(project, unit.envelope)
        return project

    return registry.run(request, decide)
