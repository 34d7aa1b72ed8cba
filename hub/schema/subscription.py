"""The `events` subscription: the ordered log, replayed then live."""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import AsyncGenerator, Awaitable, Callable, Hashable
from contextvars import ContextVar
from typing import Any

import strawberry
from graphql import (
    ExecutionResult,
    FieldNode,
    OperationDefinitionNode,
    OperationType,
    print_ast,
)
from starlette.websockets import WebSocket, WebSocketState
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from hub.domain.envelope import Actor
from hub.domain.errors import CommandRefused
from hub.projections.event_log import complete_position
from hub.schema.common import EntityType, Event
from hub.schema.context import Info
from hub.schema.events import present
from hub.service.refusals import answer
from hub.service.runtime import Hub
from hub.streams.dispatch import Direct
from hub.streams.fanout import Rendered, Shown, renderings_of, view_of
from hub.streams.follow import Scope, StreamEnded, follow
from hub.streams.slots import TooManyStreams

TOKEN_EXPIRED_CLOSE = 4401


async def close_expired(websocket: WebSocket, reason: str) -> None:
    """Close the connection with `TOKEN_EXPIRED_CLOSE`, once: the connection's own expiry and
    its subscriptions' may both come at the token's `exp`."""
    if websocket.application_state is WebSocketState.CONNECTED:
        await websocket.close(code=TOKEN_EXPIRED_CLOSE, reason=reason)


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Events after position `after` (absent: from now), replayed then live, in "
        "position order with no gaps and no repeats. A stream that falls too far behind, or "
        "whose token expires, ends with an error whose `extensions.resumeAfter` is the last "
        "position delivered. One token past its open streams' cap, or the server past its "
        "own, is refused with `TOO_MANY_STREAMS`."
    )
    async def events(
        self,
        info: Info,
        after: int | None = None,
        entity_types: list[EntityType] | None = None,
        district: str | None = None,
    ) -> AsyncGenerator[Event, None]:
        context = info.context
        actor = context.caller
        try:
            scope = Scope.of(actor, [t.value for t in entity_types or []] or None, district)
        except CommandRefused as refusal:
            raise answer(refusal).graphql_error() from None
        assert context.token_hash is not None
        try:
            slot = context.hub.streams.take(context.token_hash)
        except TooManyStreams as refused:
            raise answer(refused).graphql_error() from None
        websocket = isinstance(context.request, WebSocket)
        direct = None
        if websocket:
            show = show_to(context.hub, actor, context.request_id)
            direct = Direct.of(
                context.hub, context.request.scope, scope, view_of(actor), show, SUBSCRIBING.get()
            )
        context.following += 1
        try:
            with slot:
                last = await complete_position(context.hub.pool) if after is None else after

                def caught_up(upto: int) -> None:
                    nonlocal last
                    last = upto

                while True:
                    if direct is not None and await direct.ready(last):
                        why, last = await direct.run(last, context.expires_at)
                        if why == "expired":
                            await close_expired(
                                context.request, f"token expired; resume after {last}"
                            )
                            return
                    events = follow(
                        context.hub,
                        scope,
                        last,
                        expires_at=context.expires_at,
                        transport="websocket" if websocket else "http",
                        **({} if direct is None else direct.following(caught_up)),
                    )
                    async with contextlib.aclosing(events):
                        try:
                            async for row in events:
                                if row is None:
                                    if direct is not None:
                                        break  # caught up: the dispatcher may take it again
                                    continue
                                yield await shown_to(  # type: ignore[misc]
                                    context.hub, actor, row, context.request_id
                                )
                                last = row["position"]
                                if direct is not None and await direct.ready(last):
                                    break
                            else:
                                return
                        except StreamEnded as ended:
                            if ended.code == "UNAUTHENTICATED" and websocket:
                                await close_expired(
                                    context.request,
                                    f"token expired; resume after {ended.resume_after}",
                                )
                                return
                            raise answer(ended).graphql_error(
                                resumeAfter=ended.resume_after
                            ) from None
        finally:
            context.following -= 1


def show_to(hub: Hub, actor: Actor, request_id: str | None) -> Callable[[Any], Awaitable[Event]]:
    """What makes a logged event's `Event` as `actor` sees it (its reveals are logged under
    the stream's `request_id`)."""

    async def show(row: Any) -> Event:
        (event,) = await present(hub, actor, [row], request_id=request_id)
        return event

    return show


async def shown_to(hub: Hub, actor: Actor, row: Any, request_id: str | None) -> Shown:
    """The event of `row` as `actor` sees it, made once for every follower of its role view
    (a worker's for each: its reveals are logged under the stream's `request_id`)."""
    return await renderings_of(hub).shown(view_of(actor), row, show_to(hub, actor, request_id))


def _coerced(values: Any) -> Any:
    return getattr(values, "coerced", values)


def selection_of(operation: OperationDefinitionNode, fragments: Any, variables: Any) -> Hashable:
    """What shapes one subscription's output for a given event: its root fields without their
    arguments (those choose events, not how they look), the fragments, and the values of the
    variables these use."""
    roots = [
        print_ast(dataclasses.replace(node, arguments=()))
        if isinstance(node, FieldNode)
        else print_ast(node)
        for node in operation.selection_set.selections
    ]
    text = "\n".join([*roots, *(print_ast(f) for _, f in sorted(fragments.items()))])
    used = sorted(set(re.findall(r"\$(\w+)", text)))
    return text, repr([(name, (variables or {}).get(name)) for name in used])


SUBSCRIBING: ContextVar[SharedEventExecution | None] = ContextVar("hub_subscribing", default=None)
"""The executor of the subscription whose `events` resolver runs here."""


class SharedEventExecution(StrawberryGraphQLCoreExecutionContext):
    """Executes a subscription's event once per selection, however many subscribers share it:
    the `events` resolver yields a `Shown` event; the first subscriber of a selection executes
    it, the others are given its result (`Rendered`, whose JSON is encoded once). The
    dispatcher (`hub.streams.dispatch`) executes the events it writes with it too."""

    selection: Hashable | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.operation.operation is OperationType.SUBSCRIPTION:
            self.selection = selection_of(
                self.operation, self.fragment_definitions, _coerced(self.variable_values)
            )
            SUBSCRIBING.set(self)  # built in the operation's task, which runs the resolver

    def execute_operation(self, serially: bool | None = None) -> Any:
        shown = self.root_value
        if not isinstance(shown, Shown):
            return super().execute_operation(serially)
        found = shown.renders.get(self.selection)
        if found is not None:
            return found
        self.root_value = shown.event
        result = super().execute_operation(serially)
        if self.is_awaitable(result):
            return self._keep(shown, result)
        return self._kept(shown, result)

    async def _keep(self, shown: Shown, result: Awaitable[Any]) -> Any:
        return self._kept(shown, await result)

    def _kept(self, shown: Shown, result: Any) -> Any:
        if not isinstance(result, ExecutionResult) or result.errors or result.data is None:
            return result
        return shown.render(self.selection, lambda _: ExecutionResult(Rendered(result.data)))
