"""Communities as they stand now, for the `community` and `communities` queries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from hub.projections.changes import Change
from hub.projections.paging import by_key, page, upsert

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
        await upsert(conn, "communities", COLUMNS, mine, fold)


async def communities_by_code(
    pool: asyncpg.Pool, codes: Sequence[str]
) -> list[asyncpg.Record | None]:
    """Community rows in the order of `codes` (None where unknown): one query for a level."""
    return await by_key(pool, "communities", COLUMNS, "code", codes)


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
    filters = {"district": district, "urban": urban}
    conditions = {"name": ("strpos(name, $?) > 0", search or None)}
    return await page(
        pool, "communities", COLUMNS, first, after_seq, filters, conditions=conditions
    )
