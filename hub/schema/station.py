"""Stations and posts in the API: types, lists, mutations."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

import strawberry

from hub.commands import post as post_commands
from hub.commands import station as station_commands
from hub.domain.vocabulary import PostOrigin as DomainPostOrigin
from hub.domain.vocabulary import PostSector as DomainPostSector
from hub.domain.vocabulary import PostStatus as DomainPostStatus
from hub.domain.vocabulary import ServiceField as DomainServiceField
from hub.domain.vocabulary import StationStatus as DomainStationStatus
from hub.projections.posts import post_page, posts_by_holder, posts_by_id, posts_by_station
from hub.projections.stations import staff_by_station, station_page, stations_by_id
from hub.projections.timeline import Moment
from hub.schema.agency import Agency, Demonstration, ServiceField, related_agency
from hub.schema.common import (
    AsOf,
    District,
    PageInfo,
    UserError,
    connection,
    decode_cursor,
    moment_of,
    page_size,
)
from hub.schema.community import Community, load_community
from hub.schema.context import Info
from hub.schema.mutations import RecordInput, corrections, record_id, respond
from hub.schema.worker import Worker, related_worker

StationStatus = strawberry.enum(DomainStationStatus)
PostSector = strawberry.enum(DomainPostSector)
PostOrigin = strawberry.enum(DomainPostOrigin)
PostStatus = strawberry.enum(DomainPostStatus)


@strawberry.type(description="The standardisation assessment on six dimensions (0 to 100).")
class Assessment:
    assessed_on: date
    hardware: int
    duties: int
    mechanism: int
    funding: int
    service_standards: int
    performance: int


@strawberry.type(description="A contracted operator of a station, for a period.")
class OperatorContract:
    agency: Agency
    from_: date = strawberry.field(name="from")
    to: date


@strawberry.type(description="A worker on a station's staff.")
class StaffAssignment:
    full_time: bool
    since: date
    worker_id: strawberry.Private[UUID]
    moment: strawberry.Private[Moment | None]

    @strawberry.field
    async def worker(self, info: Info) -> Worker:
        return await related_worker(info, self.worker_id, self.moment)


@strawberry.type(description="A community social-work station (社区社会工作室/站).")
class Station:
    id: strawberry.ID
    version: int
    status: StationStatus
    name: str
    district: District
    established_on: date
    assessment: Assessment | None
    demonstration: Demonstration | None
    updated_at: datetime
    row: strawberry.Private[Any]
    moment: strawberry.Private[Moment | None]

    @classmethod
    def of(cls, row: Any, moment: Moment | None = None) -> Station:
        return cls(
            id=strawberry.ID(str(row["id"])),
            version=row["version"],
            status=DomainStationStatus(row["status"]),
            name=row["name"],
            district=District.of(row["district"]),
            established_on=row["established_on"],
            assessment=Assessment(
                assessed_on=row["assessed_on"],
                hardware=row["hardware"],
                duties=row["duties"],
                mechanism=row["mechanism"],
                funding=row["funding"],
                service_standards=row["service_standards"],
                performance=row["performance"],
            )
            if row["assessed_on"]
            else None,
            demonstration=Demonstration(
                programme=row["demonstration_programme"], year=row["demonstration_year"]
            )
            if row["demonstration_programme"]
            else None,
            updated_at=row["updated_at"],
            row=row,
            moment=moment,
        )

    @strawberry.field
    async def community(self, info: Info) -> Community:
        community = await load_community(info, self.row["community"], self.moment)
        assert community is not None, f"station of an unknown community {self.row['community']}"
        return community

    @strawberry.field(description="The agency operating the station under contract, if any.")
    async def operator(self, info: Info) -> Agency | None:
        contract = await self.operator_contract(info)
        return contract.agency if contract else None

    @strawberry.field
    async def operator_contract(self, info: Info) -> OperatorContract | None:
        if self.row["operator"] is None:
            return None
        agency = await related_agency(info, self.row["operator"], self.moment)
        return OperatorContract(
            agency=agency, from_=self.row["operator_from"], to=self.row["operator_to"]
        )

    @strawberry.field
    async def staff(self, info: Info) -> list[StaffAssignment]:
        rows = await info.context.loader(staff_by_station, self.moment).load(self.row["id"])
        return [
            StaffAssignment(
                full_time=r["full_time"],
                since=r["since"],
                worker_id=r["worker_id"],
                moment=self.moment,
            )
            for r in rows
        ]

    @strawberry.field
    async def posts(self, info: Info) -> list[Post]:
        rows = await info.context.loader(posts_by_station, self.moment).load(self.row["id"])
        return [Post.of(r, self.moment) for r in rows]


@strawberry.type(description="A social-work professional post (社会工作专业岗位).")
class Post:
    id: strawberry.ID
    version: int
    status: PostStatus
    sector: PostSector
    field: ServiceField
    district: District
    host_organization: str
    origin: PostOrigin
    created_on: date
    updated_at: datetime
    row: strawberry.Private[Any]
    moment: strawberry.Private[Moment | None]

    @classmethod
    def of(cls, row: Any, moment: Moment | None = None) -> Post:
        return cls(
            id=strawberry.ID(str(row["id"])),
            version=row["version"],
            status=DomainPostStatus(row["status"]),
            sector=DomainPostSector(row["sector"]),
            field=DomainServiceField(row["field"]),
            district=District.of(row["district"]),
            host_organization=row["host_organization"],
            origin=DomainPostOrigin(row["origin"]),
            created_on=row["created_on"],
            updated_at=row["updated_at"],
            row=row,
            moment=moment,
        )

    @strawberry.field
    async def community(self, info: Info) -> Community | None:
        if not self.row["community"]:
            return None
        return await load_community(info, self.row["community"], self.moment)

    @strawberry.field
    async def station(self, info: Info) -> Station | None:
        if self.row["station"] is None:
            return None
        return await load_station(info, self.row["station"], self.moment)

    @strawberry.field
    async def holder(self, info: Info) -> Worker | None:
        if self.row["holder"] is None:
            return None
        return await related_worker(info, self.row["holder"], self.moment)


async def load_station(info: Info, id: UUID, moment: Moment | None = None) -> Station | None:
    row = await info.context.loader(stations_by_id, moment).load(id)
    return Station.of(row, moment) if row else None


async def load_post(info: Info, id: UUID, moment: Moment | None = None) -> Post | None:
    row = await info.context.loader(posts_by_id, moment).load(id)
    return Post.of(row, moment) if row else None


async def worker_posts(info: Info, worker_id: UUID, moment: Moment | None = None) -> list[Post]:
    """The posts a worker holds (at most one), for `Worker.posts`."""
    rows = await info.context.loader(posts_by_holder, moment).load(worker_id)
    return [Post.of(r, moment) for r in rows]


@strawberry.type
class StationEdge:
    cursor: str
    node: Station


@strawberry.type
class StationConnection:
    edges: list[StationEdge]
    page_info: PageInfo
    total_count: int


@strawberry.type
class PostEdge:
    cursor: str
    node: Post


@strawberry.type
class PostConnection:
    edges: list[PostEdge]
    page_info: PageInfo
    total_count: int


@strawberry.input
class StationFilter:
    district: str | None = None
    status: StationStatus | None = None
    operator: strawberry.ID | None = None
    community: str | None = None


@strawberry.input
class PostFilter:
    district: str | None = None
    status: PostStatus | None = None
    sector: PostSector | None = None
    field: ServiceField | None = None
    station: strawberry.ID | None = None


def _value(enum: Any) -> Any:
    return enum.value if enum is not None else None


@strawberry.type
class StationQueries:
    @strawberry.field(description="One station by id.")
    async def station(
        self, info: Info, id: strawberry.ID, as_of: AsOf | None = None
    ) -> Station | None:
        return await load_station(info, record_id(id), await moment_of(info, as_of))

    @strawberry.field(description="Stations in order of establishment, filtered.")
    async def stations(
        self,
        info: Info,
        first: int = 50,
        after: str | None = None,
        filter: StationFilter | None = None,
        as_of: AsOf | None = None,
    ) -> StationConnection:
        f = filter or StationFilter()
        moment = await moment_of(info, as_of)
        rows, more, total = await station_page(
            info.context.hub.pool,
            first=page_size(first),
            after_seq=decode_cursor("station", after),
            district=f.district,
            status=_value(f.status),
            community=f.community,
            operator=record_id(f.operator) if f.operator else None,
            moment=moment,
        )
        return connection(
            "station",
            rows,
            more,
            total,
            node=lambda r: Station.of(r, moment),
            edge=StationEdge,
            of=StationConnection,
        )

    @strawberry.field(description="One post by id.")
    async def post(self, info: Info, id: strawberry.ID, as_of: AsOf | None = None) -> Post | None:
        return await load_post(info, record_id(id), await moment_of(info, as_of))

    @strawberry.field(description="Posts in order of creation, filtered.")
    async def posts(
        self,
        info: Info,
        first: int = 50,
        after: str | None = None,
        filter: PostFilter | None = None,
        as_of: AsOf | None = None,
    ) -> PostConnection:
        f = filter or PostFilter()
        moment = await moment_of(info, as_of)
        rows, more, total = await post_page(
            info.context.hub.pool,
            first=page_size(first),
            after_seq=decode_cursor("post", after),
            district=f.district,
            status=_value(f.status),
            sector=_value(f.sector),
            field=_value(f.field),
            station=record_id(f.station) if f.station else None,
            moment=moment,
        )
        return connection(
            "post",
            rows,
            more,
            total,
            node=lambda r: Post.of(r, moment),
            edge=PostEdge,
            of=PostConnection,
        )


@strawberry.type
class StationPayload:
    station: Station | None
    position: int | None
    errors: list[UserError]


@strawberry.type
class PostPayload:
    post: Post | None
    position: int | None
    errors: list[UserError]


async def station_command(info: Info, run: Any, input: Any, **inputs: Any) -> StationPayload:
    return await respond(
        info,
        run,
        input,
        inputs,
        payload=StationPayload,
        record="station",
        load=load_station,
    )


async def post_command(info: Info, run: Any, input: Any, **inputs: Any) -> PostPayload:
    return await respond(
        info, run, input, inputs, payload=PostPayload, record="post", load=load_post
    )


@strawberry.input
class EstablishStationInput(RecordInput):
    community: str = strawberry.field(description="The community's code; the district is its.")
    name: str


@strawberry.input
class ContractStationOperatorInput(RecordInput):
    id: strawberry.ID
    agency: strawberry.ID
    from_: date = strawberry.field(name="from")
    to: date
    expected_version: int | None = None
    corrects: list[int] | None = corrections()


@strawberry.input
class AssignStationStaffInput(RecordInput):
    id: strawberry.ID
    worker: strawberry.ID
    full_time: bool = True
    expected_version: int | None = None
    corrects: list[int] | None = corrections()


@strawberry.input
class ReleaseStationStaffInput(RecordInput):
    id: strawberry.ID
    worker: strawberry.ID
    expected_version: int | None = None
    corrects: list[int] | None = corrections()


@strawberry.input
class AssessStationInput(RecordInput):
    id: strawberry.ID
    hardware: int
    duties: int
    mechanism: int
    funding: int
    service_standards: int
    performance: int
    expected_version: int | None = None
    corrects: list[int] | None = corrections()


@strawberry.input
class DesignateDemonstrationStationInput(RecordInput):
    id: strawberry.ID
    programme: str
    year: int
    expected_version: int | None = None
    corrects: list[int] | None = corrections()


@strawberry.input(description="Close a station (reason required); its staff are released.")
class CloseStationInput(RecordInput):
    id: strawberry.ID
    expected_version: int | None = None
    corrects: list[int] | None = corrections()


@strawberry.input
class CreatePostInput(RecordInput):
    sector: PostSector
    field: ServiceField
    district: str
    host_organization: str
    origin: PostOrigin
    community: str | None = None
    station: strawberry.ID | None = None


@strawberry.input
class FillPostInput(RecordInput):
    id: strawberry.ID
    worker: strawberry.ID
    expected_version: int | None = None
    corrects: list[int] | None = corrections()


@strawberry.input(description="Vacate a post, or abolish one (reason required).")
class PostLifecycleInput(RecordInput):
    id: strawberry.ID
    expected_version: int | None = None
    corrects: list[int] | None = corrections()


@strawberry.type
class StationMutations:
    @strawberry.mutation
    async def establish_station(self, info: Info, input: EstablishStationInput) -> StationPayload:
        return await station_command(
            info,
            station_commands.establish_station,
            input,
            community=input.community,
            name=input.name,
        )

    @strawberry.mutation
    async def contract_station_operator(
        self, info: Info, input: ContractStationOperatorInput
    ) -> StationPayload:
        return await station_command(
            info,
            station_commands.contract_station_operator,
            input,
            agency=input.agency,
            start=input.from_,
            end=input.to,
        )

    @strawberry.mutation
    async def assign_station_staff(
        self, info: Info, input: AssignStationStaffInput
    ) -> StationPayload:
        return await station_command(
            info,
            station_commands.assign_station_staff,
            input,
            worker=input.worker,
            full_time=input.full_time,
        )

    @strawberry.mutation
    async def release_station_staff(
        self, info: Info, input: ReleaseStationStaffInput
    ) -> StationPayload:
        return await station_command(
            info, station_commands.release_station_staff, input, worker=input.worker
        )

    @strawberry.mutation
    async def assess_station(self, info: Info, input: AssessStationInput) -> StationPayload:
        return await station_command(
            info,
            station_commands.assess_station,
            input,
            hardware=input.hardware,
            duties=input.duties,
            mechanism=input.mechanism,
            funding=input.funding,
            service_standards=input.service_standards,
            performance=input.performance,
        )

    @strawberry.mutation
    async def designate_demonstration_station(
        self, info: Info, input: DesignateDemonstrationStationInput
    ) -> StationPayload:
        return await station_command(
            info,
            station_commands.designate_demonstration_station,
            input,
            programme=input.programme,
            year=input.year,
        )

    @strawberry.mutation
    async def close_station(self, info: Info, input: CloseStationInput) -> StationPayload:
        return await station_command(info, station_commands.close_station, input)

    @strawberry.mutation
    async def create_post(self, info: Info, input: CreatePostInput) -> PostPayload:
        return await post_command(
            info,
            post_commands.create_post,
            input,
            sector=input.sector.value,
            field=input.field.value,
            district=input.district,
            host_organization=input.host_organization,
            community=input.community,
            station=input.station,
            origin=input.origin.value,
        )

    @strawberry.mutation
    async def fill_post(self, info: Info, input: FillPostInput) -> PostPayload:
        return await post_command(info, post_commands.fill_post, input, worker=input.worker)

    @strawberry.mutation
    async def vacate_post(self, info: Info, input: PostLifecycleInput) -> PostPayload:
        return await post_command(info, post_commands.vacate_post, input)

    @strawberry.mutation
    async def abolish_post(self, info: Info, input: PostLifecycleInput) -> PostPayload:
        return await post_command(info, post_commands.abolish_post, input)
