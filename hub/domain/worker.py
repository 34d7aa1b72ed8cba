"""Worker: a social-work professional (社会工作专业人才) and the certificates awarded to them.

Name and ID number are personal data: the aggregate only ever holds them sealed (encrypted
with the worker's own key, see `Seal`), so erasing the key erases them from every event.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from hub.domain import checks
from hub.domain.envelope import Envelope
from hub.domain.errors import InvalidInput, InvalidState
from hub.domain.identifiers import validate_id_number
from hub.domain.record import Record, require_reason
from hub.domain.reference import district as known_district
from hub.domain.rules import Answerable, answerable, authorize
from hub.domain.vocabulary import CertificateLevel, Education, EntityType, WorkerStatus

Seal = Callable[[str], str]
"""Encrypts one personal-data value with this worker's key."""

PERSONAL_FIELDS = ("name", "id_number")
"""The worker's personal data, as the record names it: sealed in every event, unsealed only
for callers who may see it (`hub.domain.rules.may_see_personal_data`), erased with its key.
The API names them in camelCase (`hub.domain.checks.camel_case`)."""


class Worker(Record):
    entity_type = EntityType.WORKER
    answers_to = Answerable(fact="employer")

    @classmethod
    def register(
        cls,
        *,
        id: UUID,
        name: str,
        id_number: str,
        district: str,
        education: str,
        employer: str | None,
        envelope: Envelope,
        seal: Seal,
    ) -> Worker:
        district = known_district(district).code
        authorize("registerWorker", envelope.actor, answerable(district, employer))
        return cls(
            id=id,
            name=seal(checks.text(name, "name", max_length=100)),
            id_number=seal(validate_id_number(id_number, envelope.effective_on)),
            district=district,
            education=checks.member(education, Education, "education").value,
            employer=employer,
            envelope=envelope.as_dict(),
        )

    @event("Registered")
    def __init__(
        self,
        *,
        id: UUID,
        name: str,
        id_number: str,
        district: str,
        education: str,
        employer: str | None,
        envelope: dict[str, Any],
    ) -> None:
        self.name = name
        self.id_number = id_number
        self.district = district
        self.education = education
        self.employer = employer
        self.status = WorkerStatus.ACTIVE.value
        self.effective_from = date.fromisoformat(envelope["effective_on"])
        self.certificates: dict[str, dict[str, Any]] = {}
        self.post: str | None = None
        self.erased = False

    def update(
        self,
        *,
        name: str | None,
        id_number: str | None,
        district: str | None,
        education: str | None,
        employer: str | None,
        envelope: Envelope,
        seal: Seal,
    ) -> None:
        stamp = self.stamp("updateWorker", envelope)
        changes: dict[str, Any] = {}
        if (name is not None or id_number is not None) and self.erased:
            raise InvalidState(
                f"worker {self.id}'s personal data was erased: it cannot be set again"
            )
        if name is not None:
            changes["name"] = seal(checks.text(name, "name", max_length=100))
        if id_number is not None:
            changes["id_number"] = seal(validate_id_number(id_number, envelope.effective_on))
        restating = bool(envelope.retracts)  # a correction may restate what it corrects
        if district is not None and (restating or known_district(district).code != self.district):
            changes["district"] = district
        if education is not None:
            level = checks.member(education, Education, "education").value
            if restating or level != self.education:
                changes["education"] = level
        if employer is not None and (restating or employer != self.employer):
            changes["employer"] = employer or None
        if not changes:
            raise InvalidInput("updateWorker changes nothing: give at least one new value")
        moved = answerable(
            changes.get("district", self.district), changes.get("employer", self.employer)
        )
        if moved != self.target:
            authorize("updateWorker", envelope.actor, moved)
        self._updated(changes=changes, envelope=stamp)

    @event("Updated")
    def _updated(self, changes: dict[str, Any], envelope: dict[str, Any]) -> None:
        for attribute, value in changes.items():
            setattr(self, attribute, value)

    def award_certificate(self, *, level: str, number: str, envelope: Envelope) -> None:
        stamp = self.stamp("awardCertificate", envelope)
        level = checks.member(level, CertificateLevel, "level").value
        number = checks.text(number, "number", max_length=40)
        held = [c for c in self.certificates.values() if c["level"] == level and not c["revoked"]]
        if held:
            raise InvalidState(
                f"worker {self.id} already holds the {level} certificate {held[0]['number']}"
            )
        self._certificate_awarded(level=level, number=number, envelope=stamp)

    @event("CertificateAwarded")
    def _certificate_awarded(self, level: str, number: str, envelope: dict[str, Any]) -> None:
        self.certificates[f"{level}:{number}"] = {
            "level": level,
            "number": number,
            "awarded_on": envelope["effective_on"],
            "revoked": False,
        }

    def revoke_certificate(self, *, number: str, envelope: Envelope) -> None:
        stamp = self.stamp("revokeCertificate", envelope)
        require_reason(envelope, "revokeCertificate")
        held = [c for c in self.certificates.values() if c["number"] == number.strip()]
        if not held:
            raise InvalidInput(f"worker {self.id} holds no certificate {number!r}", "number")
        if all(c["revoked"] for c in held):
            raise InvalidState(f"certificate {number} of worker {self.id} is already revoked")
        live = next(c for c in held if not c["revoked"])
        self._certificate_revoked(level=live["level"], number=live["number"], envelope=stamp)

    @event("CertificateRevoked")
    def _certificate_revoked(self, level: str, number: str, envelope: dict[str, Any]) -> None:
        self.certificates[f"{level}:{number}"]["revoked"] = True

    def erase_personal_data(self, *, envelope: Envelope) -> None:
        stamp = self.stamp("eraseWorkerPersonalData", envelope)
        require_reason(envelope, "eraseWorkerPersonalData")
        if self.erased:
            raise InvalidState(f"worker {self.id}'s personal data is already erased")
        self._personal_data_erased(envelope=stamp)

    @event("PersonalDataErased")
    def _personal_data_erased(self, envelope: dict[str, Any]) -> None:
        self.erased = True

    # A worker holds at most one post: these are recorded by fillPost and vacatePost, whose
    # rules were checked on the post.

    def take_post(self, *, post: str, envelope: Envelope) -> None:
        if self.post is not None:
            raise InvalidState(f"worker {self.id} already holds post {self.post}", "worker")
        self._post_taken(post=post, envelope=envelope.as_dict())

    @event("PostTaken")
    def _post_taken(self, post: str, envelope: dict[str, Any]) -> None:
        self.post = post

    def leave_post(self, *, post: str, envelope: Envelope) -> None:
        if self.post != post:
            raise InvalidState(f"worker {self.id} does not hold post {post}", "worker")
        self._post_left(post=post, envelope=envelope.as_dict())

    @event("PostLeft")
    def _post_left(self, post: str, envelope: dict[str, Any]) -> None:
        self.post = None
