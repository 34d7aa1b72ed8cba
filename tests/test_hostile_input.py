"""Requests an attacker (or a bad day) sends: each is refused with a specific code and a message
that names what is wrong, and none writes anything or stops the views."""

from __future__ import annotations

import json
import time

import jwt
import pytest
import websockets

from hub.schema.context import Context
from hub.service.auth import Unauthenticated
from tests.agency_api import (
    AGENCY,
    REGISTER,
    SUSPEND,
    UPDATE,
    refused,
    register,
    registration,
    send,
)
from tests.conftest import SECRET, Client, token
from tests.streams import Subscriber, served
from tests.worker_api import REGISTER_WORKER, worker_input

CONTRACTOR_CLAIMS = {"sub": "mallory", "role": "MUNICIPAL", "exp": int(time.time()) + 600}
NO_VALID_TOKEN = {
    "no token": None,
    "expired": jwt.encode(
        {**CONTRACTOR_CLAIMS, "exp": int(time.time()) - 10}, SECRET, algorithm="HS256"
    ),
    "forged": jwt.encode(CONTRACTOR_CLAIMS, "not-the-secret-but-as-long-as-one", algorithm="HS256"),
}

DISGUISED_READS = {
    "fragment named like introspection": """{ ...__F } fragment __F on Query {
        workers(first: 2) { edges { node { id education employer { name } } } }
        projects(first: 2) { edges { node { title budget } } } }""",
    "inline fragment": "{ ... on Query { agencies(first: 2) { totalCount } } }",
    "beside __typename": "{ __typename agencies(first: 2) { totalCount } }",
    "aliased as __schema": "{ __schema: agencies(first: 2) { totalCount } }",
    "nested fragments": """{ ...A } fragment A on Query { ...B __typename }
        fragment B on Query { me { sub role } }""",
    "second operation": """query Docs { __schema { queryType { name } } }
        query Data { agencies(first: 1) { totalCount } }""",
}


@pytest.mark.parametrize("case", list(NO_VALID_TOKEN))
@pytest.mark.parametrize("disguise", list(DISGUISED_READS))
async def test_registry_data_needs_a_valid_token_however_the_query_is_dressed(
    client: Client, case: str, disguise: str
) -> None:
    await register(client)
    body = await client.post(DISGUISED_READS[disguise], auth=NO_VALID_TOKEN[case])
    if disguise == "second operation":  # choosing the data operation by name
        response = await client.http.post(
            "/graphql",
            json={"query": DISGUISED_READS[disguise], "operationName": "Data"},
            headers={"Authorization": f"Bearer {NO_VALID_TOKEN[case]}"}
            if NO_VALID_TOKEN[case]
            else {},
        )
        body = response.json()
    assert body.get("data") is None, body
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"], body


async def test_introspection_through_fragments_needs_no_token(client: Client) -> None:
    body = await client.post(
        "{ ...Docs } fragment Docs on Query { __schema { queryType { name } } __typename }",
        auth=None,
    )
    assert body == {"data": {"__schema": {"queryType": {"name": "Query"}}, "__typename": "Query"}}


def test_a_resolver_that_asks_for_the_caller_without_one_is_unauthenticated() -> None:
    context = Context(hub=None, actor=None, auth_error=Unauthenticated("the token has expired"))  # type: ignore[arg-type]
    with pytest.raises(Unauthenticated, match="expired"):
        _ = context.caller


CONTRACTOR = "CONTRACTOR"


@pytest.mark.parametrize(
    ("value", "character"),
    [
        ("a\u0000b", "U+0000"),
        ("bell\u0007", "U+0007"),
        ("esc\u001b[31m", "U+001B"),
        ("del\u007f", "U+007F"),
        ("c1\u0085", "U+0085"),
    ],
)
async def test_control_characters_in_a_name_are_refused(
    client: Client, value: str, character: str
) -> None:
    error = await refused(
        client, REGISTER, "VALIDATION", "name", "control character", **registration(name=value)
    )
    assert character in error["message"]


async def test_a_lone_surrogate_is_refused(client: Client) -> None:
    """JSON can spell half a character (`\\ud800`); no UTF-8 text can hold it."""
    before = await client.events()
    response = await client.http.post(
        "/graphql",
        content=json.dumps(
            {"query": REGISTER, "variables": {"input": registration(name="a\ud800")}}
        ),
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {token('MUNICIPAL')}",
        },
    )
    [error] = response.json()["data"]["registerAgency"]["errors"]
    assert (error["code"], error["field"]) == ("VALIDATION", "name")
    assert "U+D800" in error["message"]
    assert await client.events() == before


