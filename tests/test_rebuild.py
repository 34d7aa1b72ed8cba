"""`hub project --rebuild` builds beside the live views and swaps its copies in: queries answer
from whole views the whole time, a rebuild killed at any moment leaves the live views as they
were, and the views it swaps in are, row by row, the ones the live projector built."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import psutil
import pytest
from eventsourcing.persistence import MapperDeserialisationError, StoredEvent

from hub.projections import runner
from hub.projections.apart import may_fork
from hub.projections.changes import _INTERNAL, decode_row
from hub.projections.runner import SHADOW
from hub.service.runtime import projections
from tests.agency_api import AUDITOR, MUNICIPAL, UPDATE, register, send
from tests.conftest import (
    PERSONAL_DATA_KEY,
    ROOT,
    SECRET,
    Client,
    fresh_database,
    hub_command,
    running,
)
from tests.test_demo import COUNTS
from tests.test_persistence import snapshot
from tests.test_poison_events import NEWER_TOPIC, store_next
from tests.test_time_travel import RETRACT
from tests.worker_api import ERASE, UPDATE_WORKER, register_worker

VIEWS = [p.name for p in projections()]


@pytest.fixture(scope="module")
async def seeded(server_url: str) -> str:
    """A database `hub seed` filled at a small scale, and then, through the API, an agency
    renamed late, corrected and the correction retracted (and that retraction retracted), and
    workers updated back-dated and erased; its views caught up."""
    database = await fresh_database(server_url)
    done = await hub_command(database, "seed", "--profile", "city-2018", "--scale", "0.01")
    assert done.returncode == 0, done.stderr
    async with running(database) as client:
        for n in range(3):
            made = await register(client, effectiveOn="2018-01-10")
            id = made["agency"]["id"]
            renamed = await send(client, UPDATE, id=id, name=f"乙{n}", effectiveOn="2018-03-01")
            await send(
                client, UPDATE, id=id, name=f"丙{n}", effectiveOn="2018-02-01", reason="late"
            )
            corrected = await send(
                client,
                UPDATE,
                id=id,
                name=f"丁{n}",
                effectiveOn="2018-03-01",
                corrects=[renamed["position"]],
                reason="a typing error",
            )
            undone = await retract(client, corrected["position"])
            await retract(client, undone["position"])
            worker = await register_worker(client, effectiveOn="2017-06-01")
            for day, education in (("2019-01-01", "MASTER"), ("2018-01-01", "DOCTORATE")):
                updated = await send(
                    client,
                    UPDATE_WORKER,
                    id=worker["id"],
                    education=education,
                    effectiveOn=day,
                    reason="late report",
                )
                assert updated["errors"] == [], updated
            erased = await send(client, ERASE, id=worker["id"], reason="asked to be forgotten")
            assert erased["errors"] == [], erased
    return database


async def retract(client: Client, position: int) -> dict[str, Any]:
    done = (
        await client.run(
            RETRACT, {"input": {"positions": [position], "reason": "wrong"}}, auth=MUNICIPAL
        )
    )["retractEvents"]
    assert done["errors"] == [], done
    return done


_KINDS = {
    "corrections": "SELECT count(*) FROM event_log WHERE cardinality(retracts) > 0"
    " AND type NOT LIKE '%Retracted'",
    "retractions": "SELECT count(*) FROM event_log WHERE type LIKE '%Retracted'",
    "erasures": "SELECT count(*) FROM event_log WHERE type = 'WorkerPersonalDataErased'",
    "back-dated events": "SELECT count(*) FROM event_log e WHERE EXISTS (SELECT FROM event_log"
    " o WHERE o.entity_id = e.entity_id AND o.position < e.position"
    " AND o.effective_on > e.effective_on)",
}
"""What makes a record's versions hard to work out, and how many of each the log holds."""


