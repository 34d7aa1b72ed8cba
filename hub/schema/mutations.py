"""The one path every mutation takes: build the request, run it, report refusals; and the
shapes every mutation shares, its input's common fields and its payload."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any
from uuid import UUID

import strawberry

from hub.domain.checks import camel_case
from hub.domain.errors import CommandRefused, InvalidInput, OutcomeUnknown
from hub.projections.held_back import Held
from hub.registry.application import Outcome, Registry, Request
from hub.schema.common import ErrorCode, UserError
from hub.schema.context import Info
from hub.service.database import unavailable


@strawberry.input(description="Fields every mutation input has besides its own.")
class RecordInput:
    effective_on: date | None = strawberry.field(
        default=None, description="The business date the change took effect; default today."
    )
    reason: str | None = None
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="Repeat a request with the same key (same caller) to get the first answer.",
    )


class ExistingRecordInput(RecordInput):
    """The input of a mutation on an existing record. A subclass declares its own fields
    (and `id` only to describe it); its fields are then `RecordInput`'s, `id`, its own, and
    `expectedVersion` and `corrects`, in that order."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = dict(cls.__dict__.get("__annotations__", {}))
        own.pop("id", None)
        cls.__annotations__ = {
            "id": strawberry.ID,
            **own,
            "expected_version": int | None,
            "corrects": list[int] | None,
        }
        cls.expected_version = None
        cls.corrects = strawberry.field(
            default=None,
            description="Positions of this record's events that this change corrects: they "
            "no longer count in the read views, nor in `asOf` answers recorded after this "
            "change. Needs a reason, and the authority to have issued them.",
        )


@dataclass(frozen=True)
class Result:
    """A mutation's answer: refused or of unknown outcome (no record, `errors`), or stored
    (`record_id` and `position`; `errors` says NOT_YET_VISIBLE when the views lag)."""

    record_id: UUID | None = None
    position: int | None = None
    errors: list[UserError] = field(default_factory=list)
    written: tuple[int, ...] = ()

    def unseen(self, held: Held | None = None) -> Result:
        """This result, saying that the read views do not show it yet (or hold its record
        back: `held`)."""
        assert self.position is not None
        if any(e.code is ErrorCode.NOT_YET_VISIBLE for e in self.errors):
            return self
        unseen = UserError.not_yet_visible(self.position, held)
        return replace(self, errors=[*self.errors, unseen])


def record_id(value: str | strawberry.ID) -> UUID:
    try:
        return UUID(str(value))
    except ValueError:
        raise InvalidInput(f"id {value!r} is not a record id (a UUID)", "id") from None


async def command(
    info: Info,
    run: Callable[[Registry, Request], Outcome],
    input: RecordInput,
    inputs: dict[str, Any],
) -> Result:
    """Run a mutation's command and wait for the read views; NOT_YET_VISIBLE if they do not
    show it in time or hold its record back."""
    return await held(info, await stored(info, run, input, inputs))


async def stored(
    info: Info,
    run: Callable[[Registry, Request], Outcome],
    input: RecordInput,
    inputs: dict[str, Any],
) -> Result:
    """`command` but for whether a view holds the record back (see `held`)."""
    context = info.context
    try:
        raw_id = getattr(input, "id", None)
        request = Request(
            command=camel_case(run.__name__),
            actor=context.caller,
            correlation_id=context.correlation_id,
            today=context.hub.settings.today(),
            inputs=inputs,
            record_id=record_id(raw_id) if raw_id is not None else None,
            expected_version=getattr(input, "expected_version", None),
            effective_on=input.effective_on,
            reason=input.reason,
            idempotency_key=input.idempotency_key,
            corrects=tuple(getattr(input, "corrects", None) or ()),
            request_id=context.request_id,
        )
        outcome = await context.hub.command(run, request)
    except (CommandRefused, OutcomeUnknown) as refusal:
        return Result(errors=[UserError.of(refusal)])
    result = Result(record_id=outcome.record_id, position=outcome.position, written=outcome.written)
    return result if outcome.visible else result.unseen()


async def held(info: Info, result: Result) -> Result:
    """`result`, saying NOT_YET_VISIBLE when a view holds its record back (asked only when
    the views showed it in time)."""
    if result.record_id is None or result.errors:
        return result
    found = await info.context.hub.held_back(result.record_id)
    return result if found is None else result.unseen(found)


async def respond(
    info: Info,
    run: Callable[[Registry, Request], Outcome],
    input: RecordInput,
    inputs: dict[str, Any],
    *,
    payload: type,
    record: str,
    load: Callable[[Info, UUID], Awaitable[Any]],
) -> Any:
    """Run a mutation and build its payload: the record as the read views now show it (read
    while asking whether a view holds it back: two queries at once, not one after the other;
    only the record's when the views are known to hold nothing back)."""
    result = await stored(info, run, input, inputs)
    if result.record_id is None:
        return payload(**{record: None}, position=None, errors=result.errors)
    info.context.stored = not result.errors
    if info.context.hub.holds_nothing():  # nothing to ask besides the record
        shown = await _shown(info, load, result.record_id)
    else:
        shown, result = await asyncio.gather(
            _shown(info, load, result.record_id), held(info, result)
        )
    if shown is _UNAVAILABLE:
        shown, result = None, result.unseen()
    return payload(**{record: shown}, position=result.position, errors=result.errors)


_UNAVAILABLE = object()


async def _shown(info: Info, load: Callable[[Info, UUID], Awaitable[Any]], id: UUID) -> Any:
    """The record as the read views show it, or `_UNAVAILABLE` when the database is out of
    reach."""
    try:
        return await load(info, id)
    except Exception as error:
        if not unavailable(error):
            raise
        return _UNAVAILABLE


def payload(name: str, shows: str, shown: Any, description: str | None = None) -> Any:
    """The type `{name}Payload` of a mutation's answer: the field `shows` (of type `shown`:
    what the change shows), the change's `position`, and `errors`."""
    namespace: dict[str, Any] = {
        "__annotations__": {shows: shown, "position": int | None, "errors": list[UserError]},
    }
    if description is not None:
        namespace[shows] = strawberry.field(description=description)
    return strawberry.type(type(f"{name}Payload", (), namespace))


def record_payload(record: type, load: Callable[[Info, UUID], Awaitable[Any]]) -> Any:
    """The payload of a record type's mutations, `StationPayload { station, position,
    errors }` for `Station`; its `answer(info, run, input, **inputs)` runs one of them and
    shows the record with `load`."""
    shows = record.__name__[0].lower() + record.__name__[1:]
    made = payload(record.__name__, shows, record | None)

    async def answer(info: Info, run: Any, input: RecordInput, **inputs: Any) -> Any:
        return await respond(info, run, input, inputs, payload=made, record=shows, load=load)

    made.answer = staticmethod(answer)
    return made
