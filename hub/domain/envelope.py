"""Who made a change, in which capacity, why, and when it took effect."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    MUNICIPAL = "MUNICIPAL"
    DISTRICT = "DISTRICT"
    CONTRACTOR = "CONTRACTOR"
    AUDITOR = "AUDITOR"
    PARTNER = "PARTNER"


ACCOUNTABLE_PARTIES = (Role.MUNICIPAL, Role.DISTRICT, Role.CONTRACTOR)
CITY = "CITY"


@dataclass(frozen=True)
class Actor:
    """The principal behind a request: a person or system acting for one party."""

    sub: str
    role: Role
    district: str | None = None
    agency: str | None = None

    @property
    def party(self) -> str | None:
        """The accountable party (三方), or None for the read-only roles."""
        return self.role.value if self.role in ACCOUNTABLE_PARTIES else None

    @property
    def jurisdiction(self) -> str:
        if self.role is Role.DISTRICT:
            return self.district or ""
        if self.role is Role.CONTRACTOR:
            return self.agency or ""
        return CITY

    def as_dict(self) -> dict[str, Any]:
        return {
            "sub": self.sub,
            "party": self.party,
            "role": self.role.value,
            "jurisdiction": self.jurisdiction,
        }


@dataclass(frozen=True)
class Envelope:
    """The stamp every stored event carries besides its own facts."""

    actor: Actor
    effective_on: date
    correlation_id: str
    reason: str | None = None
    idempotency_key: str | None = None
    retracts: tuple[int, ...] = field(default_factory=tuple)
    request_id: str | None = None
    """The caller's request id (`X-Request-ID`), for finding a request's events from its log
    line; informational only: events are paired by `correlation_id`, which the hub makes."""

    def as_dict(self) -> dict[str, Any]:
        # Shallow (the values are immutable): `asdict` deep-copies each one, which costs a
        # fifth of a command's time in batch mode.
        stamp = {f.name: getattr(self, f.name) for f in fields(self)}
        stamp["actor"] = self.actor.as_dict()
        stamp["effective_on"] = self.effective_on.isoformat()
        stamp["retracts"] = list(self.retracts)
        return stamp
