"""Posts and their history: which worker holds each, at which station."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from hub.domain.post import Post
from hub.projections.changes import Change, optional_id
from hub.projections.paging import by_key, page, related
from hub.projections.timeline import Moment, RecordViews, RowHistory, Table, status

COLUMNS = (
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


def _created(row: dict[str, Any], change: Change) -> None:
    facts = change.facts
    row.update(
        status="VACANT",
        sector=facts["sector"],
        field=facts["field"],
        district=facts["district"],
        host_organization=facts["host_organization"],
        community=facts["community"],
        station=optional_id(facts["station"]),
        origin=facts["origin"],
        created_on=change.effective_on,
    )


def _filled(row: dict[str, Any], change: Change) -> None:
    row.update(status="FILLED", holder=optional_id(change.facts["worker"]))


def _vacated(row: dict[str, Any], change: Change) -> None:
    row.update(status="VACANT", holder=None)


class PostHistory(RowHistory):
    record = Post
    tables = (Table("posts", COLUMNS),)
    steps = {
        Post.Created: _created,
        Post.Filled: _filled,
        Post.Vacated: _vacated,
        Post.Abolished: status("ABOLISHED"),
    }


class Posts(RecordViews):
    """Until this projection had a name of its own, the stations projection kept the posts:
    migration 013 starts it where that one was."""

    def __init__(self) -> None:
        super().__init__("posts", PostHistory())


async def posts_by_id(
    pool: asyncpg.Pool, ids: Sequence[Any], moment: Moment | None = None
) -> list[Any]:
    return await by_key(pool, "posts", COLUMNS, "id", ids, moment)


async def posts_by_station(
    pool: asyncpg.Pool, ids: Sequence[Any], moment: Moment | None = None
) -> list[list[Any]]:
    return await related(pool, "posts", COLUMNS, "station", ids, moment)


async def posts_by_holder(
    pool: asyncpg.Pool, ids: Sequence[Any], moment: Moment | None = None
) -> list[list[Any]]:
    return await related(pool, "posts", COLUMNS, "holder", ids, moment)


async def post_page(
    pool: asyncpg.Pool,
    *,
    first: int,
    after_seq: int,
    moment: Moment | None = None,
    **filters: Any,
) -> tuple[list[Any], bool, int]:
    return await page(pool, "posts", COLUMNS, first, after_seq, filters, moment=moment)
