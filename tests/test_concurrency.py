"""Concurrent writers never lose an update; stale versions and replays are answered, not written."""

from __future__ import annotations

import asyncio

from tests.agency_api import (
    AGENCY,
    AUDITOR,
    MUNICIPAL,
    REGISTER,
    UPDATE,
    register,
    registration,
    send,
)
from tests.conftest import Client, token


async def test_a_stale_expected_version_is_a_conflict(client: Client) -> None:
    id = (await register(client))["agency"]["id"]
    assert (await send(client, UPDATE, id=id, name="first", expectedVersion=1))["errors"] == []
    before = await client.events()
    payload = await send(client, UPDATE, id=id, name="second", expectedVersion=1)
    assert payload["errors"] == [
        {
            "code": "CONFLICT",
            "field": "expectedVersion",
            "message": f"agency {id} is at version 2, not the expected 1: reload it and retry",
        }
    ]
    assert await client.events() == before


async def test_concurrent_updates_all_land(client: Client) -> None:
    id = (await register(client))["agency"]["id"]
    names = [f"name {n}" for n in range(12)]
    payloads = await asyncio.gather(*(send(client, UPDATE, id=id, name=n) for n in names))
    assert all(p["errors"] == [] for p in payloads)
    assert sorted(p["agency"]["version"] for p in payloads)[-1] == 13
    history = await client.run(
        "query($id: ID!) { history(id: $id) { version data } }", {"id": id}, auth=AUDITOR
    )
    assert [e["version"] for e in history["history"]] == list(range(1, 14))
    assert sorted(e["data"]["name"] for e in history["history"][1:]) == sorted(names)


async def test_concurrent_writers_on_one_version_one_wins(client: Client) -> None:
    id = (await register(client))["agency"]["id"]
    payloads = await asyncio.gather(
        *(send(client, UPDATE, id=id, name=f"racer {n}", expectedVersion=1) for n in range(6))
    )
    winners = [p for p in payloads if not p["errors"]]
    assert len(winners) == 1
    assert {p["errors"][0]["code"] for p in payloads if p["errors"]} == {"CONFLICT"}
    agency = (await client.run(AGENCY, {"id": id}, auth=AUDITOR))["agency"]
    assert (agency["version"], agency["name"]) == (2, winners[0]["agency"]["name"])


async def test_concurrent_registrations_of_one_credit_code_register_one(client: Client) -> None:
    input = registration()
    payloads = await asyncio.gather(
        *(
            send(client, REGISTER, auth=token("MUNICIPAL", sub=f"clerk-{n}"), **input)
            for n in range(5)
        )
    )
    assert sum(not p["errors"] for p in payloads) == 1
    assert all(p["errors"][0]["field"] == "creditCode" for p in payloads if p["errors"])


async def test_an_idempotent_replay_returns_the_first_answer(client: Client) -> None:
    input = registration(idempotencyKey="register-once")
    first = await send(client, REGISTER, **input)
    before = await client.events()
    again = await send(client, REGISTER, **input)
    assert again == first
    assert await client.events() == before

    id = first["agency"]["id"]
    update = {"id": id, "name": "renamed", "idempotencyKey": "rename-once"}
    renamed = await send(client, UPDATE, **update)
    before = await client.events()
    assert await send(client, UPDATE, **update) == renamed
    assert await client.events() == before


async def test_an_idempotency_key_is_per_caller_and_per_request(client: Client) -> None:
    first = await send(client, REGISTER, **registration(idempotencyKey="shared-key"))
    before = await client.events()
    reused = await send(client, REGISTER, **registration(idempotencyKey="shared-key"))
    assert reused["errors"] == [
        {
            "code": "CONFLICT",
            "field": "idempotencyKey",
            "message": "idempotencyKey 'shared-key' was already used for a different request",
        }
    ]
    assert await client.events() == before
    other_caller = await send(
        client,
        REGISTER,
        auth=token("MUNICIPAL", sub="someone-else"),
        **registration(idempotencyKey="shared-key"),
    )
    assert other_caller["errors"] == []
    assert other_caller["agency"]["id"] != first["agency"]["id"]


async def test_concurrent_replays_write_once(client: Client) -> None:
    input = registration(idempotencyKey="racing-replays")
    before = await client.events()
    payloads = await asyncio.gather(*(send(client, REGISTER, **input) for _ in range(6)))
    assert all(p == payloads[0] for p in payloads)
    assert payloads[0]["errors"] == []
    assert await client.events() == before + 3  # the agency, its credit code, the key
    assert MUNICIPAL
