"""Agencies in the API: the type, its list, its mutations."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

import strawberry

from hub.commands import agency as agency_commands
from hub.domain.vocabulary import AgencyKind as DomainAgencyKind
from hub.domain.vocabulary import AgencyStatus as DomainAgencyStatus
from hub.domain.vocabulary import ServiceField as DomainServiceField
from hub.projections.agencies import agencies_by_id, agency_page
from hub.projections.timeline import Moment
from hub.schema.common import (
    AsOf,
    Connection,
    District,
    connection,
    decode_cursor,
    moment_of,
    page_size,
    referenced,
    value_of,
)
from hub.schema.context import Info
from hub.schema.mutations import ExistingRecordInput, RecordInput, record_id, record_payload

AgencyKind = strawberry.enum(DomainAgencyKind)
AgencyStatus = strawberry.enum(DomainAgencyStatus)
ServiceField = strawberry.enum(DomainServiceField, description="The 18 fields of service (领域).")


@strawberry.type(description="Incubation at an incubator base (孵化基地).")
class Incubation:
    incubator: str
    from_: date = strawberry.field(name="from")
    to: date


@strawberry.type(description='A demonstration designation (示范), e.g. the "411" programme.')
class Demonstration:
    programme: str
    year: int


@strawberry.type(description="A private social-work service agency (民办社会工作服务机构).")
class Agency:
    id: strawberry.ID
    version: int
    status: AgencyStatus
    name: str
    credit_code: str = strawberry.field(description="Unified social credit code (GB 32100-2015).")
    district: District
    kind: AgencyKind
    fields: list[ServiceField]
    registered_on: date
    incubation: Incubation | None
    demonstration: Demonstration | None
    updated_at: datetime = strawberry.field(description="When the last change was recorded.")

    @classmethod
    def of(cls, row: Any) -> Agency:
        return cls(
            id=strawberry.ID(str(row["id"])),
            version=row["version"],
            status=DomainAgencyStatus(row["status"]),
            name=row["name"],
            credit_code=row["credit_code"],
            district=District.of(row["district"]),
            kind=DomainAgencyKind(row["kind"]),
            fields=[DomainServiceField(f) for f in row["fields"]],
            registered_on=row["registered_on"],
            incubation=Incubation(
                incubator=row["incubator"], from_=row["incubated_from"], to=row["incubated_to"]
            )
            if row["incubator"]
            else None,
            demonstration=Demonstration(
                programme=row["demonstration_programme"], year=row["demonstration_year"]
            )
            if row["demonstration_programme"]
            else None,
            updated_at=row["updated_at"],
        )


@strawberry.input
class AgencyFilter:
    district: str | None = None
    kind: AgencyKind | None = None
    status: AgencyStatus | None = None
    field: ServiceField | None = None


async def load_agency(info: Info, id: UUID, moment: Moment | None = None) -> Agency | None:
    row = await info.context.loader(agencies_by_id, moment).load(id)
    return Agency.of(row) if row else None


async def related_agency(info: Info, id: UUID, moment: Moment | None) -> Agency:
    """An agency another record names (see `referenced`)."""
    return await referenced(load_agency, info, id, moment, "agency")


@strawberry.type
class AgencyQueries:
    @strawberry.field(description="One agency by id.")
    async def agency(
        self, info: Info, id: strawberry.ID, as_of: AsOf | None = None
    ) -> Agency | None:
        return await load_agency(info, record_id(id), await moment_of(info, as_of))

    @strawberry.field(description="Agencies in registration order, filtered.")
    async def agencies(
        self,
        info: Info,
        first: int = 50,
        after: str | None = None,
        filter: AgencyFilter | None = None,
        as_of: AsOf | None = None,
    ) -> Connection[Agency]:
        moment = await moment_of(info, as_of)
        return await agency_connection(info, first, after, filter or AgencyFilter(), moment)


async def agency_connection(
    info: Info,
    first: int,
    after: str | None,
    chosen: AgencyFilter,
    moment: Moment | None = None,
) -> Connection[Agency]:
    rows, more, total = await agency_page(
        info.context.hub.pool,
        first=page_size(first),
        after_seq=decode_cursor("agency", after),
        district=chosen.district,
        kind=value_of(chosen.kind),
        status=value_of(chosen.status),
        field=value_of(chosen.field),
        moment=moment,
    )
    return connection("agency", rows, more, total, node=Agency.of)


AgencyPayload = record_payload(Agency, load_agency)


@strawberry.input
class RegisterAgencyInput(RecordInput):
    name: str
    credit_code: str
    district: str
    kind: AgencyKind
    fields: list[ServiceField]


@strawberry.input
class UpdateAgencyProfileInput(ExistingRecordInput):
    name: str | None = None
    kind: AgencyKind | None = None
    fields: list[ServiceField] | None = None


@strawberry.input
class IncubateAgencyInput(ExistingRecordInput):
    incubator: str
    from_: date = strawberry.field(name="from")
    to: date


@strawberry.input
class DesignateDemonstrationAgencyInput(ExistingRecordInput):
    programme: str
    year: int


@strawberry.input(description="Suspend, reinstate or deregister an agency; reason is required.")
class AgencyLifecycleInput(ExistingRecordInput):
    pass


def _values(values: list[Any] | None) -> list[str] | None:
    return None if values is None else [v.value for v in values]


@strawberry.type
class AgencyMutations:
    @strawberry.mutation
    async def register_agency(self, info: Info, input: RegisterAgencyInput) -> AgencyPayload:
        return await AgencyPayload.answer(
            info,
            agency_commands.register_agency,
            input,
            name=input.name,
            credit_code=input.credit_code,
            district=input.district,
            kind=input.kind.value,
            fields=_values(input.fields),
        )

    @strawberry.mutation
    async def update_agency_profile(
        self, info: Info, input: UpdateAgencyProfileInput
    ) -> AgencyPayload:
        return await AgencyPayload.answer(
            info,
            agency_commands.update_agency_profile,
            input,
            name=input.name,
            kind=value_of(input.kind),
            fields=_values(input.fields),
        )

    @strawberry.mutation
    async def incubate_agency(self, info: Info, input: IncubateAgencyInput) -> AgencyPayload:
        return await AgencyPayload.answer(
            info,
            agency_commands.incubate_agency,
            input,
            incubator=input.incubator,
            start=input.from_,
            end=input.to,
        )

    @strawberry.mutation
    async def designate_demonstration_agency(
        self, info: Info, input: DesignateDemonstrationAgencyInput
    ) -> AgencyPayload:
        return await AgencyPayload.answer(
            info,
            agency_commands.designate_demonstration_agency,
            input,
            programme=input.programme,
            year=input.year,
        )

    @strawberry.mutation
    async def suspend_agency(self, info: Info, input: AgencyLifecycleInput) -> AgencyPayload:
        return await AgencyPayload.answer(info, agency_commands.suspend_agency, input)

    @strawberry.mutation
    async def reinstate_agency(self, info: Info, input: AgencyLifecycleInput) -> AgencyPayload:
        return await AgencyPayload.answer(info, agency_commands.reinstate_agency, input)

    @strawberry.mutation
    async def deregister_agency(self, info: Info, input: AgencyLifecycleInput) -> AgencyPayload:
        return await AgencyPayload.answer(info, agency_commands.deregister_agency, input)
