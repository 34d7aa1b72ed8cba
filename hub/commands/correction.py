"""Retracting events (a correction, see `docs/domain.md`, "Time"):
`retractEvents(positions, reason)`."""

from __future__ import annotations

from hub.domain.errors import InvalidInput
from hub.domain.record import Record
from hub.registry.application import Outcome, Registry, Request, Unit


def retract_events(registry: Registry, request: Request) -> Outcome:
    """Retract the events at `positions` (and the events written together with them): each
    record they belong to records a retraction, all in one transaction. Retracting a
    retraction restores what it retracted."""
    positions = request.inputs.get("positions") or []
    if not positions:
        raise InvalidInput("positions must name at least one event", "positions")
    if any(not isinstance(p, int) or p <= 0 for p in positions):
        raise InvalidInput("positions are positive event positions", "positions")

    def decide(unit: Unit) -> Record:
        plan = registry.retraction(positions)
        records = []
        for record_id, events in plan.items():
            record = unit.load(Record, record_id, "positions")
            record.retract(
                positions=[p for p, _, _ in events],
                commands=[c for _, _, commands in events for c in commands],
                envelope=unit.envelope,
                authority=record.authority(lambda id: unit.refer(Record, id, "positions")),
            )
            records.append(record)
        for other in records[1:]:
            unit.also(other)
        return records[0]

    return registry.run(request, decide)
