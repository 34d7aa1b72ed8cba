"""Stations, their staff and posts as they stand now."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg

from hub.projections.changes import Change
from hub.projections.paging import by_key, grouped, page, upsert

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


class Stations:
    name = "stations"
    tables = ("stations", "station_staff", "posts")

    async def apply(self, conn: asyncpg.Connection, changes: Sequence[Change]) -> None:
        stations = [c for c in changes if c.entity_type == "STATION"]
        posts = [c for c in changes if c.entity_type == "POST"]
        if stations:
            await upsert(conn, "stations", STATION_COLUMNS, stations, fold_station)
            await self._staff(conn, stations)
        if posts:
            await upsert(conn, "posts", POST_COLUMNS, posts, fold_post)

    async def _staff(self, conn: asyncpg.Connection, changes: Sequence[Change]) -> None:
        for change in changes:
            if change.kind == "StaffAssigned":
                await conn.execute(
                    "INSERT INTO station_staff (station_id, worker_id, full_time, since, position)"
                    " VALUES ($1, $2, $3, $4::text::date, $5)",
                    change.entity_id,
                    UUID(change.facts["worker"]),
                    change.facts["full_time"],
                    change.envelope["effective_on"],
                    change.position,
                )
            elif change.kind == "StaffReleased":
                await conn.execute(
                    "DELETE FROM station_staff WHERE station_id = $1 AND worker_id = $2",
                    change.entity_id,
                    UUID(change.facts["worker"]),
                )
            elif change.kind == "Closed":
                await conn.execute(
                    "DELETE FROM station_staff WHERE station_id = $1", change.entity_id
                )


async def stations_by_id(pool: asyncpg.Pool, ids: Sequence[Any]) -> list[Any]:
    return await by_key(pool, "stations", STATION_COLUMNS, "id", ids)


async def posts_by_id(pool: asyncpg.Pool, ids: Sequence[Any]) -> list[Any]:
    return await by_key(pool, "posts", POST_COLUMNS, "id", ids)


async def staff_by_station(pool: asyncpg.Pool, ids: Sequence[Any]) -> list[list[Any]]:
    rows = await pool.fetch(
        "SELECT * FROM station_staff WHERE station_id = ANY($1) ORDER BY position", list(ids)
    )
    return grouped(rows, "station_id", ids)


async def posts_by_station(pool: asyncpg.Pool, ids: Sequence[Any]) -> list[list[Any]]:
    rows = await pool.fetch(
        f"SELECT {', '.join(POST_COLUMNS)} FROM posts WHERE station = ANY($1) ORDER BY seq",
        list(ids),
    )
    return grouped(rows, "station", ids)


async def posts_by_holder(pool: asyncpg.Pool, ids: Sequence[Any]) -> list[list[Any]]:
    rows = await pool.fetch(
        f"SELECT {', '.join(POST_COLUMNS)} FROM posts WHERE holder = ANY($1) ORDER BY seq",
        list(ids),
    )
    return grouped(rows, "holder", ids)


async def station_page(
    pool: asyncpg.Pool, *, first: int, after_seq: int, **filters: Any
) -> tuple[list[Any], bool, int]:
    return await page(pool, "stations", STATION_COLUMNS, first, after_seq, filters)


async def post_page(
    pool: asyncpg.Pool, *, first: int, after_seq: int, **filters: Any
) -> tuple[list[Any], bool, int]:
    return await page(pool, "posts", POST_COLUMNS, first, after_seq, filters)
