"""Service projects as they stand now, and their disbursements, for `project` and `projects`."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from hub.domain.project import Project
from hub.projections.changes import Change
from hub.projections.paging import by_key, page, related
from hub.projections.timeline import Moment, RecordViews, RowHistory, State, Table, status

COLUMNS = (
    "id",
    "seq",
    "version",
    "title",
    "field",
    "district",
    "funder",
    "budget",
    "programme",
    "contractor",
    "starts_on",
    "ends_on",
    "status",
    "approved_on",
    "disbursed",
    "percent_complete",
    "progress_summary",
    "progress_reported_on",
    "evaluator",
    "evaluation_commissioned_on",
    "evaluation_score",
    "evaluation_grade",
    "evaluation_concluded_on",
    "updated_at",
)
DISBURSEMENT_COLUMNS = ("project_id", "position", "amount", "effective_on", "recorded_at")


def _approved(row: dict[str, Any], change: Change) -> None:
    facts = change.facts
    row.update(
        title=facts["title"],
        field=facts["field"],
        district=facts["district"],
        funder=facts["funder"],
        budget=facts["budget"],
        programme=facts["programme"],
        contractor=UUID(facts["contractor"]),
        starts_on=facts["starts_on"],
        ends_on=facts["ends_on"],
        status="APPROVED",
        approved_on=change.effective_on,
        disbursed=Decimal("0.00"),
    )


def _disbursed(row: dict[str, Any], change: Change) -> None:
    row["disbursed"] += change.facts["amount"]


def _progress(row: dict[str, Any], change: Change) -> None:
    row.update(
        percent_complete=change.facts["percent_complete"],
        progress_summary=change.facts["summary"],
        progress_reported_on=change.effective_on,
    )


def _commissioned(row: dict[str, Any], change: Change) -> None:
    row.update(
        status="EVALUATION_COMMISSIONED",
        evaluator=change.facts["evaluator"],
        evaluation_commissioned_on=change.effective_on,
    )


def _concluded(row: dict[str, Any], change: Change) -> None:
    row.update(
        status="EVALUATED",
        evaluation_score=change.facts["score"],
        evaluation_grade=change.facts["grade"],
        evaluation_concluded_on=change.effective_on,
    )


def _disbursement(state: State, change: Change) -> None:
    state["project_disbursements"][(change.entity_id, change.position)] = {
        "project_id": change.entity_id,
        "position": change.position,
        "amount": change.facts["amount"],
        "effective_on": change.effective_on,
        "recorded_at": change.recorded_at,
    }


class ProjectHistory(RowHistory):
    record = Project
    tables = (
        Table("projects", COLUMNS),
        Table("project_disbursements", DISBURSEMENT_COLUMNS, ("project_id", "position")),
    )
    steps = {
        Project.Approved: _approved,
        Project.FundsDisbursed: _disbursed,
        Project.ProgressReported: _progress,
        Project.EvaluationCommissioned: _commissioned,
        Project.EvaluationConcluded: _concluded,
        Project.Closed: status("CLOSED"),
    }
    child_steps = {Project.FundsDisbursed: _disbursement}
    fields = {
        "percent_complete": "progress.percentComplete",
        "progress_summary": "progress.summary",
        "progress_reported_on": "progress.reportedOn",
        "evaluator": "evaluation.evaluator",
        "evaluation_commissioned_on": "evaluation.commissionedOn",
        "evaluation_score": "evaluation.score",
        "evaluation_grade": "evaluation.grade",
        "evaluation_concluded_on": "evaluation.concludedOn",
        "project_disbursements": "disbursements",
    }


class Projects(RecordViews):
    def __init__(self) -> None:
        super().__init__("projects", ProjectHistory())


async def projects_by_id(
    pool: asyncpg.Pool, ids: Sequence[Any], moment: Moment | None = None
) -> list[asyncpg.Record | None]:
    """Project rows in the order of `ids` (None where unknown): one query for a whole level."""
    return await by_key(pool, "projects", COLUMNS, "id", ids, moment)


async def disbursements_by_project(
    pool: asyncpg.Pool, project_ids: Sequence[Any], moment: Moment | None = None
) -> list[list[asyncpg.Record]]:
    """Each project's disbursements in position order, in the order of `project_ids`."""
    return await related(
        pool,
        "project_disbursements",
        DISBURSEMENT_COLUMNS,
        "project_id",
        project_ids,
        moment,
        "position",
    )


async def project_page(
    pool: asyncpg.Pool,
    *,
    first: int,
    after_seq: int,
    district: str | None = None,
    status: str | None = None,
    field: str | None = None,
    funder: str | None = None,
    contractor: UUID | None = None,
    moment: Moment | None = None,
) -> tuple[list[asyncpg.Record], bool, int]:
    """One page of projects in approval order, whether more follow, and the total."""
    filters = {
        "district": district,
        "status": status,
        "field": field,
        "funder": funder,
        "contractor": contractor,
    }
    return await page(pool, "projects", COLUMNS, first, after_seq, filters, moment=moment)