async def test_a_contractor_cannot_poison_the_views_through_its_own_agency(client: Client) -> None:
    agency = (await register(client))["agency"]
    own = token(CONTRACTOR, agency=agency["id"])
    await refused(
        client, UPDATE, "VALIDATION", "name", "U+0000", auth=own, id=agency["id"], name="x\u0000"
    )
    await refused(
        client, UPDATE, "VALIDATION", "reason", "U+0000", auth=own, id=agency["id"],
        name="fine", reason="why\u0000",
    )  # fmt: skip
    # the views go on: a good change is visible in the answer at once
    renamed = await send(client, UPDATE, auth=own, id=agency["id"], name="still projected")
    assert renamed["errors"] == [] and renamed["agency"]["name"] == "still projected"


async def test_control_characters_are_refused_in_every_text_input(client: Client) -> None:
    agency = (await register(client))["agency"]
    await refused(
        client, SUSPEND, "VALIDATION", "reason", "U+0000", id=agency["id"], reason="r\u0000"
    )
    await refused(
        client, SUSPEND, "VALIDATION", "idempotencyKey", "U+0001",
        id=agency["id"], reason="r", idempotencyKey="k\u0001",
    )  # fmt: skip
    before = await client.events()
    data = await client.run(
        REGISTER_WORKER, {"input": worker_input(name="名\u0000字")}, auth=token("MUNICIPAL")
    )
    error = data["registerWorker"]["errors"][0]
    assert (error["code"], error["field"]) == ("VALIDATION", "name"), error
    assert await client.events() == before
    # tabs and line breaks are text, in a reason
    kept = await send(client, SUSPEND, id=agency["id"], reason="line one\nline two\tend")
    assert kept["errors"] == [], kept


@pytest.mark.parametrize(("field", "limit"), [("reason", 2_000), ("idempotencyKey", 200)])
async def test_reason_and_idempotency_key_are_bounded(
    client: Client, field: str, limit: int
) -> None:
    agency = (await register(client))["agency"]
    fits = {"reason": "r", field: "k" * limit}
    assert (await send(client, SUSPEND, id=agency["id"], **fits))["errors"] == []
    await refused(
        client, UPDATE, "VALIDATION", field, f"at most {limit} characters",
        id=agency["id"], name="n", **{"reason": "r", field: "x" * 1_000_000},
    )  # fmt: skip


COMMUNITY = "query($code: String!) { community(code: $code) { name } }"


async def test_control_characters_in_query_arguments_are_refused_naming_them(
    client: Client,
) -> None:
    auditor = token("AUDITOR")
    cases = [
        ('{ community(code: "a\\u0000") { name } }', None, "code"),
        (COMMUNITY, {"code": "a\u0000"}, "code"),
        ('{ agencies(first: 1, filter: {district: "50\\u00000"}) { totalCount } }', None,
         "filter.district"),
        ("query($f: AgencyFilter) { agencies(first: 1, filter: $f) { totalCount } }",
         {"f": {"district": "5\u0000"}}, "f.district"),
    ]  # fmt: skip
    for query, variables, field in cases:
        body = await client.post(query, variables, auth=auditor)
        assert body["data"] is None, body
        [error] = body["errors"]
        assert error["extensions"] == {"code": "VALIDATION", "field": field}, error
        assert "U+0000" in error["message"] and field in error["message"], error


@pytest.mark.parametrize("body", ['"a string"', "42", "null", "true"])
async def test_a_body_that_is_not_a_graphql_request_is_a_bad_request(
    client: Client, body: str
) -> None:
    response = await client.http.post(
        "/graphql",
        content=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token('AUDITOR')}"},
    )
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert "JSON object" in error["message"]


