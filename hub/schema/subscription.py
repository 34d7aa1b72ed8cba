"""The `events` subscription: the ordered log, replayed then live."""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import AsyncGenerator, Awaitable, Hashable
from typing import Any

import strawberry
from graphql import ExecutionResult, FieldNode, OperationDefinitionNode, print_ast
from starlette.websockets import WebSocket, WebSocketState
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from hub.domain.envelope import Actor
from hub.domain.errors import CommandRefused
from hub.schema.common import EntityType, Event
from hub.schema.context import Info
from hub.schema.events import present
from hub.service.refusals import answer
from hub.service.runtime import Hub
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
        transport = "websocket" if isinstance(context.request, WebSocket) else "http"
        events = follow(
            context.hub, scope, after, expires_at=context.expires_at, transport=transport
        )
        context.following += 1
        with slot:
            async with contextlib.aclosing(events):
                try:
                    async for row in events:
                        if row is not None:
                            yield await shown_to(  # type: ignore[misc]
                                context.hub, actor, row, context.request_id
                            )
                except StreamEnded as ended:
                    if ended.code == "UNAUTHENTICATED" and isinstance(context.request, WebSocket):
                        await close_expired(
                            context.request, f"token expired; resume after {ended.resume_after}"
                        )
                        return
                    raise answer(ended).graphql_error(resumeAfter=ended.resume_after) from None
                finally:
                    context.following -= 1


async def shown_to(hub: Hub, actor: Actor, row: Any, request_id: str | None) -> Shown:
    """The event of `row` as `actor` sees it, made once for every follower of its role view
    (a worker's for each: its reveals are logged under the stream's `request_id`)."""

    async def show(row: Any) -> Event:
        (event,) = await present(hub, actor, [row], request_id=request_id)
        return event

    return await renderings_of(hub).shown(view_of(actor), row, show)


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


class SharedEventExecution(StrawberryGraphQLCoreExecutionContext):
    """Executes a subscription's event once per selection, however many subscribers share it:
    the `events` resolver yields a `Shown` event; the first subscriber of a selection executes
    it, the others are given its result (`Rendered`, whose JSON is encoded once)."""

    def build_per_event_executor(self, payload: Any) -> Any:
        if getattr(self, "selection", None) is None:
            values = self.variable_values
            self.selection = selection_of(
                self.operation, self.fragment_definitions, getattr(values, "coerced", values)
            )
        return super().build_per_event_executor(payload)

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
