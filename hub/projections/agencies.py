"""Agencies as they stand now, for the `agency` and `agencies` queries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import asyncpg

from hub.projections.changes import Change

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


class Agencies:
    name = "agencies"
    tables = ("agencies",)

    async def apply(self, conn: asyncpg.Connection, changes: Sequence[Change]) -> None:
        mine = [c for c in changes if c.entity_type == "AGENCY"]
        if not mine:
            return
        ids = list({c.entity_id for c in mine})
        rows = {
            r["id"]: dict(r)
            for r in await conn.fetch(
                f"SELECT {', '.join(COLUMNS)} FROM agencies WHERE id = ANY($1)", ids
            )
        }
        for change in mine:
            rows[change.entity_id] = fold(rows.get(change.entity_id), change)
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS if c not in ("id", "seq"))
        placeholders = ", ".join(f"${i}" for i in range(1, len(COLUMNS) + 1))
        await conn.executemany(
            f"INSERT INTO agencies ({', '.join(COLUMNS)}) VALUES ({placeholders})"
            f" ON CONFLICT (id) DO UPDATE SET {updates}",
            [tuple(row[c] for c in COLUMNS) for row in rows.values()],
        )


async def agencies_by_id(pool: asyncpg.Pool, ids: Sequence[Any]) -> list[asyncpg.Record | None]:
    """Agency rows in the order of `ids` (None where unknown): one query for a whole level."""
    rows = await pool.fetch(f"SELECT {', '.join(COLUMNS)} FROM agencies WHERE id = ANY($1)", ids)
    found = {r["id"]: r for r in rows}
    return [found.get(i) for i in ids]


async def agency_page(
    pool: asyncpg.Pool,
    *,
    first: int,
    after_seq: int,
    district: str | None = None,
    kind: str | None = None,
    status: str | None = None,
    field: str | None = None,
) -> tuple[list[asyncpg.Record], bool, int]:
    """One page of agencies in registration order, whether more follow, and the total."""
    where, args = [], []
    for column, value in (("district", district), ("kind", kind), ("status", status)):
        if value is not None:
            args.append(value)
            where.append(f"{column} = ${len(args)}")
    if field is not None:
        args.append([field])
        where.append(f"fields @> ${len(args)}")
    condition = " AND ".join(where) or "true"
    total = await pool.fetchval(f"SELECT count(*) FROM agencies WHERE {condition}", *args)
    args += [after_seq, first + 1]
    rows = await pool.fetch(
        f"SELECT {', '.join(COLUMNS)} FROM agencies WHERE {condition} AND seq > ${len(args) - 1}"
        f" ORDER BY seq LIMIT ${len(args)}",
        *args,
    )
    return rows[:first], len(rows) > first, total