async def indexes(pool: asyncpg.Pool) -> set[tuple[str, str, str]]:
    """Every index of the views' tables: (table, index, definition)."""
    tables = [t for p in projections() for t in p.tables]
    rows = await pool.fetch(
        "SELECT tablename, indexname, indexdef FROM pg_indexes"
        " WHERE schemaname = current_schema() AND tablename = ANY($1)",
        tables,
    )
    return {tuple(r) for r in rows}


async def leftovers(pool: asyncpg.Pool) -> bool:
    return await pool.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname = $1", SHADOW) > 0


async def caught_up(client: Client) -> None:
    for _ in range(600):
        if not await client.hub.projector.behind():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the live projector did not catch up")


async def test_the_rebuilt_views_equal_row_by_row_what_the_live_projector_built(
    seeded: str,
) -> None:
    async with running(seeded) as client:
        await caught_up(client)
        built = await snapshot(client.hub.pool)
        named = await indexes(client.hub.pool)
        assert sum(map(len, built.values())) > 1000
        for kind, count in _KINDS.items():
            assert await client.hub.pool.fetchval(count) >= 3, kind
        done = await hub_command(seeded, "project", "--once", "--rebuild", *VIEWS)
        assert done.returncode == 0, done.stderr
        assert f"rebuilt {', '.join(VIEWS)} and swapped them in" in done.stdout
        assert ("(in two processes)" in done.stderr) == may_fork(), done.stderr
        assert await snapshot(client.hub.pool) == built
        assert await indexes(client.hub.pool) == named
        assert not await leftovers(client.hub.pool)


