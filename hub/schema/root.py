"""The schema's roots: each record type's queries and mutations, and the queries of the
whole registry (districts, history, position, me)."""

from __future__ import annotations

import strawberry

from hub.domain.reference import DISTRICTS
from hub.projections import event_log
from hub.projections.record_history import changes_by_event
from hub.schema import (
    access,
    agency,
    audit,
    community,
    correction,
    course,
    indicators,
    post,
    project,
    station,
    worker,
)
from hub.schema.arguments import PlainTextArguments
from hub.schema.auth import Authenticated
from hub.schema.common import District, Event, FieldChange, Principal
from hub.schema.context import Info
from hub.schema.events import present
from hub.schema.limits import QueryLimits
from hub.schema.mutations import record_id
from hub.schema.planned import PlannedReads
from hub.schema.subscription import SharedEventExecution, Subscription

# Each record type contributes its queries and mutations.
RECORD_QUERIES = (
    agency.AgencyQueries,
    worker.WorkerQueries,
    course.CourseQueries,
    project.ProjectQueries,
    community.CommunityQueries,
    station.StationQueries,
    post.PostQueries,
    audit.AuditQueries,
    indicators.IndicatorQueries,
    access.AccessQueries,
)
RECORD_MUTATIONS = (
    agency.AgencyMutations,
    worker.WorkerMutations,
    course.CourseMutations,
    project.ProjectMutations,
    station.StationMutations,
    post.PostMutations,
    correction.CorrectionMutations,
)


@strawberry.type
class Query(*RECORD_QUERIES):
    @strawberry.field(description="The city's 38 districts and counties.")
    def districts(self) -> list[District]:
        return [District.of(code) for code in DISTRICTS]

    @strawberry.field(
        description="Every event of one record, oldest first, with the fields each changed."
    )
    async def history(self, info: Info, id: strawberry.ID) -> list[Event]:
        pool = info.context.hub.pool
        rows = await event_log.history(pool, record_id(id))
        events = await present(
            info.context.hub, info.context.caller, rows, request_id=info.context.request_id
        )
        if rows:
            changes = await changes_by_event(
                pool,
                rows[0]["entity_type"],
                rows[0]["entity_id"],
                [(r["position"], r["effective_on"]) for r in rows],
            )
            for event, changed in zip(events, changes, strict=True):
                event.changes = [FieldChange(field=f, before=b, after=a) for f, b, a in changed]
        return events

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
    execution_context_class=SharedEventExecution,
    extensions=[
        Authenticated,
        PlainTextArguments,
        lambda: QueryLimits(maxsize=1024),
        PlannedReads,
    ],
)
