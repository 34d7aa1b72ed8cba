"""Post: a social-work professional post (社会工作专业岗位), filled by one worker at a time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from eventsourcing.domain import event

from hub.domain import checks
from hub.domain.envelope import Envelope
from hub.domain.errors import InvalidState
from hub.domain.record import Record, require_reason
from hub.domain.reference import district as known_district
from hub.domain.rules import Answerable, Target, answerable, authorize
from hub.domain.vocabulary import EntityType, PostOrigin, PostSector, PostStatus, ServiceField
from hub.domain.worker import Worker


class Post(Record):
    entity_type = EntityType.POST
    answers_to = Answerable(through="station")

    @classmethod
    def create(
        cls,
        *,
        sector: str,
        field: str,
        district: str,
        host_organization: str,
        community: str | None,
        station: str | None,
        origin: str,
        envelope: Envelope,
    ) -> Post:
        district = known_district(district).code
        authorize("createPost", envelope.actor, answerable(district))
        return cls(
            sector=checks.member(sector, PostSector, "sector").value,
            field=checks.member(field, ServiceField, "field").value,
            district=district,
            host_organization=checks.text(host_organization, "hostOrganization"),
            community=community,
            station=station,
            origin=checks.member(origin, PostOrigin, "origin").value,
            envelope=envelope.as_dict(),
        )

    @event("Created")
    def __init__(
        self,
        *,
        sector: str,
        field: str,
        district: str,
        host_organization: str,
        community: str | None,
        station: str | None,
        origin: str,
        envelope: dict[str, Any],
    ) -> None:
        self.sector = sector
        self.field = field
        self.district = district
        self.host_organization = host_organization
        self.community = community
        self.station = station
        self.origin = origin
        self.status = PostStatus.VACANT.value
        self.holder: str | None = None
        self.effective_from = date.fromisoformat(envelope["effective_on"])

    def authority(self, refer: Callable[[str], Record]) -> Target:
        """Fills and vacancies answer to the agency answerable for the post's station too
        (its operator)."""
        station = refer(self.station) if self.station else None
        return self.at_station(station.answerable_agency if station is not None else None)

    def at_station(self, operator: str | None) -> Target:
        """The post's target with the operator of its station, who may fill and vacate it."""
        return answerable(self.district, operator)

    def fill(self, *, worker: Worker, operator: str | None, envelope: Envelope) -> None:
        stamp = self.stamp("fillPost", envelope, self.at_station(operator))
        if self.status != PostStatus.VACANT.value:
            raise InvalidState(
                f"post {self.id} is {self.status}"
                + (f" (held by worker {self.holder})" if self.holder else "")
                + ": only a VACANT post can be filled"
            )
        worker.take_post(post=str(self.id), envelope=envelope)
        self._filled(worker=str(worker.id), envelope=stamp)

    @event("Filled")
    def _filled(self, worker: str, envelope: dict[str, Any]) -> None:
        self.holder = worker
        self.status = PostStatus.FILLED.value

    def vacate(self, *, worker: Worker, operator: str | None, envelope: Envelope) -> None:
        stamp = self.stamp("vacatePost", envelope, self.at_station(operator))
        if self.status != PostStatus.FILLED.value:
            raise InvalidState(
                f"post {self.id} is {self.status}: only a FILLED post can be vacated"
            )
        worker.leave_post(post=str(self.id), envelope=envelope)
        self._vacated(worker=str(worker.id), envelope=stamp)

    @event("Vacated")
    def _vacated(self, worker: str, envelope: dict[str, Any]) -> None:
        self.holder = None
        self.status = PostStatus.VACANT.value

    def abolish(self, *, envelope: Envelope) -> None:
        stamp = self.stamp("abolishPost", envelope)
        require_reason(envelope, "abolishPost")
        if self.status != PostStatus.VACANT.value:
            raise InvalidState(
                f"post {self.id} is {self.status}: only a VACANT post can be abolished"
                + (" (vacate it first)" if self.status == PostStatus.FILLED.value else "")
            )
        self._abolished(envelope=stamp)

    @event("Abolished")
    def _abolished(self, envelope: dict[str, Any]) -> None:
        self.status = PostStatus.ABOLISHED.value
