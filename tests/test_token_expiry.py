"""A token's expiry ends what it opened on time: within 1 s of `exp`, events flowing or not."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator

import httpx
import jwt
import pytest
import websockets

from tests.agency_api import REGISTER, registration
from tests.conftest import SECRET
from tests.streams import Served, Subscriber, served
from tests.test_streams import mutate

BOUND = 1.0
"""The issue's bound: a stream ends within this many seconds of its token's `exp`."""


def expiring() -> tuple[str, float]:
    """A token that expires 2 to 3 s from now (JWT `exp` is whole seconds), and its `exp`."""
    exp = int(time.time()) + 3
    return jwt.encode(
        {"sub": "brief", "role": "AUDITOR", "exp": exp}, SECRET, algorithm="HS256"
    ), exp


@contextlib.asynccontextmanager
async def writing(app: Served, flowing: bool) -> AsyncIterator[None]:
    """Events logged every ~0.1 s meanwhile (if `flowing`), at most 150 of them."""

    async def write(http: httpx.AsyncClient) -> None:
        for _ in range(150):
            await mutate(http, REGISTER, **registration())
            await asyncio.sleep(0.1)

    async with httpx.AsyncClient(base_url=app.base) as http:
        task = asyncio.create_task(write(http)) if flowing else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
@pytest.mark.parametrize("flowing", [False, True], ids=["idle", "events-flowing"])
async def test_a_subscription_closes_with_4401_within_a_second_of_exp(
    database: str, flowing: bool, protocol: str
) -> None:
    short, exp = expiring()
    async with served(database) as app, Subscriber(app.port, short, protocol) as subscriber:
        await subscriber.subscribe()
        async with writing(app, flowing):
            received = 0
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    message = await subscriber.next(timeout=exp - time.time() + 5)
                    assert message["type"] in ("next", "data"), message
                    received += 1
            delay = time.time() - exp
    assert closed.value.rcvd.code == 4401
    assert "token expired; resume after" in closed.value.rcvd.reason
    assert -0.1 < delay < BOUND
    assert (received > 0) == flowing


async def test_a_connection_with_no_subscription_closes_with_4401_at_exp(database: str) -> None:
    short, exp = expiring()
    async with served(database) as app, Subscriber(app.port, short) as subscriber:
        await subscriber.acknowledged()
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(subscriber.ws.recv(), exp - time.time() + 5)
        delay = time.time() - exp
    assert closed.value.rcvd.code == 4401
    assert closed.value.rcvd.reason == "token expired"
    assert -0.1 < delay < BOUND


@pytest.mark.parametrize("flowing", [False, True], ids=["idle", "events-flowing"])
async def test_server_sent_events_end_within_a_second_of_exp(database: str, flowing: bool) -> None:
    short, exp = expiring()
    async with (
        served(database) as app,
        httpx.AsyncClient(base_url=app.base) as http,
        http.stream(
            "GET", "/events", headers={"Authorization": f"Bearer {short}"}, timeout=10
        ) as response,
        writing(app, flowing),
    ):
        positions: list[int] = []
        lines = aiter(response.aiter_lines())
        while (line := await asyncio.wait_for(anext(lines), exp - time.time() + 5)) != (
            "event: end"
        ):
            if line.startswith("id: "):
                positions.append(int(line.removeprefix("id: ")))
        delay = time.time() - exp
        end = json.loads((await anext(lines)).removeprefix("data: "))
    assert end["code"] == "UNAUTHENTICATED"
    assert -0.1 < delay < BOUND
    assert (len(positions) > 0) == flowing
    if flowing:
        assert end["resumeAfter"] == positions[-1]
    else:
        assert isinstance(end["resumeAfter"], int)
