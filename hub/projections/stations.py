"""Stations, their staff and posts, with their history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg

from hub.projections.changes import Change
from hub.projections.paging import by_key, page, related
from hub.projections.timeline import Moment, RecordViews, RowHistory, State, Table

STATION_COLUMNS = (
    "id",
    "seq",
    "version",
    "status",
    "name",
    "community",
    "district",
    "operator",
    "operator_from",
    "operator_to",
    "assessed_on",
    "hardware",
    "duties",
    "mechanism",
    "funding",
    "service_standards",
    "performance",
    "demonstration_programme",
    "demonstration_year",
    "established_on",
    "updated_at",
)
POST_COLUMNS = (
    "id",
    "seq",
    "version",
    "status",
    "sector",
    "field",
    "district",
    "host_organization",
    "community",
    "station",
    "origin",
    "holder",
    "created_on",
    "updated_at",
)


def _uuid(value: str | None) -> UUID | None:
    return UUID(value) if value else None


def fold_station(row: dict[str, Any] | None, change: Change) -> dict[str, Any]:
    facts, on = change.facts, date.fromisoformat(change.envelope["effective_on"])
    if change.kind == "Established":
        row = dict.fromkeys(STATION_COLUMNS)
        row.update(
            id=change.entity_id,
            seq=change.position,
            status="OPEN",
            name=facts["name"],
            community=facts["community"],
            district=facts["district"],
            established_on=on,
        )
    else:
        assert row is not None, f"{change.type} at {change.position} for an unknown station"
        row = dict(row)
        if change.kind == "OperatorContracted":
            row.update(
                operator=_uuid(facts["agency"]),
                operator_from=facts["start"],
                operator_to=facts["end"],
            )
        elif change.kind == "Assessed":
            row.update(facts["scores"], assessed_on=on)
        elif change.kind == "DemonstrationDesignated":
            row.update(demonstration_programme=facts["programme"], demonstration_year=facts["year"])
        elif change.kind == "Closed":
            row["status"] = "CLOSED"
    row.update(version=change.version, updated_at=change.recorded_at)
    return row


def fold_post(row: dict[str, Any] | None, change: Change) -> dict[str, Any]:
    facts = change.facts
    if change.kind == "Created":
        row = dict.fromkeys(POST_COLUMNS)
        row.update(
            id=change.entity_id,
            seq=change.position,
            status="VACANT",
            sector=facts["sector"],
            field=facts["field"],
            district=facts["district"],
            host_organization=facts["host_organization"],
            community=facts["community"],
            station=_uuid(facts["station"]),
            origin=facts["origin"],
            created_on=date.fromisoformat(change.envelope["effective_on"]),
        )
    else:
        assert row is not None, f"{change.type} at {change.position} for an unknown post"
        row = dict(row)
        if change.kind == "Filled":
            row.update(status="FILLED", holder=_uuid(facts["worker"]))
        elif change.kind == "Vacated":
            row.update(status="VACANT", holder=None)
        elif change.kind == "Abolished":
            row["status"] = "ABOLISHED"
    row.update(version=change.version, updated_at=change.recorded_at)
    return row


STAFF_COLUMNS = ("station_id", "worker_id", "full_time", "since", "position")


class StationHistory(RowHistory):
    entity_type = "STATION"
    tables = (
        Table("stations", STATION_COLUMNS),
        Table("station_staff", STAFF_COLUMNS, ("station_id", "worker_id")),
    )
    fold_row = staticmethod(fold_station)

    def fold_children(self, state: State, change: Change) -> None:
        staff = state["station_staff"]
        if change.kind == "StaffAssigned":
            worker = UUID(change.facts["worker"])
            staff[(change.entity_id, worker)] = dict(
                zip(
                    STAFF_COLUMNS,
                    (
                        change.entity_id,
                        worker,
                        change.facts["full_time"],
                        change.effective_on,
                        change.position,
                    ),
                    strict=True,
                )
            )
        elif change.kind == "StaffReleased":
            staff.pop((change.entity_id, UUID(change.facts["worker"])), None)
        elif change.kind == "Closed":
            staff.clear()


class PostHistory(RowHistory):
    entity_type = "POST"
    tables = (Table("posts", POST_COLUMNS),)
    fold_row = staticmethod(fold_post)


class Stations(RecordViews):
    def __init__(self) -> None:
        super().__init__("stations", StationHistory(), PostHistory())


async def stations_by_id(
    pool: asyncpg.Pool, ids: Sequence[Any], moment: Moment | None = None
) -> list[Any]:
    return await by_key(pool, "stations", STATION_COLUMNS, "id", ids, moment)


async def posts_by_id(
    pool: asyncpg.Pool, ids: Sequence[Any], moment: Moment | None = None
) -> list[Any]:
    return await by_key(pool, "posts", POST_COLUMNS, "id", ids, moment)


async def staff_by_station(
    pool: asyncpg.Pool, ids: Sequence[Any], moment: Moment | None = None
) -> list[list[Any]]:
    return await related(
        pool, "station_staff", STAFF_COLUMNS, "station_id", ids, moment, "position"
    )


async def posts_by_station(
    pool: asyncpg.Pool, ids: Sequence[Any], moment: Moment | None = None
) -> list[list[Any]]:
    return await related(pool, "posts", POST_COLUMNS, "station", ids, moment)


async def posts_by_holder(
    pool: asyncpg.Pool, ids: Sequence[Any], moment: Moment | None = None
) -> list[list[Any]]:
    return await related(pool, "posts", POST_COLUMNS, "holder", ids, moment)


async def station_page(
    pool: asyncpg.Pool,
    *,
    first: int,
    after_seq: int,
    moment: Moment | None = None,
    **filters: Any,
) -> tuple[list[Any], bool, int]:
    return await page(pool, "stations", STATION_COLUMNS, first, after_seq, filters, moment=moment)


async def post_page(
    pool: asyncpg.Pool,
    *,
    first: int,
    after_seq: int,
    moment: Moment | None = None,
    **filters: Any,
) -> tuple[list[Any], bool, int]:
    return await page(pool, "posts", POST_COLUMNS, first, after_seq, filters, moment=moment)
