"""Types shared by every record type: errors, events, the caller, districts, paging."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any, Generic, NewType, TypeVar
from zoneinfo import ZoneInfo

import strawberry
from strawberry.scalars import JSON

from hub.domain import reference
from hub.domain.envelope import Role as DomainRole
from hub.domain.errors import CommandRefused, InvalidInput, OutcomeUnknown
from hub.domain.records import schema_version
from hub.domain.vocabulary import EntityType as DomainEntityType
from hub.projections.event_log import last_recorded
from hub.projections.held_back import Held
from hub.projections.timeline import Moment
from hub.service.refusals import answer

Role = strawberry.enum(DomainRole, description="The capacity a caller acts in.")
EntityType = strawberry.enum(DomainEntityType, description="The kinds of record.")

MAX_PAGE = 500
T = TypeVar("T")


@strawberry.enum(description="What kind of refusal a UserError is, or what is not known yet.")
class ErrorCode(Enum):
    VALIDATION = "VALIDATION"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    INVALID_STATE = "INVALID_STATE"
    SERVICE_UNAVAILABLE = strawberry.enum_value(
        "SERVICE_UNAVAILABLE",
        description="The database could not be reached; nothing was written: retry.",
    )
    OUTCOME_UNKNOWN = strawberry.enum_value(
        "OUTCOME_UNKNOWN",
        description="Not a refusal: the database went away while saving, so the change may "
        "or may not be stored. Retry with the same idempotencyKey.",
    )
    NOT_YET_VISIBLE = strawberry.enum_value(
        "NOT_YET_VISIBLE",
        description="Not a refusal: the change is stored at `position`, but the read views "
        "did not show it in time (the record in the payload may be null or older).",
    )


@strawberry.type(
    description="Why a mutation was refused (a refused mutation writes nothing), or, with "
    "OUTCOME_UNKNOWN and NOT_YET_VISIBLE, what is not known yet of a change that may be stored."
)
class UserError:
    code: ErrorCode
    field: str | None
    message: str

    @classmethod
    def of(cls, refusal: CommandRefused | OutcomeUnknown) -> UserError:
        said = answer(refusal)
        return cls(code=ErrorCode(said.code), field=said.field, message=said.message)

    @classmethod
    def not_yet_visible(cls, position: int, held: Held | None = None) -> UserError:
        if held is None:
            why = "the read views do not show it yet: query it again shortly"
        else:
            why = (
                f"the {held.projection} view holds the record back since its event at position "
                f"{held.position} ({held.error}), so it shows as it was before that event until "
                "an operator runs `hub project --retry`"
            )
        return cls(
            code=ErrorCode.NOT_YET_VISIBLE,
            field=None,
            message=f"the change is stored at position {position}, but {why} (do not send it "
            "again)",
        )


@strawberry.type(description="A district or county of the city (区县).")
class District:
    code: str
    name: str
    name_en: str = strawberry.field(description="The name in pinyin.")
    county: bool = strawberry.field(description="True for a county (县), false for a district.")

    @classmethod
    def of(cls, code: str) -> District:
        d = reference.DISTRICTS[code]
        return cls(code=d.code, name=d.name, name_en=d.name_en, county=d.county)


@strawberry.type(description="Who made a change, and in which capacity.")
class Actor:
    sub: str
    party: str | None = strawberry.field(description="MUNICIPAL, DISTRICT or CONTRACTOR.")
    role: Role
    jurisdiction: str = strawberry.field(description="CITY, a district code, or an agency id.")


@strawberry.type(description="The authenticated caller.")
class Principal:
    sub: str
    role: Role
    party: str | None
    district: District | None
    agency: strawberry.ID | None
    jurisdiction: str


@strawberry.type(description="One field an event changed, on the event's effective date.")
class FieldChange:
    field: str = strawberry.field(
        description="The record's field as this API names it (`establishedOn`; "
        "`incubation.from` inside a nested object), or, for a related row, the record's list "
        "field and the row's key (`staff/<workerId>`), whose before and after are the row's "
        "fields (null: no such row)."
    )
    before: JSON | None
    after: JSON | None


@strawberry.type(description="One stored change of one record, with its envelope.")
class Event:
    position: int = strawberry.field(description="Global order of the whole log.")
    entity_id: strawberry.ID
    entity_type: EntityType
    type: str
    version: int
    recorded_at: datetime
    effective_on: date
    actor: Actor
    reason: str | None
    retracts: list[int]
    correlation_id: str
    data: JSON
    schema_version: int = strawberry.field(
        default=1,
        description="The version of the JSON Schema `data` follows: "
        "`docs/events/<type>.v<schemaVersion>.json` of the partners' event reference.",
    )
    request_id: str | None = strawberry.field(
        default=None,
        description="The `X-Request-ID` of the request that wrote the event (the caller's, or "
        "one the hub made), to find it in the hub's logs; null for events stored before the hub "
        "kept it. Informational only: `correlationId` is what pairs the events of one request.",
    )
    changes: list[FieldChange] | None = strawberry.field(
        default=None,
        description="What the event changed: the record on its effective date as recorded "
        "just before and just after it. Given by `history`; null elsewhere.",
    )

    @classmethod
    def of(cls, row: Any, data: dict[str, Any]) -> Event:
        """The event of a logged row; `data` is its payload as the caller may see it."""
        return cls(
            position=row["position"],
            entity_id=strawberry.ID(str(row["entity_id"])),
            entity_type=DomainEntityType(row["entity_type"]),
            type=row["type"],
            version=row["version"],
            recorded_at=row["recorded_at"],
            effective_on=row["effective_on"],
            actor=Actor(
                sub=row["actor_sub"],
                party=row["actor_party"],
                role=DomainRole(row["actor_role"]),
                jurisdiction=row["actor_jurisdiction"],
            ),
            reason=row["reason"],
            retracts=list(row["retracts"]),
            correlation_id=row["correlation_id"],
            data=data,
            schema_version=schema_version(row["type"]),
            request_id=row["request_id"],
        )


@strawberry.input(
    description="A point in the registry's two times: the business date asked about "
    "(effective) and the time whose records answer (recorded). Either or both; absent = now."
)
class AsOf:
    effective: date | None = None
    recorded: datetime | None = strawberry.field(
        default=None, description="Without a time zone, in the hub's own (HUB_TIMEZONE)."
    )


async def moment_of(info: Any, as_of: AsOf | None) -> Moment | None:
    """The moment `as_of` names (None: now): its effective date (default today) and the last
    position recorded at or before its recorded time (default: everything)."""
    if as_of is None:
        return None
    return await moment_at(info.context.hub, as_of.effective, as_of.recorded)


def zoned(time: datetime, timezone: str) -> datetime:
    """`time`, read in the city's `timezone` (`HUB_TIMEZONE`) if it was given without a zone."""
    return time if time.tzinfo is not None else time.replace(tzinfo=ZoneInfo(timezone))