async def test_a_rebuild_in_one_process_builds_the_same_rows(
    seeded: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Where there is no second core (or no fork), one process works every view out, to the
    rows the live projector built."""
    monkeypatch.setattr(runner, "may_fork", lambda: False)
    async with running(seeded) as client:
        await caught_up(client)
        built = await snapshot(client.hub.pool)
        with caplog.at_level(logging.INFO, logger=runner.__name__):
            await client.hub.projector.rebuild(VIEWS, writers=client.hub.primary)
        assert "replayed" in caplog.text and "(in two processes)" not in caplog.text
        assert await snapshot(client.hub.pool) == built


async def test_queries_answer_from_whole_views_while_a_rebuild_runs_beside_the_live_projector(
    seeded: str,
) -> None:
    """The live projector goes on applying new records during the rebuild; none is lost or
    applied twice by the swap."""
    async with running(seeded) as client:
        await caught_up(client)
        whole = {k: v["totalCount"] for k, v in (await client.run(COUNTS, auth=AUDITOR)).items()}
        rebuilding = asyncio.create_task(
            hub_command(seeded, "project", "--once", "--rebuild", *VIEWS)
        )
        answers, registered = 0, 0
        while not rebuilding.done():
            body = await client.post(COUNTS, auth=AUDITOR)
            assert "errors" not in body, body
            counts = {k: v["totalCount"] for k, v in body["data"].items()}
            assert counts == {**whole, "agencies": whole["agencies"] + registered}, counts
            answers += 1
            if answers % 10 == 0:
                await register(client)  # answers once the live projector has applied it
                registered += 1
        done = await rebuilding
        assert done.returncode == 0, done.stderr
        assert answers > 20 and registered > 0, (answers, registered)
        await caught_up(client)
        counts = {k: v["totalCount"] for k, v in (await client.run(COUNTS, auth=AUDITOR)).items()}
        assert counts == {**whole, "agencies": whole["agencies"] + registered}
        swapped = await snapshot(client.hub.pool)
        await client.hub.projector.rewind(VIEWS)
        await client.hub.projector.catch_up()
        assert await snapshot(client.hub.pool) == swapped


def _rebuilding(database: str) -> subprocess.Popen[str]:
    """`hub project --rebuild` of every view."""
    return _projecting(database, "--rebuild", *VIEWS)


def _projecting(database: str, *args: str) -> subprocess.Popen[str]:
    """`hub project --once` with `args`, in small batches so that one can be caught."""
    return subprocess.Popen(
        [sys.executable, "-m", "hub", "project", "--once", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={
            **os.environ,
            "HUB_JWT_SECRET": SECRET,
            "HUB_PERSONAL_DATA_KEY": PERSONAL_DATA_KEY,
            "HUB_DATABASE_URL": database,
            "HUB_PROJECTION_BATCH": "20",
        },
    )


async def copies_made(pool: asyncpg.Pool) -> bool:
    return await leftovers(pool)


async def copies_filling(pool: asyncpg.Pool) -> bool:
    """A copy holds rows (each view's are committed as soon as written), before the swap."""
    copies = await pool.fetch(
        "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = $1"
        " AND tablename <> ALL($2)",
        SHADOW,
        ["projection_positions", "held_back"],
    )
    for (copy,) in copies:
        try:  # the copies go with the swap
            if await pool.fetchval(f"SELECT EXISTS (SELECT FROM {SHADOW}.{copy})"):
                return True
        except asyncpg.UndefinedTableError:
            return False
    return False


async def swap_waiting(pool: asyncpg.Pool) -> bool:
    return bool(
        await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND query LIKE 'DROP TABLE%'"
        )
    )


REBUILD_MOMENTS = (copies_made, copies_filling, swap_waiting)
"""Moments of a rebuild beside the live views to kill it at: its copies made, being filled,
and its swap waiting for a query still reading a live table."""


async def _until(process: subprocess.Popen[str], moment: Callable[[], Awaitable[bool]]) -> None:
    for _ in range(3000):
        assert process.poll() is None, f"it ended first: {process.stderr}"
        if await moment():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the moment never came")


async def test_a_rebuild_killed_at_any_moment_leaves_the_live_views_and_runs_again(
    seeded: str,
) -> None:
    async with running(seeded, run_projections=False) as client:
        pool = client.hub.pool
        await client.hub.projector.catch_up()
        live = await snapshot(pool)
        positions = await pool.fetch("SELECT name, position FROM projection_positions")

        for moment in REBUILD_MOMENTS:
            async with pool.acquire() as reader, reader.transaction():
                if moment is swap_waiting:  # a query that the swap waits for, killed meanwhile
                    await reader.execute("LOCK TABLE agencies IN ACCESS SHARE MODE")
                process = _rebuilding(seeded)
                forked: list[psutil.Process] = []
                try:
                    await _until(process, functools.partial(moment, pool))
                    forked = psutil.Process(process.pid).children()
                finally:
                    process.send_signal(signal.SIGKILL)
                    process.wait()
                # its second process, if working still, dies with it
                _, alive = await asyncio.to_thread(psutil.wait_procs, forked, 5)
                assert not alive, (moment.__name__, alive)
            assert await snapshot(pool) == live, moment.__name__
            assert await pool.fetch("SELECT name, position FROM projection_positions") == positions

        done = await hub_command(seeded, "project", "--once", "--rebuild", *VIEWS)
        assert done.returncode == 0, done.stderr
        assert await snapshot(pool) == live
        assert not await leftovers(pool)


async def test_a_projector_killed_inside_a_live_batch_leaves_whole_batches_and_resumes(
    seeded: str,
) -> None:
    """kill -9 of `hub project` while a batch's transaction is open: the views hold every
    event up to the last committed position and none after, and catching up from there gives
    the rows the projector built in one go."""
    async with running(seeded, run_projections=False) as client:
        pool = client.hub.pool
        await client.hub.projector.catch_up()
        live = await snapshot(pool)
        head = await pool.fetchval("SELECT max(notification_id) FROM registry_events")
        await client.hub.projector.rewind(VIEWS)

        async def inside_a_batch() -> bool:
            return bool(
                await pool.fetchval("SELECT min(position) > 0 FROM projection_positions")
                and await pool.fetchval(
                    "SELECT EXISTS (SELECT FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
                    " WHERE c.relname = 'projection_positions' AND l.mode = 'RowShareLock'"
                    " AND l.pid <> pg_backend_pid())"
                )
            )

        process = _projecting(seeded)
        try:
            await _until(process, inside_a_batch)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        positions = {r["position"] for r in await pool.fetch(_POSITIONS)}
        assert len(positions) == 1 and 0 < (reached := positions.pop()) < head, positions
        logged = [r["position"] for r in await pool.fetch("SELECT position FROM event_log")]
        assert sorted(logged) == [
            r["notification_id"]
            for r in await pool.fetch(
                "SELECT notification_id FROM registry_events WHERE notification_id <= $1"
                " AND topic NOT LIKE '%Claim%' ORDER BY notification_id",
                reached,
            )
        ]
        assert await client.hub.projector.catch_up() == head - reached
        assert await snapshot(pool) == live


_POSITIONS = "SELECT name, position FROM projection_positions"


async def test_a_rebuild_holds_back_what_the_live_projector_holds_back(database: str) -> None:
    """An event no hub here can decode, and one a view cannot fold (a change of an agency never
    registered), are held back by the rebuild's replay as by live batches, at the same
    positions, and every other row is the same."""
    async with running(database) as client:
        pool = client.hub.pool
        id = (await register(client))["agency"]["id"]
        await send(client, UPDATE, id=id, name="before the upgrade")
        await store_next(client, id, "renamed by a newer hub", topic=NEWER_TOPIC)
        other = (await register(client))["agency"]["id"]
        await send(client, UPDATE, id=other, name="renamed")
        latest = await pool.fetchrow(
            "SELECT topic, state FROM registry_events WHERE originator_id = $1"
            " ORDER BY originator_version DESC LIMIT 1",
            UUID(other),
        )
        orphan = StoredEvent(uuid4(), 1, latest["topic"], bytes(latest["state"]))
        await asyncio.to_thread(client.hub.registry.recorder.insert_events, [orphan])
        await send(client, UPDATE, id=other, name="renamed again")
        await caught_up(client)
        held = await pool.fetch(_HELD)
        assert {(r["projection"], str(r["entity_id"])) for r in held} == {
            *((name, id) for name in VIEWS),
            ("agencies", str(orphan.originator_id)),
        }
        built = await snapshot(pool)
        await client.hub.projector.rebuild(VIEWS)
        assert await pool.fetch(_HELD) == held
        assert await snapshot(pool) == built


_HELD = "SELECT projection, entity_id, position FROM held_back ORDER BY projection, entity_id"


async def test_a_rebuild_whose_bulk_write_is_refused_goes_batch_by_batch_to_the_same_rows(
    database: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A value only the database refuses (a NUL in a name) fails the replay's COPY: the
    rebuild empties the copies, builds the indexes it had set aside, catches them up batch by
    batch, and holds back that record in those views as the live projector did."""
    async with running(database) as client:
        pool = client.hub.pool
        for _ in range(3):
            await send(client, UPDATE, id=(await register(client))["agency"]["id"], name="x")
        id = (await register(client))["agency"]["id"]
        await send(client, UPDATE, id=id, name="before the poison")
        await store_next(client, id, "bad\u0000name")
        await register(client)
        await caught_up(client)
        held = await pool.fetch(_HELD)
        assert {r["projection"] for r in held} == {"event_log", "agencies"}
        built = await snapshot(pool)
        named = await indexes(pool)
        await client.hub.projector.rebuild(VIEWS, writers=client.hub.primary)
        assert "the rebuild's bulk write failed" in caplog.text
        assert await pool.fetch(_HELD) == held
        assert await snapshot(pool) == built
        assert await indexes(pool) == named


async def test_a_reshaping_rebuild_swaps_in_tables_of_the_new_shape(database: str) -> None:
    """How a migration that changes a view's tables rebuilds it beside instead of in place."""
    async with running(database) as client:
        ids = {(await register(client))["agency"]["id"] for _ in range(3)}
        pool = client.hub.pool
        before = await pool.fetch("SELECT * FROM agencies ORDER BY id, recorded_from")
        await client.hub.projector.rebuild(
            ["agencies"],
            reshape="ALTER TABLE agencies ADD COLUMN note text NOT NULL DEFAULT 'reshaped';"
            " CREATE INDEX agencies_note ON agencies (note)",
        )
        after = await pool.fetch("SELECT * FROM agencies ORDER BY id, recorded_from")
        assert [(*r.values(), "reshaped") for r in before] == [tuple(r.values()) for r in after]
        assert ("agencies", "agencies_note") in {i[:2] for i in await indexes(pool)}
        assert {str(r["id"]) for r in after} == ids
        assert (await client.run(COUNTS, auth=AUDITOR))["agencies"]["totalCount"] == 3


async def test_the_swap_gives_way_to_a_long_query_and_tries_again(
    database: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(runner, "SWAP_LOCK_TIMEOUT", "100ms")
    async with running(database) as client:
        await register(client)
        pool = client.hub.pool
        before = await snapshot(pool)
        async with pool.acquire() as reader, reader.transaction():
            await reader.execute("LOCK TABLE agencies IN ACCESS SHARE MODE")
            rebuilding = asyncio.create_task(client.hub.projector.rebuild(["agencies"]))
            await asyncio.sleep(1.0)
            assert not rebuilding.done()
            assert (await client.run(COUNTS, auth=AUDITOR))["agencies"]["totalCount"] == 1
        await rebuilding
        assert await snapshot(pool) == before
        assert "the swap waited 100ms for the live views' locks; trying again" in caplog.text


async def test_one_rebuild_at_a_time(database: str) -> None:
    async with running(database) as client, client.hub.pool.acquire() as other:
        await register(client)
        before = await snapshot(client.hub.pool)
        await other.execute("SELECT pg_advisory_lock(hashtext($1))", runner.REBUILD_LOCK)
        done = await hub_command(database, "project", "--once", "--rebuild", "agencies")
        await other.execute("SELECT pg_advisory_unlock(hashtext($1))", runner.REBUILD_LOCK)
        assert done.returncode == 1
        assert done.stderr.endswith(
            "hub project: another rebuild is running on this database;"
            " the live views are as they were\n"
        ), done.stderr
        assert await snapshot(client.hub.pool) == before


async def test_stored_events_decode_as_the_event_store_mapper_decodes_them(seeded: str) -> None:
    """The projections' own reading of stored events (`decode_row`) gives what the library's
    mapper gives, value for value and type for type, over a seeded city with corrections,
    retractions, back-dated changes and erasures; a state that does not parse is refused."""
    async with running(seeded, run_projections=False) as client:
        mapper = client.hub.registry.mapper
        rows = await client.hub.pool.fetch(
            "SELECT notification_id, originator_id, originator_version, topic, state"
            " FROM registry_events ORDER BY notification_id"
        )
        changes = 0
        for row in rows:
            position, id, version, topic, state = row
            event = mapper.to_domain_event(StoredEvent(id, version, topic, bytes(state)))
            change = decode_row(mapper, (position, id, version, topic, bytes(state)))
            if change is None:
                assert "Claim" in topic, topic
                continue
            changes += 1
            said = {k: v for k, v in event.__dict__.items() if k not in _INTERNAL}
            assert repr(change.facts) == repr(said), topic
            assert (change.entity_id, change.version) == (event.originator_id, version)
            assert repr((change.recorded_at, change.envelope)) == repr(
                (event.timestamp, event.envelope)
            )
            assert change.event_type is type(event)
        assert changes > 1000
        cut = bytes(rows[-1]["state"])[:20]
        with pytest.raises(MapperDeserialisationError, match="Failed to deserialise"):
            decode_row(mapper, (0, rows[-1]["originator_id"], 1, rows[-1]["topic"], cut))
