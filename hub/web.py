"""The HTTP face of the hub: /graphql (and GraphiQL), /healthz, /readyz."""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types.unset import UNSET

from hub.auth import Unauthenticated, credentials
from hub.config import Settings
from hub.database import unavailable
from hub.domain.errors import CommandRefused, InvalidInput
from hub.domain.vocabulary import EntityType
from hub.projections.agencies import agency_page
from hub.runtime import Hub
from hub.schema.context import Context
from hub.schema.events import as_json, present
from hub.schema.root import schema
from hub.stream import Scope, StreamEnded, follow


class HubGraphQL(GraphQL):
    def __init__(self, hub: Hub) -> None:
        super().__init__(schema, graphql_ide="graphiql", keep_alive=True, keep_alive_interval=15)
        self.hub = hub

    async def get_context(self, request: Request | WebSocket, response: Any = None) -> Context:
        try:
            found = credentials(self.hub.settings.jwt_secret, request.headers.get("authorization"))
        except Unauthenticated as refused:
            return Context(hub=self.hub, actor=None, auth_error=refused, request=request)
        return Context(
            hub=self.hub,
            actor=found.actor,
            auth_error=None,
            expires_at=found.expires_at,
            request=request,
        )

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        """HTTP 503 for an answer the database's absence spoiled (API.md), so that clients and
        proxies retry it."""
        response = super().create_response(response_data, sub_response)
        answers = response_data if isinstance(response_data, list) else [response_data]
        if any(
            (error.get("extensions") or {}).get("code") == "SERVICE_UNAVAILABLE"
            for answer in answers
            for error in answer.get("errors") or []
        ):
            response.status_code = 503
        return response

    async def on_ws_connect(self, context: Context) -> Any:
        """WebSocket clients send their token in `connection_init` (API.md)."""
        params = context.connection_params or {}
        header = params.get("Authorization") or params.get("authorization")
        if header is None and context.actor is not None:
            return UNSET
        try:
            found = credentials(self.hub.settings.jwt_secret, header)
        except Unauthenticated as refused:
            raise ConnectionRejectionError(
                {"message": str(refused), "code": "UNAUTHENTICATED"}
            ) from None
        context.actor, context.auth_error = found.actor, None
        context.expires_at = found.expires_at
        return UNSET


def create_app(
    settings: Settings | None = None, hub: Hub | None = None, *, demo: bool = False
) -> Starlette:
    """The ASGI app; its lifespan starts and stops the hub (and seeds the demo if asked)."""
    hub = hub or Hub(settings or Settings.from_env())
    graphql = HubGraphQL(hub)

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> JSONResponse:
        try:
            reason, lag = await hub.readiness()
        except Exception as error:  # noqa: BLE001 - any failure means not ready
            return JSONResponse(
                {
                    "status": "unavailable",
                    "reason": "the database cannot be reached"
                    if unavailable(error)
                    else "the readiness check failed",
                    "error": str(error) or type(error).__name__,
                },
                status_code=503,
            )
        if reason is not None:
            return JSONResponse({"status": "not ready", "reason": reason, **lag}, status_code=503)
        return JSONResponse({"status": "ready", **lag})

    async def events(request: Request) -> Response:
        return await event_stream(hub, request)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await hub.start()
        if demo:
            await _show_demo(hub)
        # Long-lived objects made at start-up need no more collecting; a larger young
        # generation keeps collection pauses out of request latency.
        gc.freeze()
        gc.set_threshold(50_000, 20, 20)
        try:
            yield
        finally:
            await hub.stop()

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/events", events),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
        ],
        lifespan=lifespan,
    )
    app.state.hub = hub
    return app


async def _show_demo(hub: Hub) -> None:
    from hub import demo

    made = await demo.seed(hub)
    agencies, _, _ = await agency_page(hub.pool, first=1, after_seq=0)
    first = str(agencies[0]["id"]) if agencies else None
    settings = hub.settings
    lines = [
        f"demo: {made} commands recorded the demo records"
        if made
        else "demo: the demo records are there already",
        f"GraphiQL: http://{settings.host}:{settings.port}/graphql (set the Authorization "
        "header to one of these)",
    ]
    for role, token in demo.demo_tokens(hub, first).items():
        lines.append(f"  {role}: Bearer {token}")
    print("\n".join(lines), flush=True)


async def event_stream(hub: Hub, request: Request) -> Response:
    """`GET /events?after=N&entityTypes=A,B&district=D` as Server-Sent Events; `id:` is the
    position, so a client resumes with `Last-Event-ID`."""

    def refuse(status: int, code: str, message: str) -> JSONResponse:
        return JSONResponse(
            {"errors": [{"message": message, "extensions": {"code": code}}]}, status_code=status
        )

    try:
        found = credentials(hub.settings.jwt_secret, request.headers.get("authorization"))
    except Unauthenticated as refused:
        return refuse(401, "UNAUTHENTICATED", str(refused))
    raw_after = request.headers.get("last-event-id") or request.query_params.get("after")
    types = [t for t in request.query_params.get("entityTypes", "").split(",") if t]
    try:
        after = int(raw_after) if raw_after else None
        unknown = [t for t in types if t not in EntityType.__members__]
        if unknown:
            raise InvalidInput(f"unknown entity types {unknown}", "entityTypes")
        scope = Scope.of(found.actor, types or None, request.query_params.get("district"))
    except ValueError:
        return refuse(400, "VALIDATION", f"after {raw_after!r} is not a position")
    except CommandRefused as refusal:
        return refuse(403 if refusal.code == "FORBIDDEN" else 400, refusal.code, refusal.message)

    async def body() -> AsyncIterator[str]:
        try:
            async for row in follow(hub, scope, after, expires_at=found.expires_at):
                if row is None:
                    yield ": keep-alive\n\n"
                    continue
                for event in await present(hub.pool, found.actor, [row]):
                    payload = json.dumps(as_json(event), ensure_ascii=False, default=str)
                    yield f"id: {event.position}\nevent: {event.type}\ndata: {payload}\n\n"
        except StreamEnded as ended:
            end = {"code": ended.code, "message": ended.message, "resumeAfter": ended.resume_after}
            yield f"event: end\ndata: {json.dumps(end)}\n\n"

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
