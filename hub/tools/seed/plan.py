"""The plan's parts: the steps (commands by a party on a day), the records planned so far, and
`City`, what every phase reads and adds to, with its random generator and its ways of picking
districts, agencies and workers."""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from hub.commands import Command
from hub.domain.envelope import Actor, Role
from hub.domain.reference import DISTRICTS
from hub.tools.seed.profile import POPULATION, SUB, city_2018_figures


def pairs(text: str) -> list[str]:
    """Two-character words, written one after another."""
    return [text[i : i + 2] for i in range(0, len(text), 2)]


def apportion(total: int, weights: Sequence[float]) -> list[int]:
    """`total` split in proportion to `weights`, whole numbers that add up to it exactly."""
    whole = sum(weights)
    quotas = [total * w / whole for w in weights]
    parts = [int(q) for q in quotas]
    by_remainder = sorted(range(len(weights)), key=lambda i: parts[i] - quotas[i])
    for i in by_remainder[: total - sum(parts)]:
        parts[i] += 1
    return parts


def growing(rng: random.Random, n: int, start: date, end: date, yearly: float) -> list[date]:
    """`n` sorted dates from `start` to `end` whose density grows by `yearly` a year."""
    span = (end - start).days
    k = math.log(yearly) * span / 365.25
    days = [int(math.log1p(rng.random() * math.expm1(k)) / k * (span + 1)) for _ in range(n)]
    return sorted(start + timedelta(days=min(span, d)) for d in days)


def between(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=rng.randint(0, max(0, (end - start).days)))


def later(day: date, days: int) -> date:
    return day + timedelta(days=days)


@dataclass(frozen=True)
class Ref:
    """A record the plan made earlier, by kind and number; its id once it exists."""

    kind: str
    n: int


@dataclass(frozen=True)
class Step:
    """One command of the plan."""

    run: Command
    actor: Actor | Ref  # a Ref to an agency: that agency acting as CONTRACTOR
    on: date
    record: Ref | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    key: str | None = None
    makes: Ref | None = None


@dataclass
class AgencyPlan:
    n: int
    district: str
    registered: date
    fields: list[str]
    demonstration: bool = False
    suspended: date | None = None


@dataclass
class CommunityPlan:
    code: str
    name: str
    district: str
    urban: bool
    station: int | None = None


@dataclass
class StationPlan:
    n: int
    community: CommunityPlan
    established: date
    operator: int | None = None
    contracted: date | None = None
    staff: list[int] = field(default_factory=list)


@dataclass
class WorkerPlan:
    n: int
    district: str
    registered: date
    employer: int | None
    holder: bool = False
    post: bool = False
    staff: bool = False


class Pool:
    """Workers in registration order, drawn at random once registered by a given day."""

    def __init__(self, members: list[WorkerPlan]) -> None:
        self.members = sorted(members, key=lambda w: (w.registered, w.n))
        self.dates = [w.registered for w in self.members]
        self.open: list[WorkerPlan] = []
        self.next = 0

    def until(self, day: date) -> None:
        end = bisect.bisect_right(self.dates, day)
        self.open.extend(self.members[self.next : end])
        self.next = max(self.next, end)

    def draw(
        self, rng: random.Random, day: date, free: Callable[[WorkerPlan], bool]
    ) -> WorkerPlan | None:
        """A random worker registered by `day` for whom `free` holds; taken out of the pool."""
        self.until(day)
        while self.open:
            i = rng.randrange(len(self.open))
            worker = self.open[i]
            self.open[i] = self.open[-1]
            self.open.pop()
            if free(worker):
                return worker
        return None

    def registered_by(self, day: date) -> int:
        return bisect.bisect_right(self.dates, day)


class City:
    """The plan as it grows: the figures at `scale`, the generator seeded by them, the parties that
    act, and the records each phase planned (the phases run in order and read earlier ones')."""

    def __init__(self, scale: float) -> None:
        self.scale = scale
        self.figures = city_2018_figures(scale)
        self.rng = random.Random(f"city-2018 at scale {scale}")
        self.municipal = Actor(SUB, Role.MUNICIPAL)
        self.bureaus = {
            code: Actor(f"seed-district-{code}", Role.DISTRICT, district=code) for code in DISTRICTS
        }
        self.districts = list(DISTRICTS)
        self.weights = [POPULATION[d] for d in self.districts]
        self.communities: list[CommunityPlan] = []
        self.agencies: list[AgencyPlan] = []
        self.by_district: dict[str, list[AgencyPlan]] = {}
        self.stations: list[StationPlan] = []
        self.workers: list[WorkerPlan] = []
        self.pools: dict[str, Pool] = {}
        self.courses = 0
        self._everyone: Pool | None = None

    def n(self, value: float) -> int:
        return round(value * self.scale)

    def district(self, weights: Sequence[float] | None = None) -> str:
        return self.rng.choices(self.districts, weights or self.weights)[0]

    def agency(
        self, on: date, district: str | None = None, elsewhere: float = 0.2
    ) -> AgencyPlan | None:
        """A random agency registered a month before `on`, preferably in `district`, that is
        not suspended in 2018 if `on` is in 2018."""

        def usable(group: list[AgencyPlan]) -> list[AgencyPlan]:
            cut = on - timedelta(days=30)
            found = group[: bisect.bisect_right([a.registered for a in group], cut)]
            if on.year >= 2018:
                found = [a for a in found if a.suspended is None]
            return found

        if district is not None and self.rng.random() >= elsewhere:
            local = usable(self.by_district[district])
            if local:
                return self.rng.choice(local)
        anywhere = usable(self.agencies)
        return self.rng.choice(anywhere) if anywhere else None

    def refill_pools(self) -> None:
        """Every worker back in their district's pool, for a phase that draws afresh."""
        self.pools = {d: Pool([w for w in self.workers if w.district == d]) for d in self.districts}

    def everyone(self) -> Pool:
        """All workers in registration order (not drawn from: for their order and dates)."""
        if self._everyone is None:
            self._everyone = Pool(self.workers)
        return self._everyone
