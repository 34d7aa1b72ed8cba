"""What every record of the registry shares: its stamp, its lifecycle guard, its rule check."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar

from eventsourcing.domain import Aggregate

from hub.domain.envelope import Envelope
from hub.domain.errors import InvalidInput
from hub.domain.rules import Target, authorize
from hub.domain.vocabulary import EntityType


class Record(Aggregate):
    """An aggregate whose every event carries an envelope (see `Envelope`)."""

    entity_type: ClassVar[EntityType]
    if TYPE_CHECKING:
        effective_from: date  # set by each record's creation event

    @property
    def target(self) -> Target:
        raise NotImplementedError

    def stamp(
        self, command: str, envelope: Envelope, target: Target | None = None
    ) -> dict[str, Any]:
        """Check the actor may issue `command` here (on `target`, by default the record's own),
        and the date is not before the record."""
        authorize(command, envelope.actor, target or self.target)
        if envelope.effective_on < self.effective_from:
            raise InvalidInput(
                f"effectiveOn {envelope.effective_on.isoformat()} is before the record was "
                f"created ({self.effective_from.isoformat()})",
                "effectiveOn",
            )
        return envelope.as_dict()


def require_reason(envelope: Envelope, command: str) -> None:
    if not (envelope.reason and envelope.reason.strip()):
        raise InvalidInput(f"{command} requires a reason", "reason")
