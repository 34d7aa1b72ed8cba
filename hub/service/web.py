"""The HTTP face of the hub: /graphql (HTTP, WebSocket, GraphiQL and its /graphql/assets),
/events (SSE), /workbench (the auditor's page), /healthz, /readyz, /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import math
import os
import socket
import struct
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from functools import cache
from pathlib import Path
from typing import Any

from cross_web import HTTPException
from graphql import GraphQLError
from starlette import types as asgi
from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketState
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLRequestData
from strawberry.http.parse_content_type import parse_content_type
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import SubscribeMessage
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import StartMessage
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET

from hub.domain.errors import CommandRefused, InvalidInput
from hub.domain.vocabulary import EntityType
from hub.projections.event_log import complete_position
from hub.reads.planner import Planner
from hub.schema.context import Context, SharedReads
from hub.schema.events import as_json
from hub.schema.planned import Planned
from hub.schema.root import schema
from hub.schema.seen import SeenMutations
from hub.schema.subscription import close_expired, shown_to
from hub.service import metrics, tracing
from hub.service.auth import Credentials, Unauthenticated, credentials
from hub.service.config import Settings
from hub.service.database import unavailable
from hub.service.logs import Observed, observed_of, request_id
from hub.service.operations import OperationRefused, resolve
from hub.service.refusals import SERVICE_UNAVAILABLE, STATUS, Refusal, answer, refusal_of
from hub.service.runtime import Hub
from hub.service.workbench import WorkbenchFiles
from hub.streams.dispatch import OPERATION, Operation
from hub.streams.fanout import Rendered, next_message
from hub.streams.follow import Scope, StreamEnded, follow
from hub.streams.slots import Slot, TooManyStreams

log = logging.getLogger(__name__)
requests_log = logging.getLogger("hub.requests")

GRAPHIQL = Path(__file__).resolve().parent / "graphiql"
"""GraphiQL's page and, under assets/, the scripts, styles and fonts it loads, so it needs no
network (hub/service/graphiql/README.md)."""


def _persisted(hub: Hub, message: Any) -> Any:
    """A WebSocket `subscribe`/`start` message with the query text its payload names."""
    payload = message.get("payload")
    if not isinstance(payload, dict) or "extensions" not in payload:
        return message
    text = resolve(hub.persisted, hub.allowed, payload.get("query"), payload["extensions"])
    return {**message, "payload": {**payload, "query": text}}


def too_many_subscriptions(limit: int) -> GraphQLError:
    return GraphQLError(
        f"this connection has {limit} operations running already, the most one may "
        "(HUB_MAX_SUBSCRIPTIONS_PER_CONNECTION); complete one first",
        extensions={"code": "TOO_MANY_SUBSCRIPTIONS"},
    )


def _refusal(handler: Any, message: Any, running: Any) -> dict[str, Any] | None:
    """Why one WebSocket operation may not start (the error's payload), or None; resolves a
    persisted query's text into `message` on the way."""
    limit = handler.max_subscriptions_per_connection
    if limit and message["id"] not in running and len(running) >= limit:
        return too_many_subscriptions(limit).formatted
    if handler.connection_acknowledged:
        try:
            message.update(_persisted(handler.view.hub, message))
        except OperationRefused as refused:
            return answer(refused).formatted
    return None


def _coded(payload: Any) -> Any:
    """An `error` message's payload (one error, or a list) with a code on every error:
    strawberry answers a few mistakes itself (no query, an unknown operation name, a query over
    the legacy protocol, variables the document does not take) before the hub sees the
    operation. One that points into the document is the document's, as over HTTP."""
    if isinstance(payload, list):
        return [_coded(error) for error in payload]
    extensions = (payload.get("extensions") or {}) if isinstance(payload, dict) else None
    if extensions is None or extensions.get("code"):
        return payload
    code = "GRAPHQL_VALIDATION_FAILED" if payload.get("locations") else "BAD_REQUEST"
    return {**payload, "extensions": {**extensions, "code": code}}


class _CodedErrors:
    """A WebSocket handler whose `error` messages carry a code on every error, and that says
    nothing more once the hub closed the connection (a token's expiry): strawberry's last
    `complete` would fail, an unhandled exception."""

    async def send_message(self, message: Any) -> None:
        websocket = getattr(getattr(self, "context", None), "request", None)
        if (
            isinstance(websocket, WebSocket)
            and websocket.application_state is WebSocketState.DISCONNECTED
        ):
            return
        if message.get("type") == "error":
            message = {**message, "payload": _coded(message["payload"])}
        await super().send_message(message)  # type: ignore[misc]


class _TransportWSHandler(_CodedErrors, BaseGraphQLTransportWSHandler[Any, Any]):
    """As strawberry's, but an operation over the connection's limit, or a persisted query
    that cannot be run, answers an error with a code, as does every other error."""

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        error = _refusal(self, message, self.operations)
        if error is not None:
            await self.send_message({"id": message["id"], "type": "error", "payload": [error]})
            return
        started = OPERATION.set(Operation(message["id"], self.operations))  # its task inherits it
        try:
            await super().handle_subscribe(message)
        finally:
            OPERATION.reset(started)


class _LegacyWSHandler(_CodedErrors, BaseGraphQLWSHandler[Any, Any]):
    """As strawberry's, but an operation over the connection's limit, or a persisted query
    that cannot be run, answers an error with a code, as does every other error; a `start`
    without a query is one (strawberry's ends the connection abnormally)."""

    async def handle_start(self, message: StartMessage) -> None:
        error = _refusal(self, message, self.tasks)
        payload = message.get("payload")
        unreadable = not (isinstance(payload, dict) and "query" in payload)
        if error is None and self.connection_acknowledged and unreadable:
            error = {
                "message": "a `start` message needs a payload with `query`",
                "extensions": {"code": "BAD_REQUEST"},
            }
        if error is not None:
            await self.send_message({"type": "error", "id": message["id"], "payload": error})
            return
        started = OPERATION.set(Operation(message["id"], self.tasks, "data"))  # its task too
        try:
            await super().handle_start(message)
        finally:
            OPERATION.reset(started)


def _json(data: object) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


class HubGraphQL(GraphQL):
    graphql_transport_ws_handler_class = _TransportWSHandler
    graphql_ws_handler_class = _LegacyWSHandler

    def __init__(self, hub: Hub) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql",
            keep_alive=True,
            keep_alive_interval=15,
            max_subscriptions_per_connection=hub.settings.max_subscriptions_per_connection or None,
        )
        self.hub = hub
        self.reads = Planner(hub.settings.read_planner)
        self.seen = SeenMutations(schema, hub.settings)
        self.together = SharedReads()

    async def __call__(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        """As strawberry's, but a request that is not a GraphQL request is answered in the
        API's error shape (`BAD_REQUEST`) instead of plain text."""
        if scope["type"] != "http":
            try:
                return await super().__call__(scope, receive, send)
            finally:
                expiry = scope.get("state", {}).get("expiry")
                if expiry is not None:
                    expiry.cancel()
        request = Request(scope, receive)
        try:
            response = await self._seen_mutation(request) or await self.run(request)
        except HTTPException as refused:
            response = error_response(refused.status_code, "BAD_REQUEST", refused.reason)
        except OperationRefused as refused:
            response = answer(refused).response()
        await response(scope, receive, send)

    async def _seen_mutation(self, request: Request) -> Response | None:
        """The answer to a plain JSON POST of a mutation document seen before whose checks
        pass for this request (`hub.schema.seen`), made as strawberry's view would make it,
        without its work for every kind of request; None for any other request (its body,
        once read, is kept for strawberry's path)."""
        if request.method != "POST":
            return None
        body = await request.body()
        if b"mutation" not in body and b"persistedQuery" not in body:
            return None  # a query's (most requests): nothing more to look at
        content_type, _ = parse_content_type(request.headers.get("content-type", ""))
        if "application/json" not in content_type or self._get_stream_transport_from_headers(
            request.headers
        ):
            return None
        try:
            data = json.loads(body)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        query, variables = data.get("query"), data.get("variables")
        extensions = data.get("extensions")
        if not (
            isinstance(query, str)
            and isinstance(variables, dict | None)
            and isinstance(extensions, dict | None)
        ):
            return None
        try:
            query = resolve(self.hub.persisted, self.hub.allowed, query, extensions)
        except OperationRefused:
            return None
        seen = self.seen.get(query, data.get("operationName")) if query is not None else None
        if seen is None:
            return None
        context = await self.get_context(request)
        if not self.seen.runs(seen, context):
            return None
        root_value = await self.get_root_value(request)
        result = await self.seen.run(seen, context, variables, extensions, root_value)
        said = await self.process_result(request, result)
        if result.errors:
            self._handle_errors(result.errors, said)
        return self.create_response(said, await self.get_sub_response(request))

    def encode_json(self, data: object) -> str | bytes:
        """As strawberry's, but in UTF-8 rather than `\\u` escapes (as a planned answer is), a
        subscription's event shared by several subscribers as the JSON it was encoded to once
        (`hub.streams.fanout.Rendered`), and a planned answer as PostgreSQL wrote it
        (`hub.schema.planned.Planned`)."""
        if isinstance(data, dict) and isinstance(data.get("data"), Planned):
            if len(data) == 1:
                return data["data"]
            return _json({**data, "data": json.loads(data["data"])["data"]})
        if isinstance(data, dict) and data.get("type") in ("next", "data"):
            payload = data.get("payload")
            if isinstance(payload, dict) and len(payload) == 1:
                rendered = payload.get("data")
                if isinstance(rendered, Rendered):
                    return next_message({k: v for k, v in data.items() if k != "payload"}, rendered)
        return _json(data)

    async def render_graphql_ide(self, request: Any) -> HTMLResponse:
        """The hub's own GraphiQL page, whose assets the hub serves (strawberry's loads them
        from a public CDN)."""
        return HTMLResponse(graphiql_page())

    def should_render_graphql_ide(self, request: Any) -> bool:
        """Not for a GET of a persisted query, which has `extensions` and no `query`."""
        return "extensions" not in request.query_params and super().should_render_graphql_ide(
            request
        )

    async def parse_http_body(self, request: Any) -> GraphQLRequestData | list[GraphQLRequestData]:
        parsed = await super().parse_http_body(request)
        hub = self.hub
        for data in parsed if isinstance(parsed, list) else [parsed]:
            data.query = resolve(hub.persisted, hub.allowed, data.query, data.extensions)
        return parsed

    def parse_json(self, data: str | bytes) -> Any:
        parsed = super().parse_json(data)
        if not isinstance(parsed, dict | list):
            raise HTTPException(
                400,
                "the body must be a JSON object with `query` (and optionally `variables`, "
                f"`operationName`, `extensions`), not a JSON {type(parsed).__name__}",
            )
        return parsed

    async def execute_single(  # noqa: PLR0917 - strawberry's signature
        self,
        request: Any,
        request_adapter: Any,
        sub_response: Any,
        context: Context,
        root_value: Any,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """As strawberry's, but a mutation document seen before whose checks pass for this
        request runs at once (`hub.schema.seen`)."""
        query = request_data.query
        if request_adapter.method == "POST" and isinstance(query, str):
            seen = self.seen.get(query, request_data.operation_name)
            if seen is not None and self.seen.runs(seen, context):
                return await self.seen.run(
                    seen, context, request_data.variables, request_data.extensions, root_value
                )
        return await super().execute_single(
            request, request_adapter, sub_response, context, root_value, request_data
        )

    async def get_context(self, request: Request | WebSocket, response: Any = None) -> Context:
        observed = observed_of(request.scope)
        try:
            found = caller_of(self.hub.settings.jwt_secret, request.scope)
        except Unauthenticated as refused:
            return Context(
                hub=self.hub,
                actor=None,
                auth_error=refused,
                request=request,
                request_id=observed.request_id,
            )
        return Context(
            hub=self.hub,
            actor=found.actor,
            auth_error=None,
            expires_at=found.expires_at,
            token_hash=found.token_hash,
            request=request,
            request_id=observed.request_id,
            reads=self.reads if isinstance(request, Request) else None,
            together=self.together,
        )

    async def process_result(self, request: Any, result: Any) -> Any:
        """As strawberry's; the answer's outcome (its first error's code, or ok) is noted for
        the request's log line and metrics."""
        errors = getattr(result, "errors", None) or []
        code = (errors[0].extensions or {}).get("code") if errors else "ok"
        observed_of(request.scope).outcome = code or "INTERNAL_SERVER_ERROR"
        return await super().process_result(request, result)

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        """HTTP 503 for an answer the database's absence spoiled, so that clients and proxies
        retry it."""
        response = super().create_response(response_data, sub_response)
        answers = response_data if isinstance(response_data, list) else [response_data]
        if any(
            (error.get("extensions") or {}).get("code") == SERVICE_UNAVAILABLE
            for said in answers
            for error in said.get("errors") or []
        ):
            response.status_code = STATUS[SERVICE_UNAVAILABLE]
        return response

    async def on_ws_connect(self, context: Context) -> Any:
        """WebSocket clients send their token in `connection_init`'s payload."""
        params = context.connection_params or {}
        header = params.get("Authorization") or params.get("authorization")
        if header is not None or context.actor is None:
            try:
                found = credentials(self.hub.settings.jwt_secret, header)
            except Unauthenticated as refused:
                said = answer(refused)
                raise ConnectionRejectionError(
                    {"message": said.message, "code": said.code}
                ) from None
            context.actor, context.auth_error = found.actor, None
            context.expires_at, context.token_hash = found.expires_at, found.token_hash
        _close_at_expiry(context)
        return UNSET


def _close_at_expiry(context: Context) -> None:
    """A connection whose token expires is closed with 4401 then, subscriptions or none; a
    running subscription closes it itself, naming the position to resume after."""
    assert context.expires_at is not None
    websocket: WebSocket = context.request
    loop = asyncio.get_running_loop()

    def expire() -> None:
        if context.following == 0:
            websocket.state.closing = loop.create_task(close_expired(websocket, "token expired"))

    websocket.state.expiry = loop.call_later(max(0.0, context.expires_at - time.time()), expire)


def caller_of(secret: str, scope: asgi.Scope) -> Credentials:
    """The credentials of a request's `Authorization` header (`Unauthenticated` if it has no
    valid token), decoded once per request: the request budget and the endpoint share them."""
    state = scope.setdefault("state", {})
    if "credentials" not in state:
        try:
            header = HTTPConnection(scope).headers.get("authorization")
            state["credentials"] = _verified(secret, header)
        except Unauthenticated as refused:
            state["credentials"] = refused
    found = state["credentials"]
    if isinstance(found, Unauthenticated):
        raise found
    observed_of(scope).sub = found.actor.sub
    return found


VERIFIED_TOKENS = 1024
"""How many tokens `_verified` keeps."""
_tokens: OrderedDict[tuple[str, str], Credentials] = OrderedDict()


def _verified(secret: str, header: str | None) -> Credentials:
    """`credentials`, kept for the tokens seen lately: a client sends the same token with each
    request, and checking its signature and claims costs more than a small mutation's own
    work. A kept token is taken only until it expires; then `credentials` refuses it again."""
    key = (secret, header or "")
    found = _tokens.get(key)
    if found is not None and found.expires_at > time.time():
        _tokens.move_to_end(key)
        return found
    found = credentials(secret, header)
    _tokens[key] = found
    if len(_tokens) > VERIFIED_TOKENS:
        _tokens.popitem(last=False)
    return found


def error_response(status: int, code: str, message: str) -> JSONResponse:
    """A request the web layer itself refuses (its limits), as `Refusal.response` answers."""
    return Refusal(code, message).response(status)


class StalledClient(ConnectionError):
    """The client took nothing sent to it for the stall limit; its connection is reset."""


class StallLimit:
    """Ends every connection whose client has not taken one message within `seconds`.

    A server's send waits while the client's socket is full, so a client that stops reading
    would keep its stream (producer, buffer, slot) for as long as it likes, and no end marker
    can reach it through the full socket. Past the limit the connection is reset, the app's
    sends fail and its receive says the client is gone, so it ends what it serves as it does
    when a client leaves; a client resumes from the last position it processed.
    """

    def __init__(self, app: asgi.ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        connection = _Guarded(scope, receive, send, self.seconds)
        if scope["type"] == "websocket":  # for frames written directly (`hub.streams.dispatch`)
            scope.setdefault("state", {})["server_send"] = send
        try:
            await self.app(scope, connection.receive, connection.send)
        except Exception:
            if not connection.stalled.done():
                raise


class _Guarded:
    """One connection's receive and send, under `StallLimit`."""

    def __init__(
        self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send, seconds: float
    ) -> None:
        self.scope = scope
        self._receive = receive
        self._send = send
        self.seconds = seconds
        self.task = asyncio.current_task()
        self.stalled: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.gone: asgi.Message = (
            {"type": "http.disconnect"}
            if scope["type"] == "http"
            else {"type": "websocket.disconnect", "code": 1006}
        )

    async def receive(self) -> asgi.Message:
        if self.stalled.done():
            return self.gone
        receiving = asyncio.ensure_future(self._receive())
        try:
            await asyncio.wait((receiving, self.stalled), return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not receiving.done():
                receiving.cancel()
        return self.gone if self.stalled.done() else receiving.result()

    async def send(self, message: asgi.Message) -> None:
        if not self.stalled.done():
            try:
                async with asyncio.timeout(self.seconds):
                    await self._send(message)
                return
            except TimeoutError:
                self._stall()
        if asyncio.current_task() is self.task:
            raise StalledClient(f"the client took nothing for {self.seconds:g} s")
        # A helper task of the app (a subscription's, a response body's), which the app's own
        # task cancels once its receive says the client is gone; failing its send instead
        # would log a traceback, or break the cleanup of one that sends as it stops.
        await asyncio.sleep(0)

    def _stall(self) -> None:
        if self.stalled.done():
            return
        self.stalled.set_result(None)
        scope = self.scope
        host, port = scope.get("client") or ("?", 0)
        log.warning(
            "ended %s %s of %s:%s: the client took nothing for %g s",
            scope["method"] if scope["type"] == "http" else "WebSocket",
            scope["path"],
            host,
            port,
            self.seconds,
        )
        _reset(self._send)


def _reset(send: asgi.Send) -> None:
    """Reset the connection under the server's `send` at once, dropping what waits unsent.

    ASGI cannot abort a connection, and the server's own close waits for its write buffer to
    drain, which a client that reads nothing never lets happen. uvicorn's protocols keep their
    transport as `.transport`: abort that, with a linger of 0 so that the kernel's buffers go
    too. Under another server the connection ends when the server closes it.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if not hasattr(transport, "abort"):
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class RequestBudget:
    """Token buckets of `rate` requests a second, `burst` at once, one per key, in this process.

    A bucket left alone long enough to refill is the same as none, so such buckets are dropped
    once there are many, keeping memory to the keys seen lately.
    """

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = max(burst, 1)
        self.buckets: dict[str, tuple[float, float]] = {}
        self.prune_at = 10_000

    def take(self, key: str, now: float) -> float:
        """0 when a request of `key` may go now (and count it); else the seconds until one may."""
        tokens, then = self.buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        if tokens < 1:
            self.buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate
        self.buckets[key] = (tokens - 1, now)
        if len(self.buckets) > self.prune_at:
            refill = self.burst / self.rate
            self.buckets = {k: v for k, v in self.buckets.items() if now - v[1] < refill}
            self.prune_at = max(10_000, 2 * len(self.buckets))
        return 0.0


UNBUDGETED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class RateLimit:
    """HTTP requests beyond their budget (`RequestBudget`) answer 429 `RATE_LIMITED` with
    `Retry-After`, before any work. A valid bearer token has a budget of its own; requests
    without one share the budget of their client address. Probes and scrapes are not counted."""

    def __init__(self, app: asgi.ASGIApp, settings: Settings) -> None:
        self.app = app
        self.secret = settings.jwt_secret
        self.budget = RequestBudget(settings.rate_limit_per_token, settings.rate_limit_burst)

    async def __call__(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNBUDGETED_PATHS:
            await self.app(scope, receive, send)
            return
        key = self._key(scope)
        wait = self.budget.take(key, time.monotonic())
        if not wait:
            await self.app(scope, receive, send)
            return
        budget = self.budget
        refused = error_response(
            429,
            "RATE_LIMITED",
            f"more than {budget.rate:g} requests a second (bursts of {budget.burst}) for this "
            f"{key.split()[0]} (HUB_RATE_LIMIT_PER_TOKEN, HUB_RATE_LIMIT_BURST); retry after "
            f"{wait:.1f} s",
        )
        refused.headers["Retry-After"] = str(math.ceil(wait))
        await refused(scope, receive, send)

    def _key(self, scope: asgi.Scope) -> str:
        with contextlib.suppress(Unauthenticated):
            return "token " + caller_of(self.secret, scope).token_hash
        host, _ = scope.get("client") or ("?", 0)
        return f"address {host}"


class BodyLimit:
    """An HTTP request body over `limit` bytes answers 413 `REQUEST_TOO_LARGE` as soon as
    the limit is passed, whether its length is declared or it comes in chunks, so the hub
    never holds more than `limit` bytes of one body."""

    def __init__(self, app: asgi.ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
                break
        pending = [message]

        async def replay() -> asgi.Message:
            return pending.pop() if pending else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        refused = error_response(
            413,
            "REQUEST_TOO_LARGE",
            f"the request body is larger than {self.limit} bytes, the most the hub takes "
            "(HUB_MAX_BODY_BYTES)",
        )
        refused.headers["Connection"] = "close"
        await refused(scope, receive, send)


class WebSocketMessageLimit:
    """A WebSocket message from the client over `limit` bytes closes the connection with 1009
    (message too big); the app sees the client gone."""

    def __init__(self, app: asgi.ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        closed = False
        gone = {"type": "websocket.disconnect", "code": 1009}

        async def limited_receive() -> asgi.Message:
            nonlocal closed
            if closed:
                return gone
            message = await receive()
            if message["type"] != "websocket.receive":
                return message
            data = message.get("bytes") or (message.get("text") or "").encode()
            if len(data) <= self.limit:
                return message
            closed = True
            reason = f"a message is larger than {self.limit} bytes (HUB_MAX_WS_MESSAGE_BYTES)"
            await send({"type": "websocket.close", "code": 1009, "reason": reason})
            return gone

        async def limited_send(message: asgi.Message) -> None:
            if not closed:
                await send(message)

        await self.app(scope, limited_receive, limited_send)


@cache
def graphiql_page() -> str:
    return (GRAPHIQL / "index.html").read_text(encoding="utf-8")


class GraphiQLAssets(StaticFiles):
    """GraphiQL's assets, cached by browsers for a year: each lives under its version
    (`graphiql-3.8.3/...`), so a new version is a new address."""

    def __init__(self) -> None:
        super().__init__(directory=GRAPHIQL / "assets")

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


class Observe:
    """Gives every HTTP request and WebSocket connection its request id (the caller's
    `X-Request-ID` when it is a bounded printable value, else one made here), echoes it in
    the response's `X-Request-ID`, and, once answered, logs one line about it and counts it."""

    def __init__(self, app: asgi.ASGIApp, hub: Callable[[], Hub]) -> None:
        self.app = app
        self.hub = hub

    async def __call__(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        said = dict(scope["headers"]).get(b"x-request-id")
        observed = Observed(request_id(said))
        scope.setdefault("state", {})["observed"] = observed
        echoed = (b"x-request-id", observed.request_id.encode())
        status = 0

        async def observed_send(message: asgi.Message) -> None:
            nonlocal status
            kind = message["type"]
            if kind in ("http.response.start", "websocket.accept"):
                message = {**message, "headers": [*message.get("headers", ()), echoed]}
                status = message.get("status", 101)
            elif kind == "websocket.close" and not status:
                status = 403  # refused before it was accepted
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            # nothing sent: an HTTP request failed (500), a WebSocket was never accepted (403)
            status = status or (500 if scope["type"] == "http" else 403)
            self._answered(scope, observed, status, time.perf_counter() - started)

    def _answered(self, scope: asgi.Scope, observed: Observed, status: int, seconds: float) -> None:
        path = scope["path"]
        method = scope["method"] if scope["type"] == "http" else "WEBSOCKET"
        outcome = observed.outcome or ("ok" if status < 400 else f"http_{status}")
        operation = observed.operation
        try:
            hub = self.hub()
        except AttributeError:
            hub = None
        metrics.requested(path, operation, outcome, seconds, hub)
        duration_ms = round(seconds * 1000, 1)
        requests_log.info(
            "%s %s %s %s ms%s request %s",
            method,
            path,
            status,
            duration_ms,
            f" {operation}" if operation else "",
            observed.request_id,
            extra={
                "method": method,
                "path": path,
                "operation": operation or None,
                "status": status,
                "outcome": outcome,
                "duration_ms": duration_ms,
                "sub": observed.sub,
                "request_id": observed.request_id,
            },
        )


class _App(Starlette):
    """The hub's Starlette app, with `StallLimit` outside everything (it needs the server's
    own send to reset a connection), then the request's id, log line and metrics (and its
    trace, when tracing is on), then the server limits that answer before any work."""

    def __init__(self, settings: Settings, **options: Any) -> None:
        self.settings = settings
        super().__init__(**options)

    def build_middleware_stack(self) -> asgi.ASGIApp:
        settings = self.settings
        app = super().build_middleware_stack()
        if settings.max_ws_message_bytes:
            app = WebSocketMessageLimit(app, settings.max_ws_message_bytes)
        if settings.max_body_bytes:
            app = BodyLimit(app, settings.max_body_bytes)
        if settings.rate_limit_per_token:
            app = RateLimit(app, settings)
        app = tracing.traced(Observe(app, lambda: self.state.hub))
        return StallLimit(app, settings.stream_stall_seconds)


def create_app(
    settings: Settings | None = None,
    hub: Hub | None = None,
    *,
    on_start: Callable[[Hub], Awaitable[None]] | None = None,
) -> Starlette:
    """The ASGI app; its lifespan starts and stops the hub, running `on_start` (the demo's
    seeding, say) once the hub has started."""
    hub = hub or Hub(settings or Settings.from_env())
    graphql = HubGraphQL(hub)

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> JSONResponse:
        # which of `hub serve --workers N` answered, and whether it is the one projecting
        process = {"pid": os.getpid(), "projects": hub.leads}
        about = {
            "streams": hub.streams.counts(),
            "process": process,
            "personalDataAccess": hub.access_log.counts(),
            "reads": graphql.reads.counts(),
            "indicatorCache": hub.indicator_cache.counts(),
        }
        try:
            reason, lag = await hub.readiness()
        except Exception as error:  # noqa: BLE001 - any failure means not ready
            said = (
                {"reason": "the database cannot be reached"}
                if unavailable(error)  # the driver's words (an errno) tell a client nothing
                else {
                    "reason": "the readiness check failed",
                    "error": str(error) or type(error).__name__,
                }
            )
            return JSONResponse({"status": "unavailable", **said, **about}, status_code=503)
        if reason is not None:
            return JSONResponse(
                {"status": "not ready", "reason": reason, **lag, **about},
                status_code=503,
            )
        return JSONResponse({"status": "ready", **lag, **about})

    async def events(request: Request) -> Response:
        return await event_stream(hub, request)

    async def metrics_text(_: Request) -> Response:
        body, media_type = await metrics.exposition(hub)
        return Response(body, media_type=media_type)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await hub.start()
        if on_start is not None:
            await on_start(hub)
        # Long-lived objects made at start-up need no more collecting; a larger young
        # generation keeps collection pauses out of request latency.
        gc.freeze()
        gc.set_threshold(50_000, 20, 20)
        try:
            yield
        finally:
            await hub.stop()
            metrics.process_ended()

    app = _App(
        hub.settings,
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Mount("/graphql/assets", GraphiQLAssets()),
            Mount("/workbench", WorkbenchFiles()),
            Route("/events", events),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_text),
        ],
        lifespan=lifespan,
    )
    app.state.hub = hub
    app.state.graphql = graphql
    return app


async def event_stream(hub: Hub, request: Request) -> Response:
    """`GET /events?after=N&entityTypes=A,B&district=D` as Server-Sent Events; `id:` is the
    position, so a client resumes with `Last-Event-ID`."""

    try:
        found = caller_of(hub.settings.jwt_secret, request.scope)
    except Unauthenticated as refused:
        return answer(refused).response()
    raw_after = request.headers.get("last-event-id") or request.query_params.get("after")
    types = [t for t in request.query_params.get("entityTypes", "").split(",") if t]
    try:
        after = int(raw_after) if raw_after else None
        unknown = [t for t in types if t not in EntityType.__members__]
        if unknown:
            raise InvalidInput(f"unknown entity types {unknown}", "entityTypes")
        scope = Scope.of(found.actor, types or None, request.query_params.get("district"))
    except ValueError:
        return error_response(400, "VALIDATION", f"after {raw_after!r} is not a position")
    except CommandRefused as refusal:
        return answer(refusal).response()
    try:
        head = await complete_position(hub.pool)  # a stream starts only on a reachable database
    except Exception as error:
        said = refusal_of(error)
        if said is None:
            raise
        return said.response()
    try:
        slot = hub.streams.take(found.token_hash)
    except TooManyStreams as refused:
        return answer(refused).response()

    request_id = observed_of(request.scope).request_id

    async def body() -> AsyncGenerator[str, None]:
        events = follow(
            hub,
            scope,
            head if after is None else after,
            expires_at=found.expires_at,
            transport="sse",
        )
        async with contextlib.aclosing(events):
            try:
                async for row in events:
                    if row is None:
                        yield ": keep-alive\n\n"
                        continue
                    shown = await shown_to(hub, found.actor, row, request_id)
                    yield shown.render("sse", _sse_frame)
            except StreamEnded as ended:
                said = answer(ended)
                end = {
                    "code": said.code,
                    "message": said.message,
                    "resumeAfter": ended.resume_after,
                }
                yield f"event: end\ndata: {json.dumps(end)}\n\n"

    return _EventStream(body(), slot)


def _sse_frame(event: Any) -> str:
    """One event as a Server-Sent Events frame, `id:` its position."""
    payload = json.dumps(as_json(event), ensure_ascii=False, default=str)
    return f"id: {event.position}\nevent: {event.type}\ndata: {payload}\n\n"


class _EventStream(StreamingResponse):
    """Server-Sent Events that close their source and give their stream slot back however
    the response ends (finished, client gone, stalled, failed)."""

    def __init__(self, body: AsyncGenerator[str, None], slot: Slot) -> None:
        super().__init__(
            body,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        self.source = body
        self.slot = slot

    async def __call__(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        with self.slot:
            try:
                await super().__call__(scope, receive, send)
            finally:
                await self.source.aclose()
