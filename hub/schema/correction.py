"""`retractEvents`: a correction that takes earlier events out of every read view and
`asOf` answer recorded after it."""

from __future__ import annotations

import strawberry

from hub.commands.correction import retract_events
from hub.projections.event_log import events_at, retractions_with
from hub.schema.common import Event
from hub.schema.context import Info
from hub.schema.events import present
from hub.schema.mutations import RecordInput, command, payload
from hub.service.database import unavailable


@strawberry.input(
    description="Retract the events at `positions` (reason required). Events written together "
    "with them (a post's holder and the worker's post) go too; retracting a retraction "
    "restores what it retracted."
)
class RetractEventsInput(RecordInput):
    positions: list[int]


RetractEventsPayload = payload(
    "RetractEvents", "events", list[Event], "The retractions written, one per record touched."
)


@strawberry.type
class CorrectionMutations:
    @strawberry.mutation
    async def retract_events(self, info: Info, input: RetractEventsInput) -> RetractEventsPayload:
        result = await command(info, retract_events, input, {"positions": list(input.positions)})
        if result.position is None:
            return RetractEventsPayload(events=[], position=None, errors=result.errors)
        pool = info.context.hub.pool
        try:
            if result.written:
                rows = await events_at(pool, list(result.written))
            else:  # a replay of the same idempotency key: what the first request wrote
                rows = await retractions_with(pool, result.position)
            events = await present(
                info.context.hub, info.context.caller, rows, request_id=info.context.request_id
            )
        except Exception as error:
            if not unavailable(error):
                raise
            events, result = [], result.unseen()
        return RetractEventsPayload(events=events, position=result.position, errors=result.errors)