async def moment_at(hub: Any, effective: date | None, recorded: datetime | None) -> Moment | None:
    """The moment of an `asOf` given as its two parts (see `moment_of`)."""
    if effective is None and recorded is None:
        return None
    effective = effective or hub.settings.today()
    if recorded is None:
        return Moment(effective)
    given = recorded
    try:
        recorded = zoned(recorded, hub.settings.timezone).astimezone(UTC)
    except OverflowError:
        raise InvalidInput(
            f"asOf.recorded {given.isoformat()} is outside the years 1 to 9999 in UTC",
            "asOf.recorded",
        ) from None
    return Moment(effective, await last_recorded(hub.pool, recorded))


async def referenced(
    load: Callable[..., Awaitable[T | None]], info: Any, id: Any, moment: Moment | None, what: str
) -> T:
    """A record another record names, with `load(info, id, moment)`: as at `moment`, or as
    now if it was not yet recorded then (a reference back-dated before it)."""
    found = await load(info, id, moment)
    if found is None and moment is not None:
        found = await load(info, id, None)
    assert found is not None, f"a reference to an unknown {what} {id}"
    return found


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    """One row of a list and its cursor; `Edge[Station]` is the schema's `StationEdge`."""

    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    """One page of a list; `Connection[Station]` is the schema's `StationConnection`."""

    edges: list[Edge[T]]
    page_info: PageInfo
    total_count: int


Cursor = NewType("Cursor", str)


def encode_cursor(kind: str, seq: int | tuple[int, int]) -> str:
    """`seq`, or (seq, place) for `decode_place_cursor`, as an opaque cursor."""
    at = f"{seq[0]}.{seq[1]}" if isinstance(seq, tuple) else seq
    return base64.urlsafe_b64encode(f"{kind}:{at}".encode()).decode()


def decode_cursor(kind: str, cursor: str | None) -> int:
    if cursor is None:
        return 0
    try:
        prefix, _, seq = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if prefix == kind:
            return int(seq)
    except ValueError:
        pass
    raise InvalidInput(f"after: {cursor!r} is not a cursor of this list", "after")


def decode_place_cursor(kind: str, cursor: str | None) -> tuple[int, int]:
    """A cursor of a list whose rows hold several entries: (row `seq`, place in the row)."""
    if cursor is None:
        return (0, 0)
    try:
        prefix, _, at = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        seq, dot, place = at.partition(".")
        if prefix == kind and dot:
            return (int(seq), int(place))
    except ValueError:
        pass
    raise InvalidInput(f"after: {cursor!r} is not a cursor of this list", "after")


def value_of(chosen: Enum | None) -> Any:
    """The vocabulary value of an optional enum argument or input field (None stays None)."""
    return chosen.value if chosen is not None else None


def page_size(first: int) -> int:
    if not 0 <= first <= MAX_PAGE:
        raise InvalidInput(f"first must be between 0 and {MAX_PAGE}, got {first}", "first")
    return first


def connection(
    kind: str,
    rows: list[Any],
    more: bool,
    total: int,
    *,
    node: Callable[[Any], T],
    order: Callable[[Any], int | tuple[int, int]] = lambda row: row["seq"],
) -> Connection[T]:
    """A Relay connection of `rows` (one page), with cursors on their order (creation order,
    `seq`, unless `order` says otherwise)."""
    edges = [Edge(cursor=encode_cursor(kind, order(r)), node=node(r)) for r in rows]
    return Connection(
        edges=edges,
        page_info=PageInfo(has_next_page=more, end_cursor=edges[-1].cursor if edges else None),
        total_count=total,
    )
