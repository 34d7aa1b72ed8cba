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

from hub.schema.limits import LIST_ROWS, list_rows, structural
from hub.schema.root import schema
from tests.agency_api import MUNICIPAL, register
from tests.conftest import Client, fresh_database, running, token
from tests.streams import Served, served

LIMITS: dict[str, Any] = dict(
    max_tokens=60, max_depth=4, max_aliases=3, max_cost=100, max_cost_auditor=1000
)
TRANSPORTS = ("http", "graphql-transport-ws")
"""The transports that carry queries; the legacy `graphql-ws` protocol
(subscriptions-transport-ws) carries subscriptions only, and has tests of its own below."""


@pytest.fixture(scope="module")
async def limited(server_url: str) -> AsyncIterator[Served]:
    async with served(await fresh_database(server_url), **LIMITS) as app:
        yield app


def request(query: str, variables: dict | None, operation: str | None) -> dict:
    """A GraphQL request's payload (`operationName` when one is named)."""
    payload = {"query": query, "variables": variables or {}}
    return payload if operation is None else {**payload, "operationName": operation}


async def over_http(
    app: Served, query: str, variables: dict | None, auth: str | None, operation: str | None
) -> dict:
    headers = {"Authorization": f"Bearer {auth}"} if auth else {}
    async with httpx.AsyncClient(base_url=app.base, timeout=30) as http:
        sent = request(query, variables, operation)
        response = await http.post("/graphql", json=sent, headers=headers)
    return response.json()


async def over_ws(
    app: Served,
    query: str,
    variables: dict | None,
    auth: str | None,
    protocol: str,
    operation: str | None,
) -> dict:
    """The answer to one operation sent over WebSocket in `protocol`: `{data}` or `{errors}`
    (the socket opens only with a token: without one, a partner's)."""
    start, answer = (
        ("subscribe", "next") if protocol == "graphql-transport-ws" else ("start", "data")
    )
    async with websockets.connect(
        f"ws://127.0.0.1:{app.port}/graphql", subprotocols=[protocol]
    ) as ws:
        payload = {"Authorization": f"Bearer {auth or token('PARTNER')}"}
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        sent = request(query, variables, operation)
        await ws.send(json.dumps({"id": "1", "type": start, "payload": sent}))
        for _ in range(20):
            message = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if message["type"] == answer:
                return message["payload"]
            if message["type"] == "error":
                errors = message["payload"]
                return {"errors": errors if isinstance(errors, list) else [errors]}
    raise AssertionError(f"no answer over WebSocket ({protocol})")


async def ask(
    transport: str,
    app: Served,
    query: str,
    variables: dict | None = None,
    *,
    auth: str | None,
    operation: str | None = None,
) -> dict:
    if transport == "http":
        return await over_http(app, query, variables, auth, operation)
    return await over_ws(app, query, variables, auth, transport, operation)


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
    # GraphQL takes an integral float for an Int: it costs as much
    body = await ask(transport, limited, query, {"n": 101.0}, auth=auth)
    assert codes(body) == ["QUERY_TOO_COSTLY"] and "cost is 101" in body["errors"][0]["message"]
    body = await ask(transport, limited, query, {"n": 100.0}, auth=auth)
    assert body.get("data") == {"workers": {"totalCount": 0}}, body
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


async def test_a_subscription_over_http_is_refused(streaming: Served) -> None:
    """It would run once and answer null as a fault of the hub (HTTP carries no stream)."""
    events = subscription("position")
    headers = {"Authorization": f"Bearer {MUNICIPAL}"}
    async with httpx.AsyncClient(base_url=streaming.base, timeout=30) as http:
        answers = [
            await http.post("/graphql", json={"query": events}, headers=headers),
            await http.get("/graphql", params={"query": events}, headers=headers),
        ]
    for answer in answers:
        body = answer.json()
        assert codes(body) == ["BAD_REQUEST"] and body.get("data") is None, body
        assert "WebSocket" in body["errors"][0]["message"]


