"""`indicators(asOf, district)`: the figures the bureau reports, at any moment."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import TypeVar

import strawberry

from hub.domain.reference import district as known_district
from hub.domain.vocabulary import CertificateLevel as DomainCertificateLevel
from hub.domain.vocabulary import CourseCategory as DomainCourseCategory
from hub.domain.vocabulary import PostSector as DomainPostSector
from hub.domain.vocabulary import ServiceField as DomainServiceField
from hub.projections.indicators import indicators
from hub.schema.agency import ServiceField
from hub.schema.common import AsOf, moment_of
from hub.schema.context import Info
from hub.schema.course import CourseCategory
from hub.schema.post import PostSector
from hub.schema.worker import CertificateLevel

E = TypeVar("E", bound=StrEnum)


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
        found = await indicators(info.context.hub.pool, moment, district)
        return Indicators(
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


def _counts(vocabulary: type[E], counted: dict[str, int]) -> list[tuple[E, int]]:
    """Every value of `vocabulary` with its count, zeros included."""
    return [(v, counted.get(v.value, 0)) for v in vocabulary]
