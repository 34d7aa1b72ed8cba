"""Posts in the API: the type, its list, its mutations."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

import strawberry

from hub.commands import post as post_commands
from hub.domain.vocabulary import PostOrigin as DomainPostOrigin
from hub.domain.vocabulary import PostSector as DomainPostSector
from hub.domain.vocabulary import PostStatus as DomainPostStatus
from hub.domain.vocabulary import ServiceField as DomainServiceField
from hub.projections.posts import post_page, posts_by_holder, posts_by_id, posts_by_station
from hub.projections.timeline import Moment
from hub.schema.agency import ServiceField
from hub.schema.common import (
    AsOf,
    Connection,
    District,
    connection,
    decode_cursor,
    moment_of,
    page_size,
    value_of,
)
from hub.schema.community import Community, load_community
from hub.schema.context import Info
from hub.schema.mutations import ExistingRecordInput, RecordInput, record_id, record_payload
from hub.schema.station import Station, load_station
from hub.schema.worker import Worker, related_worker

PostSector = strawberry.enum(DomainPostSector)
PostOrigin = strawberry.enum(DomainPostOrigin)
PostStatus = strawberry.enum(DomainPostStatus)


@strawberry.type(description="A social-work professional post (社会工作专业岗位).")
class Post:
    id: strawberry.ID
    version: int
    status: PostStatus
    sector: PostSector
    field: ServiceField
    district: District
    host_organization: str
    origin: PostOrigin
    created_on: date
    updated_at: datetime
    row: strawberry.Private[Any]
    moment: strawberry.Private[Moment | None]

    @classmethod
    def of(cls, row: Any, moment: Moment | None = None) -> Post:
        return cls(
            id=strawberry.ID(str(row["id"])),
            version=row["version"],
            status=DomainPostStatus(row["status"]),
            sector=DomainPostSector(row["sector"]),
            field=DomainServiceField(row["field"]),
            district=District.of(row["district"]),
            host_organization=row["host_organization"],
            origin=DomainPostOrigin(row["origin"]),
            created_on=row["created_on"],
            updated_at=row["updated_at"],
            row=row,
            moment=moment,
        )

    @strawberry.field
    async def community(self, info: Info) -> Community | None:
        if not self.row["community"]:
            return None
        return await load_community(info, self.row["community"], self.moment)

    @strawberry.field
    async def station(self, info: Info) -> Station | None:
        if self.row["station"] is None:
            return None
        return await load_station(info, self.row["station"], self.moment)

    @strawberry.field
    async def holder(self, info: Info) -> Worker | None:
        if self.row["holder"] is None:
            return None
        return await related_worker(info, self.row["holder"], self.moment)


async def load_post(info: Info, id: UUID, moment: Moment | None = None) -> Post | None:
    row = await info.context.loader(posts_by_id, moment).load(id)
    return Post.of(row, moment) if row else None


async def worker_posts(info: Info, worker_id: UUID, moment: Moment | None = None) -> list[Post]:
    """The posts a worker holds (at most one), for `Worker.posts`."""
    rows = await info.context.loader(posts_by_holder, moment).load(worker_id)
    return [Post.of(r, moment) for r in rows]


async def station_posts(info: Info, station_id: UUID, moment: Moment | None = None) -> list[Post]:
    """The posts at a station, for `Station.posts`."""
    rows = await info.context.loader(posts_by_station, moment).load(station_id)
    return [Post.of(r, moment) for r in rows]


@strawberry.input
class PostFilter:
    district: str | None = None
    status: PostStatus | None = None
    sector: PostSector | None = None
    field: ServiceField | None = None
    station: strawberry.ID | None = None


@strawberry.type
class PostQueries:
    @strawberry.field(description="One post by id.")
    async def post(self, info: Info, id: strawberry.ID, as_of: AsOf | None = None) -> Post | None:
        return await load_post(info, record_id(id), await moment_of(info, as_of))

    @strawberry.field(description="Posts in order of creation, filtered.")
    async def posts(
        self,
        info: Info,
        first: int = 50,
        after: str | None = None,
        filter: PostFilter | None = None,
        as_of: AsOf | None = None,
    ) -> Connection[Post]:
        f = filter or PostFilter()
        moment = await moment_of(info, as_of)
        rows, more, total = await post_page(
            info.context.hub.pool,
            first=page_size(first),
            after_seq=decode_cursor("post", after),
            district=f.district,
            status=value_of(f.status),
            sector=value_of(f.sector),
            field=value_of(f.field),
            station=record_id(f.station) if f.station else None,
            moment=moment,
        )
        return connection("post", rows, more, total, node=lambda r: Post.of(r, moment))


PostPayload = record_payload(Post, load_post)


@strawberry.input
class CreatePostInput(RecordInput):
    sector: PostSector
    field: ServiceField
    district: str
    host_organization: str
    origin: PostOrigin
    community: str | None = None
    station: strawberry.ID | None = None


@strawberry.input
class FillPostInput(ExistingRecordInput):
    worker: strawberry.ID


@strawberry.input(description="Vacate a post, or abolish one (reason required).")
class PostLifecycleInput(ExistingRecordInput):
    pass


@strawberry.type
class PostMutations:
    @strawberry.mutation
    async def create_post(self, info: Info, input: CreatePostInput) -> PostPayload:
        return await PostPayload.answer(
            info,
            post_commands.create_post,
            input,
            sector=input.sector.value,
            field=input.field.value,
            district=input.district,
            host_organization=input.host_organization,
            community=input.community,
            station=input.station,
            origin=input.origin.value,
        )

    @strawberry.mutation
    async def fill_post(self, info: Info, input: FillPostInput) -> PostPayload:
        return await PostPayload.answer(info, post_commands.fill_post, input, worker=input.worker)

    @strawberry.mutation
    async def vacate_post(self, info: Info, input: PostLifecycleInput) -> PostPayload:
        return await PostPayload.answer(info, post_commands.vacate_post, input)

    @strawberry.mutation
    async def abolish_post(self, info: Info, input: PostLifecycleInput) -> PostPayload:
        return await PostPayload.answer(info, post_commands.abolish_post, input)
