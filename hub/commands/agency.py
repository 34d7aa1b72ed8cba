"""Agency commands."""

from __future__ import annotations

from collections.abc import Callable

from hub.domain.agency import Agency
from hub.domain.envelope import Envelope
from hub.domain.record import Record
from hub.registry.application import Outcome, Registry, Request, Unit


def register_agency(registry: Registry, request: Request) -> Outcome:
    def decide(unit: Unit) -> Record:
        agency = Agency.register(envelope=unit.envelope, **request.inputs)
        unit.claim_unique(
            f"credit-code:{agency.credit_code}",
            agency,
            "creditCode",
            lambda holder: (
                f"credit code {agency.credit_code} is already registered to agency {holder}"
            ),
        )
        return agency

    return registry.run(request, decide)


def update_agency_profile(registry: Registry, request: Request) -> Outcome:
    return _on_agency(
        registry, request, lambda a, e: a.update_profile(envelope=e, **request.inputs)
    )


def incubate_agency(registry: Registry, request: Request) -> Outcome:
    return _on_agency(registry, request, lambda a, e: a.incubate(envelope=e, **request.inputs))


def designate_demonstration_agency(registry: Registry, request: Request) -> Outcome:
    return _on_agency(
        registry, request, lambda a, e: a.designate_demonstration(envelope=e, **request.inputs)
    )


def suspend_agency(registry: Registry, request: Request) -> Outcome:
    return _on_agency(registry, request, lambda a, e: a.suspend(envelope=e))


def reinstate_agency(registry: Registry, request: Request) -> Outcome:
    return _on_agency(registry, request, lambda a, e: a.reinstate(envelope=e))


def deregister_agency(registry: Registry, request: Request) -> Outcome:
    return _on_agency(registry, request, lambda a, e: a.deregister(envelope=e))


def _on_agency(
    registry: Registry, request: Request, act: Callable[[Agency, Envelope], None]
) -> Outcome:
    def decide(unit: Unit) -> Record:
        agency = unit.load(Agency)
        act(agency, unit.envelope)
        return agency

    return registry.run(request, decide)
