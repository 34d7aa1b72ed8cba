"""Communities and their history, for the `community` and `communities` queries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from hub.domain.community import Community
from hub.projections.changes import Change
from hub.projections.paging import by_key, page
from hub.projections.timeline import Moment, RecordViews, RowHistory, Table, visible

COLUMNS = ("code", "id", "name", "district", "urban", "version", "seq", "updated_at")


def _listed(row: dict[str, Any], change: Change) -> None:
    facts = change.facts
    row.update(
        code=facts["code"], name=facts["name"], district=facts["district"], urban=facts["urban"]
    )


def _amended(row: dict[str, Any], change: Change) -> None:
    row.update(change.facts["changes"])


class CommunityHistory(RowHistory):
    record = Community
    tables = (Table("communities", COLUMNS),)
    steps = {Community.Listed: _listed, Community.Amended: _amended}


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


def listed_or_as_now(moment: Moment, args: list[Any] | None = None, alias: str = "") -> str:
    """The SQL selecting each community as at `moment`, or as now if it was not listed yet
    then: reference data holds from the beginning, as `station(asOf).community` answers.
    Parameters as `visible`'s; `alias` names the communities' row (none: the table)."""
    return (
        f"({visible(moment, args, alias)} OR ({visible(None, None, alias)} AND NOT EXISTS ("
        f"SELECT 1 FROM communities AS listed WHERE listed.id = {alias or 'communities'}.id"
        f" AND {visible(moment, args, 'listed')})))"
    )
