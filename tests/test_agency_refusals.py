"""Every rule's refusal: a specific error, and nothing written (the event count is unchanged)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.agency_api import (
    DEREGISTER,
    DESIGNATE,
    INCUBATE,
    REGISTER,
    REINSTATE,
    SUSPEND,
    UPDATE,
    refused,
    register,
    registration,
    send,
)
from tests.conftest import Client

TOMORROW = (date.today() + timedelta(days=2)).isoformat()


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"creditCode": "52500103MJ123"}, "creditCode", "18 characters"),
        ({"creditCode": "52500103MJ1234567I"}, "creditCode", "contains 'I'"),
        ({"creditCode": "52ABCDEFMJ00000011"}, "creditCode", "administrative division"),
        ({"creditCode": "52500103MJ00000010"}, "creditCode", "check character"),
        ({"district": "500199"}, "district", "unknown district code '500199'"),
        ({"name": "   "}, "name", "name must not be empty"),
        ({"name": "x" * 201}, "name", "at most 200"),
        ({"fields": []}, "fields", "at least one"),
        ({"fields": ["CHARITY", "CHARITY"]}, "fields", "twice"),
        ({"effectiveOn": TOMORROW}, "effectiveOn", "in the future"),
    ],
)
async def test_registration_is_checked(
    client: Client, overrides: dict, field: str, words: str
) -> None:
    await refused(client, REGISTER, "VALIDATION", field, words, **registration(**overrides))


async def test_a_credit_code_is_registered_once(client: Client) -> None:
    first = await register(client)
    code = first["agency"]["creditCode"]
    error = await refused(
        client,
        REGISTER,
        "VALIDATION",
        "creditCode",
        "already registered",
        **registration(creditCode=code.lower()),
    )
    assert first["agency"]["id"] in error["message"]


async def test_an_unknown_enum_value_is_a_graphql_error_and_writes_nothing(client: Client) -> None:
    from tests.agency_api import MUNICIPAL

    before = await client.events()
    body = await client.post(REGISTER, {"input": registration(kind="GENERAL")}, auth=MUNICIPAL)
    assert body.get("data") is None
    assert "GENERAL" in body["errors"][0]["message"]
    assert "AgencyKind" in body["errors"][0]["message"]
    assert await client.events() == before


async def test_updates_are_checked(client: Client) -> None:
    id = (await register(client, effectiveOn="2018-03-01"))["agency"]["id"]
    await refused(client, UPDATE, "VALIDATION", None, "changes nothing", id=id)
    await refused(
        client,
        UPDATE,
        "VALIDATION",
        "effectiveOn",
        "before the record was created",
        id=id,
        name="new",
        effectiveOn="2018-02-28",
    )
    await refused(
        client,
        UPDATE,
        "VALIDATION",
        "effectiveOn",
        "in the future",
        id=id,
        name="new",
        effectiveOn=TOMORROW,
    )
    await refused(
        client,
        INCUBATE,
        "VALIDATION",
        "to",
        "before from",
        id=id,
        incubator="基地",
        **{"from": "2019-01-01", "to": "2018-01-01"},
    )
    await refused(
        client, DESIGNATE, "VALIDATION", "year", "out of range", id=id, programme="411", year=1999
    )
    await refused(
        client,
        DESIGNATE,
        "VALIDATION",
        "programme",
        "must not be empty",
        id=id,
        programme=" ",
        year=2018,
    )
    for document in (SUSPEND, DEREGISTER):
        await refused(client, document, "VALIDATION", "reason", "requires a reason", id=id)


async def test_unknown_and_malformed_ids(client: Client) -> None:
    await refused(
        client,
        SUSPEND,
        "NOT_FOUND",
        "id",
        "no agency with id",
        reason="x",
        id="00000000-0000-0000-0000-000000000000",
    )
    await refused(client, SUSPEND, "VALIDATION", "id", "not a record id", reason="x", id="42")


async def test_lifecycle_rules_answer_invalid_state(client: Client) -> None:
    id = (await register(client))["agency"]["id"]
    await refused(
        client, REINSTATE, "INVALID_STATE", None, "only a SUSPENDED agency", id=id, reason="x"
    )
    assert (await send(client, SUSPEND, id=id, reason="x"))["errors"] == []
    await refused(
        client, SUSPEND, "INVALID_STATE", None, "needs an ACTIVE agency", id=id, reason="again"
    )
    await refused(
        client,
        DESIGNATE,
        "INVALID_STATE",
        None,
        "needs an ACTIVE agency",
        id=id,
        programme="411",
        year=2018,
    )
    assert (await send(client, DEREGISTER, id=id, reason="closed"))["errors"] == []
    await refused(client, UPDATE, "INVALID_STATE", None, "deregistered", id=id, name="again")
    await refused(client, DEREGISTER, "INVALID_STATE", None, "deregistered", id=id, reason="x")
    await refused(
        client, REINSTATE, "INVALID_STATE", None, "only a SUSPENDED agency", id=id, reason="x"
    )
