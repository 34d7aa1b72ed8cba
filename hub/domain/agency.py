"""Agency: a private social-work service agency (民办社会工作服务机构)."""

from __future__ import annotations

from datetime import date
from typing import Any

from eventsourcing.domain import event

from hub.domain import checks
from hub.domain.envelope import Envelope
from hub.domain.errors import InvalidInput, InvalidState
from hub.domain.identifiers import validate_credit_code
from hub.domain.record import Record, require_reason
from hub.domain.reference import district as known_district
from hub.domain.rules import Answerable, answerable, authorize
from hub.domain.vocabulary import AgencyKind, AgencyStatus, EntityType, ServiceField


class Agency(Record):
    entity_type = EntityType.AGENCY
    answers_to = Answerable(itself=True)

    @classmethod
    def register(
        cls,
        *,
        name: str,
        credit_code: str,
        district: str,
        kind: str,
        fields: list[str],
        envelope: Envelope,
    ) -> Agency:
        district = known_district(district).code
        authorize("registerAgency", envelope.actor, answerable(district))
        return cls(
            name=checks.text(name, "name"),
            credit_code=validate_credit_code(credit_code),
            district=district,
            kind=checks.member(kind, AgencyKind, "kind").value,
            fields=[f.value for f in checks.members(fields, ServiceField, "fields")],
            envelope=envelope.as_dict(),
        )

    @event("Registered")
    def __init__(
        self,
        *,
        name: str,
        credit_code: str,
        district: str,
        kind: str,
        fields: list[str],
        envelope: dict[str, Any],
    ) -> None:
        self.name = name
        self.credit_code = credit_code
        self.district = district
        self.kind = kind
        self.fields = fields
        self.status = AgencyStatus.ACTIVE.value
        self.effective_from = date.fromisoformat(envelope["effective_on"])
        self.incubation: dict[str, Any] | None = None
        self.demonstration: dict[str, Any] | None = None

    def _require_not_deregistered(self, command: str) -> None:
        if self.status == AgencyStatus.DEREGISTERED.value:
            raise InvalidState(f"agency {self.id} is deregistered: {command} is not possible")

    def _require_active(self, command: str) -> None:
        if self.status != AgencyStatus.ACTIVE.value:
            raise InvalidState(
                f"agency {self.id} is {self.status}: {command} needs an ACTIVE agency"
            )

    def update_profile(
        self,
        *,
        name: str | None,
        kind: str | None,
        fields: list[str] | None,
        envelope: Envelope,
    ) -> None:
        stamp = self.stamp("updateAgencyProfile", envelope)
        self._require_not_deregistered("updateAgencyProfile")
        changes: dict[str, Any] = {}
        restating = bool(envelope.retracts)  # a correction may restate what it corrects
        if name is not None and (restating or checks.text(name, "name") != self.name):
            changes["name"] = name.strip()
        if kind is not None and (
            restating or checks.member(kind, AgencyKind, "kind").value != self.kind
        ):
            changes["kind"] = kind
        if fields is not None:
            chosen = [f.value for f in checks.members(fields, ServiceField, "fields")]
            if restating or chosen != self.fields:
                changes["fields"] = chosen
        if not changes:
            raise InvalidInput(
                "updateAgencyProfile changes nothing: give a new name, kind or fields"
            )
        self._profile_updated(changes=changes, envelope=stamp)

    @event("ProfileUpdated")
    def _profile_updated(self, changes: dict[str, Any], envelope: dict[str, Any]) -> None:
        for attribute, value in changes.items():
            setattr(self, attribute, value)

    def incubate(self, *, incubator: str, start: date, end: date, envelope: Envelope) -> None:
        stamp = self.stamp("incubateAgency", envelope)
        self._require_active("incubateAgency")
        checks.period(start, end, "from", "to")
        self._incubated(
            incubator=checks.text(incubator, "incubator"), start=start, end=end, envelope=stamp
        )

    @event("Incubated")
    def _incubated(self, incubator: str, start: date, end: date, envelope: dict[str, Any]) -> None:
        self.incubation = {"incubator": incubator, "start": start, "end": end}

    def designate_demonstration(self, *, programme: str, year: int, envelope: Envelope) -> None:
        stamp = self.stamp("designateDemonstrationAgency", envelope)
        self._require_active("designateDemonstrationAgency")
        self._demonstration_designated(
            programme=checks.text(programme, "programme"),
            year=checks.designation_year(year, envelope.effective_on),
            envelope=stamp,
        )

    @event("DemonstrationDesignated")
    def _demonstration_designated(
        self, programme: str, year: int, envelope: dict[str, Any]
    ) -> None:
        self.demonstration = {"programme": programme, "year": year}

    def suspend(self, *, envelope: Envelope) -> None:
        stamp = self.stamp("suspendAgency", envelope)
        require_reason(envelope, "suspendAgency")
        self._require_active("suspendAgency")
        self._suspended(envelope=stamp)

    @event("Suspended")
    def _suspended(self, envelope: dict[str, Any]) -> None:
        self.status = AgencyStatus.SUSPENDED.value

    def reinstate(self, *, envelope: Envelope) -> None:
        stamp = self.stamp("reinstateAgency", envelope)
        require_reason(envelope, "reinstateAgency")
        if self.status != AgencyStatus.SUSPENDED.value:
            raise InvalidState(
                f"agency {self.id} is {self.status}: only a SUSPENDED agency can be reinstated"
            )
        self._reinstated(envelope=stamp)

    @event("Reinstated")
    def _reinstated(self, envelope: dict[str, Any]) -> None:
        self.status = AgencyStatus.ACTIVE.value

    def deregister(self, *, envelope: Envelope) -> None:
        stamp = self.stamp("deregisterAgency", envelope)
        require_reason(envelope, "deregisterAgency")
        self._require_not_deregistered("deregisterAgency")
        self._deregistered(envelope=stamp)

    @event("Deregistered")
    def _deregistered(self, envelope: dict[str, Any]) -> None:
        self.status = AgencyStatus.DEREGISTERED.value
