"""The HTTP face of the hub: /graphql (and GraphiQL), /healthz, /readyz."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from hub.auth import Unauthenticated, actor_from_header
from hub.config import Settings
from hub.runtime import Hub
from hub.schema.context import Context
from hub.schema.root import schema


class HubGraphQL(GraphQL):
    def __init__(self, hub: Hub) -> None:
        super().__init__(schema, graphql_ide="graphiql")
        self.hub = hub

    async def get_context(self, request: Request | WebSocket, response: Any = None) -> Context:
        try:
            actor = actor_from_header(
                self.hub.settings.jwt_secret, request.headers.get("authorization")
            )
            error = None
        except Unauthenticated as refused:
            actor, error = None, refused
        return Context(hub=self.hub, actor=actor, auth_error=error)


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
            lag = await hub.projection_lag()
        except Exception as error:  # noqa: BLE001 - any failure means not ready
            return JSONResponse({"status": "unavailable", "error": str(error)}, status_code=503)
        return JSONResponse({"status": "ready", **lag})

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
    first = await hub.pool.fetchval("SELECT id::text FROM agencies ORDER BY seq LIMIT 1")
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
