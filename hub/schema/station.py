"""Stations in the API: the type, its staff, its list, its mutations."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import strawberry

from hub.commands import station as station_commands
from hub.domain.vocabulary import StationStatus as DomainStationStatus
from hub.projections.stations import staff_by_station, station_page, stations_by_id
from hub.projections.timeline import Moment
from hub.schema.agency import Agency, Demonstration, related_agency
from hub.schema.common import (
    AsOf,
    Connection,
    District,
    connection,
    decode_cursor,
    moment_of,
    page_size,
    value_of,
)
from hub.schema.community import Community, load_community
from hub.schema.context import Info
from hub.schema.mutations import ExistingRecordInput, RecordInput, record_id, record_payload
from hub.schema.worker import Worker, related_worker

if TYPE_CHECKING:
    from hub.schema.post import Post

StationStatus = strawberry.enum(DomainStationStatus)


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
    async def posts(self, info: Info) -> list[Annotated[Post, strawberry.lazy("hub.schema.post")]]:
        from hub.schema.post import station_posts

        return await station_posts(info, self.row["id"], self.moment)


async def load_station(info: Info, id: UUID, moment: Moment | None = None) -> Station | None:
    row = await info.context.loader(stations_by_id, moment).load(id)
    return Station.of(row, moment) if row else None


@strawberry.input
class StationFilter:
    district: str | None = None
    status: StationStatus | None = None
    operator: strawberry.ID | None = None
    community: str | None = None


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
    ) -> Connection[Station]:
        f = filter or StationFilter()
        moment = await moment_of(info, as_of)
        rows, more, total = await station_page(
            info.context.hub.pool,
            first=page_size(first),
            after_seq=decode_cursor("station", after),
            district=f.district,
            status=value_of(f.status),
            community=f.community,
            operator=record_id(f.operator) if f.operator else None,
            moment=moment,
        )
        return connection("station", rows, more, total, node=lambda r: Station.of(r, moment))


StationPayload = record_payload(Station, load_station)


@strawberry.input
class EstablishStationInput(RecordInput):
    community: str = strawberry.field(description="The community's code; the district is its.")
    name: str


@strawberry.input
class ContractStationOperatorInput(ExistingRecordInput):
    agency: strawberry.ID
    from_: date = strawberry.field(name="from")
    to: date


@strawberry.input
class AssignStationStaffInput(ExistingRecordInput):
    worker: strawberry.ID
    full_time: bool = True


@strawberry.input
class ReleaseStationStaffInput(ExistingRecordInput):
    worker: strawberry.ID


@strawberry.input
class AssessStationInput(ExistingRecordInput):
    hardware: int
    duties: int
    mechanism: int
    funding: int
    service_standards: int
    performance: int


@strawberry.input
class DesignateDemonstrationStationInput(ExistingRecordInput):
    programme: str
    year: int


@strawberry.input(description="Close a station (reason required); its staff are released.")
class CloseStationInput(ExistingRecordInput):
    pass


@strawberry.type
class StationMutations:
    @strawberry.mutation
    async def establish_station(self, info: Info, input: EstablishStationInput) -> StationPayload:
        return await StationPayload.answer(
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
        return await StationPayload.answer(
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
        return await StationPayload.answer(
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
        return await StationPayload.answer(
            info, station_commands.release_station_staff, input, worker=input.worker
        )

    @strawberry.mutation
    async def assess_station(self, info: Info, input: AssessStationInput) -> StationPayload:
        return await StationPayload.answer(
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
        return await StationPayload.answer(
            info,
            station_commands.designate_demonstration_station,
            input,
            programme=input.programme,
            year=input.year,
        )

    @strawberry.mutation
    async def close_station(self, info: Info, input: CloseStationInput) -> StationPayload:
        return await StationPayload.answer(info, station_commands.close_station, input)
