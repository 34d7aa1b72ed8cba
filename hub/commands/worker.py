"""Worker commands; personal data is sealed with the worker's own key before it is stored."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID, uuid4

from hub.domain.agency import Agency
from hub.domain.errors import InvalidState
from hub.domain.record import Record
from hub.domain.vocabulary import AgencyStatus
from hub.domain.worker import Seal, Worker
from hub.registry.application import Outcome, Registry, Request, Unit
from hub.registry.personal_data import seal


def _employer(unit: Unit, raw: str | None) -> str | None:
    """The employing agency's id, checked to exist and be active; "" clears it."""
    if not raw:
        return raw
    agency = unit.refer(Agency, raw, "employer")
    if agency.status != AgencyStatus.ACTIVE.value:
        raise InvalidState(f"employer {agency.id} is {agency.status}", "employer")
    return str(agency.id)


def _sealer(registry: Registry, worker_id: UUID) -> Seal:
    key = registry.keys.get(worker_id)

    def sealed(value: str) -> str:
        if key is None:
            raise InvalidState(f"worker {worker_id}'s personal data was erased")
        return seal(key, worker_id, value)

    return sealed


def register_worker(registry: Registry, request: Request) -> Outcome:
    worker_id = uuid4()
    keys: list[bytes] = []

    def decide(unit: Unit) -> Record:
        inputs = dict(request.inputs)
        inputs["employer"] = _employer(unit, inputs.get("employer"))
        if not keys:
            keys.append(registry.keys.create(worker_id))
        return Worker.register(
            id=worker_id,
            envelope=unit.envelope,
            seal=lambda value: seal(keys[0], worker_id, value),
            **inputs,
        )

    return registry.run(request, decide)


def update_worker(registry: Registry, request: Request) -> Outcome:
    def decide(unit: Unit) -> Record:
        worker = unit.load(Worker)
        inputs = dict(request.inputs)
        inputs["employer"] = _employer(unit, inputs.get("employer"))
        worker.update(envelope=unit.envelope, seal=_sealer(registry, worker.id), **inputs)
        return worker

    return registry.run(request, decide)


def award_certificate(registry: Registry, request: Request) -> Outcome:
    def decide(unit: Unit) -> Record:
        worker = unit.load(Worker)
        worker.award_certificate(envelope=unit.envelope, **request.inputs)
        level, number = request.inputs["level"], request.inputs["number"].strip()
        unit.claim_unique(
            f"certificate:{level}:{number}",
            worker,
            "number",
            lambda holder: f"{level} certificate {number} was already awarded to worker {holder}",
        )
        return worker

    return registry.run(request, decide)


def revoke_certificate(registry: Registry, request: Request) -> Outcome:
    return _on_worker(
        registry, request, lambda w, u: w.revoke_certificate(envelope=u.envelope, **request.inputs)
    )


def erase_worker_personal_data(registry: Registry, request: Request) -> Outcome:
    outcome = _on_worker(registry, request, lambda w, u: w.erase_personal_data(envelope=u.envelope))
    registry.keys.destroy(outcome.record_id)
    return outcome


def _on_worker(
    registry: Registry, request: Request, act: Callable[[Worker, Unit], None]
) -> Outcome:
    def decide(unit: Unit) -> Record:
        worker = unit.load(Worker)
        act(worker, unit)
        return worker

    return registry.run(request, decide)