async def test_a_limit_of_0_is_off(database: str) -> None:
    off = dict(max_tokens=0, max_depth=0, max_aliases=0, max_cost=0)
    async with running(database, **off) as client:
        flood = await client.post(aliases(5_000), auth=None)  # 15,000 tokens
        assert "errors" not in flood and len(flood["data"]) == 5_000
        body = await client.post("{ workers(first: 500) { totalCount } }", auth=token("PARTNER"))
        assert body.get("data") == {"workers": {"totalCount": 0}}, body
        deep = "{ " + "a { " * 30 + "b" + " }" * 30 + " }"
        assert codes(await client.post(deep, auth=None)) == ["GRAPHQL_VALIDATION_FAILED"]


async def test_graphiql_introspection_passes_without_a_token(client: Client) -> None:
    body = await client.post(get_introspection_query(descriptions=True), auth=None)
    assert "errors" not in body, body
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_introspection_is_bounded_too(client: Client) -> None:
    """Its lists count what the schema holds: aliases of the whole schema were free (99 of
    GraphiQL's took 3.3 s and 18 MB, without a token)."""
    full = get_introspection_query(descriptions=True)
    selection = full[full.index("__schema") + len("__schema") : full.index("fragment FullType")]
    selection = selection[: selection.rindex("}")]  # the query's own closing brace
    fragments = full[full.index("fragment FullType") :]
    document = f"fragment S on __Schema {selection} {fragments}"
    one = f"{{ __schema {{ ...S }} }} {document}"
    assert "errors" not in await client.post(one, auth=None)
    aliases = " ".join(f"s{n}: __schema {{ ...S }}" for n in range(99))
    body = await client.post(f"{{ {aliases} }} {document}", auth=None)
    assert codes(body) == ["QUERY_TOO_COSTLY"] and body.get("data") is None


async def test_a_long_chain_of_fragment_spreads_is_refused_with_a_code(client: Client) -> None:
    """Flat in the text, nested when measured: 600 of them took the walk past Python's
    recursion limit, an error without a code."""

    def chain(n: int) -> str:
        spreads = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} }}" for i in range(n))
        return f"{{ ...F0 }} {spreads} fragment F{n} on Query {{ __typename }}"

    assert (await client.post(chain(150), auth=None)).get("data") == {"__typename": "Query"}
    body = await client.post(chain(600), auth=None)
    assert codes(body) == ["QUERY_TOO_DEEP"] and "fragment spreads" in body["errors"][0]["message"]


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
    introspection = {
        f"{t.name}.{name}"
        for t in schema._schema.type_map.values()
        if is_object(t) and t.name.startswith("__")
        for name, f in t.fields.items()
        if is_list_type(get_nullable_type(f.type))
    }
    assert introspection <= set(list_rows(schema._schema))


# The legacy graphql-ws protocol carries subscriptions only ------------------------------------

STREAM_LIMITS: dict[str, Any] = dict(max_tokens=40, max_depth=3, max_aliases=2, max_cost=11)
"""`events` is one row an event, each event's `changes` ten (`LIST_ROWS`)."""


@pytest.fixture(scope="module")
async def streaming(server_url: str) -> AsyncIterator[Served]:
    """A hub with limits a subscription can reach, holding one event (recorded by a hub
    without them: the mutation is over them) to replay."""
    database = await fresh_database(server_url)
    async with running(database) as client:
        await register(client)
    async with served(database, **STREAM_LIMITS) as app:
        yield app


def subscription(selection: str) -> str:
    return f"subscription {{ events(after: 0) {{ {selection} }} }}"


async def replayed(app: Served, document: str, operation: str | None = None) -> dict:
    """The first answer to a subscription over legacy graphql-ws."""
    return await ask("graphql-ws", app, document, auth=MUNICIPAL, operation=operation)


def delivered(body: dict) -> bool:
    """Whether the subscription ran: the recorded event came."""
    return "errors" not in body and bool(body["data"]["events"])


async def test_legacy_ws_depth_at_under_and_over_its_limit(streaming: Served) -> None:
    assert delivered(await replayed(streaming, subscription("position")))
    assert delivered(await replayed(streaming, subscription("actor { sub }")))
    body = await replayed(streaming, subscription("actor { sub { deeper } }"))
    assert codes(body) == ["QUERY_TOO_DEEP"] and "depth is 4" in body["errors"][0]["message"]


async def test_legacy_ws_aliases_at_under_and_over_their_limit(streaming: Served) -> None:
    assert delivered(await replayed(streaming, subscription("a: position")))
    assert delivered(await replayed(streaming, subscription("a: position b: type")))
    body = await replayed(streaming, subscription("a: position b: type c: version"))
    assert codes(body) == ["TOO_MANY_ALIASES"] and "aliases is 3" in body["errors"][0]["message"]


