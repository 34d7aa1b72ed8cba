"""Server limits: request body size, statement timeout, request budget, WebSocket message size
and subscriptions per connection, each at, just under and just over its value."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
import httpx
import pytest
import websockets

from hub.service.database import statement_timeout, unavailable
from tests.agency_api import REGISTER, registration
from tests.conftest import Client, running, token
from tests.streams import Subscriber, served

AUDITOR = token("AUDITOR")
MUNICIPAL = token("MUNICIPAL")
COUNT = "{ agencies(first: 1) { totalCount } }"
BODY_LIMIT = 4096


def padded(size: int, query: str = COUNT, variables: dict[str, Any] | None = None) -> bytes:
    """A GraphQL request of exactly `size` bytes (blanks before its closing brace)."""
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    assert len(body) <= size
    return body[:-1] + b" " * (size - len(body)) + b"}"


async def post(client: Client, body: bytes, auth: str = MUNICIPAL) -> httpx.Response:
    return await client.http.post(
        "/graphql",
        content=body,
        headers={"Authorization": f"Bearer {auth}", "Content-Type": "application/json"},
    )


def assert_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "REQUEST_TOO_LARGE"}
    assert f"{BODY_LIMIT} bytes" in error["message"]
    assert "HUB_MAX_BODY_BYTES" in error["message"]


async def test_a_body_over_the_limit_answers_413_and_writes_nothing(database: str) -> None:
    async with running(database, max_body_bytes=BODY_LIMIT) as client:
        for size in (BODY_LIMIT - 1, BODY_LIMIT):
            response = await post(client, padded(size))
            assert response.status_code == 200, response.text
            assert response.json()["data"]["agencies"]["totalCount"] == 0
        assert_too_large(await post(client, padded(BODY_LIMIT + 1)))

        register = {"input": registration()}
        assert_too_large(await post(client, padded(BODY_LIMIT + 1, REGISTER, register)))
        assert await client.events() == 0
        response = await post(client, padded(BODY_LIMIT, REGISTER, register))
        assert response.json()["data"]["registerAgency"]["errors"] == []
        assert await client.events() > 0


async def test_a_chunked_body_is_cut_off_at_the_limit_without_waiting_for_its_end(
    database: str,
) -> None:
    head = (
        b"POST /graphql HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + AUDITOR.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
    )

    def chunked(data: bytes) -> bytes:
        return b"".join(
            b"%x\r\n%s\r\n" % (len(part), part)
            for part in (data[i : i + 1000] for i in range(0, len(data), 1000))
        )

    async def answer(reader: asyncio.StreamReader) -> tuple[int, dict]:
        status = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        length = next(
            int(line.split(b":")[1])
            for line in status.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        body = await asyncio.wait_for(reader.readexactly(length), 10)
        return int(status.split()[1]), json.loads(body)

    async with served(database, max_body_bytes=BODY_LIMIT) as app:
        reader, writer = await asyncio.open_connection("127.0.0.1", app.port)
        try:
            writer.write(head + chunked(padded(BODY_LIMIT)) + b"0\r\n\r\n")
            status, body = await answer(reader)
            assert (status, body["data"]["agencies"]["totalCount"]) == (200, 0)
        finally:
            writer.close()

        reader, writer = await asyncio.open_connection("127.0.0.1", app.port)
        try:
            # one byte over, and the body never ends: the answer comes all the same
            writer.write(head + chunked(b" " * (BODY_LIMIT + 1)))
            await writer.drain()
            status, body = await answer(reader)
            assert status == 413
            assert body["errors"][0]["extensions"] == {"code": "REQUEST_TOO_LARGE"}
            # and the hub closes the connection rather than read the rest
            assert await asyncio.wait_for(reader.read(), 10) == b""
        finally:
            writer.close()


async def test_a_query_past_the_statement_timeout_answers_query_timeout(database: str) -> None:
    async with running(database, statement_timeout_ms=1000) as client:
        assert await client.hub.pool.fetchval("SHOW statement_timeout") == "1s"
        blocker = await asyncpg.connect(client.hub.url)
        try:
            # a lock the query waits for makes it as slow as needed
            async with blocker.transaction():
                await blocker.execute("LOCK TABLE agencies IN ACCESS EXCLUSIVE MODE")
                body = await asyncio.wait_for(client.post(COUNT, auth=AUDITOR), 10)
            [error] = body["errors"]
            assert error["extensions"] == {"code": "QUERY_TIMEOUT"}
            assert "1000 ms" in error["message"]
            assert "HUB_STATEMENT_TIMEOUT_MS" in error["message"]
            assert "canceling" not in error["message"]
            assert (await client.run(COUNT, auth=AUDITOR))["agencies"]["totalCount"] == 0

            # a wait well under the limit is no timeout
            async with blocker.transaction():
                await blocker.execute("LOCK TABLE agencies IN ACCESS EXCLUSIVE MODE")
                asking = asyncio.create_task(client.run(COUNT, auth=AUDITOR))
                await asyncio.sleep(0.1)
            assert (await asking)["agencies"]["totalCount"] == 0
        finally:
            await blocker.close()


async def test_a_statement_timeout_is_not_the_database_being_unavailable(database: str) -> None:
    """The same SQLSTATE also says an administrator or a shutdown cancelled the statement,
    which is the database's absence."""
    timing, cancelling = await asyncpg.connect(database), await asyncpg.connect(database)
    try:
        with pytest.raises(asyncpg.exceptions.QueryCanceledError) as timed_out:
            await timing.execute("SET statement_timeout = 50; SELECT pg_sleep(5)")
        assert statement_timeout(timed_out.value) and not unavailable(timed_out.value)

        await timing.execute("SET statement_timeout = 0")
        sleeping = asyncio.create_task(timing.execute("SELECT pg_sleep(5)"))
        pid = timing.get_server_pid()
        for _ in range(100):
            await asyncio.sleep(0.05)
            if await cancelling.fetchval("SELECT pg_cancel_backend($1)", pid):
                break
        with pytest.raises(asyncpg.exceptions.QueryCanceledError) as cancelled:
            await asyncio.wait_for(sleeping, 10)
        assert unavailable(cancelled.value) and not statement_timeout(cancelled.value)
    finally:
        await timing.close()
        await cancelling.close()


