"""Service projects as they stand now, and their disbursements, for `project` and `projects`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from hub.projections.changes import Change
from hub.projections.paging import by_key, page, related
from hub.projections.timeline import Moment, RecordViews, RowHistory, State, Table

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


def _effective_on(change: Change) -> date:
    return date.fromisoformat(change.envelope["effective_on"])


def fold(row: dict[str, Any] | None, change: Change) -> dict[str, Any]:
    """The project row after one change."""
    facts = change.facts
    if change.kind == "Approved":
        row = {column: None for column in COLUMNS}
        row.update(
            id=change.entity_id,
            seq=change.position,
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
            approved_on=_effective_on(change),
            disbursed=Decimal("0.00"),
        )
    else:
        assert row is not None, f"{change.type} at {change.position} for an unknown project"
        row = dict(row)
        if change.kind == "FundsDisbursed":
            row["disbursed"] += facts["amount"]
        elif change.kind == "ProgressReported":
            row.update(
                percent_complete=facts["percent_complete"],
                progress_summary=facts["summary"],
                progress_reported_on=_effective_on(change),
            )
        elif change.kind == "EvaluationCommissioned":
            row.update(
                status="EVALUATION_COMMISSIONED",
                evaluator=facts["evaluator"],
                evaluation_commissioned_on=_effective_on(change),
            )
        elif change.kind == "EvaluationConcluded":
            row.update(
                status="EVALUATED",
                evaluation_score=facts["score"],
                evaluation_grade=facts["grade"],
                evaluation_concluded_on=_effective_on(change),
            )
        else:
            assert change.kind == "Closed", change.type
            row["status"] = "CLOSED"
    row.update(version=change.version, updated_at=change.recorded_at)
    return row


class ProjectHistory(RowHistory):
    entity_type = "PROJECT"
    tables = (
        Table("projects", COLUMNS),
        Table("project_disbursements", DISBURSEMENT_COLUMNS, ("project_id", "position")),
    )
    fold_row = staticmethod(fold)

    def fold_children(self, state: State, change: Change) -> None:
        if change.kind == "FundsDisbursed":
            state["project_disbursements"][(change.entity_id, change.position)] = {
                "project_id": change.entity_id,
                "position": change.position,
                "amount": change.facts["amount"],
                "effective_on": change.effective_on,
                "recorded_at": change.recorded_at,
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