async def test_a_body_that_is_not_json_is_a_bad_request(client: Client) -> None:
    response = await client.http.post(
        "/graphql", content="{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


@pytest.mark.parametrize("recorded", ["0001-01-01T00:00:00", "9999-12-31T23:59:59-14:00"])
async def test_a_recorded_time_out_of_range_is_refused_naming_it(
    client: Client, recorded: str
) -> None:
    agency = (await register(client))["agency"]
    body = await client.post(
        "query($id: ID!, $at: DateTime) { agency(id: $id, asOf: {recorded: $at}) { name } }",
        {"id": agency["id"], "at": recorded},
        auth=token("AUDITOR"),
    )
    [error] = body["errors"]
    assert error["extensions"]["code"] == "VALIDATION", error
    assert "asOf.recorded" in error["message"], error


@pytest.mark.parametrize(
    "at", ["0001-01-02T00:00:00+00:00", "9999-12-30T00:00:00+00:00", "1900-01-01T00:00:00"]
)
async def test_recorded_times_at_the_edges_of_the_range_answer(client: Client, at: str) -> None:
    agency = (await register(client))["agency"]
    data = await client.run(
        "query($id: ID!, $at: DateTime) { agency(id: $id, asOf: {recorded: $at}) { name } }",
        {"id": agency["id"], "at": at},
        auth=token("AUDITOR"),
    )
    assert data["agency"] == (None if at.startswith(("0001", "1900")) else {"name": agency["name"]})
    current = await client.run(AGENCY, {"id": agency["id"]}, auth=token("AUDITOR"))
    assert current["agency"]["name"] == agency["name"]


@pytest.mark.parametrize(
    ("query", "variables", "code"),
    [
        ("{ agencies(first: 1) { totalCount ", None, "GRAPHQL_PARSE_FAILED"),
        ("{ nope }", None, "GRAPHQL_VALIDATION_FAILED"),
        ('{ agencies(first: "a") { totalCount } }', None, "GRAPHQL_VALIDATION_FAILED"),
        ("query($n: Int!) { agencies(first: $n) { totalCount } }", {}, "GRAPHQL_VALIDATION_FAILED"),
        (
            "query($n: Int!) { agencies(first: $n) { totalCount } }",
            {"n": "many"},
            "GRAPHQL_VALIDATION_FAILED",
        ),
    ],
)
async def test_every_error_carries_a_code(
    client: Client, query: str, variables: dict | None, code: str
) -> None:
    body = await client.post(query, variables, auth=token("AUDITOR"))
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == [code], body


async def test_a_fault_of_the_hub_is_coded_and_logged_not_shown(
    client: Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A resolver that fails for a reason nobody foresaw (a bug) answers INTERNAL_SERVER_ERROR
    with the request id; the detail goes to the log, not to the client."""

    async def broken(*_: object, **__: object) -> None:
        raise RuntimeError("secret detail of the fault")

    async def resolved(*_: object, **__: object) -> None:
        return None  # the read planner leaves the operation to the resolvers

    monkeypatch.setattr("hub.schema.agency.agency_page", broken)
    monkeypatch.setattr("hub.reads.planner.Planner.answer", resolved)
    body = await client.post("{ agencies(first: 1) { totalCount } }", auth=token("AUDITOR"))
    [error] = body["errors"]
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
    assert "secret" not in error["message"] and "request id" in error["message"]
    request_id = error["message"].rsplit(" ", 1)[-1].rstrip(")")
    ours = [r for r in caplog.records if r.name == "hub.schema" and request_id in r.getMessage()]
    assert [str(r.exc_info[1]) for r in ours if r.exc_info] == ["secret detail of the fault"]


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("subscription { events(after: 0) { position ", "GRAPHQL_PARSE_FAILED"),
        ("subscription { events(after: 0) { nope } }", "GRAPHQL_VALIDATION_FAILED"),
        ("subscription($a: Int!) { events(after: $a) { position } }", "GRAPHQL_VALIDATION_FAILED"),
    ],
)
async def test_a_subscription_error_carries_a_code_too(
    database: str, protocol: str, query: str, code: str
) -> None:
    """As over HTTP. graphql-transport-ws has no answer to a document that does not parse but
    closing the connection with 4400 (as its reference server does), the parser's message the
    close reason."""
    async with served(database) as app, Subscriber(app.port, token("AUDITOR"), protocol) as ws:
        await ws.acknowledged()
        kind = "subscribe" if protocol == "graphql-transport-ws" else "start"
        await ws.ws.send(json.dumps({"id": "1", "type": kind, "payload": {"query": query}}))
        if protocol == "graphql-transport-ws" and code == "GRAPHQL_PARSE_FAILED":
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.next()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
            assert closed.value.rcvd.reason.startswith("Syntax Error")
            return
        message = await ws.next()
        assert message["type"] == "error", message
        errors = message["payload"] if protocol == "graphql-transport-ws" else [message["payload"]]
        assert [e["extensions"]["code"] for e in errors] == [code], message


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("{ agencies(first: 1) { totalCount ", "GRAPHQL_PARSE_FAILED"),
        ("{ nope }", "GRAPHQL_VALIDATION_FAILED"),
        ("{ position @include(if: $x) }", "GRAPHQL_VALIDATION_FAILED"),
    ],
)
async def test_a_get_error_carries_a_code_too(client: Client, query: str, code: str) -> None:
    response = await client.http.get(
        "/graphql",
        params={"query": query},
        headers={"Authorization": f"Bearer {token('AUDITOR')}", "Accept": "application/json"},
    )
    body = response.json()
    assert [e["extensions"]["code"] for e in body["errors"]] == [code], body
