"""`indicators(asOf, district)`: the figures the bureau reports, at any moment;
`indicatorSeries`, the same at the end of each month, quarter or year; `targets`, the plan's."""

from __future__ import annotations

import calendar
from datetime import date, datetime
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Annotated, Any, TypeVar

import strawberry

from hub.domain.errors import InvalidInput
from hub.domain.reference import district as known_district
from hub.domain.targets import TARGETS
from hub.domain.vocabulary import CertificateLevel as DomainCertificateLevel
from hub.domain.vocabulary import CourseCategory as DomainCourseCategory
from hub.domain.vocabulary import PostSector as DomainPostSector
from hub.domain.vocabulary import ServiceField as DomainServiceField
from hub.projections.indicators import indicator_series, indicators
from hub.projections.timeline import EVERYTHING
from hub.schema.agency import ServiceField
from hub.schema.common import AsOf, moment_of
from hub.schema.context import Info
from hub.schema.course import CourseCategory
from hub.schema.post import PostSector
from hub.schema.worker import CertificateLevel

E = TypeVar("E", bound=StrEnum)
MAX_POINTS = 600
"""Points one `indicatorSeries` may ask for (50 years by month)."""


@strawberry.type
class LevelCount:
    level: CertificateLevel
    count: int


@strawberry.type
class SectorCount:
    sector: PostSector
    count: int


@strawberry.type
class FieldCount:
    field: ServiceField
    count: int


@strawberry.type
class CategoryCount:
    category: CourseCategory
    count: int


@strawberry.type(
    description="The bureau's indicators at one moment. Agencies: not deregistered; stations: "
    "open; posts: not abolished; certificates: not revoked; training person-times: attendances "
    "at courses not cancelled (for a district, of its workers); projects: every approved one, "
    "whatever its funder. Breakdowns list every value of their vocabulary, zeros included."
)
class Indicators:
    workers: int
    certified_workers: int
    agencies: int
    demonstration_agencies: int
    stations: int
    demonstration_stations: int
    stations_fully_staffed: int = strawberry.field(
        description="Open stations with 2 or more full-time staff (每站2名专职社工)."
    )
    posts: int
    filled_posts: int
    training_person_times: int
    projects: int
    urban_communities: int
    urban_communities_on_target: int = strawberry.field(
        description="Urban communities with 2 or more social workers (the 2020 target)."
    )
    rural_communities: int
    rural_communities_on_target: int = strawberry.field(
        description="Rural communities with 1 or more social workers (the 2020 target)."
    )
    funds_disbursed: Decimal = strawberry.field(description="In yuan, exact.")
    certificates_by_level: list[LevelCount]
    posts_by_sector: list[SectorCount]
    projects_by_field: list[FieldCount]
    training_by_category: list[CategoryCount]

    @classmethod
    def of(cls, found: dict[str, Any]) -> Indicators:
        return cls(
            workers=found["workers"],
            certified_workers=found["certified_workers"],
            agencies=found["agencies"],
            demonstration_agencies=found["demonstration_agencies"],
            stations=found["stations"],
            demonstration_stations=found["demonstration_stations"],
            stations_fully_staffed=found["stations_fully_staffed"],
            posts=found["posts"],
            filled_posts=found["filled_posts"],
            training_person_times=found["training_person_times"],
            projects=found["projects"],
            urban_communities=found["urban_communities"],
            urban_communities_on_target=found["urban_communities_on_target"],
            rural_communities=found["rural_communities"],
            rural_communities_on_target=found["rural_communities_on_target"],
            funds_disbursed=found["funds_disbursed"],
            certificates_by_level=[
                LevelCount(level=v, count=n)
                for v, n in _counts(DomainCertificateLevel, found["certificates_by_level"])
            ],
            posts_by_sector=[
                SectorCount(sector=v, count=n)
                for v, n in _counts(DomainPostSector, found["posts_by_sector"])
            ],
            projects_by_field=[
                FieldCount(field=v, count=n)
                for v, n in _counts(DomainServiceField, found["projects_by_field"])
            ],
            training_by_category=[
                CategoryCount(category=v, count=n)
                for v, n in _counts(DomainCourseCategory, found["training_by_category"])
            ],
        )


@strawberry.type(description="The indicators on one day of a series.")
class IndicatorPoint:
    on: date
    indicators: Indicators


