"""The schema's roots: every query and mutation of API.md that exists so far."""

from __future__ import annotations

import strawberry
from strawberry.extensions import ParserCache, ValidationCache

from hub.domain.reference import DISTRICTS
from hub.projections import event_log
from hub.schema import agency, audit, community, course, project, station, worker
from hub.schema.auth import Authenticated
from hub.schema.common import District, Event, Principal
from hub.schema.context import Info
from hub.schema.events import present
from hub.schema.mutations import record_id
from hub.schema.subscription import Subscription

# Each record type contributes its queries and mutations.
RECORD_QUERIES = (
    agency.AgencyQueries,
    worker.WorkerQueries,
    course.CourseQueries,
    project.ProjectQueries,
    community.CommunityQueries,
    station.StationQueries,
    audit.AuditQueries,
)
RECORD_MUTATIONS = (
    agency.AgencyMutations,
    worker.WorkerMutations,
    course.CourseMutations,
    project.ProjectMutations,
    station.StationMutations,
)


@strawberry.type
class Query(*RECORD_QUERIES):
    @strawberry.field(description="The city's 38 districts and counties.")
    def districts(self) -> list[District]:
        return [District.of(code) for code in DISTRICTS]

    @strawberry.field(description="Every event of one record, oldest first.")
    async def history(self, info: Info, id: strawberry.ID) -> list[Event]:
        rows = await event_log.history(info.context.hub.pool, record_id(id))
        return await present(info.context.hub.pool, info.context.caller, rows)

    @strawberry.field(description="The last event position the read views include.")
    async def position(self, info: Info) -> int:
        return await event_log.included_position(info.context.hub.pool)

    @strawberry.field(description="The caller, as its token names it.")
    def me(self, info: Info) -> Principal:
        actor = info.context.caller
        return Principal(
            sub=actor.sub,
            role=actor.role,
            party=actor.party,
            district=District.of(actor.district) if actor.district else None,
            agency=strawberry.ID(actor.agency) if actor.agency else None,
            jurisdiction=actor.jurisdiction,
        )


@strawberry.type
class Mutation(*RECORD_MUTATIONS):
    pass


schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    extensions=[
        Authenticated,
        lambda: ParserCache(maxsize=1024),
        lambda: ValidationCache(maxsize=1024),
    ],
)
