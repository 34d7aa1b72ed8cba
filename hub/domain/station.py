"""Station: a community social-work station (社区社会工作室/站), one per community."""

from __future__ import annotations

from datetime import date
from typing import Any

from eventsourcing.domain import event

from hub.domain import checks
from hub.domain.envelope import Envelope
from hub.domain.errors import InvalidInput, InvalidState
from hub.domain.record import Record, require_reason
from hub.domain.rules import Answerable, answerable, authorize
from hub.domain.vocabulary import EntityType, StationStatus

ASSESSMENT_DIMENSIONS = (
    "hardware",
    "duties",
    "mechanism",
    "funding",
    "service_standards",
    "performance",
)


class Station(Record):
    entity_type = EntityType.STATION
    answers_to = Answerable(fact="agency", attribute="operator")

    @classmethod
    def establish(cls, *, community: str, district: str, name: str, envelope: Envelope) -> Station:
        """`district` comes from the community record, which the command has loaded."""
        authorize("establishStation", envelope.actor, answerable(district))
        return cls(
            community=community,
            district=district,
            name=checks.text(name, "name"),
            envelope=envelope.as_dict(),
        )

    @event("Established")
    def __init__(
        self, *, community: str, district: str, name: str, envelope: dict[str, Any]
    ) -> None:
        self.community = community
        self.district = district
        self.name = name
        self.status = StationStatus.OPEN.value
        self.effective_from = date.fromisoformat(envelope["effective_on"])
        self.operator: str | None = None
        self.staff: dict[str, bool] = {}

    def _require_open(self, command: str) -> None:
        if self.status != StationStatus.OPEN.value:
            raise InvalidState(f"station {self.id} is {self.status}: {command} needs it OPEN")

    def contract_operator(self, *, agency: str, start: date, end: date, envelope: Envelope) -> None:
        stamp = self.stamp("contractStationOperator", envelope)
        self._require_open("contractStationOperator")
        checks.period(start, end, "from", "to")
        self._operator_contracted(agency=agency, start=start, end=end, envelope=stamp)

    @event("OperatorContracted")
    def _operator_contracted(
        self, agency: str, start: date, end: date, envelope: dict[str, Any]
    ) -> None:
        self.operator = agency

    def assign_staff(self, *, worker: str, full_time: bool, envelope: Envelope) -> None:
        stamp = self.stamp("assignStationStaff", envelope)
        self._require_open("assignStationStaff")
        if worker in self.staff:
            raise InvalidInput(
                f"worker {worker} is already on the staff of station {self.id}", "worker"
            )
        self._staff_assigned(worker=worker, full_time=full_time, envelope=stamp)

    @event("StaffAssigned")
    def _staff_assigned(self, worker: str, full_time: bool, envelope: dict[str, Any]) -> None:
        self.staff[worker] = full_time

    def release_staff(self, *, worker: str, envelope: Envelope) -> None:
        stamp = self.stamp("releaseStationStaff", envelope)
        if worker not in self.staff:
            raise InvalidInput(
                f"worker {worker} is not on the staff of station {self.id}", "worker"
            )
        self._staff_released(worker=worker, envelope=stamp)

    @event("StaffReleased")
    def _staff_released(self, worker: str, envelope: dict[str, Any]) -> None:
        del self.staff[worker]

    def assess(self, *, scores: dict[str, int], envelope: Envelope) -> None:
        stamp = self.stamp("assessStation", envelope)
        self._require_open("assessStation")
        for dimension in ASSESSMENT_DIMENSIONS:
            if not 0 <= scores[dimension] <= 100:
                name = checks.camel_case(dimension)
                raise InvalidInput(
                    f"{name} score {scores[dimension]} is not between 0 and 100", name
                )
        self._assessed(scores=scores, envelope=stamp)

    @event("Assessed")
    def _assessed(self, scores: dict[str, int], envelope: dict[str, Any]) -> None:
        pass

    def designate_demonstration(self, *, programme: str, year: int, envelope: Envelope) -> None:
        stamp = self.stamp("designateDemonstrationStation", envelope)
        self._require_open("designateDemonstrationStation")
        self._demonstration_designated(
            programme=checks.text(programme, "programme"),
            year=checks.designation_year(year, envelope.effective_on),
            envelope=stamp,
        )

    @event("DemonstrationDesignated")
    def _demonstration_designated(
        self, programme: str, year: int, envelope: dict[str, Any]
    ) -> None:
        pass

    def close(self, *, envelope: Envelope) -> None:
        """Closing ends every staff assignment of the station with it."""
        stamp = self.stamp("closeStation", envelope)
        require_reason(envelope, "closeStation")
        self._require_open("closeStation")
        self._closed(envelope=stamp)

    @event("Closed")
    def _closed(self, envelope: dict[str, Any]) -> None:
        self.status = StationStatus.CLOSED.value
        self.staff = {}
