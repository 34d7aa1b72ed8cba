"""What every record of the registry shares: its stamp, its lifecycle guard, its rule check."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar

from eventsourcing.domain import Aggregate

from hub.domain.envelope import Envelope
from hub.domain.errors import Forbidden, InvalidInput
from hub.domain.rules import Answerable, Target, answerable, authorize
from hub.domain.vocabulary import EntityType


class Record(Aggregate):
    """An aggregate whose every event carries an envelope (see `Envelope`)."""

    entity_type: ClassVar[EntityType]
    answers_to: ClassVar[Answerable] = Answerable()
    """Which agency answers for records of this type (see `Answerable`)."""

    class Retracted(Aggregate.Event):
        """Earlier events of this record no longer count (a correction, see `docs/domain.md`,
        "Time"); the positions are in the envelope's `retracts`. The registry loads a record
        without them."""

        envelope: dict[str, Any]

        def apply(self, aggregate: Aggregate) -> None:
            pass

    if TYPE_CHECKING:
        effective_from: date  # set by each record's creation event
        district: str | None

    @property
    def answerable_agency(self) -> str | None:
        """The id of the agency answerable for this record now, if one is (see `answers_to`)."""
        answers = self.answers_to
        if answers.itself:
            return str(self.id)
        name = answers.attribute or answers.fact
        return getattr(self, name) if name else None

    @property
    def target(self) -> Target:
        """Where this record's commands land: its district and the agency answerable for it."""
        return answerable(self.district, self.answerable_agency)

    def stamp(
        self, command: str, envelope: Envelope, target: Target | None = None
    ) -> dict[str, Any]:
        """Check the actor may issue `command` here (on `target`, by default the record's own),
        and the date is not before the record."""
        authorize(command, envelope.actor, target or self.target)
        return self.stamp_date(envelope)

    def authority(self, refer: Callable[[str], Record]) -> Target:
        """The target the rules check this record's commands against, for retracting them;
        `refer(id)` gives another record it depends on."""
        return self.target

    def retract(
        self,
        *,
        positions: Sequence[int],
        commands: Iterable[str],
        envelope: Envelope,
        authority: Target | None = None,
    ) -> None:
        """Retract this record's events at `positions`, written by `commands`: the actor needs
        the authority to have issued each of them (on `authority`, by default the record's own
        target), and a reason."""
        require_reason(envelope, "retractEvents")
        stamp = self.stamp_retraction(commands, envelope, authority)
        stamp["retracts"] = sorted(positions)
        self.trigger_event(type(self).Retracted, envelope=stamp)

    def stamp_retraction(
        self, commands: Iterable[str], envelope: Envelope, authority: Target | None = None
    ) -> dict[str, Any]:
        """The stamp of an event that retracts what `commands` wrote here (a correction)."""
        require_reason(envelope, "a correction")
        for command in sorted(set(commands)):
            try:
                authorize(command, envelope.actor, authority or self.target)
            except Forbidden as refusal:
                raise Forbidden(
                    f"retracting needs the authority to have issued {command}: {refusal.message}",
                    refusal.field,
                ) from None
        return self.stamp_date(envelope)

    def stamp_date(self, envelope: Envelope) -> dict[str, Any]:
        if envelope.effective_on < self.effective_from:
            raise InvalidInput(
                f"effectiveOn {envelope.effective_on.isoformat()} is before the record was "
                f"created ({self.effective_from.isoformat()})",
                "effectiveOn",
            )
        return envelope.as_dict()


def require_reason(envelope: Envelope, what: str) -> None:
    """Refuse `what` (a command, or a correction) without a reason: the one check of it,
    for the commands that need one, retractions and `corrects`."""
    if not (envelope.reason and envelope.reason.strip()):
        raise InvalidInput(f"{what} requires a reason", "reason")
