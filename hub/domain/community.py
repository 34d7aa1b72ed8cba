"""Community: an urban community (社区) or rural village (村), the reference a station sits in.

Its id follows from its code, so a station (or an import run again) finds it by code alone,
without a lookup table.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from hub.domain import checks
from hub.domain.envelope import Envelope
from hub.domain.errors import InvalidInput
from hub.domain.record import Record
from hub.domain.reference import DISTRICTS
from hub.domain.reference import district as known_district
from hub.domain.rules import answerable, authorize
from hub.domain.vocabulary import EntityType

COMMAND = "importReference"
NAME_MAX = 100


def community_id(code: str) -> UUID:
    """The id of the community with this code, whether or not it is listed yet."""
    return uuid5(NAMESPACE_URL, f"hub:community:{code}")


def valid_code(code: str, district: str | None = None) -> str:
    """A 12-digit statistical division code (统计用区划代码): district, township, community.

    With `district`, the code must also lie in it: its first 6 digits are the district's code.
    """
    code = code.strip()
    if len(code) != 12 or not code.isascii() or not code.isdigit():
        raise InvalidInput(
            f"code {code!r} is not a 12-digit statistical division code (统计用区划代码), "
            f"such as 500103001001",
            "code",
        )
    prefix = code[:6]
    if prefix not in DISTRICTS:
        raise InvalidInput(
            f"code {code} starts with {prefix}, which is not one of the city's 38 district codes",
            "code",
        )
    if code[6:9] == "000" or code[9:] == "000":
        raise InvalidInput(
            f"code {code} does not name a community: digits 7-9 (township) and 10-12 "
            f"(community or village) must not be 000",
            "code",
        )
    if district is not None and prefix != district:
        raise InvalidInput(
            f"code {code} lies in district {prefix} ({DISTRICTS[prefix].name}), not in "
            f"district {district}: a community code starts with its district's code",
            "code",
        )
    return code


def valid_name(name: str) -> str:
    return checks.text(name, "name", max_length=NAME_MAX)


def valid_urban(urban: object) -> bool:
    if not isinstance(urban, bool):
        raise InvalidInput(f"urban must be true (社区) or false (村), got {urban!r}", "urban")
    return urban


class Community(Record):
    entity_type = EntityType.COMMUNITY

    @staticmethod
    def create_id(code: str, **_: Any) -> UUID:
        return community_id(code)

    @classmethod
    def list_new(
        cls, *, code: str, name: str, district: str, urban: bool, envelope: Envelope
    ) -> Community:
        """A community entered in the reference list for the first time."""
        district = known_district(district).code
        authorize(COMMAND, envelope.actor, answerable(district))
        return cls(
            code=valid_code(code, district),
            name=valid_name(name),
            district=district,
            urban=valid_urban(urban),
            envelope=envelope.as_dict(),
        )

    @event("Listed")
    def __init__(
        self, *, code: str, name: str, district: str, urban: bool, envelope: dict[str, Any]
    ) -> None:
        self.code = code
        self.name = name
        self.district = district
        self.urban = urban
        self.effective_from = date.fromisoformat(envelope["effective_on"])

    def differences(self, *, name: str, urban: bool) -> dict[str, Any]:
        """What `amend` with these values would change; empty when they are what is listed."""
        changes: dict[str, Any] = {}
        if valid_name(name) != self.name:
            changes["name"] = valid_name(name)
        if valid_urban(urban) != self.urban:
            changes["urban"] = urban
        return changes

    def amend(self, *, name: str, urban: bool, envelope: Envelope) -> None:
        stamp = self.stamp(COMMAND, envelope)
        changes = self.differences(name=name, urban=urban)
        if not changes:
            raise InvalidInput(f"community {self.code} is listed with this name and urban flag")
        self._amended(changes=changes, envelope=stamp)

    @event("Amended")
    def _amended(self, changes: dict[str, Any], envelope: dict[str, Any]) -> None:
        for attribute, value in changes.items():
            setattr(self, attribute, value)
