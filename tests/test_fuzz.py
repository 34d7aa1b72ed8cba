"""Generated queries and mutations of the whole schema, with a token of each role and none:
the hub answers every one without a server error, and every error it answers carries a code.

Bounded for CI (`FUZZ_EXAMPLES`, default 150); `make fuzz` runs a longer one. Below them, the
answers a fuzzer over HTTP does not reach: the WebSocket mistakes strawberry refuses itself,
and the end of a subscription the hub closes.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
from typing import Any

import hypothesis.strategies as st
import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis_graphql import Mode, from_schema, nodes

from hub.schema.root import schema
from tests.conftest import running, token
from tests.streams import Subscriber, served
from tests.test_token_expiry import expiring

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
SCALARS = {
    "Date": st.dates().map(nodes.String),
    "DateTime": st.datetimes().map(lambda moment: nodes.String(moment.isoformat())),
    "Decimal": st.decimals(allow_nan=False, allow_infinity=False, places=2).map(nodes.String),
    "JSON": st.just(nodes.String("{}")),
}
CALLERS = {
    "municipal": token("MUNICIPAL"),
    "district": token("DISTRICT", district="500103"),
    "contractor": token("CONTRACTOR", agency="00000000-0000-4000-8000-000000000001"),
    "auditor": token("AUDITOR"),
    "partner": token("PARTNER"),
    "anonymous": None,
}
"""A token of each role, and none."""
FUZZ_SETTINGS = settings(
    deadline=None, database=None, suppress_health_check=list(HealthCheck), print_blob=True
)


def headers_of(caller: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {caller}"} if caller else {}


def fault(response: Any) -> Any:
    """What is wrong with an HTTP answer (None: nothing): a server error, an answer that is
    not a GraphQL response, an error without a code, or an exception the hub did not handle."""
    if response.status_code >= 500:
        return response.status_code
    try:
        body = response.json()
    except ValueError:
        return response.text
    if not isinstance(body, dict):
        return body
    wrong = [
        e
        for e in body.get("errors") or []
        if e.get("extensions", {}).get("code") in (None, "INTERNAL_SERVER_ERROR")
    ]
    return wrong or None


@pytest.mark.parametrize("mode", [Mode.POSITIVE, Mode.NEGATIVE], ids=["valid", "invalid"])
async def test_generated_operations_never_fail_the_server(database: str, mode: Mode) -> None:
    """Valid operations, and operations the schema must refuse (wrong types, missing
    arguments, unknown values)."""
    faults: list[tuple[str, Any]] = []
    async with running(database) as client:
        loop = asyncio.get_running_loop()

        def ask(operation: str, caller: str | None) -> None:
            sent = client.http.post(
                "/graphql", json={"query": operation}, headers=headers_of(caller)
            )
            response = asyncio.run_coroutine_threadsafe(sent, loop).result(60)
            found = fault(response)
            if found is not None:
                faults.append((operation, found))

        @settings(FUZZ_SETTINGS, max_examples=EXAMPLES)
        @given(
            operation=from_schema(schema.as_str(), custom_scalars=SCALARS, mode=mode),
            caller=st.sampled_from(list(CALLERS.values())),
        )
        def fuzz(operation: str, caller: str | None) -> None:
            ask(operation, caller)

        await asyncio.to_thread(fuzz)
    assert faults == []


MISTAKES = {
    "graphql-ws": [
        {"variables": {}},
        {"query": ""},
        {"query": "subscription A { events { position } }", "operationName": "B"},
        {"query": "{ __typename }"},  # the legacy protocol carries subscriptions only
    ],
    "graphql-transport-ws": [{"query": ""}, {"query": None}],
}
"""Operations strawberry refuses itself, before the hub's extensions see them (the others
the transport-ws protocol refuses by closing the connection with 4400)."""


@pytest.mark.parametrize("protocol", list(MISTAKES))
async def test_the_mistakes_strawberry_refuses_itself_carry_a_code(
    database: str, protocol: str
) -> None:
    start = "subscribe" if protocol == "graphql-transport-ws" else "start"
    async with served(database) as app:
        for n, payload in enumerate(MISTAKES[protocol]):
            async with websockets.connect(
                f"ws://127.0.0.1:{app.port}/graphql", subprotocols=[protocol]
            ) as ws:
                auth = {"Authorization": f"Bearer {CALLERS['municipal']}"}
                await ws.send(json.dumps({"type": "connection_init", "payload": auth}))
                await ws.send(json.dumps({"id": str(n), "type": start, "payload": payload}))
                message = json.loads(await asyncio.wait_for(ws.recv(), 10))
                while message["type"] in ("connection_ack", "ka"):
                    message = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert message["type"] == "error", (payload, message)
            errors = message["payload"]
            for error in errors if isinstance(errors, list) else [errors]:
                assert error["extensions"]["code"] == "BAD_REQUEST", (payload, error)


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_a_subscription_the_hub_ends_leaves_no_unhandled_exception(
    database: str, protocol: str, caplog: pytest.LogCaptureFixture
) -> None:
    """When a token expires the hub closes the connection; strawberry's `complete` after it
    must not fail."""
    expires, _ = expiring()
    with caplog.at_level(logging.ERROR):
        async with served(database) as app, Subscriber(app.port, expires, protocol) as stream:
            await stream.subscribe()
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    await stream.next(10)
            await asyncio.sleep(0.2)
        gc.collect()  # an exception nobody retrieved is logged when its task is collected
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []
