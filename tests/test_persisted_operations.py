"""Persisted queries over every transport, and the allow-list of operations."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from graphql import parse, print_ast

from tests.conftest import Client, hub_cli, hub_command, running, token
from tests.streams import served

MUNICIPAL = token("MUNICIPAL")
AUDITOR = token("AUDITOR")
AUTH = {"Authorization": f"Bearer {MUNICIPAL}"}


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def fresh_query() -> str:
    """A query text no process has stored yet."""
    return f"# {uuid.uuid4()}\nquery Position {{ position }}"


def persisted(text: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256(text)}}


def code(body: dict) -> str:
    return body["errors"][0]["extensions"]["code"]


async def test_persisted_query_over_post(client: Client) -> None:
    text = fresh_query()

    async def post(body: dict) -> httpx.Response:
        return await client.http.post("/graphql", json=body, headers=AUTH)

    unknown = await post({"extensions": persisted(text)})
    assert unknown.status_code == 200
    assert code(unknown.json()) == "PERSISTED_QUERY_NOT_FOUND"

    sent = await post({"query": text, "extensions": persisted(text)})
    assert isinstance(sent.json()["data"]["position"], int)

    again = await post({"extensions": persisted(text)})
    assert again.status_code == 200
    assert "errors" not in again.json()
    assert isinstance(again.json()["data"]["position"], int)

    wrong = await post({"query": text, "extensions": persisted(text + " ")})
    assert wrong.status_code == 400
    assert code(wrong.json()) == "BAD_REQUEST"
    assert "does not match" in wrong.json()["errors"][0]["message"]
    wrong_stored = await post({"extensions": persisted(text + " ")})
    assert code(wrong_stored.json()) == "PERSISTED_QUERY_NOT_FOUND"

    bad_version = await post({"extensions": {"persistedQuery": {"version": 2}}})
    assert code(bad_version.json()) == "BAD_REQUEST"
    assert "version" in bad_version.json()["errors"][0]["message"]


async def test_persisted_query_over_get(client: Client) -> None:
    text = fresh_query()
    extensions = json.dumps(persisted(text))

    async def get(**params: str) -> httpx.Response:
        # httpx accepts */*, which would otherwise get GraphiQL for a GET without `query`
        return await client.http.get("/graphql", params=params, headers=AUTH)

    unknown = await get(extensions=extensions)
    assert unknown.status_code == 200
    assert code(unknown.json()) == "PERSISTED_QUERY_NOT_FOUND"

    sent = await get(query=text, extensions=extensions)
    assert isinstance(sent.json()["data"]["position"], int)

    again = await get(extensions=extensions)
    assert isinstance(again.json()["data"]["position"], int)

    wrong = await get(query=text, extensions=json.dumps(persisted("{ me { sub } }")))
    assert wrong.status_code == 400
    assert code(wrong.json()) == "BAD_REQUEST"


async def _exchange(ws: Any, message: dict) -> dict:
    """Send `message` and answer the first reply about it (keep-alives and messages about
    earlier operations skipped)."""
    await ws.send(json.dumps(message))
    while True:
        reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if reply["type"] not in ("ka", "ping") and reply.get("id") == message.get("id"):
            return reply


async def _connected(port: int, protocol: str) -> Any:
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/graphql", subprotocols=[protocol])
    init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {MUNICIPAL}"}}
    assert (await _exchange(ws, init))["type"] == "connection_ack"
    return ws


SUBSCRIPTION = "subscription Events { events(after: 0) { position type } }"


async def test_persisted_query_over_websocket(database: str) -> None:
    async with served(database) as server:
        ws = await _connected(server.port, "graphql-transport-ws")
        try:
            text = fresh_query()

            def subscribe(id: str, **payload: Any) -> dict:
                return {"id": id, "type": "subscribe", "payload": payload}

            unknown = await _exchange(ws, subscribe("1", extensions=persisted(text)))
            assert unknown["type"] == "error"
            assert unknown["payload"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"

            sent = await _exchange(ws, subscribe("2", query=text, extensions=persisted(text)))
            assert sent["type"] == "next"
            assert isinstance(sent["payload"]["data"]["position"], int)

            again = await _exchange(ws, subscribe("3", extensions=persisted(text)))
            assert again["type"] == "next", again
            assert isinstance(again["payload"]["data"]["position"], int)

            wrong = await _exchange(ws, subscribe("4", query=text, extensions=persisted("x")))
            assert wrong["type"] == "error"
            assert wrong["payload"][0]["extensions"]["code"] == "BAD_REQUEST"

            not_object = await _exchange(ws, subscribe("5", query=text, extensions="x"))
            assert not_object["payload"][0]["extensions"]["code"] == "BAD_REQUEST"
            assert "extensions must be an object" in not_object["payload"][0]["message"]
        finally:
            await ws.close()

        legacy = await _connected(server.port, "graphql-ws")
        try:

            def start(id: str, **payload: Any) -> dict:
                return {"id": id, "type": "start", "payload": payload}

            extensions = persisted(SUBSCRIPTION)
            unknown = await _exchange(legacy, start("1", extensions=extensions))
            assert unknown["type"] == "error"
            assert unknown["payload"]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"

            wrong = await _exchange(
                legacy, start("2", query=SUBSCRIPTION, extensions=persisted("x"))
            )
            assert wrong["payload"]["extensions"]["code"] == "BAD_REQUEST"
        finally:
            await legacy.close()

        # the subscription text is stored by the process, whichever transport sent it
        ws = await _connected(server.port, "graphql-transport-ws")
        try:
            await ws.send(
                json.dumps(
                    {
                        "id": "6",
                        "type": "subscribe",
                        "payload": {"query": SUBSCRIPTION, "extensions": extensions},
                    }
                )
            )
            await _exchange(ws, {"type": "ping"})  # the subscription is running, no error
        finally:
            await ws.close()
        legacy = await _connected(server.port, "graphql-ws")
        try:
            await legacy.send(json.dumps(start("3", extensions=extensions)))
            await legacy.send(json.dumps({"id": "3", "type": "stop"}))
            stopped = json.loads(await asyncio.wait_for(legacy.recv(), 10))
            while stopped["type"] == "ka":
                stopped = json.loads(await asyncio.wait_for(legacy.recv(), 10))
            assert stopped == {"type": "complete", "id": "3"}, stopped
        finally:
            await legacy.close()


OPERATIONS = """
# the registry's position
query Position { position }

