"""Bearer tokens (signature, expiry, claims) and the agency rows of the accountability rules."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import jwt
import pytest

from tests.agency_api import (
    DEREGISTER,
    DESIGNATE,
    INCUBATE,
    REGISTER,
    REINSTATE,
    SUSPEND,
    UPDATE,
    register,
    registration,
    send,
)
from tests.conftest import SECRET, Client, token


def _unsigned(claims: dict) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


CLAIMS = {"sub": "mallory", "role": "MUNICIPAL", "exp": int(time.time()) + 600}
BAD_TOKENS = {
    "no token": None,
    "not a bearer header": "Basic abc",
    "bad signature": jwt.encode(CLAIMS, "another-secret-of-at-least-32-bytes", algorithm="HS256"),
    "alg none": _unsigned(CLAIMS),
    "expired": jwt.encode({**CLAIMS, "exp": int(time.time()) - 10}, SECRET, algorithm="HS256"),
    "no exp": jwt.encode({"sub": "x", "role": "MUNICIPAL"}, SECRET, algorithm="HS256"),
    "unknown role": jwt.encode({**CLAIMS, "role": "ADMIN"}, SECRET, algorithm="HS256"),
    "district without code": jwt.encode({**CLAIMS, "role": "DISTRICT"}, SECRET, algorithm="HS256"),
}


@pytest.mark.parametrize("case", list(BAD_TOKENS))
async def test_bad_tokens_are_unauthenticated_and_write_nothing(client: Client, case: str) -> None:
    before = await client.events()
    headers = {"Authorization": BAD_TOKENS[case]} if case == "not a bearer header" else {}
    auth = None if case == "not a bearer header" else BAD_TOKENS[case]
    if headers:
        response = await client.http.post(
            "/graphql", json={"query": "{ position }"}, headers=headers
        )
        body = response.json()
    else:
        body = await client.post(REGISTER, {"input": registration()}, auth=auth)
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", body
    assert await client.events() == before


async def test_expired_token_says_so(client: Client) -> None:
    body = await client.post("{ me { sub } }", auth=BAD_TOKENS["expired"])
    assert body["errors"][0]["message"] == "the token has expired"


async def test_a_token_answered_before_is_refused_once_it_expires(client: Client) -> None:
    """The hub keeps the tokens it verified lately; a kept one still ends at its `exp`."""
    exp = int(time.time()) + 2
    short = jwt.encode({"sub": "brief", "role": "AUDITOR", "exp": exp}, SECRET, algorithm="HS256")
    body = await client.post("{ me { sub } }", auth=short)
    assert body["data"]["me"]["sub"] == "brief", body
    await asyncio.sleep(max(0.0, exp - time.time()) + 0.1)
    body = await client.post("{ me { sub } }", auth=short)
    assert body["data"] is None
    assert body["errors"][0]["message"] == "the token has expired"


async def test_introspection_needs_no_token(client: Client) -> None:
    body = await client.post("{ __schema { queryType { name } } }", auth=None)
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"
    body = await client.post("{ __typename position }", auth=None)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def forbidden(client: Client, document: str, auth: str, words: str, **input: object) -> None:
    before = await client.events()
    payload = await send(client, document, auth=auth, **input)
    assert [e["code"] for e in payload["errors"]] == ["FORBIDDEN"], payload
    assert words in payload["errors"][0]["message"]
    assert await client.events() == before


YUZHONG = token("DISTRICT", district="500103", sub="yuzhong")
JIANGBEI = token("DISTRICT", district="500105", sub="jiangbei")


async def test_a_district_acts_only_in_its_own_district(client: Client) -> None:
    own = await register(client, auth=YUZHONG, district="500103")
    assert own["agency"]["district"]["code"] == "500103"
    await forbidden(
        client, REGISTER, JIANGBEI, "only in its own district", **registration(district="500103")
    )
    id = own["agency"]["id"]
    for document, extra in [
        (SUSPEND, {}),
        (DEREGISTER, {}),
        (UPDATE, {"name": "x"}),
        (INCUBATE, {"incubator": "基地", "from": "2018-04-01", "to": "2018-05-01"}),
    ]:
        await forbidden(
            client, document, JIANGBEI, "only in its own district", id=id, reason="r", **extra
        )
    assert (await send(client, SUSPEND, auth=YUZHONG, id=id, reason="r"))["errors"] == []
    await forbidden(client, REINSTATE, JIANGBEI, "only in its own district", id=id, reason="r")
    assert (await send(client, REINSTATE, auth=YUZHONG, id=id, reason="r"))["errors"] == []


async def test_only_the_municipal_bureau_designates_demonstration_agencies(client: Client) -> None:
    id = (await register(client))["agency"]["id"]
    await forbidden(
        client,
        DESIGNATE,
        YUZHONG,
        "DISTRICT may not designateDemonstrationAgency",
        id=id,
        programme="411",
        year=2018,
    )
    assert (await send(client, DESIGNATE, id=id, programme="411", year=2018))["errors"] == []


async def test_a_contractor_updates_only_its_own_agency(client: Client) -> None:
    own = (await register(client))["agency"]["id"]
    other = (await register(client))["agency"]["id"]
    contractor = token("CONTRACTOR", agency=own)
    changed = await send(client, UPDATE, auth=contractor, id=own, name="自己的新名字")
    assert changed["errors"] == [] and changed["agency"]["name"] == "自己的新名字"
    await forbidden(
        client,
        UPDATE,
        contractor,
        "only on records its agency is answerable for",
        id=other,
        name="别人的",
    )
    await forbidden(
        client, SUSPEND, contractor, "CONTRACTOR may not suspendAgency", id=own, reason="r"
    )
    await forbidden(
        client, REGISTER, contractor, "CONTRACTOR may not registerAgency", **registration()
    )


@pytest.mark.parametrize("role", ["AUDITOR", "PARTNER"])
async def test_readers_never_write(client: Client, role: str) -> None:
    id = (await register(client))["agency"]["id"]
    reader = token(role)
    await forbidden(client, REGISTER, reader, f"{role} may not registerAgency", **registration())
    await forbidden(client, UPDATE, reader, f"{role} may not updateAgencyProfile", id=id, name="x")
    data = await client.run("query($id: ID!) { agency(id: $id) { id } }", {"id": id}, auth=reader)
    assert data["agency"]["id"] == id