async def test_a_burst_over_the_budget_answers_429_until_the_bucket_refills(
    database: str,
) -> None:
    other = token("AUDITOR", sub="another-auditor")

    async def ask(auth: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {auth}"} if auth else {}
        return await client.http.post("/graphql", json={"query": COUNT}, headers=headers)

    async with running(database, rate_limit_per_token=0.5, rate_limit_burst=3) as client:
        assert [(await ask(AUDITOR)).status_code for _ in range(3)] == [200] * 3
        refused = await ask(AUDITOR)
        assert refused.status_code == 429
        [error] = refused.json()["errors"]
        assert error["extensions"] == {"code": "RATE_LIMITED"}
        assert "HUB_RATE_LIMIT_PER_TOKEN" in error["message"]
        assert "for this token" in error["message"]
        retry = int(refused.headers["Retry-After"])
        assert 1 <= retry <= 2

        assert (await ask(other)).status_code == 200
        # without a token the client address has the budget (and is told it needs a token)
        assert [(await ask(None)).status_code for _ in range(3)] == [200] * 3
        [error] = (await ask(None)).json()["errors"]
        assert error["extensions"] == {"code": "RATE_LIMITED"}
        assert "for this address" in error["message"]
        assert (await client.http.get("/healthz")).status_code == 200

        await asyncio.sleep(retry)
        assert (await ask(AUDITOR)).json()["data"]["agencies"]["totalCount"] == 0


async def test_no_budget_when_the_rate_is_0(database: str) -> None:
    async with running(database, rate_limit_per_token=0, rate_limit_burst=1) as client:
        for _ in range(5):
            assert (await client.run(COUNT, auth=AUDITOR))["agencies"]["totalCount"] == 0


WS_LIMIT = 2048


def ping(size: int) -> str:
    """A graphql-transport-ws ping of exactly `size` bytes."""
    message = json.dumps({"type": "ping", "payload": {"pad": ""}})
    return message.replace('""', '"' + "p" * (size - len(message)) + '"')


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_a_websocket_message_over_the_limit_closes_the_connection_with_1009(
    database: str, protocol: str
) -> None:
    async with (
        served(database, max_ws_message_bytes=WS_LIMIT) as app,
        Subscriber(app.port, AUDITOR, protocol) as subscriber,
    ):
        await subscriber.acknowledged()
        if protocol == "graphql-transport-ws":
            for size in (WS_LIMIT - 1, WS_LIMIT):
                await subscriber.ws.send(ping(size))
                answer = json.loads(await asyncio.wait_for(subscriber.ws.recv(), 10))
                assert answer["type"] == "pong"
        await subscriber.ws.send(ping(WS_LIMIT + 1))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await subscriber.next()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1009
        assert "HUB_MAX_WS_MESSAGE_BYTES" in closed.value.rcvd.reason


EVENTS = "subscription { events(after: 0) { position } }"


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_one_subscription_over_the_limit_of_a_connection_is_refused_with_a_code(
    database: str, protocol: str
) -> None:
    start, stop = (
        ("subscribe", "complete") if protocol == "graphql-transport-ws" else ("start", "stop")
    )
    async with (
        served(database, max_subscriptions_per_connection=2) as app,
        httpx.AsyncClient(base_url=app.base) as http,
    ):
        made = await http.post(
            "/graphql",
            json={"query": REGISTER, "variables": {"input": registration()}},
            headers={"Authorization": f"Bearer {MUNICIPAL}"},
        )
        assert made.json()["data"]["registerAgency"]["errors"] == []
        async with Subscriber(app.port, AUDITOR, protocol) as subscriber:
            await subscriber.acknowledged()

            async def subscribe(id: str) -> dict[str, Any]:
                message = {"id": id, "type": start, "payload": {"query": EVENTS}}
                await subscriber.ws.send(json.dumps(message))
                for _ in range(10):
                    answer = await subscriber.next()
                    if answer.get("id") == id:
                        return answer
                raise AssertionError(f"no answer to subscription {id}")

            for id in ("1", "2"):
                assert (await subscribe(id))["type"] in ("next", "data")
            refused = await subscribe("3")
            assert refused["type"] == "error"
            errors = refused["payload"]
            [error] = errors if isinstance(errors, list) else [errors]
            assert error["extensions"] == {"code": "TOO_MANY_SUBSCRIPTIONS"}
            assert "HUB_MAX_SUBSCRIPTIONS_PER_CONNECTION" in error["message"]

            await subscriber.ws.send(json.dumps({"id": "1", "type": stop}))
            # once one ended, another fits (its first event proves it runs)
            for _ in range(20):
                answer = await subscribe("4")
                if answer["type"] != "error":
                    break
                await asyncio.sleep(0.1)
            assert answer["type"] in ("next", "data"), answer
