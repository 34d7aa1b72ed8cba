"""Workers in the API; name and ID number show only to those who may see personal data."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import strawberry

from hub.commands import worker as worker_commands
from hub.domain.envelope import Role
from hub.domain.errors import Forbidden
from hub.domain.rules import may_see_personal_data
from hub.domain.vocabulary import CertificateLevel as DomainCertificateLevel
from hub.domain.vocabulary import Education as DomainEducation
from hub.domain.vocabulary import WorkerStatus as DomainWorkerStatus
from hub.projections.agencies import agencies_by_id
from hub.projections.courses import attendances_by_worker
from hub.projections.timeline import Moment
from hub.projections.workers import certificates_by_worker, worker_page, workers_by_id
from hub.registry.blind_index import matches, search_term
from hub.registry.personal_data import unseal
from hub.schema.agency import Agency
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
from hub.service.refusals import answer

if TYPE_CHECKING:
    from hub.schema.course import Attendance
    from hub.schema.post import Post

CertificateLevel = strawberry.enum(DomainCertificateLevel)
Education = strawberry.enum(DomainEducation)
WorkerStatus = strawberry.enum(DomainWorkerStatus)


@strawberry.type(description="A vocational certificate (职业水平证书).")
class Certificate:
    level: CertificateLevel
    number: str
    awarded_on: date
    revoked: bool


@strawberry.type(description="A social-work professional (社会工作专业人才).")
class Worker:
    id: strawberry.ID
    version: int
    status: WorkerStatus
    district: District
    education: Education
    registered_on: date
    updated_at: datetime
    personal_data_erased: bool = strawberry.field(
        description="True once the worker's name and ID number were erased for good."
    )
    row: strawberry.Private[Any]
    moment: strawberry.Private[Moment | None]

    @classmethod
    def of(cls, row: Any, moment: Moment | None = None) -> Worker:
        return cls(
            id=strawberry.ID(str(row["id"])),
            version=row["version"],
            status=DomainWorkerStatus(row["status"]),
            district=District.of(row["district"]),
            education=DomainEducation(row["education"]),
            registered_on=row["registered_on"],
            updated_at=row["updated_at"],
            personal_data_erased=row["erased"],
            row=row,
            moment=moment,
        )

    async def _personal(self, info: Info, column: str, field: str) -> str | None:
        row = self.row
        employer = str(row["employer"]) if row["employer"] else None
        context = info.context
        if row["erased"] or not may_see_personal_data(context.caller, row["district"], employer):
            return None
        key = await context.loader(context.hub.keys_by_worker).load(row["id"])
        shown = unseal(key, row["id"], row[column])
        if shown is not None:
            context.hub.access_log.reveal(context.caller, context.request_id, row["id"], [field])
        return shown

    @strawberry.field(description="Null when erased or not visible to the caller.")
    async def name(self, info: Info) -> str | None:
        return await self._personal(info, "name_sealed", "name")

    @strawberry.field(description="Null when erased or not visible to the caller.")
    async def id_number(self, info: Info) -> str | None:
        return await self._personal(info, "id_number_sealed", "idNumber")

    @strawberry.field
    async def employer(self, info: Info) -> Agency | None:
        if self.row["employer"] is None:
            return None
        row = await info.context.loader(agencies_by_id, self.moment).load(self.row["employer"])
        return Agency.of(row) if row else None

    @strawberry.field(description="The posts the worker holds (at most one).")
    async def posts(self, info: Info) -> list[Annotated[Post, strawberry.lazy("hub.schema.post")]]:
        from hub.schema.post import worker_posts

        return await worker_posts(info, self.row["id"], self.moment)

    @strawberry.field(description="Training the worker attended, oldest first.")
    async def attendances(
        self, info: Info
    ) -> list[Annotated[Attendance, strawberry.lazy("hub.schema.course")]]:
        from hub.schema.course import Attendance

        rows = await info.context.loader(attendances_by_worker, self.moment).load(self.row["id"])
        return [Attendance.of(r, self.moment) for r in rows]

    @strawberry.field
    async def certificates(self, info: Info) -> list[Certificate]:
        rows = await info.context.loader(certificates_by_worker, self.moment).load(self.row["id"])
        return [
            Certificate(
                level=DomainCertificateLevel(r["level"]),
                number=r["number"],
                awarded_on=r["awarded_on"],
                revoked=r["revoked"],
            )
            for r in rows
        ]


async def load_worker(info: Info, id: UUID, moment: Moment | None = None) -> Worker | None:
    row = await info.context.loader(workers_by_id, moment).load(id)
    return Worker.of(row, moment) if row else None


async def related_worker(info: Info, id: UUID, moment: Moment | None) -> Worker:
    """An worker another record names (see `referenced`)."""
    return await referenced(load_worker, info, id, moment, "worker")


@strawberry.input
class WorkerFilter:
    district: str | None = None
    status: WorkerStatus | None = None
    level: CertificateLevel | None = strawberry.field(
        default=None, description="Holds an unrevoked certificate of this level."
    )
    employer: strawberry.ID | None = None
    education: Education | None = None
    name: str | None = strawberry.field(
        default=None,
        description="Has this name now (exact, once both are normalised: Unicode NFKC, "
        "whitespace removed, case folded), also when read asOf an earlier moment; never "
        "matches an erased worker. Only for callers "
        "who may see the personal data of the workers it finds: MUNICIPAL and AUDITOR all, "
        "DISTRICT its district's, CONTRACTOR its employees'; PARTNER: FORBIDDEN.",
    )
    id_number: str | None = strawberry.field(
        default=None,
        description="Has this ID number now (exact, once both are normalised: Unicode NFKC, "
        "whitespace removed, upper-cased); as `name`, never an erased worker, and only for "
        "callers who may see the personal data of the workers it finds.",
    )


def searched(info: Info, chosen: WorkerFilter) -> dict[str, tuple[str, Any]]:
    """The conditions of a search by name or ID number (`hub.registry.blind_index`): the
    digests of the values, and that the caller may see the personal data of what it finds."""
    values = {"name": chosen.name, "id_number": chosen.id_number}
    terms = {field: value for field, value in values.items() if value is not None}
    if not terms:
        return {}
    caller = info.context.caller
    if caller.role is Role.PARTNER:
        refusal = Forbidden(
            "PARTNER may not search workers by name or ID number (it may not see them)",
            "filter",
        )
        raise answer(refusal).graphql_error() from None
    digest = info.context.hub.keys_by_worker.kek.index_digest
    conditions = {
        field: (matches("workers.id", field, "$?"), digest(field, search_term(field, value)))
        for field, value in terms.items()
    }
    if caller.role is Role.DISTRICT:
        conditions["seen"] = ("COALESCE(district = $?::text, false)", caller.district or "")
    elif caller.role is Role.CONTRACTOR:
        conditions["seen"] = ("COALESCE(employer::text = $?::text, false)", caller.agency or "")
    return conditions


@strawberry.type
class WorkerQueries:
    @strawberry.field(description="One worker by id.")
    async def worker(
        self, info: Info, id: strawberry.ID, as_of: AsOf | None = None
    ) -> Worker | None:
        return await load_worker(info, record_id(id), await moment_of(info, as_of))

    @strawberry.field(description="Workers in registration order, filtered.")
    async def workers(
        self,
        info: Info,
        first: int = 50,
        after: str | None = None,
        filter: WorkerFilter | None = None,
        as_of: AsOf | None = None,
    ) -> Connection[Worker]:
        chosen = filter or WorkerFilter()
        moment = await moment_of(info, as_of)
        rows, more, total = await worker_page(
            info.context.hub.pool,
            first=page_size(first),
            after_seq=decode_cursor("worker", after),
            district=chosen.district,
            status=value_of(chosen.status),
            level=value_of(chosen.level),
            employer=record_id(chosen.employer) if chosen.employer else None,
            education=value_of(chosen.education),
            searched=searched(info, chosen),
            moment=moment,
        )
        return connection("worker", rows, more, total, node=lambda r: Worker.of(r, moment))


WorkerPayload = record_payload(Worker, load_worker)


@strawberry.input
class RegisterWorkerInput(RecordInput):
    name: str
    id_number: str
    district: str
    education: Education
    employer: strawberry.ID | None = None


@strawberry.input
class UpdateWorkerInput(ExistingRecordInput):
    name: str | None = None
    id_number: str | None = None
    district: str | None = None
    education: Education | None = None
    employer: strawberry.ID | None = strawberry.field(
        default=None, description="An agency id; an empty string clears the employer."
    )


@strawberry.input
class AwardCertificateInput(ExistingRecordInput):
    id: strawberry.ID = strawberry.field(description="The worker.")
    level: CertificateLevel
    number: str


@strawberry.input
class RevokeCertificateInput(ExistingRecordInput):
    id: strawberry.ID = strawberry.field(description="The worker.")
    number: str


@strawberry.input(description="Erase a worker's name and ID number for good; reason required.")
class EraseWorkerPersonalDataInput(ExistingRecordInput):
    pass


@strawberry.type
class WorkerMutations:
    @strawberry.mutation
    async def register_worker(self, info: Info, input: RegisterWorkerInput) -> WorkerPayload:
        return await WorkerPayload.answer(
            info,
            worker_commands.register_worker,
            input,
            name=input.name,
            id_number=input.id_number,
            district=input.district,
            education=input.education.value,
            employer=input.employer,
        )

    @strawberry.mutation
    async def update_worker(self, info: Info, input: UpdateWorkerInput) -> WorkerPayload:
        return await WorkerPayload.answer(
            info,
            worker_commands.update_worker,
            input,
            name=input.name,
            id_number=input.id_number,
            district=input.district,
            education=value_of(input.education),
            employer=input.employer,
        )

    @strawberry.mutation
    async def award_certificate(self, info: Info, input: AwardCertificateInput) -> WorkerPayload:
        return await WorkerPayload.answer(
            info,
            worker_commands.award_certificate,
            input,
            level=input.level.value,
            number=input.number,
        )

    @strawberry.mutation
    async def revoke_certificate(self, info: Info, input: RevokeCertificateInput) -> WorkerPayload:
        return await WorkerPayload.answer(
            info, worker_commands.revoke_certificate, input, number=input.number
        )

    @strawberry.mutation
    async def erase_worker_personal_data(
        self, info: Info, input: EraseWorkerPersonalDataInput
    ) -> WorkerPayload:
        return await WorkerPayload.answer(info, worker_commands.erase_worker_personal_data, input)