async def test_legacy_ws_tokens_at_under_and_over_their_limit(streaming: Served) -> None:
    def tokens(n: int) -> str:
        return subscription("position " * (n - 11))

    limit = STREAM_LIMITS["max_tokens"]
    for n in (limit - 1, limit):
        assert delivered(await replayed(streaming, tokens(n)))
    body = await replayed(streaming, tokens(limit + 1))
    assert codes(body) == ["QUERY_TOO_LARGE"]
    assert f"{limit} tokens" in body["errors"][0]["message"]


async def test_legacy_ws_cost_at_under_and_over_its_limit(streaming: Served) -> None:
    """Under (1), at (11) and over (21): an event's `changes` are ten rows at a time."""
    assert delivered(await replayed(streaming, subscription("position")))
    assert delivered(await replayed(streaming, subscription("changes { field }")))
    body = await replayed(streaming, subscription("a: changes { field } b: changes { field }"))
    assert codes(body) == ["QUERY_TOO_COSTLY"]
    assert "cost is 21, above the limit of 11" in body["errors"][0]["message"]


async def test_legacy_ws_reports_every_exceeded_limit_in_its_one_error(streaming: Served) -> None:
    """The legacy protocol delivers one error; it lists every limit the query exceeds."""
    query = "a: changes { field } b: changes { field } c: actor { sub { d } }"
    body = await replayed(streaming, subscription(query))
    [error] = body["errors"]
    exceeded = [limit["code"] for limit in error["extensions"]["exceeded"]]
    assert exceeded == ["QUERY_TOO_DEEP", "TOO_MANY_ALIASES", "QUERY_TOO_COSTLY"]
    assert error["extensions"]["code"] == exceeded[0]


# Documents of several operations: the one that runs is measured ------------------------------

SMALL = "query Small { __typename }"
BIG = "query Big { a: __typename b: __typename c: __typename d: __typename }"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_the_operation_that_runs_is_measured(limited: Served, transport: str) -> None:
    """A big operation beside the one named does not refuse it, and a small one beside it
    does not let the big one through."""
    both = f"{SMALL} {BIG}"
    body = await ask(transport, limited, both, auth=None, operation="Small")
    assert body.get("data") == {"__typename": "Query"}, body
    body = await ask(transport, limited, both, auth=None, operation="Big")
    assert codes(body) == ["TOO_MANY_ALIASES"] and body.get("data") is None
    # no operation named: the first one runs, and is the one measured
    body = await ask(transport, limited, both, auth=None)
    assert body.get("data") == {"__typename": "Query"}, body
    body = await ask(transport, limited, f"{BIG} {SMALL}", auth=None)
    assert codes(body) == ["TOO_MANY_ALIASES"] and body.get("data") is None


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_named_operation_over_the_token_limit_is_refused_as_such(
    limited: Served, transport: str
) -> None:
    """Not as an unknown operation: the parser gave up before it reached the name."""
    flood = "query Flood { " + "__typename " * 60 + "}"
    body = await ask(transport, limited, flood, auth=None, operation="Flood")
    assert codes(body) == ["QUERY_TOO_LARGE"] and body.get("data") is None


async def test_an_anonymous_first_operation_is_measured_with_every_other(limited: Served) -> None:
    """With no name to tell which operation would run, the largest one counts."""
    body = await ask("http", limited, f"{{ __typename }} {BIG}", auth=None)
    assert codes(body) == ["TOO_MANY_ALIASES"] and body.get("data") is None


async def test_an_unknown_operation_name_runs_nothing(limited: Served) -> None:
    body = await ask("http", limited, f"{SMALL} {BIG}", auth=None, operation="Nope")
    assert codes(body) == ["BAD_REQUEST"] and body.get("data") is None


async def test_legacy_ws_measures_the_subscription_that_runs(streaming: Served) -> None:
    small = "subscription S { events(after: 0) { type } }"
    costly = "subscription C { events { a: changes { field } b: changes { field } } }"
    assert delivered(await replayed(streaming, f"{small} {costly}", "S"))
    assert codes(await replayed(streaming, f"{small} {costly}", "C")) == ["QUERY_TOO_COSTLY"]
