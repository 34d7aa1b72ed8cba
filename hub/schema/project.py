"""Service projects in the API: the type, its list, its mutations."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import strawberry

from hub.commands import project as project_commands
from hub.domain.vocabulary import EvaluationGrade as DomainEvaluationGrade
from hub.domain.vocabulary import ProjectStatus as DomainProjectStatus
from hub.domain.vocabulary import ServiceField as DomainServiceField
from hub.projections.projects import disbursements_by_project, project_page, projects_by_id
from hub.projections.timeline import Moment
from hub.schema.agency import Agency, ServiceField, related_agency
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
from hub.schema.context import Info
from hub.schema.mutations import ExistingRecordInput, RecordInput, record_id, record_payload

ProjectStatus = strawberry.enum(DomainProjectStatus)
EvaluationGrade = strawberry.enum(DomainEvaluationGrade)


@strawberry.type(description="One payment of project funds to the contractor, in yuan.")
class Disbursement:
    amount: Decimal
    effective_on: date
    position: int = strawberry.field(description="The position of the event that recorded it.")
    recorded_at: datetime

    @classmethod
    def of(cls, row: Any) -> Disbursement:
        return cls(
            amount=row["amount"],
            effective_on=row["effective_on"],
            position=row["position"],
            recorded_at=row["recorded_at"],
        )


@strawberry.type(description="The contractor's latest progress report.")
class Progress:
    percent_complete: int
    summary: str
    reported_on: date


@strawberry.type(description="The closing evaluation, commissioned by the district bureau.")
class Evaluation:
    evaluator: str = strawberry.field(description="The third party commissioned to evaluate.")
    commissioned_on: date
    score: int | None = strawberry.field(description="0 to 100, once concluded.")
    grade: EvaluationGrade | None
    concluded_on: date | None


@strawberry.type(description="A service project the government buys (政府购买社会工作服务项目).")
class Project:
    id: strawberry.ID
    version: int
    status: ProjectStatus
    title: str
    field: ServiceField
    district: District
    funder: str = strawberry.field(description="MUNICIPAL, or the code of the funding district.")
    budget: Decimal = strawberry.field(description="In yuan, exact.")
    programme: str | None
    starts_on: date
    ends_on: date
    approved_on: date
    disbursed: Decimal = strawberry.field(description="The total disbursed so far, in yuan.")
    progress: Progress | None
    evaluation: Evaluation | None
    updated_at: datetime = strawberry.field(description="When the last change was recorded.")
    contractor_id: strawberry.Private[UUID]
    uuid: strawberry.Private[UUID]
    moment: strawberry.Private[Moment | None]

    @strawberry.field(description="The agency delivering the project (项目承接方).")
    async def contractor(self, info: Info) -> Agency:
        return await related_agency(info, self.contractor_id, self.moment)

    @strawberry.field(description="Payments so far, oldest first.")
    async def disbursements(self, info: Info) -> list[Disbursement]:
        rows = await info.context.loader(disbursements_by_project, self.moment).load(self.uuid)
        return [Disbursement.of(r) for r in rows]

    @classmethod
    def of(cls, row: Any, moment: Moment | None = None) -> Project:
        return cls(
            id=strawberry.ID(str(row["id"])),
            version=row["version"],
            status=DomainProjectStatus(row["status"]),
            title=row["title"],
            field=DomainServiceField(row["field"]),
            district=District.of(row["district"]),
            funder=row["funder"],
            budget=row["budget"],
            programme=row["programme"],
            starts_on=row["starts_on"],
            ends_on=row["ends_on"],
            approved_on=row["approved_on"],
            disbursed=row["disbursed"],
            progress=Progress(
                percent_complete=row["percent_complete"],
                summary=row["progress_summary"],
                reported_on=row["progress_reported_on"],
            )
            if row["progress_reported_on"]
            else None,
            evaluation=Evaluation(
                evaluator=row["evaluator"],
                commissioned_on=row["evaluation_commissioned_on"],
                score=row["evaluation_score"],
                grade=DomainEvaluationGrade(row["evaluation_grade"])
                if row["evaluation_grade"]
                else None,
                concluded_on=row["evaluation_concluded_on"],
            )
            if row["evaluator"]
            else None,
            updated_at=row["updated_at"],
            contractor_id=row["contractor"],
            uuid=row["id"],
            moment=moment,
        )


@strawberry.input
class ProjectFilter:
    district: str | None = None
    status: ProjectStatus | None = None
    field: ServiceField | None = None
    funder: str | None = strawberry.field(
        default=None, description="MUNICIPAL, or a district code."
    )
    contractor: strawberry.ID | None = strawberry.field(
        default=None, description="The contractor agency's id."
    )


async def load_project(info: Info, id: UUID, moment: Moment | None = None) -> Project | None:
    row = await info.context.loader(projects_by_id, moment).load(id)
    return Project.of(row, moment) if row else None


@strawberry.type
class ProjectQueries:
    @strawberry.field(description="One service project by id.")
    async def project(
        self, info: Info, id: strawberry.ID, as_of: AsOf | None = None
    ) -> Project | None:
        return await load_project(info, record_id(id), await moment_of(info, as_of))

    @strawberry.field(description="Service projects in approval order, filtered.")
    async def projects(
        self,
        info: Info,
        first: int = 50,
        after: str | None = None,
        filter: ProjectFilter | None = None,
        as_of: AsOf | None = None,
    ) -> Connection[Project]:
        moment = await moment_of(info, as_of)
        return await project_connection(info, first, after, filter or ProjectFilter(), moment)


async def project_connection(
    info: Info,
    first: int,
    after: str | None,
    chosen: ProjectFilter,
    moment: Moment | None = None,
) -> Connection[Project]:
    rows, more, total = await project_page(
        info.context.hub.pool,
        first=page_size(first),
        after_seq=decode_cursor("project", after),
        district=chosen.district,
        status=value_of(chosen.status),
        field=value_of(chosen.field),
        funder=chosen.funder,
        contractor=record_id(chosen.contractor) if chosen.contractor is not None else None,
        moment=moment,
    )
    return connection("project", rows, more, total, node=lambda r: Project.of(r, moment))


ProjectPayload = record_payload(Project, load_project)


@strawberry.input
class ApproveProjectInput(RecordInput):
    title: str
    field: ServiceField
    district: str
    funder: str = strawberry.field(description="MUNICIPAL, or the project's own district code.")
    budget: Decimal = strawberry.field(description="In yuan, at most 2 decimal places.")
    programme: str | None = None
    contractor: strawberry.ID
    starts_on: date
    ends_on: date


@strawberry.input
class DisburseFundsInput(ExistingRecordInput):
    amount: Decimal = strawberry.field(description="In yuan, at most 2 decimal places.")


@strawberry.input
class ReportProjectProgressInput(ExistingRecordInput):
    summary: str
    percent_complete: int = strawberry.field(description="0 to 100, never below the last report.")


@strawberry.input
class CommissionEvaluationInput(ExistingRecordInput):
    evaluator: str


@strawberry.input
class ConcludeEvaluationInput(ExistingRecordInput):
    score: int = strawberry.field(description="0 to 100.")
    grade: EvaluationGrade


@strawberry.input
class CloseProjectInput(ExistingRecordInput):
    pass


@strawberry.type
class ProjectMutations:
    @strawberry.mutation
    async def approve_project(self, info: Info, input: ApproveProjectInput) -> ProjectPayload:
        return await ProjectPayload.answer(
            info,
            project_commands.approve_project,
            input,
            title=input.title,
            field=input.field.value,
            district=input.district,
            funder=input.funder,
            budget=input.budget,
            programme=input.programme,
            contractor=str(input.contractor),
            starts_on=input.starts_on,
            ends_on=input.ends_on,
        )

    @strawberry.mutation
    async def disburse_funds(self, info: Info, input: DisburseFundsInput) -> ProjectPayload:
        return await ProjectPayload.answer(
            info, project_commands.disburse_funds, input, amount=input.amount
        )

    @strawberry.mutation
    async def report_project_progress(
        self, info: Info, input: ReportProjectProgressInput
    ) -> ProjectPayload:
        return await ProjectPayload.answer(
            info,
            project_commands.report_project_progress,
            input,
            summary=input.summary,
            percent_complete=input.percent_complete,
        )

    @strawberry.mutation
    async def commission_evaluation(
        self, info: Info, input: CommissionEvaluationInput
    ) -> ProjectPayload:
        return await ProjectPayload.answer(
            info, project_commands.commission_evaluation, input, evaluator=input.evaluator
        )

    @strawberry.mutation
    async def conclude_evaluation(
        self, info: Info, input: ConcludeEvaluationInput
    ) -> ProjectPayload:
        return await ProjectPayload.answer(
            info,
            project_commands.conclude_evaluation,
            input,
            score=input.score,
            grade=input.grade.value,
        )

    @strawberry.mutation
    async def close_project(self, info: Info, input: CloseProjectInput) -> ProjectPayload:
        return await ProjectPayload.answer(info, project_commands.close_project, input)
