"""Bounded queries: every limit refused before execution, with its code, over HTTP and over
WebSocket; GraphiQL's introspection still answers without a token."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets
from graphql import get_introspection_query, get_named_type, get_nullable_type, is_list_type
from graphql import is_object_type as is_object

from hub.schema.limits import LIST_ROWS, structural
from hub.schema.root import schema
from tests.conftest import Client, fresh_database, token
from tests.streams import Served, served

LIMITS: dict[str, Any] = dict(
    max_tokens=60, max_depth=4, max_aliases=3, max_cost=100, max_cost_by_role={"AUDITOR": 1000}
)
TRANSPORTS = ("http", "ws")


@pytest.fixture(scope="module")
async def limited(server_url: str) -> AsyncIterator[Served]:
    async with served(await fresh_database(server_url), **LIMITS) as app:
        yield app


async def over_http(app: Served, query: str, variables: dict | None, auth: str | None) -> dict:
    headers = {"Authorization": f"Bearer {auth}"} if auth else {}
    async with httpx.AsyncClient(base_url=app.base, timeout=30) as http:
        response = await http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
    return response.json()


async def over_ws(app: Served, query: str, variables: dict | None, auth: str | None) -> dict:
    """The answer to one operation sent over graphql-transport-ws: `{data}` or `{errors}`
    (the socket opens only with a token: without one, a partner's)."""
    async with websockets.connect(
        f"ws://127.0.0.1:{app.port}/graphql", subprotocols=["graphql-transport-ws"]
    ) as ws:
        payload = {"Authorization": f"Bearer {auth or token('PARTNER')}"}
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        operation = {"query": query, "variables": variables or {}}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": operation}))
        for _ in range(20):
            message = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if message["type"] == "next":
                return message["payload"]
            if message["type"] == "error":
                return {"errors": message["payload"]}
    raise AssertionError("no answer over WebSocket")


async def ask(
    transport: str, app: Served, query: str, variables: dict | None = None, *, auth: str | None
) -> dict:
    send = over_http if transport == "http" else over_ws
    return await send(app, query, variables, auth)


def codes(body: dict) -> list[str]:
    return sorted(e.get("extensions", {}).get("code") for e in body.get("errors", []))


def aliases(n: int) -> str:
    return "{ " + " ".join(f"a{i}: __typename" for i in range(n)) + " }"


def depth(n: int) -> str:
    """A query of `n` nested fields: workers(first: 1) > edges > node > certificates..."""
    shapes = {
        3: "{ workers(first: 1) { edges { cursor } } }",
        4: "{ workers(first: 1) { edges { node { id } } } }",
        5: "{ workers(first: 1) { edges { node { certificates { level } } } } }",
    }
    return shapes[n]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_depth_at_under_and_over_its_limit(limited: Served, transport: str) -> None:
    auth = token("PARTNER")
    for n in (3, 4):
        body = await ask(transport, limited, depth(n), auth=auth)
        assert "errors" not in body, body
    body = await ask(transport, limited, depth(5), auth=auth)
    assert codes(body) == ["QUERY_TOO_DEEP"]
    assert body.get("data") is None
    message = body["errors"][0]["message"]
    assert "depth is 5" in message and "4" in message and "HUB_MAX_DEPTH" in message


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_aliases_at_under_and_over_their_limit(limited: Served, transport: str) -> None:
    for n in (2, 3):
        body = await ask(transport, limited, aliases(n), auth=None)
        assert body.get("data") == {f"a{i}": "Query" for i in range(n)}, body
    body = await ask(transport, limited, aliases(4), auth=None)
    assert codes(body) == ["TOO_MANY_ALIASES"]
    assert "aliases is 4" in body["errors"][0]["message"]
    assert "HUB_MAX_ALIASES" in body["errors"][0]["message"]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_fragment_spreads_count_every_alias_they_bring(
    limited: Served, transport: str
) -> None:
    """Two aliases in a fragment spread twice are four (a spread cannot hide them)."""
    query = "{ ...F ...G } fragment F on Query { a: __typename b: __typename } "
    once = await ask(transport, limited, query + "fragment G on Query { c: __typename }", auth=None)
    assert once.get("data") == {"a": "Query", "b": "Query", "c": "Query"}, once
    twice = await ask(transport, limited, query + "fragment G on Query { ...F }", auth=None)
    assert codes(twice) == ["TOO_MANY_ALIASES"]
    assert "aliases is 4" in twice["errors"][0]["message"]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_tokens_at_under_and_over_their_limit(limited: Served, transport: str) -> None:
    def tokens(n: int) -> str:
        return "{ " + "__typename " * (n - 2) + "}"

    for n in (59, 60):
        body = await ask(transport, limited, tokens(n), auth=None)
        assert body.get("data") == {"__typename": "Query"}, body
    body = await ask(transport, limited, tokens(61), auth=None)
    assert codes(body) == ["QUERY_TOO_LARGE"]
    assert "60 tokens" in body["errors"][0]["message"]
    assert "HUB_MAX_TOKENS" in body["errors"][0]["message"]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_cost_at_under_and_over_its_limit(limited: Served, transport: str) -> None:
    auth = token("PARTNER")
    for n in (99, 100):
        body = await ask(
            transport, limited, f"{{ workers(first: {n}) {{ totalCount }} }}", auth=auth
        )
        assert body.get("data") == {"workers": {"totalCount": 0}}, body
    body = await ask(transport, limited, "{ workers(first: 101) { totalCount } }", auth=auth)
    assert codes(body) == ["QUERY_TOO_COSTLY"]
    message = body["errors"][0]["message"]
    assert "cost is 101" in message and "limit of 100" in message and "HUB_MAX_COST" in message


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_cost_reads_first_from_variables_and_defaults(
    limited: Served, transport: str
) -> None:
    auth = token("PARTNER")
    query = "query($n: Int!) { workers(first: $n) { totalCount } }"
    body = await ask(transport, limited, query, {"n": 100}, auth=auth)
    assert "errors" not in body, body
    body = await ask(transport, limited, query, {"n": 101}, auth=auth)
    assert codes(body) == ["QUERY_TOO_COSTLY"]
    defaulted = "query($n: Int! = 101) { workers(first: $n) { totalCount } }"
    assert codes(await ask(transport, limited, defaulted, auth=auth)) == ["QUERY_TOO_COSTLY"]
    # the field's own default (50)
    defaults = "{ a: workers { totalCount } b: workers { totalCount } c: stations { totalCount } }"
    body = await ask(transport, limited, defaults, auth=auth)
    assert codes(body) == ["QUERY_TOO_COSTLY"] and "cost is 150" in body["errors"][0]["message"]
    # a nested plain list counts its estimate per parent row
    nested = '{ history(id: "x") { changes { field } } }'
    body = await ask(transport, limited, nested, auth=auth)
    assert codes(body) == ["QUERY_TOO_COSTLY"]
    cost = LIST_ROWS["Query.history"] * (1 + LIST_ROWS["Event.changes"])
    assert f"cost is {cost}" in body["errors"][0]["message"]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_every_exceeded_limit_is_reported(limited: Served, transport: str) -> None:
    query = "{ a: workers { b: edges { c: node { d: certificates { level } } } } }"
    body = await ask(transport, limited, query, auth=token("PARTNER"))
    assert codes(body) == ["QUERY_TOO_COSTLY", "QUERY_TOO_DEEP", "TOO_MANY_ALIASES"]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_an_auditor_may_run_a_report_refused_to_a_partner(
    limited: Served, transport: str
) -> None:
    query = "{ workers(first: 500) { totalCount } }"
    assert codes(await ask(transport, limited, query, auth=token("PARTNER"))) == [
        "QUERY_TOO_COSTLY"
    ]
    body = await ask(transport, limited, query, auth=token("AUDITOR"))
    assert body.get("data") == {"workers": {"totalCount": 0}}, body
    over = "{ a: workers(first: 500) { totalCount } b: posts(first: 501) { totalCount } }"
    body = await ask(transport, limited, over, auth=token("AUDITOR"))
    assert codes(body) == ["QUERY_TOO_COSTLY"]
    assert "limit of 1000 (HUB_MAX_COST_AUDITOR)" in body["errors"][0]["message"]


async def test_graphiql_introspection_passes_without_a_token(client: Client) -> None:
    body = await client.post(get_introspection_query(descriptions=True), auth=None)
    assert "errors" not in body, body
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_the_attack_shapes_are_refused(client: Client) -> None:
    nested = "edges { node { certificates { level } posts { id } employer { name } } }"
    wide = "{ " + " ".join(f"w{i}: workers(first: 500) {{ {nested} }}" for i in range(200)) + " }"
    body = await client.post(wide, auth=token("MUNICIPAL"))
    assert "QUERY_TOO_COSTLY" in codes(body) and body.get("data") is None
    deep = "{ " + "a { " * 150 + "b" + " }" * 150 + " }"
    assert codes(await client.post(deep, auth=None)) == ["QUERY_TOO_DEEP"]
    flood = await asyncio.wait_for(client.post(aliases(100_000), auth=None), 10)
    assert codes(flood) == ["REQUEST_TOO_LARGE"]  # 1.7 MB: refused before it is parsed at all
    flood = await asyncio.wait_for(client.post(aliases(50_000), auth=None), 10)
    assert codes(flood) == ["QUERY_TOO_LARGE"]  # under the body limit, over the token limit


def test_every_list_of_records_has_a_row_estimate() -> None:
    """A list field without an estimate would go uncounted by the cost."""
    lists = {
        f"{t.name}.{name}"
        for t in schema._schema.type_map.values()
        if is_object(t) and not t.name.startswith("__") and not structural(t)
        for name, f in t.fields.items()
        if is_list_type(get_nullable_type(f.type))
        and is_object(get_named_type(f.type))
        and "first" not in f.args
    }
    assert lists == set(LIST_ROWS)
