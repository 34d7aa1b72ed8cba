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
