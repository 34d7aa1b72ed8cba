"""The `events` subscription: the ordered log, replayed then live."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator

import strawberry
from starlette.websockets import WebSocket, WebSocketState

from hub.domain.errors import CommandRefused
from hub.schema.common import EntityType, Event
from hub.schema.context import Info
from hub.schema.events import present
from hub.service.refusals import answer
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
                            for event in await present(context.hub, actor, [row]):
                                yield event
                except StreamEnded as ended:
                    if ended.code == "UNAUTHENTICATED" and isinstance(context.request, WebSocket):
                        await close_expired(
                            context.request, f"token expired; resume after {ended.resume_after}"
                        )
                        return
                    raise answer(ended).graphql_error(resumeAfter=ended.resume_after) from None
                finally:
                    context.following -= 1
