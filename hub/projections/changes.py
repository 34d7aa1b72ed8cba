"""A stored event as projections see it: its position, its envelope, its public payload."""

from __future__ import annotations

import functools
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import (
    JSONTranscoder,
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
    Transcoding,
    TranscodingNotRegisteredError,
)
from eventsourcing.utils import resolve_topic

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

    @functools.cached_property
    def retracts(self) -> list[int]:
        """Asked of each change a fold takes: made once."""
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
    when the row cannot be decoded (a topic no module has, a state that does not fit).

    It reads what `mapper.to_domain_event` would give, without making the event: the state's
    JSON parsed by msgspec and its typed values (`{"_type_": ..., "_data_": ...}`) revived by
    the mapper's own transcodings, the event class's upcasts applied the same way.
    """
    position, originator_id, version, topic, state = row
    event_type = resolve_topic(topic)
    if not isinstance(mapper.transcoder, JSONTranscoder):  # another encoding: the mapper's way
        event = mapper.to_domain_event(StoredEvent(originator_id, version, topic, state))
        facts = dict(event.__dict__)
    else:
        facts = _facts(mapper, event_type, originator_id, version, topic, state)
    owner = _owner(event_type)
    if owner is None:
        return None
    return Change(
        position=position,
        entity_id=facts["originator_id"],
        entity_type=owner.entity_type.value,
        type=owner.__name__ + event_type.__name__,
        event_type=event_type,
        version=version,
        recorded_at=facts["timestamp"],
        envelope=facts["envelope"],
        facts={k: v for k, v in facts.items() if k not in _INTERNAL},
    )


_STATE = msgspec.json.Decoder()


def _facts(
    mapper: Mapper, event_type: type, originator_id: UUID, version: int, topic: str, state: bytes
) -> dict[str, Any]:
    """The event's attributes as `Mapper.to_domain_event` sets them."""
    try:
        if mapper.cipher:
            state = mapper.cipher.decrypt(state)
        if mapper.compressor:
            state = mapper.compressor.decompress(state)
        facts = _revive(_STATE.decode(state), mapper.transcoder.names)  # type: ignore[attr-defined]
    except Exception as error:
        raise MapperDeserialisationError(
            f"Failed to deserialise state of stored event with topic '{topic}', originator_id"
            f" '{originator_id}' and originator_version {version}: {error}"
        ) from error
    facts["originator_id"] = originator_id
    facts["originator_version"] = version
    class_version = getattr(event_type, "class_version", 1)
    from_version = facts.pop("class_version", 1)
    while from_version < class_version:
        getattr(event_type, f"upcast_v{from_version}_v{from_version + 1}")(facts)
        from_version += 1
    return facts


def _revive(value: Any, transcodings: Mapping[str, Transcoding]) -> Any:
    """`value` with each `{"_type_": name, "_data_": data}` in it decoded by the transcoding
    of that name, innermost first (as `JSONTranscoder`'s object hook does)."""
    if type(value) is dict:
        if len(value) == 2 and "_type_" in value and "_data_" in value:
            try:
                transcoding = transcodings[value["_type_"]]
            except KeyError:
                raise TranscodingNotRegisteredError(
                    f"Data serialized with name '{value['_type_']}' is not deserializable"
                ) from None
            return transcoding.decode(_revive(value["_data_"], transcodings))
        for key, item in value.items():
            if type(item) is dict or type(item) is list:
                value[key] = _revive(item, transcodings)
        return value
    if type(value) is list:
        return [
            _revive(item, transcodings) if type(item) is dict or type(item) is list else item
            for item in value
        ]
    return value


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
