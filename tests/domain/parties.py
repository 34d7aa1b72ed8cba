"""The parties and envelopes of the in-memory tests: plain values, no registry, no database."""

from __future__ import annotations

from datetime import date

from hub.domain.envelope import Actor, Envelope, Role
from hub.domain.identifiers import make_credit_code

HOME, AWAY = "500103", "500105"
DAY = date(2018, 3, 1)

MUNICIPAL = Actor("test-municipal", Role.MUNICIPAL)
DISTRICT = Actor("test-district", Role.DISTRICT, district=HOME)
OTHER_DISTRICT = Actor("test-other-district", Role.DISTRICT, district=AWAY)
AUDITOR = Actor("test-auditor", Role.AUDITOR)
PARTNER = Actor("test-partner", Role.PARTNER)


def contractor(agency: object) -> Actor:
    """The contracted agency `agency` (an id or a record with one) acting for itself."""
    return Actor("test-agency", Role.CONTRACTOR, agency=str(getattr(agency, "id", agency)))


def by(actor: Actor, on: date = DAY, reason: str | None = None) -> Envelope:
    return Envelope(actor=actor, effective_on=on, correlation_id="test", reason=reason)


def credit_code(n: int = 1, district: str = HOME) -> str:
    return make_credit_code("52", district, f"U{n:08d}")
