"""Every record type of the registry, in the order the event reference lists them."""

from __future__ import annotations

from hub.domain.agency import Agency
from hub.domain.community import Community
from hub.domain.course import Course
from hub.domain.post import Post
from hub.domain.project import Project
from hub.domain.record import Record
from hub.domain.station import Station
from hub.domain.worker import Worker

RECORDS: tuple[type[Record], ...] = (Agency, Community, Station, Post, Worker, Course, Project)

BY_ENTITY_TYPE: dict[str, type[Record]] = {r.entity_type.value: r for r in RECORDS}
"""Each record type by its entity type (`EntityType` value)."""


SCHEMA_VERSIONS: dict[str, int] = {}
"""The current payload version of each event type whose payload changed since it was first
published (1): the `docs/events/<Type>.v<N>.json` an event's `data` follows."""


def schema_version(event_type: str) -> int:
    """The version of the JSON Schema that `event_type`'s payload follows (`docs/events.md`)."""
    return SCHEMA_VERSIONS.get(event_type, 1)