query Me {
  me { ...Who }
}

fragment Who on Principal { sub role }
"""
UNLISTED = "query Districts { districts { code } }"


def normal_hash(text: str) -> str:
    return sha256(print_ast(parse(text)))


async def wait_until(check: Any, seconds: float = 10) -> None:
    async with asyncio.timeout(seconds):
        while not await check():
            await asyncio.sleep(0.1)


async def test_allow_list(database: str, tmp_path: Path) -> None:
    file = tmp_path / "operations.graphql"
    file.write_text(OPERATIONS, encoding="utf-8")
    position_hash = normal_hash("query Position { position }")
    me_hash = normal_hash("query Me { me { ...Who } } fragment Who on Principal { sub role }")

    async with running(
        database, operations="allow-listed", operations_refresh_seconds=0.2
    ) as client:
        before = await client.post("{ position }", auth=MUNICIPAL)
        assert code(before) == "OPERATION_NOT_ALLOWED"

        added = await hub_command(database, "operations", "add", str(file))
        assert added.returncode == 0, added.stderr
        assert f"added Position {position_hash}" in added.stdout
        assert f"added Me {me_hash}" in added.stdout
        listed = await hub_command(database, "operations", "list")
        assert listed.stdout.split("\n")[:2] == [f"Me {me_hash}", f"Position {position_hash}"]

        async def position_runs() -> bool:
            return "errors" not in await client.post("query Position{position}", auth=MUNICIPAL)

        await wait_until(position_runs)
        spaced = "# why\nquery   Position {\n  position\n}\n"
        for auth in (MUNICIPAL, AUDITOR):
            assert isinstance((await client.run(spaced, auth=auth))["position"], int)
            assert code(await client.post(UNLISTED, auth=auth)) == "OPERATION_NOT_ALLOWED"
        me = await client.run(
            "query Me { me { ...Who } }\nfragment Who on Principal { sub role }", auth=AUDITOR
        )
        assert me["me"]["role"] == "AUDITOR"
        # not even an invalid one says more than that it is not allowed
        assert code(await client.post("{ nothing }", auth=MUNICIPAL)) == "OPERATION_NOT_ALLOWED"
        introspection = await client.post("{ __schema { queryType { name } } }", auth=None)
        assert code(introspection) == "OPERATION_NOT_ALLOWED"

        # a persisted-query hash of a listed operation runs it; the stored text is what counts
        by_hash = await client.http.post(
            "/graphql",
            json={"extensions": {"persistedQuery": {"version": 1, "sha256Hash": position_hash}}},
            headers=AUTH,
        )
        assert isinstance(by_hash.json()["data"]["position"], int)
        unlisted = {"query": UNLISTED, "extensions": persisted(UNLISTED)}
        stored = await client.http.post("/graphql", json=unlisted, headers=AUTH)
        assert code(stored.json()) == "OPERATION_NOT_ALLOWED"

        removed = await hub_command(database, "operations", "remove", "Position")
        assert removed.returncode == 0, removed.stderr
        assert f"removed Position {position_hash}" in removed.stdout

        async def position_refused() -> bool:
            return not await position_runs()

        await wait_until(position_refused)
        assert code(await client.post(spaced, auth=MUNICIPAL)) == "OPERATION_NOT_ALLOWED"
        listed = await hub_command(database, "operations", "list")
        assert listed.stdout.strip() == f"Me {me_hash}"

        missing = await hub_command(database, "operations", "remove", "Position")
        assert missing.returncode != 0
        assert "no allowed operation" in missing.stderr


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("query Broken { position", "does not parse"),
        ("query Position { position }\nquery Unknown { nothing }", "does not validate"),
        ("{ position }", "must be named"),
    ],
)
async def test_a_bad_file_adds_nothing(database: str, tmp_path: Path, text: str, says: str) -> None:
    file = tmp_path / "bad.graphql"
    file.write_text(text, encoding="utf-8")
    refused = await hub_command(database, "operations", "add", str(file))
    assert refused.returncode != 0
    assert says in refused.stderr
    assert "nothing was added" in refused.stderr
    listed = await hub_command(database, "operations", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip() == ""


async def test_an_unknown_mode_is_refused_at_start(database: str) -> None:
    refused = await asyncio.to_thread(
        hub_cli,
        "operations",
        "list",
        HUB_DATABASE_URL=database,
        HUB_OPERATIONS="closed",
    )
    assert refused.returncode == 2
    said = "hub operations: HUB_OPERATIONS=closed: not one of open, allow-listed\n"
    assert refused.stderr == said
