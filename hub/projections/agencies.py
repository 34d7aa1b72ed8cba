"""Agencies and their history, for the `agency` and `agencies` queries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import asyncpg

from hub.projections.changes import Change
from hub.projections.paging import by_key, page
from hub.projections.timeline import Moment, RecordViews, RowHistory, Table

COLUMNS = (
    "id",
    "seq",
    "version",
    "name",
    "credit_code",
    "district",
    "kind",
    "fields",
    "status",
    "registered_on",
    "incubator",
    "incubated_from",
    "incubated_to",
    "demonstration_programme",
    "demonstration_year",
    "updated_at",
)


def fold(row: dict[str, Any] | None, change: Change) -> dict[str, Any]:
    """The agency row after one change."""
    facts = change.facts
    if change.kind == "Registered":
        row = {column: None for column in COLUMNS}
        row.update(
            id=change.entity_id,
            seq=change.position,
            name=facts["name"],
            credit_code=facts["credit_code"],
            district=facts["district"],
            kind=facts["kind"],
            fields=facts["fields"],
            status="ACTIVE",
            registered_on=date.fromisoformat(change.envelope["effective_on"]),
        )
    else:
        assert row is not None, f"{change.type} at {change.position} for an unknown agency"
        row = dict(row)
        if change.kind == "ProfileUpdated":
            row.update(facts["changes"])
        elif change.kind == "Incubated":
            row.update(
                incubator=facts["incubator"],
                incubated_from=facts["start"],
                incubated_to=facts["end"],
            )
        elif change.kind == "DemonstrationDesignated":
            row.update(demonstration_programme=facts["programme"], demonstration_year=facts["year"])
        else:
            row["status"] = {
                "Suspended": "SUSPENDED",
                "Reinstated": "ACTIVE",
                "Deregistered": "DEREGISTERED",
            }[change.kind]
    row.update(version=change.version, updated_at=change.recorded_at)
    return row


class AgencyHistory(RowHistory):
    entity_type = "AGENCY"
    tables = (Table("agencies", COLUMNS),)
    fold_row = staticmethod(fold)


class Agencies(RecordViews):
    def __init__(self) -> None:
        super().__init__("agencies", AgencyHistory())


async def agencies_by_id(
    pool: asyncpg.Pool, ids: Sequence[Any], moment: Moment | None = None
) -> list[asyncpg.Record | None]:
    """Agency rows in the order of `ids` (None where unknown): one query for a whole level."""
    return await by_key(pool, "agencies", COLUMNS, "id", ids, moment)


async def agency_page(
    pool: asyncpg.Pool,
    *,
    first: int,
    after_seq: int,
    district: str | None = None,
    kind: str | None = None,
    status: str | None = None,
    field: str | None = None,
    moment: Moment | None = None,
) -> tuple[list[asyncpg.Record], bool, int]:
    """One page of agencies in registration order, whether more follow, and the total."""
    return await page(
        pool,
        "agencies",
        COLUMNS,
        first,
        after_seq,
        {"district": district, "kind": kind, "status": status},
        contains={"fields": [field] if field else None},
        moment=moment,
    )
