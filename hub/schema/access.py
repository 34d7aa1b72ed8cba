"""`personalDataAccess`: who was shown which worker's name or ID number, for those who
answer for personal data (MUNICIPAL) and those who check them (AUDITOR)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import strawberry

from hub.domain.envelope import Actor as DomainActor
from hub.domain.envelope import Role as DomainRole
from hub.domain.errors import Forbidden, InvalidInput
from hub.schema.common import Actor, Connection, connection, decode_place_cursor, page_size
from hub.schema.context import Info
from hub.schema.mutations import record_id
from hub.schema.worker import Worker, related_worker
from hub.service.access_log import access_page
from hub.service.refusals import answer

READERS = (DomainRole.MUNICIPAL, DomainRole.AUDITOR)


@strawberry.type(
    description="One answer that showed a worker's name or ID number: to whom, which fields, "
    "when, under which request id. Written in batches, so a reveal appears here within about "
    "a tenth of a second."
)
class PersonalDataAccess:
    at: datetime
    actor: Actor
    fields: list[str] = strawberry.field(description="`name`, `idNumber`, as the API names them.")
    request_id: str | None = strawberry.field(
        description="The `X-Request-ID` of the request (or stream) that showed them."
    )
    row: strawberry.Private[Any]

    @strawberry.field
    async def worker(self, info: Info) -> Worker:
        return await related_worker(info, self.row["worker_id"], None)

    @classmethod
    def of(cls, row: Any) -> PersonalDataAccess:
        role = DomainRole(row["actor_role"])
        return cls(
            at=row["at"],
            actor=Actor(
                sub=row["actor_sub"],
                party=DomainActor(row["actor_sub"], role).party,
                role=role,
                jurisdiction=row["actor_jurisdiction"],
            ),
            fields=list(row["fields"]),
            request_id=row["request_id"],
            row=row,
        )


@strawberry.input(description="Every given condition must hold; the range includes both ends.")
class PersonalDataAccessFilter:
    worker: strawberry.ID | None = None
    actor: str | None = strawberry.field(default=None, description="The actor's `sub`.")
    from_: datetime | None = strawberry.field(
        default=None, name="from", description="Without a time zone, in HUB_TIMEZONE."
    )
    to: datetime | None = strawberry.field(
        default=None, description="Without a time zone, in HUB_TIMEZONE."
    )


@strawberry.type
class AccessQueries:
    @strawberry.field(
        description="The personal-data access log, oldest first: every answer that showed a "
        "worker's name or ID number (a query, a history entry, a stream event). MUNICIPAL and "
        "AUDITOR callers only."
    )
    async def personal_data_access(
        self,
        info: Info,
        filter: PersonalDataAccessFilter | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> Connection[PersonalDataAccess]:
        caller = info.context.caller
        if caller.role not in READERS:
            refusal = Forbidden(
                f"{caller.role.value} may not read the personal-data access log; allowed: "
                + ", ".join(r.value for r in READERS)
            )
            raise answer(refusal).graphql_error() from None
        chosen = filter or PersonalDataAccessFilter()
        zone = ZoneInfo(info.context.hub.settings.timezone)
        start, end = (
            None if t is None else t if t.tzinfo else t.replace(tzinfo=zone)
            for t in (chosen.from_, chosen.to)
        )
        if start is not None and end is not None and start > end:
            raise InvalidInput("from is after to", "to")
        rows, more, total = await access_page(
            info.context.hub.pool,
            first=page_size(first),
            after=decode_place_cursor("access", after),
            worker=record_id(chosen.worker) if chosen.worker else None,
            actor=chosen.actor,
            start=start,
            end=end,
        )
        return connection(
            "access",
            list(rows),
            more,
            total,
            node=PersonalDataAccess.of,
            order=lambda row: (row["seq"], row["place"]),
        )