@strawberry.enum(description="The periods a series has a point at the end of.")
class Period(Enum):
    MONTH = "MONTH"
    QUARTER = "QUARTER"
    YEAR = "YEAR"


@strawberry.type(
    description="One of the plan's targets: the figure `indicator` (a field of Indicators) "
    "should reach by `due`. A target every community of a kind should meet has the value 100: "
    "the percentage of those communities (urbanCommunities, ruralCommunities) its indicator "
    "should count."
)
class Target:
    indicator: str = strawberry.field(description="A field of Indicators, as named here.")
    value: int
    due: date
    source: str = strawberry.field(description="The target in the plan's words (Chinese).")


def period_ends(start: date, end: date, every: Period) -> list[date]:
    """The last day of each period from the one holding `start`, the last point `end` itself;
    refused when `start` is after `end` or the points would be more than `MAX_POINTS`."""
    if start > end:
        raise InvalidInput(f"from {start} is after to {end}", "from")
    months = {Period.MONTH: 1, Period.QUARTER: 3, Period.YEAR: 12}[every]
    # the month that ends the period holding `start`
    month = start.year * 12 + start.month - 1
    month += months - 1 - (month % 12) % months
    last = end.year * 12 + end.month - 1
    count = max(0, (last - month + months - 1) // months) + 1
    if count > MAX_POINTS:
        raise InvalidInput(
            f"from {start} to {end} by {every.value} makes {count} points; at most "
            f"{MAX_POINTS}: ask for a shorter span or a longer period",
            "to",
        )
    days = []
    while month < last:
        year, index = divmod(month, 12)
        days.append(date(year, index + 1, calendar.monthrange(year, index + 1)[1]))
        month += months
    if not days or days[-1] != end:
        days.append(end)
    return [d for d in days if d <= end]


@strawberry.type
class IndicatorQueries:
    @strawberry.field(
        description="The bureau's indicators as of a moment (absent: now), city-wide or for "
        "one district."
    )
    async def indicators(
        self, info: Info, as_of: AsOf | None = None, district: str | None = None
    ) -> Indicators:
        if district is not None:
            district = known_district(district.strip()).code
        moment = await moment_of(info, as_of)
        hub, today = info.context.hub, info.context.hub.settings.today()
        found = await hub.indicator_cache.get(
            ("indicators", district, moment or today),
            lambda: indicators(hub.pool, moment, district, today=today),
        )
        return Indicators.of(found)

    @strawberry.field(
        description="The indicators at the end of each period (month, quarter or year) from "
        "the one holding `from`, the last point exactly at `to`: each point equals "
        "`indicators(asOf: {effective: on, recorded: recorded}, district: district)`. All are "
        f"counted in one statement; at most {MAX_POINTS} points."
    )
    async def indicator_series(
        self,
        info: Info,
        from_: Annotated[date, strawberry.argument(name="from")],
        to: date,
        every: Period = Period.MONTH,
        district: str | None = None,
        recorded: Annotated[
            datetime | None,
            strawberry.argument(
                description="As asOf.recorded: the registry as it stood then (absent: now); "
                "without a time zone, in the hub's own (HUB_TIMEZONE)."
            ),
        ] = None,
    ) -> list[IndicatorPoint]:
        if district is not None:
            district = known_district(district.strip()).code
        days = period_ends(from_, to, every)
        moment = await moment_of(info, AsOf(effective=to, recorded=recorded))
        position = EVERYTHING if moment is None else moment.recorded
        hub = info.context.hub
        found = await hub.indicator_cache.get(
            ("series", district, tuple(days), position),
            lambda: indicator_series(hub.pool, days, position, district),
        )
        return [IndicatorPoint(on=f["day"], indicators=Indicators.of(f)) for f in found]

    @strawberry.field(description="The city's targets for 2020, as its plan names them.")
    def targets(self) -> list[Target]:
        return [
            Target(indicator=t.indicator, value=t.value, due=t.due, source=t.source)
            for t in TARGETS
        ]


def _counts(vocabulary: type[E], counted: dict[str, int]) -> list[tuple[E, int]]:
    """Every value of `vocabulary` with its count, zeros included."""
    return [(v, counted.get(v.value, 0)) for v in vocabulary]
