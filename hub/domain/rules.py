"""The accountability rules (`docs/domain.md`, "Who may do what") as data, and the checks that
read them: who may issue each command, and what each role may see.

Each command maps each accountable party to the scope it may act in; a party that is absent may
not issue the command, and the read-only roles (AUDITOR, PARTNER) never write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from hub.domain.envelope import Actor, Role
from hub.domain.errors import Forbidden


class Scope(StrEnum):
    CITY = "anywhere in the city"
    OWN_DISTRICT = "in its own district"
    OWN_AGENCY = "on records its agency is answerable for"
    MUNICIPAL_LEVEL = "on municipal-level courses"
    DISTRICT_LEVEL_OWN_DISTRICT = "on district- and township-level courses in its own district"
    FUNDED_BY_CITY = "on projects the municipal bureau funds"
    FUNDED_BY_OWN_DISTRICT = "on projects it funds in its own district"


M, D, C = Role.MUNICIPAL, Role.DISTRICT, Role.CONTRACTOR
_ADMIN = {M: Scope.CITY, D: Scope.OWN_DISTRICT}
_ADMIN_OR_AGENCY = {M: Scope.CITY, D: Scope.OWN_DISTRICT, C: Scope.OWN_AGENCY}
_MUNICIPAL_ONLY = {M: Scope.CITY}
_COURSE = {
    M: Scope.MUNICIPAL_LEVEL,
    D: Scope.DISTRICT_LEVEL_OWN_DISTRICT,
    C: Scope.OWN_AGENCY,
}
_FUNDER = {M: Scope.FUNDED_BY_CITY, D: Scope.FUNDED_BY_OWN_DISTRICT}

RULES: dict[str, dict[Role, Scope]] = {
    # agencies
    "registerAgency": _ADMIN,
    "suspendAgency": _ADMIN,
    "reinstateAgency": _ADMIN,
    "deregisterAgency": _ADMIN,
    # Incubation is decided by whoever registers the agency.
    "incubateAgency": _ADMIN,
    "updateAgencyProfile": _ADMIN_OR_AGENCY,
    "designateDemonstrationAgency": _MUNICIPAL_ONLY,
    # reference data (communities): kept by the municipal bureau
    "importReference": _MUNICIPAL_ONLY,
    # stations: "own agency" is the operator under contract
    "establishStation": _ADMIN,
    "assessStation": _ADMIN,
    "closeStation": _ADMIN,
    "contractStationOperator": _ADMIN,
    "designateDemonstrationStation": _MUNICIPAL_ONLY,
    "assignStationStaff": _ADMIN_OR_AGENCY,
    "releaseStationStaff": _ADMIN_OR_AGENCY,
    # posts: "own agency" is the operator of the post's station
    "createPost": _ADMIN,
    "abolishPost": _ADMIN,
    "fillPost": _ADMIN_OR_AGENCY,
    "vacatePost": _ADMIN_OR_AGENCY,
    # workers: "own agency" is the employer
    "registerWorker": _ADMIN_OR_AGENCY,
    "updateWorker": _ADMIN_OR_AGENCY,
    "awardCertificate": _MUNICIPAL_ONLY,
    "revokeCertificate": _MUNICIPAL_ONLY,
    "eraseWorkerPersonalData": _MUNICIPAL_ONLY,
    # training: "own agency" is the agency delivering the course
    "scheduleCourse": _COURSE,
    "completeCourse": _COURSE,
    "cancelCourse": _COURSE,
    "recordAttendance": _COURSE,
    # service projects
    "approveProject": _FUNDER,
    "disburseFunds": _FUNDER,
    "reportProjectProgress": {C: Scope.OWN_AGENCY},
    "commissionEvaluation": {D: Scope.OWN_DISTRICT},
    "concludeEvaluation": {D: Scope.OWN_DISTRICT},
    "closeProject": {D: Scope.OWN_DISTRICT},
}

MUNICIPAL_FUNDER = "MUNICIPAL"


@dataclass(frozen=True)
class Target:
    """Where a command lands: the record's district, the agencies answerable for it, and for
    courses the organiser level, for projects the funder ("MUNICIPAL" or a district code)."""

    district: str | None
    agencies: frozenset[str] = field(default_factory=frozenset)
    level: str | None = None
    funder: str | None = None


def answerable(district: str | None, agency: str | None = None, **more: str | None) -> Target:
    """The target of a record in `district` that `agency` (an id, if any) answers for."""
    return Target(district, frozenset({agency}) if agency else frozenset(), **more)


@dataclass(frozen=True)
class Answerable:
    """Which agency answers for a record of one type (the rules' "own agency", and the
    records whose events a CONTRACTOR sees): the one its events name in `fact` (held in its
    attribute `attribute`, by default the same name), the record itself (an agency), or the
    agency answerable for the record its creation names in `through` (a post: its station's
    operator), or none."""

    fact: str | None = None
    attribute: str | None = None
    itself: bool = False
    through: str | None = None


def _within(scope: Scope, actor: Actor, target: Target) -> bool:
    if scope is Scope.CITY:
        return True
    if scope is Scope.OWN_DISTRICT:
        return actor.district == target.district
    if scope is Scope.OWN_AGENCY:
        return actor.agency is not None and actor.agency in target.agencies
    if scope is Scope.MUNICIPAL_LEVEL:
        return target.level == "MUNICIPAL"
    if scope is Scope.DISTRICT_LEVEL_OWN_DISTRICT:
        return target.level in ("DISTRICT", "TOWNSHIP") and actor.district == target.district
    if scope is Scope.FUNDED_BY_CITY:
        return target.funder == MUNICIPAL_FUNDER
    if scope is Scope.FUNDED_BY_OWN_DISTRICT:
        return target.funder == actor.district and target.district == actor.district
    raise AssertionError(scope)


def authorize(command: str, actor: Actor, target: Target) -> None:
    """Refuse the command unless the rule table lets this actor issue it on this target."""
    allowed = RULES[command]
    scope = allowed.get(actor.role)
    if scope is None:
        who = ", ".join(f"{role.value} ({s.value})" for role, s in allowed.items())
        raise Forbidden(f"{actor.role.value} may not {command}; allowed: {who}")
    if not _within(scope, actor, target):
        where = f"; this record is in district {target.district}" if target.district else ""
        raise Forbidden(
            f"{actor.role.value} {actor.jurisdiction} may {command} only {scope.value}{where}"
        )


@dataclass(frozen=True)
class Visibility:
    """The records whose events a caller may see: those in `district` and those `agency` is
    answerable for (None: any)."""

    district: str | None = None
    agency: str | None = None

    def admits(self, district: str | None, agency: object | None) -> bool:
        """Whether a record in `district`, answerable to `agency` (an id), is visible."""
        return (self.district is None or district == self.district) and (
            self.agency is None or (agency is not None and str(agency) == self.agency)
        )


def visibility(actor: Actor, district: str | None = None) -> Visibility:
    """What `actor` may see of the records' events, narrowed to `district` if it asks: a
    DISTRICT its own district's records (asking for another's is refused), a CONTRACTOR the
    records its agency is answerable for, the other roles every record."""
    if actor.role is Role.DISTRICT:
        if district is not None and district != actor.district:
            raise Forbidden(
                f"DISTRICT {actor.district} may follow only its own district's records",
                "district",
            )
        district = actor.district
    agency = actor.agency if actor.role is Role.CONTRACTOR else None
    return Visibility(district, agency)


def may_see_personal_data(actor: Actor, district: str | None, employer: str | None) -> bool:
    """MUNICIPAL and AUDITOR see it; DISTRICT in its district; CONTRACTOR for its employees."""
    if actor.role in (Role.MUNICIPAL, Role.AUDITOR):
        return True
    if actor.role is Role.DISTRICT:
        return district is not None and actor.district == district
    if actor.role is Role.CONTRACTOR:
        return employer is not None and actor.agency == employer
    return False
