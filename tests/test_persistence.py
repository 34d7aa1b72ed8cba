"""Restarts keep the data; projections resume after a crash with no gap and no repeat."""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Sequence

import asyncpg
import pytest

from hub.projections.changes import Change
from hub.projections.runner import Projection, Projector
from hub.projections.timeline import EarlierChanges
from hub.registry.application import Registry
from hub.registry.personal_data import Kek
from hub.service.database import event_store_env, migrate, migration_files, unavailable
from hub.service.runtime import projections
from tests.agency_api import (
    AGENCY,
    AUDITOR,
    REGISTER,
    SUSPEND,
    UPDATE,
    register,
    registration,
    send,
    unseen,
)
from tests.conftest import PERSONAL_DATA_KEY, fresh_database, running


async def test_a_restart_keeps_the_data(database: str) -> None:
    async with running(database) as client:
        agency = (await register(client))["agency"]
        suspended = await send(client, SUSPEND, id=agency["id"], reason="check")
    async with running(database) as client:
        again = (await client.run(AGENCY, {"id": agency["id"]}, auth=AUDITOR))["agency"]
        assert again == suspended["agency"]
        renamed = await send(client, UPDATE, id=agency["id"], name="after restart")
        assert renamed["agency"]["version"] == 3
        assert renamed["position"] > suspended["position"]


async def test_migrations_apply_once(database: str) -> None:
    async with running(database):
        pass
    assert await migrate(database) == []
    conn = await asyncpg.connect(database)
    try:
        names = await conn.fetch("SELECT name FROM schema_migrations ORDER BY name")
    finally:
        await conn.close()
    assert [r["name"] for r in names] == [p.name for p in migration_files()]


async def test_writes_are_read_back_when_another_process_projects(database: str) -> None:
    """The API server waits on NOTIFY from a projector it does not run itself."""
    async with (
        running(database, run_projections=False) as api,
        running(database, run_projections=True) as _projector,
    ):
        payload = await register(api)
        assert payload["agency"]["version"] == 1
        renamed = await send(api, UPDATE, id=payload["agency"]["id"], name="seen at once")
        assert renamed["agency"]["name"] == "seen at once"


async def test_two_processes_writing_one_record_lose_nothing(database: str) -> None:
    async with running(database) as one, running(database) as two:
        id = (await register(one))["agency"]["id"]
        payloads = await asyncio.gather(
            *(
                send(client, UPDATE, id=id, name=f"{c}-{n}")
                for n in range(10)
                for c, client in enumerate((one, two))
            )
        )
        assert [p["errors"] for p in payloads if p["errors"]] == []
        final = (await one.run(AGENCY, {"id": id}, auth=AUDITOR))["agency"]
        assert final["version"] == 21


class CrashingOnce:
    """Wraps a projection; inside the third batch it is given, once, the database ends the
    connection (as a crash of either side would)."""

    def __init__(self, inner: Projection) -> None:
        self.inner, self.name, self.tables = inner, inner.name, inner.tables
        self.batches = 0

    async def apply(
        self, conn: asyncpg.Connection, changes: Sequence[Change], earlier: EarlierChanges
    ) -> None:
        await self.inner.apply(conn, changes, earlier)
        self.batches += 1
        if self.batches == 3:
            await conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")


async def snapshot(pool: asyncpg.Pool) -> dict[str, list]:
    """Every row of every projection's tables, in a stable order."""
    tables = [table for projection in projections() for table in projection.tables]
    return {t: sorted(map(tuple, await pool.fetch(f"SELECT * FROM {t}")), key=repr) for t in tables}


async def test_a_projection_stopped_part_way_resumes_without_gap_or_repeat(database: str) -> None:
    async with running(database, run_projections=False, read_your_writes_timeout=0.01) as client:
        for _ in range(6):
            payload = await send(client, REGISTER, **registration())
            assert unseen(payload) and payload["agency"] is None
        hub = client.hub
        ids = [
            str(r["originator_id"])
            for r in await hub.pool.fetch(
                "SELECT originator_id FROM registry_events WHERE topic LIKE '%Agency.Registered'"
            )
        ]
        for n, id in enumerate(ids):
            await send(client, UPDATE, id=id, name=f"renamed {n}")
            await send(client, SUSPEND, id=id, reason="r")
        assert await hub.pool.fetchval("SELECT count(*) FROM event_log") == 0

        crashing = [CrashingOnce(p) for p in projections()]
        projector = Projector(
            hub.pool, hub.registry.mapper, crashing, wake=asyncio.Event(), batch_size=5
        )
        await projector.positions()
        assert await projector.step() == 5
        assert await projector.step() == 5
        with pytest.raises(Exception) as crash:
            await projector.step()
        assert unavailable(crash.value), crash.value
        positions = await projector.positions()
        assert set(positions.values()) == {10}  # the crashed batch left nothing behind

        resumed = Projector(
            hub.pool, hub.registry.mapper, projections(), wake=asyncio.Event(), batch_size=5
        )
        await resumed.catch_up()
        record_positions = [
            r["notification_id"]
            for r in await hub.pool.fetch(
                "SELECT notification_id FROM registry_events WHERE topic NOT LIKE '%Claim%'"
                " ORDER BY notification_id"
            )
        ]
        logged = [
            r["position"]
            for r in await hub.pool.fetch("SELECT position FROM event_log ORDER BY position")
        ]
        assert logged == record_positions
        assert len(record_positions) == 18
        resumed_state = await snapshot(hub.pool)

        await resumed.rewind([p.name for p in projections()])
        assert await hub.pool.fetchval("SELECT count(*) FROM agencies") == 0
        await resumed.catch_up()
        assert await snapshot(hub.pool) == resumed_state


async def test_registries_starting_together_on_a_new_database_all_start(server_url: str) -> None:
    """Workers of one `hub serve --workers N` create the event store at the same moment."""
    kek = Kek(base64.b64decode(PERSONAL_DATA_KEY))

    def start(url: str, barrier: threading.Barrier) -> None:
        barrier.wait()
        Registry(env=event_store_env(url), kek=kek).close()

    for _ in range(3):
        url, barrier = await fresh_database(server_url), threading.Barrier(6)
        await asyncio.gather(*(asyncio.to_thread(start, url, barrier) for _ in range(6)))
