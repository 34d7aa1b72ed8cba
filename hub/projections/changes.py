"""A stored event as projections see it: its position, its envelope, its public payload."""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import Mapper, StoredEvent

from hub.domain.checks import camel_case
from hub.domain.record import Record

_INTERNAL = {"originator_id", "originator_version", "timestamp", "originator_topic", "envelope"}


@dataclass(frozen=True)
class Change:
    position: int
    entity_id: UUID
    entity_type: str
    type: str
    """The event type as the API names it, e.g. `AgencyRegistered`."""
    event_type: type[DomainEvent]
    """The aggregate's event class, e.g. `Agency.Registered`: what projections dispatch on."""
    version: int
    recorded_at: datetime
    envelope: dict[str, Any]
    facts: dict[str, Any]

    @functools.cached_property
    def effective_on(self) -> date:
        """Asked several times of each change by a fold: parsed once."""
        return date.fromisoformat(self.envelope["effective_on"])

    @property
    def retracts(self) -> list[int]:
        return list(self.envelope.get("retracts") or ())

    @property
    def data(self) -> dict[str, Any]:
        """The public payload: the event's facts in camelCase, profile changes flattened."""
        facts = dict(self.facts)
        facts.update(facts.pop("changes", {}))
        return {camel_case(k): _public(v) for k, v in facts.items()}


Row = tuple[int, UUID, int, str, bytes]
"""A stored event as read: position, originator id, version, topic, state."""


def decode(mapper: Mapper, rows: list[Row]) -> list[Change]:
    """Decode stored rows into changes of records; other rows (claims) are left out."""
    return [change for row in rows if (change := decode_row(mapper, row)) is not None]


def decode_row(mapper: Mapper, row: Row) -> Change | None:
    """One stored row as a change of a record, or None for another row (a claim); raises
    when the row cannot be decoded (a topic no module has, a state that does not fit)."""
    position, originator_id, version, topic, state = row
    event = mapper.to_domain_event(
        StoredEvent(
            originator_id=originator_id, originator_version=version, topic=topic, state=state
        )
    )
    owner = _owner(type(event))
    if owner is None:
        return None
    return Change(
        position=position,
        entity_id=event.originator_id,
        entity_type=owner.entity_type.value,
        type=owner.__name__ + type(event).__name__,
        event_type=type(event),
        version=version,
        recorded_at=event.timestamp,
        envelope=event.envelope,
        facts={k: v for k, v in event.__dict__.items() if k not in _INTERNAL},
    )


@functools.cache
def _owner(event_class: type) -> type[Record] | None:
    """The record class an event class is nested in, if it is a record's event."""
    owner: object = sys.modules[event_class.__module__]
    for part in event_class.__qualname__.split(".")[:-1]:
        owner = getattr(owner, part, None)
    return owner if isinstance(owner, type) and issubclass(owner, Record) else None


def optional_id(value: str | None) -> UUID | None:
    """A fact naming another record, or nothing."""
    return UUID(value) if value else None


def _public(value: Any) -> Any:
    """Nested names are camelCased too (e.g. a station's assessment scores)."""
    if isinstance(value, dict):
        return {camel_case(k): _public(v) for k, v in value.items()}
    return value
