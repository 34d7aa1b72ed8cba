"""Communities in the API: read only; `hub import-reference` keeps the list."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from hub.projections.communities import communities_by_code, community_page
from hub.projections.timeline import Moment
from hub.schema.common import (
    AsOf,
    Connection,
    District,
    connection,
    decode_cursor,
    moment_of,
    page_size,
)
from hub.schema.context import Info


@strawberry.type(description="An urban community (社区) or rural village (村) a station serves.")
class Community:
    id: strawberry.ID = strawberry.field(description="Its record id, for `history`.")
    version: int
    code: str = strawberry.field(description="The 12-digit statistical division code.")
    name: str
    district: District
    urban: bool = strawberry.field(
        description="True for an urban community (社区), false for a village (村)."
    )
    updated_at: datetime = strawberry.field(description="When the last change was recorded.")

    @classmethod
    def of(cls, row: Any) -> Community:
        return cls(
            id=strawberry.ID(str(row["id"])),
            version=row["version"],
            code=row["code"],
            name=row["name"],
            district=District.of(row["district"]),
            urban=row["urban"],
            updated_at=row["updated_at"],
        )


@strawberry.input
class CommunityFilter:
    district: str | None = None
    urban: bool | None = None
    name_contains: str | None = strawberry.field(
        default=None, description="Part of the name, matched literally."
    )


async def load_community(info: Info, code: str, moment: Moment | None = None) -> Community | None:
    """The community with this code, batched with every other lookup of the same request;
    as at `moment`, or as now if it was not yet listed then (stations refer to communities
    that reference data may list after the fact)."""
    row = await info.context.loader(communities_by_code, moment).load(code)
    if row is None and moment is not None:
        row = await info.context.loader(communities_by_code).load(code)
    return Community.of(row) if row else None


@strawberry.type
class CommunityQueries:
    @strawberry.field(
        description="One community by its code; at a moment before it was listed, as it "
        "stands now (reference data holds from the beginning)."
    )
    async def community(self, info: Info, code: str, as_of: AsOf | None = None) -> Community | None:
        return await load_community(info, code.strip(), await moment_of(info, as_of))

    @strawberry.field(description="Communities in the order they were listed, filtered.")
    async def communities(
        self,
        info: Info,
        first: int = 50,
        after: str | None = None,
        filter: CommunityFilter | None = None,
        as_of: AsOf | None = None,
    ) -> Connection[Community]:
        chosen = filter or CommunityFilter()
        moment = await moment_of(info, as_of)
        rows, more, total = await community_page(
            info.context.hub.pool,
            first=page_size(first),
            after_seq=decode_cursor("community", after),
            district=chosen.district,
            urban=chosen.urban,
            search=chosen.name_contains.strip() if chosen.name_contains else None,
            moment=moment,
        )
        return connection("community", rows, more, total, node=Community.of)
