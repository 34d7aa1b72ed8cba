"""Station commands."""

from __future__ import annotations

from collections.abc import Callable

from hub.domain.agency import Agency
from hub.domain.community import Community, community_id
from hub.domain.errors import InvalidState
from hub.domain.record import Record
from hub.domain.station import Station
from hub.domain.vocabulary import AgencyStatus
from hub.domain.worker import Worker
from hub.registry.application import Outcome, Registry, Request, Unit


def establish_station(registry: Registry, request: Request) -> Outcome:
    def decide(unit: Unit) -> Record:
        code = request.inputs["community"].strip()
        community = unit.load(Community, community_id(code), "community")
        station = Station.establish(
            community=code,
            district=community.district,
            name=request.inputs["name"],
            envelope=unit.envelope,
        )
        unit.claim_unique(
            f"station:community:{code}",
            station,
            "community",
            lambda holder: f"community {code} already has station {holder}",
        )
        return station

    return registry.run(request, decide)


def contract_station_operator(registry: Registry, request: Request) -> Outcome:
    def act(station: Station, unit: Unit) -> None:
        agency = unit.refer(Agency, request.inputs["agency"], "agency")
        if agency.status != AgencyStatus.ACTIVE.value:
            raise InvalidState(f"agency {agency.id} is {agency.status}", "agency")
        station.contract_operator(
            agency=str(agency.id),
            start=request.inputs["start"],
            end=request.inputs["end"],
            envelope=unit.envelope,
        )

    return _on_station(registry, request, act)


def assign_station_staff(registry: Registry, request: Request) -> Outcome:
    def act(station: Station, unit: Unit) -> None:
        worker = unit.refer(Worker, request.inputs["worker"], "worker")
        station.assign_staff(
            worker=str(worker.id), full_time=request.inputs["full_time"], envelope=unit.envelope
        )

    return _on_station(registry, request, act)


def release_station_staff(registry: Registry, request: Request) -> Outcome:
    def act(station: Station, unit: Unit) -> None:
        worker = unit.refer(Worker, request.inputs["worker"], "worker")
        station.release_staff(worker=str(worker.id), envelope=unit.envelope)

    return _on_station(registry, request, act)


def assess_station(registry: Registry, request: Request) -> Outcome:
    return _on_station(
        registry, request, lambda s, u: s.assess(scores=request.inputs, envelope=u.envelope)
    )


def designate_demonstration_station(registry: Registry, request: Request) -> Outcome:
    return _on_station(
        registry,
        request,
        lambda s, u: s.designate_demonstration(envelope=u.envelope, **request.inputs),
    )


def close_station(registry: Registry, request: Request) -> Outcome:
    return _on_station(registry, request, lambda s, u: s.close(envelope=u.envelope))


def _on_station(
    registry: Registry, request: Request, act: Callable[[Station, Unit], None]
) -> Outcome:
    def decide(unit: Unit) -> Record:
        station = unit.load(Station)
        act(station, unit)
        return station

    return registry.run(request, decide)
