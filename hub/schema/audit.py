"""`auditTrail`: who did what, in which capacity, filtered and paged."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime

import strawberry

from hub.domain.envelope import ACCOUNTABLE_PARTIES, Actor
from hub.domain.errors import CommandRefused, InvalidInput
from hub.domain.reference import DISTRICTS
from hub.projections.event_log import audit_page
from hub.schema.common import (
    Connection,
    EntityType,
    Event,
    connection,
    decode_cursor,
    page_size,
    zoned,
)
from hub.schema.context import Info
from hub.schema.events import present
from hub.schema.mutations import record_id
from hub.service.refusals import answer
from hub.streams.follow import Scope
from hub.tools.event_reference import event_type_names


@strawberry.input(description="Every given condition must hold; ranges include both ends.")
class AuditFilter:
    actor: str | None = strawberry.field(default=None, description="The actor's `sub`.")
    party: str | None = strawberry.field(
        default=None, description="MUNICIPAL, DISTRICT or CONTRACTOR."
    )
    district: str | None = None
    entity_types: list[EntityType] | None = None
    entity_id: strawberry.ID | None = None
    type: str | None = strawberry.field(default=None, description="e.g. AgencySuspended.")
    recorded_from: datetime | None = None
    recorded_to: datetime | None = None
    effective_from: date | None = None
    effective_to: date | None = None


def check_vocabulary(chosen: AuditFilter) -> None:
    """A filter value outside the vocabulary is refused rather than matching nothing, so a
    misspelt party, district or event type is not mistaken for an empty trail."""
    parties = ", ".join(ACCOUNTABLE_PARTIES)
    if chosen.party is not None and chosen.party not in ACCOUNTABLE_PARTIES:
        raise InvalidInput(f"party {chosen.party!r} is not one of {parties}", "party")
    if chosen.district is not None and chosen.district not in DISTRICTS:
        raise InvalidInput(
            f"district {chosen.district!r} is not one of the city's district codes", "district"
        )
    if chosen.type is not None and chosen.type not in event_type_names():
        raise InvalidInput(
            f"type {chosen.type!r} is not an event type (see docs/events.md)", "type"
        )


def zoned_filter(chosen: AuditFilter, timezone: str) -> AuditFilter:
    """`chosen` with its recorded times read in `timezone` where given without a zone (as
    `asOf.recorded` is), so that its two ends compare."""
    return dataclasses.replace(
        chosen,
        recorded_from=chosen.recorded_from and zoned(chosen.recorded_from, timezone),
        recorded_to=chosen.recorded_to and zoned(chosen.recorded_to, timezone),
    )


def audit_scope(actor: Actor, chosen: AuditFilter) -> Scope:
    """The events `chosen` asks `actor` for, or the refusal (`CommandRefused`) of a filter
    whose range ends are the wrong way round, or that is outside the vocabulary or the
    caller's scope."""
    for start, end, name in (
        (chosen.recorded_from, chosen.recorded_to, "recorded"),
        (chosen.effective_from, chosen.effective_to, "effective"),
    ):
        if start is not None and end is not None and start > end:
            raise InvalidInput(f"{name}From is after {name}To", f"{name}To")
    check_vocabulary(chosen)
    types = [t.value for t in chosen.entity_types or []] or None
    return Scope.of(actor, types, chosen.district)


@strawberry.type
class AuditQueries:
    @strawberry.field(
        description="The log of changes in position order: who did what, in which capacity. "
        "DISTRICT callers see their district's records, CONTRACTOR callers their agency's; "
        "personal data is shown as in `history`."
    )
    async def audit_trail(
        self,
        info: Info,
        first: int = 50,
        after: str | None = None,
        filter: AuditFilter | None = None,
    ) -> Connection[Event]:
        chosen = zoned_filter(filter or AuditFilter(), info.context.hub.settings.timezone)
        actor = info.context.caller
        try:
            scope = audit_scope(actor, chosen)
        except CommandRefused as refusal:
            raise answer(refusal).graphql_error() from None
        rows, more, total = await audit_page(
            info.context.hub.pool,
            first=page_size(first),
            after=decode_cursor("event", after),
            actor=chosen.actor,
            party=chosen.party,
            district=scope.district,
            agency=scope.agency,
            entity_types=scope.entity_types,
            type=chosen.type,
            entity_id=record_id(chosen.entity_id) if chosen.entity_id else None,
            recorded_from=chosen.recorded_from,
            recorded_to=chosen.recorded_to,
            effective_from=chosen.effective_from,
            effective_to=chosen.effective_to,
        )
        events = await present(info.context.hub, actor, rows, request_id=info.context.request_id)
        return connection(
            "event", events, more, total, node=lambda e: e, order=lambda e: e.position
        )
