"""Communities as they stand now, for the `community` and `communities` queries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from hub.projections.changes import Change

COLUMNS = ("code", "id", "name", "district", "urban", "version", "seq", "updated_at")


def fold(row: dict[str, Any] | None, change: Change) -> dict[str, Any]:
    """The community row after one change."""
    facts = change.facts
    if change.kind == "Listed":
        row = {
            "code": facts["code"],
            "id": change.entity_id,
            "name": facts["name"],
            "district": facts["district"],
            "urban": facts["urban"],
            "seq": change.position,
        }
    else:
        assert row is not None, f"{change.type} at {change.position} for an unknown community"
        assert change.kind == "Amended", change.type
        row = dict(row)
        row.update(facts["changes"])
    row.update(version=change.version, updated_at=change.recorded_at)
    return row


class Communities:
    name = "communities"
    tables = ("communities",)

    async def apply(self, conn: asyncpg.Connection, changes: Sequence[Change]) -> None:
        mine = [c for c in changes if c.entity_type == "COMMUNITY"]
        if not mine:
            return
        ids = list({c.entity_id for c in mine})
        rows = {
            r["id"]: dict(r)
            for r in await conn.fetch(
                f"SELECT {', '.join(COLUMNS)} FROM communities WHERE id = ANY($1)", ids
            )
        }
        for change in mine:
            rows[change.entity_id] = fold(rows.get(change.entity_id), change)
        keep = ("code", "id", "seq")
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS if c not in keep)
        placeholders = ", ".join(f"${i}" for i in range(1, len(COLUMNS) + 1))
        await conn.executemany(
            f"INSERT INTO communities ({', '.join(COLUMNS)}) VALUES ({placeholders})"
            f" ON CONFLICT (code) DO UPDATE SET {updates}",
            [tuple(row[c] for c in COLUMNS) for row in rows.values()],
        )


async def communities_by_code(
    pool: asyncpg.Pool, codes: Sequence[str]
) -> list[asyncpg.Record | None]:
    """Community rows in the order of `codes` (None where unknown): one query for a level."""
    rows = await pool.fetch(
        f"SELECT {', '.join(COLUMNS)} FROM communities WHERE code = ANY($1)", list(codes)
    )
    found = {r["code"]: r for r in rows}
    return [found.get(c) for c in codes]


async def community_page(
    pool: asyncpg.Pool,
    *,
    first: int,
    after_seq: int,
    district: str | None = None,
    urban: bool | None = None,
    search: str | None = None,
) -> tuple[list[asyncpg.Record], bool, int]:
    """One page of communities in listing order, whether more follow, and the total.

    `search` matches anywhere in the name, taken literally (no wildcards).
    """
    where, args = [], []
    for column, value in (("district", district), ("urban", urban)):
        if value is not None:
            args.append(value)
            where.append(f"{column} = ${len(args)}")
    if search:
        args.append(search)
        where.append(f"strpos(name, ${len(args)}) > 0")
    condition = " AND ".join(where) or "true"
    total = await pool.fetchval(f"SELECT count(*) FROM communities WHERE {condition}", *args)
    args += [after_seq, first + 1]
    rows = await pool.fetch(
        f"SELECT {', '.join(COLUMNS)} FROM communities WHERE {condition}"
        f" AND seq > ${len(args) - 1} ORDER BY seq LIMIT ${len(args)}",
        *args,
    )
    return rows[:first], len(rows) > first, total
