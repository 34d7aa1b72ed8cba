"""Running the plan: each step sent as its command through the registry, by the party it names,
with the ids of records made earlier; counted into the seed's report."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

from hub.commands import Command, request_for
from hub.domain.envelope import Actor, Role
from hub.registry.application import Registry
from hub.service.progress import Say, meter
from hub.tools.seed.plan import City, Ref, Step
from hub.tools.seed.profile import LAST_DAY

Progress = Say


@dataclass
class Report:
    """What a seed wrote, phase by phase (name, commands, seconds), and how long it took."""

    events: int = 0
    """Events saved (records' and claims')."""
    commands: int = 0
    seconds: float = 0.0
    position: int = 0
    already_seeded: str | None = None
    """When the city was seeded before: what the marker says (nothing was written)."""
    phases: list[tuple[str, int, float]] = field(default_factory=list)


class Seeder:
    """Sends the plan's steps to `registry` as of `today` and remembers the ids they made."""

    def __init__(
        self, registry: Registry, city: City, *, today: date, progress: Progress | None = None
    ) -> None:
        self.registry = registry
        self.city = city
        self.today = today
        self.say = progress
        self.ids: dict[Ref, UUID] = {}
        self.contractors: dict[int, Actor] = {}
        self.report = Report()

    def run_phase(self, name: str, steps: list[Step]) -> None:
        with meter(name, len(steps), unit="commands", say=self.say) as counting:
            for step in steps:
                self.send(step)
                counting.advance()
        self.report.phases.append((name, len(steps), counting.finish()))

    def send(self, step: Step) -> UUID:
        actor = step.actor if isinstance(step.actor, Actor) else self.contractor(step.actor.n)
        inputs = {k: self.resolve(v) for k, v in step.inputs.items()}
        request = request_for(
            step.run,
            actor,
            today=self.today,
            on=step.on,
            record=self.ids[step.record] if step.record else None,
            reason=step.reason,
            key=step.key,
            **inputs,
        )
        outcome = step.run(self.registry, request)
        if step.makes is not None:
            self.ids[step.makes] = outcome.record_id
        self.report.commands += 1
        return outcome.record_id

    def resolve(self, value: Any) -> Any:
        return str(self.ids[value]) if isinstance(value, Ref) else value

    def contractor(self, agency: int) -> Actor:
        if agency not in self.contractors:
            self.contractors[agency] = Actor(
                f"seed-agency-{agency}",
                Role.CONTRACTOR,
                agency=str(self.ids[Ref("agency", agency)]),
            )
        return self.contractors[agency]

    def as_municipal(
        self,
        run: Command,
        record: Ref | None,
        *,
        corrects: tuple[int, ...] = (),
        reason: str | None = None,
        **inputs: Any,
    ) -> int:
        """Run one command as the municipal bureau, effective on the history's last day, and
        give the position of its event."""
        request = request_for(
            run,
            self.city.municipal,
            today=self.today,
            on=LAST_DAY,
            record=self.ids[record] if record else None,
            reason=reason,
            **inputs,
        )
        outcome = run(self.registry, dataclasses.replace(request, corrects=corrects))
        self.report.commands += 1
        return outcome.position
