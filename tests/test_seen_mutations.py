"""A mutation document seen before runs without strawberry's per-request checks
(`hub.schema.seen`): it answers every request exactly as strawberry's whole path does."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import pytest

from tests.agency_api import AUDITOR, MUNICIPAL, REGISTER, SUSPEND, UPDATE, register, registration
from tests.conftest import Client, fresh_database, running

WITH_DISTRICT = """mutation($input: RegisterAgencyInput!) { registerAgency(input: $input) {
  agency { id district { code } } position errors { code field message } } }"""


@pytest.fixture(scope="module")
async def hub(server_url: str) -> AsyncIterator[Client]:
    async with running(await fresh_database(server_url), max_cost_auditor=1) as client:
        yield client


async def both(
    client: Client, query: str, variables: Any, auth: str | None, then: Any = None
) -> list[Any]:
    """The answer (status and body) of the request sent as a document seen before, then of
    the same request (with `then`'s variables, if any) through strawberry's whole path."""
    seen = client.app.state.graphql.seen
    answers = []
    for size, sent in ((seen.size, variables), (0, then or variables)):
        kept, seen.size = seen.size, size
        try:
            headers = {"Authorization": f"Bearer {auth}"} if auth else {}
            body = {"query": query, "variables": sent}
            response = await client.http.post("/graphql", json=body, headers=headers)
            answers.append((response.status_code, response.json()))
        finally:
            seen.size = kept
    return answers


MISSING_AGENCY = "00000000-0000-0000-0000-000000000000"


@pytest.mark.parametrize(
    ("query", "variables", "auth"),
    [
        (REGISTER, {"input": registration(kind="GENERAL")}, MUNICIPAL),
        (REGISTER, {"input": {"name": "x"}}, MUNICIPAL),
        (REGISTER, {}, MUNICIPAL),
        (REGISTER, {"input": "not an object"}, MUNICIPAL),
        (REGISTER, {"input": registration(creditCode="52500103MJ00000010")}, MUNICIPAL),
        (REGISTER, {"input": registration()}, AUDITOR),
        (REGISTER, {"input": registration()}, None),
        (REGISTER, {"input": registration()}, "not-a-token"),
        (SUSPEND, {"input": {"id": MISSING_AGENCY, "reason": "x"}}, MUNICIPAL),
        (SUSPEND, {"input": {"id": "42", "reason": "x"}}, MUNICIPAL),
        (WITH_DISTRICT, {"input": registration()}, AUDITOR),
    ],
)
async def test_a_refusal_is_answered_as_strawberry_answers_it(
    hub: Client, query: str, variables: Any, auth: str | None
) -> None:
    before = await hub.events()
    seen, whole = await both(hub, query, variables, auth)
    assert seen == whole
    assert await hub.events() == before


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        ({"query": REGISTER, "variables": {}, "operationName": 5}, {}),
        ({"query": REGISTER, "variables": {}, "operationName": {"a": 1}}, {}),
        ({"query": REGISTER, "variables": {}, "operationName": "Unknown"}, {}),
        ({"query": REGISTER, "variables": []}, {}),
        ({"query": REGISTER, "extensions": []}, {}),
        ({"query": REGISTER, "extensions": {"persistedQuery": {"version": 2}}}, {}),
        ([{"query": REGISTER, "variables": {}}, {"query": "{ position }"}], {}),
        ({"query": REGISTER, "variables": {}}, {"content-type": "text/plain"}),
        ({"query": REGISTER, "variables": {}}, {"accept": "multipart/mixed"}),
    ],
)
async def test_an_unusual_request_is_answered_as_strawberry_answers_it(
    hub: Client, body: Any, headers: dict[str, str]
) -> None:
    seen = hub.app.state.graphql.seen
    answers = []
    for size in (seen.size, 0):
        kept, seen.size = seen.size, size
        try:
            response = await hub.http.post(
                "/graphql",
                content=json.dumps(body),
                headers={
                    "content-type": "application/json",
                    **headers,
                    "authorization": f"Bearer {MUNICIPAL}",
                },
            )
            answers.append((response.status_code, response.text))
        finally:
            seen.size = kept
    assert answers[0] == answers[1]


async def test_a_conflict_and_a_replay_are_answered_the_same(hub: Client) -> None:
    id = (await register(hub))["agency"]["id"]
    stale = {"input": {"id": id, "name": "renamed", "expectedVersion": 7}}
    seen, whole = await both(hub, UPDATE, stale, MUNICIPAL)
    assert seen == whole
    assert seen[1]["data"]["updateAgencyProfile"]["errors"][0]["code"] == "CONFLICT"
    once = {"input": registration(idempotencyKey="seen-once")}
    first = await hub.post(REGISTER, once, auth=MUNICIPAL)
    assert await both(hub, REGISTER, once, MUNICIPAL) == [(200, first), (200, first)]


async def test_an_accepted_mutation_answers_the_same_shape(hub: Client) -> None:
    two = ({"input": registration()} for _ in range(2))
    seen, whole = await both(hub, REGISTER, next(two), MUNICIPAL, next(two))
    for status, body in (seen, whole):
        assert status == 200
        payload = body["data"]["registerAgency"]
        assert payload["errors"] == []
        assert payload["agency"]["version"] == 1
    assert json.dumps(_shape(seen)) == json.dumps(_shape(whole))
    assert hub.app.state.graphql.seen.get(REGISTER, None) is not None


async def test_the_limits_are_the_callers_role(hub: Client) -> None:
    municipal = await hub.post(WITH_DISTRICT, {"input": registration()}, auth=MUNICIPAL)
    auditor = await hub.post(WITH_DISTRICT, {"input": registration()}, auth=AUDITOR)
    assert municipal["data"]["registerAgency"]["errors"] == []
    assert [e["extensions"]["code"] for e in auditor["errors"]] == ["QUERY_TOO_COSTLY"]


def _shape(value: Any) -> Any:
    """`value` with every string and number replaced by its type's name."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_shape(v) for v in value]
    return type(value).__name__


async def test_payloads_answered_together_are_read_together(hub: Client) -> None:
    from hub.projections.agencies import agencies_by_id
    from hub.schema.context import Context

    ids = [(await register(hub))["agency"]["id"] for _ in range(3)]
    together = hub.app.state.graphql.together
    contexts = [Context(hub.hub, None, None, together=together, stored=True) for _ in ids]
    before = hub.hub.statements
    rows = await asyncio.gather(
        *(c.loader(agencies_by_id).load(UUID(id)) for c, id in zip(contexts, ids, strict=True))
    )
    assert [str(r["id"]) for r in rows] == ids
    assert hub.hub.statements == before + 1
    again = await contexts[0].loader(agencies_by_id).load(UUID(ids[0]))
    assert again["version"] == 1 and hub.hub.statements == before + 2  # nothing kept
