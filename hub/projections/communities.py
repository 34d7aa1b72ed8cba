"""Communities and their history, for the `community` and `communities` queries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from hub.projections.changes import Change
from hub.projections.paging import by_key, page
from hub.projections.timeline import Moment, RecordViews, RowHistory, Table, visible

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


class CommunityHistory(RowHistory):
    entity_type = "COMMUNITY"
    tables = (Table("communities", COLUMNS),)
    fold_row = staticmethod(fold)


class Communities(RecordViews):
    def __init__(self) -> None:
        super().__init__("communities", CommunityHistory())


async def communities_by_code(
    pool: asyncpg.Pool, codes: Sequence[str], moment: Moment | None = None
) -> list[asyncpg.Record | None]:
    """Community rows in the order of `codes` (None where unknown): one query for a level."""
    return await by_key(pool, "communities", COLUMNS, "code", codes, moment)


async def community_page(
    pool: asyncpg.Pool,
    *,
    first: int,
    after_seq: int,
    district: str | None = None,
    urban: bool | None = None,
    search: str | None = None,
    moment: Moment | None = None,
) -> tuple[list[asyncpg.Record], bool, int]:
    """One page of communities in listing order, whether more follow, and the total; at a
    moment before a community was listed, as it stands now.

    `search` matches anywhere in the name, taken literally (no wildcards).
    """
    filters = {"district": district, "urban": urban}
    conditions = {"name": ("strpos(name, $?) > 0", search or None)}
    return await page(
        pool,
        "communities",
        COLUMNS,
        first,
        after_seq,
        filters,
        conditions=conditions,
        moment=moment,
        visibility=None if moment is None else listed_or_as_now(moment),
    )


def listed_or_as_now(moment: Moment) -> str:
    """The SQL selecting each community as at `moment`, or as now if it was not listed yet
    then: reference data holds from the beginning, as `station(asOf).community` answers."""
    return (
        f"({visible(moment, None)} OR ({visible(None, None)} AND NOT EXISTS ("
        f"SELECT 1 FROM communities AS listed WHERE listed.id = communities.id"
        f" AND {visible(moment, None, 'listed')})))"
    )
