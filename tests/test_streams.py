"""The event stream: catch-up then live, no gap and no repeat, per-role scope, auth, resume."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import httpx
import jwt
import pytest
import websockets

from hub.streams.follow import Scope, StreamEnded, follow
from tests.agency_api import REGISTER, registration
from tests.conftest import SECRET, Client, running, token
from tests.streams import Served, Subscriber, served
from tests.worker_api import REGISTER_WORKER, worker_input

AUDITOR = token("AUDITOR")
MUNICIPAL = token("MUNICIPAL")


async def mutate(http: httpx.AsyncClient, document: str, **input: Any) -> dict:
    response = await http.post(
        "/graphql",
        json={"query": document, "variables": {"input": input}},
        headers={"Authorization": f"Bearer {MUNICIPAL}"},
    )
    payload = next(iter(response.json()["data"].values()))
    assert payload["errors"] == [], payload
    return payload


async def logged(app: Served) -> list[int]:
    rows = await app.hub.pool.fetch("SELECT position FROM event_log ORDER BY position")
    return [r["position"] for r in rows]


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_catch_up_then_live_across_a_reconnect_misses_and_repeats_nothing(
    database: str, protocol: str
) -> None:
    async with served(database) as app, httpx.AsyncClient(base_url=app.base) as http:
        for _ in range(5):
            await mutate(http, REGISTER, **registration())

        async def writers() -> None:
            async def one(n: int) -> None:
                for _ in range(8):
                    await mutate(http, REGISTER, **registration(name=f"并发写入{n}"))

            await asyncio.gather(*(one(n) for n in range(3)))

        writing = asyncio.create_task(writers())
        received: list[int] = []
        async with Subscriber(app.port, AUDITOR, protocol) as first:
            await first.subscribe(after=0)
            received += [e["position"] for e in await first.events(12)]
        async with Subscriber(app.port, AUDITOR, protocol) as second:
            await second.subscribe(after=received[-1])
            await writing
            expected = await logged(app)
            received += [e["position"] for e in await second.events(len(expected) - len(received))]
        assert received == expected
        assert len(received) == len(set(received)) == 29


async def test_a_stream_from_now_sees_only_new_events(database: str) -> None:
    async with served(database) as app, httpx.AsyncClient(base_url=app.base) as http:
        await mutate(http, REGISTER, **registration())
        async with Subscriber(app.port, AUDITOR) as subscriber:
            await subscriber.subscribe()
            await asyncio.sleep(0.3)
            made = await mutate(http, REGISTER, **registration())
            [event] = await subscriber.events(1)
            assert (event["position"], event["type"]) == (made["position"], "AgencyRegistered")


async def test_each_role_sees_its_own_scope(database: str) -> None:
    async with served(database) as app, httpx.AsyncClient(base_url=app.base) as http:
        yuzhong = await mutate(http, REGISTER, **registration(district="500103"))
        jiangbei = await mutate(http, REGISTER, **registration(district="500105"))
        worker = await mutate(
            http,
            REGISTER_WORKER,
            **worker_input(district="500103", name="隐私姓名", employer=yuzhong["agency"]["id"]),
        )

        async def seen(auth: str, **variables: Any) -> list[dict]:
            async with Subscriber(app.port, auth) as subscriber:
                await subscriber.subscribe(after=0, **variables)
                found = []
                while True:
                    try:
                        found += await subscriber.events(1, timeout=1.5)
                    except TimeoutError:
                        return found

        everything = await seen(AUDITOR)
        assert len(everything) == 3
        assert everything[2]["data"]["name"] == "隐私姓名"
        partner = await seen(token("PARTNER"))
        assert len(partner) == 3
        assert partner[2]["data"]["name"] is None
        assert partner[2]["data"]["idNumber"] is None
        assert partner[2]["data"]["personalDataRedacted"] is True
        district = await seen(token("DISTRICT", district="500105"))
        assert [e["entityId"] for e in district] == [jiangbei["agency"]["id"]]
        contractor = await seen(token("CONTRACTOR", agency=yuzhong["agency"]["id"]))
        assert [e["entityId"] for e in contractor] == [
            yuzhong["agency"]["id"],
            worker["worker"]["id"],
        ]
        only_workers = await seen(AUDITOR, types=["WORKER"])
        assert [e["type"] for e in only_workers] == ["WorkerRegistered"]

        async with Subscriber(app.port, token("DISTRICT", district="500105")) as outsider:
            await outsider.subscribe(after=0, district="500103")
            message = await outsider.next()
            assert message["type"] in ("error", "next"), message
            errors = (
                message["payload"] if message["type"] == "error" else message["payload"]["errors"]
            )
            assert errors[0]["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize(
    "auth", [None, "not-a-token", jwt.encode({"sub": "x", "role": "AUDITOR", "exp": 1}, SECRET)]
)
async def test_a_bad_token_in_connection_init_is_refused(database: str, auth: str | None) -> None:
    async with served(database) as app, Subscriber(app.port, auth) as subscriber:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await subscriber.acknowledged()
        assert closed.value.rcvd.code == 4403


async def test_a_token_that_expires_ends_the_stream(database: str) -> None:
    async with served(database) as app, httpx.AsyncClient(base_url=app.base) as http:
        short = jwt.encode(
            {"sub": "brief", "role": "AUDITOR", "exp": int(time.time()) + 2},
            SECRET,
            algorithm="HS256",
        )
        async with Subscriber(app.port, short) as subscriber:
            await subscriber.subscribe(after=0)
            await asyncio.sleep(2.5)
            await mutate(http, REGISTER, **registration())
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    await subscriber.next()
            assert closed.value.rcvd.code == 4401
            assert "token expired" in closed.value.rcvd.reason


async def test_a_slow_consumer_is_closed_and_resumes_without_gap(client: Client) -> None:
    for _ in range(12):
        payload = await client.run(REGISTER, {"input": registration()}, auth=MUNICIPAL)
        assert payload["registerAgency"]["errors"] == []
    start = (await client.hub.pool.fetchval("SELECT max(position) FROM event_log")) - 100
    expected = [
        r["position"]
        for r in await client.hub.pool.fetch(
            "SELECT position FROM event_log WHERE position > $1 ORDER BY position", start
        )
    ]
    scope = Scope(None, None, None)
    received: list[int] = []
    stream = follow(client.hub, scope, start, buffer=5, stall_seconds=0.2)
    with pytest.raises(StreamEnded) as ended:
        async for row in stream:
            if row is not None:
                received.append(row["position"])
                if len(received) == 1:
                    await asyncio.sleep(1)
    assert ended.value.code == "SLOW_CONSUMER"
    assert ended.value.resume_after == received[-1]
    assert len(received) <= 1 + 5 + 1
    async for row in follow(client.hub, scope, ended.value.resume_after):
        if row is None:
            break
        received.append(row["position"])
        if received[-1] == expected[-1]:
            break
    assert received == expected


async def test_server_sent_events_resume_with_last_event_id(database: str) -> None:
    async with served(database) as app, httpx.AsyncClient(base_url=app.base) as http:
        for _ in range(6):
            await mutate(http, REGISTER, **registration())
        headers = {"Authorization": f"Bearer {AUDITOR}"}

        async def read(count: int, **extra: str) -> list[tuple[int, dict]]:
            found = []
            async with http.stream(
                "GET", "/events", params={"after": "0"}, headers={**headers, **extra}, timeout=10
            ) as response:
                assert response.headers["content-type"].startswith("text/event-stream")
                block: dict[str, str] = {}
                async for line in response.aiter_lines():
                    if line.startswith(("id:", "data:", "event:")):
                        name, _, value = line.partition(": ")
                        block[name] = value
                    elif not line and "id" in block:
                        found.append((int(block["id"]), json.loads(block["data"])))
                        block = {}
                        if len(found) == count:
                            return found
            return found

        first = await read(2)
        rest = await read(4, **{"Last-Event-ID": str(first[-1][0])})
        positions = [p for p, _ in first + rest]
        assert positions == await logged(app)
        assert all(event["position"] == p for p, event in first + rest)
        assert first[0][1]["type"] == "AgencyRegistered"

        refused = await http.get("/events")
        assert refused.status_code == 401
        assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        outside = await http.get(
            "/events",
            params={"district": "500105"},
            headers={"Authorization": f"Bearer {token('DISTRICT', district='500103')}"},
        )
        assert outside.status_code == 403


async def test_followers_that_start_together_each_replay_the_log_at_once(database: str) -> None:
    async with running(database) as client:
        payload = await client.run(REGISTER, {"input": registration()}, auth=MUNICIPAL)
        position = payload["registerAgency"]["position"]

        async def first_event() -> int:
            # a heartbeat longer than the bound: a follower left idling would fail the test
            events = follow(client.hub, Scope(None, None, None), 0, heartbeat_seconds=60)
            async with contextlib.aclosing(events):
                async for row in events:
                    if row is not None:
                        return row["position"]
            raise AssertionError("the stream ended")

        firsts = await asyncio.wait_for(asyncio.gather(*(first_event() for _ in range(5))), 10)
        assert firsts == [position] * 5
