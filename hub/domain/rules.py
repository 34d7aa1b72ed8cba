"""The accountability rules (DOMAIN.md, "Who may do what") as data, and the check that reads them.

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
    OWN_AGENCY = "on its own agency's records"


M, D, C = Role.MUNICIPAL, Role.DISTRICT, Role.CONTRACTOR

RULES: dict[str, dict[Role, Scope]] = {
    "registerAgency": {M: Scope.CITY, D: Scope.OWN_DISTRICT},
    "suspendAgency": {M: Scope.CITY, D: Scope.OWN_DISTRICT},
    "reinstateAgency": {M: Scope.CITY, D: Scope.OWN_DISTRICT},
    "deregisterAgency": {M: Scope.CITY, D: Scope.OWN_DISTRICT},
    # Incubation is not in the rule table; it is decided by whoever registers the agency.
    "incubateAgency": {M: Scope.CITY, D: Scope.OWN_DISTRICT},
    "updateAgencyProfile": {M: Scope.CITY, D: Scope.OWN_DISTRICT, C: Scope.OWN_AGENCY},
    "designateDemonstrationAgency": {M: Scope.CITY},
}


@dataclass(frozen=True)
class Target:
    """Where a command lands: the record's district and the agencies answerable for it."""

    district: str | None
    agencies: frozenset[str] = field(default_factory=frozenset)


def authorize(command: str, actor: Actor, target: Target) -> None:
    """Refuse the command unless the rule table lets this actor issue it on this target."""
    allowed = RULES[command]
    scope = allowed.get(actor.role)
    if scope is None:
        who = ", ".join(f"{role.value} ({s.value})" for role, s in allowed.items())
        raise Forbidden(f"{actor.role.value} may not {command}; allowed: {who}")
    if scope is Scope.OWN_DISTRICT and actor.district != target.district:
        raise Forbidden(
            f"DISTRICT {actor.district} may {command} only in its own district; "
            f"this record is in district {target.district}"
        )
    if scope is Scope.OWN_AGENCY and (actor.agency is None or actor.agency not in target.agencies):
        raise Forbidden(
            f"CONTRACTOR for agency {actor.agency} may {command} only on its own agency's records"
        )
