"""A migration that changes a projection's tables (`-- rebuilds: agencies`) runs through
`hub migrate` beside the live views: a hub serving meanwhile answers whole the whole time, the
migration counts as applied only once its copies are swapped in, `hub migrate` killed at any
moment leaves the live views as they were and runs it again, and `hub serve` refuses to start
while it waits."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from hub.cli import MIGRATE_BESIDE_LOCK
from hub.service.database import migration_files
from tests.agency_api import AUDITOR, register
from tests.conftest import (
    PERSONAL_DATA_KEY,
    ROOT,
    SECRET,
    copied_database,
    fresh_database,
    hub_cli,
    running,
)
from tests.private_server import scratch
from tests.test_demo import COUNTS
from tests.test_persistence import snapshot
from tests.test_rebuild import (
    REBUILD_MOMENTS,
    _until,
    caught_up,
    indexes,
    leftovers,
    seeded,
    swap_waiting,
)

__all__ = ["seeded"]  # test_rebuild's fixture: seeded once for this module, copied for each test

RESHAPING = "900_agencies_note.sql"
AFTER = "901_after_the_note.sql"
MIGRATIONS = {
    RESHAPING: "-- The agencies' rows get a note, and an index on it.\n"
    "-- rebuilds: agencies\n"
    "ALTER TABLE agencies ADD COLUMN note text NOT NULL DEFAULT 'reshaped';\n"
    "CREATE INDEX agencies_note ON agencies (note);\n",
    AFTER: "-- A plain migration that must wait for the one before it.\n"
    "CREATE TABLE after_the_note (agencies bigint NOT NULL);\n"
    "INSERT INTO after_the_note SELECT count(*) FROM agencies WHERE note = 'reshaped';\n",
}
"""Two migrations a newer hub would ship after the hub's own."""

AGENCIES = "{ agencies(first: 100) { edges { node { id name } } } }"


@pytest.fixture
def newer() -> Iterator[Path]:
    """A folder of the hub's migrations and `MIGRATIONS` after them (`HUB_MIGRATIONS`)."""
    with scratch("migrations-") as folder:
        for file in migration_files():
            (folder / file.name).write_text(file.read_text(encoding="utf-8"), encoding="utf-8")
        for name, sql in MIGRATIONS.items():
            (folder / name).write_text(sql, encoding="utf-8")
        yield folder


@pytest.fixture
async def database(server_url: str, seeded: str) -> AsyncIterator[str]:
    """A copy of the seeded database, its views caught up by the hub's own migrations."""
    copy = await copied_database(server_url, seeded)
    async with running(copy) as client:
        await caught_up(client)
    yield copy


def _migrate(database: str, folder: Path) -> subprocess.Popen[str]:
    """`hub migrate` of a newer hub, in small batches so that a moment of it can be caught."""
    return subprocess.Popen(
        [sys.executable, "-m", "hub", "migrate"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={
            **os.environ,
            "HUB_JWT_SECRET": SECRET,
            "HUB_PERSONAL_DATA_KEY": PERSONAL_DATA_KEY,
            "HUB_DATABASE_URL": database,
            "HUB_MIGRATIONS": str(folder),
            "HUB_PROJECTION_BATCH": "20",
        },
    )


async def _applied(pool: asyncpg.Pool) -> set[str]:
    return {r["name"] for r in await pool.fetch("SELECT name FROM schema_migrations")}


async def _columns(pool: asyncpg.Pool) -> list[str]:
    return [
        r["column_name"]
        for r in await pool.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_schema ="
            " current_schema() AND table_name = 'agencies' ORDER BY ordinal_position"
        )
    ]


async def test_queries_answer_whole_while_hub_migrate_reshapes_a_view_beside_it(
    database: str, newer: Path
) -> None:
    """The serving hub's projector goes on applying new agencies meanwhile, into the old shape
    and then the new; none is lost or applied twice by the swap."""
    async with running(database) as client:
        pool = client.hub.pool
        whole = {k: v["totalCount"] for k, v in (await client.run(COUNTS, auth=AUDITOR)).items()}
        listed = {
            e["node"]["id"] for e in (await client.run(AGENCIES, auth=AUDITOR))["agencies"]["edges"]
        }
        assert 0 < len(listed) < 50
        before = (await snapshot(pool))["agencies"]
        migrating = _migrate(database, newer)
        answers, beside = 0, 0
        registered: set[str] = set()
        while migrating.poll() is None:
            copies = await leftovers(pool)
            body = await client.post(COUNTS, auth=AUDITOR)
            assert "errors" not in body, body
            counts = {k: v["totalCount"] for k, v in body["data"].items()}
            assert counts == {**whole, "agencies": whole["agencies"] + len(registered)}, counts
            body = await client.post(AGENCIES, auth=AUDITOR)
            assert "errors" not in body, body
            ids = {e["node"]["id"] for e in body["data"]["agencies"]["edges"]}
            assert ids == listed | registered, ids
            answers += 1
            beside += copies and await leftovers(pool)  # both queries while the copies were
            if answers % 10 == 0:
                registered.add((await register(client))["agency"]["id"])
        out, err = migrating.communicate()
        assert migrating.returncode == 0, err
        assert beside > 0 and registered, (answers, beside, registered)
        assert f"migration {RESHAPING}: rebuilding agencies beside the live views" in out
        assert "rebuilt agencies and swapped them in" in out
        assert f"applied migration {AFTER}" in out

        after = (await snapshot(pool))["agencies"]
        assert sorted(((*r, "reshaped") for r in before), key=repr) == [
            r for r in after if str(r[0]) not in registered
        ]
        assert {str(r[0]) for r in after} - {str(r[0]) for r in before} == registered
        assert ("agencies", "agencies_note") in {i[:2] for i in await indexes(pool)}
        assert await pool.fetchval("SELECT agencies FROM after_the_note") >= len(before)
        assert set(MIGRATIONS) <= await _applied(pool)
        assert not await leftovers(pool)
        # the hub serving meanwhile goes on, its projector writing the new shape
        registered.add((await register(client))["agency"]["id"])
        counts = {k: v["totalCount"] for k, v in (await client.run(COUNTS, auth=AUDITOR)).items()}
        assert counts == {**whole, "agencies": whole["agencies"] + len(registered)}
        swapped = await snapshot(pool)
        await client.hub.projector.rewind(["agencies"])
        await client.hub.projector.catch_up()
        assert await snapshot(pool) == swapped

    again = await asyncio.to_thread(
        hub_cli, "migrate", HUB_DATABASE_URL=database, HUB_MIGRATIONS=str(newer)
    )
    assert again.returncode == 0, again.stderr
    assert "rebuilding" not in again.stdout


async def test_hub_migrate_killed_at_any_moment_leaves_the_live_views_and_runs_again(
    database: str, newer: Path
) -> None:
    async with running(database, run_projections=False) as client:
        pool = client.hub.pool
        live = await snapshot(pool)
        columns = await _columns(pool)
        applied = await _applied(pool)

        for moment in REBUILD_MOMENTS:
            async with pool.acquire() as reader, reader.transaction():
                if moment is swap_waiting:  # a query that the swap waits for, killed meanwhile
                    await reader.execute("LOCK TABLE agencies IN ACCESS SHARE MODE")
                process = _migrate(database, newer)
                try:
                    await _until(process, functools.partial(moment, pool))
                finally:
                    process.send_signal(signal.SIGKILL)
                    process.communicate()
            assert await snapshot(pool) == live, moment.__name__
            assert await _columns(pool) == columns, moment.__name__
            assert await _applied(pool) == applied, moment.__name__

        process = _migrate(database, newer)
        out, err = process.communicate()
        assert process.returncode == 0, err
        assert await _columns(pool) == [*columns, "note"]
        assert {t: rows for t, rows in (await snapshot(pool)).items() if t != "agencies"} == {
            t: rows for t, rows in live.items() if t != "agencies"
        }
        assert await pool.fetchval("SELECT count(*) FROM agencies WHERE note = 'reshaped'") == len(
            live["agencies"]
        )
        assert await _applied(pool) == applied | set(MIGRATIONS)
        assert not await leftovers(pool)


async def test_hub_serve_refuses_to_start_while_a_reshaping_migration_waits(
    database: str, newer: Path
) -> None:
    refused = await asyncio.to_thread(
        hub_cli, "serve", HUB_DATABASE_URL=database, HUB_MIGRATIONS=str(newer)
    )
    assert refused.returncode == 1
    assert refused.stderr.endswith(
        f"hub serve: migration {RESHAPING} rebuilds agencies beside the live views and has not"
        " run yet: run `hub migrate` first (a hub already serving this database goes on"
        " answering from the live views while it runs)\n"
    ), refused.stderr
    async with running(database, run_projections=False) as client:
        assert "note" not in await _columns(client.hub.pool)
        assert not set(MIGRATIONS) & await _applied(client.hub.pool)
        assert await client.hub.pool.fetchval("SELECT to_regclass('after_the_note')") is None


async def test_on_a_new_database_a_reshaping_migration_runs_in_place(
    server_url: str, newer: Path
) -> None:
    """Views that hold nothing yet have nothing to keep answering: `hub serve` starts."""
    async with running(await fresh_database(server_url), migrations=newer) as client:
        pool = client.hub.pool
        assert set(MIGRATIONS) <= await _applied(pool)
        assert (await _columns(pool))[-1] == "note"
        made = await register(client)
        assert made["errors"] == [], made
        assert await pool.fetchval("SELECT note FROM agencies") == "reshaped"


async def test_one_hub_migrate_rebuilds_at_a_time(database: str, newer: Path) -> None:
    async with running(database, run_projections=False) as client:
        pool = client.hub.pool
        live = await snapshot(pool)
        async with pool.acquire() as other:
            await other.execute("SELECT pg_advisory_lock(hashtext($1))", MIGRATE_BESIDE_LOCK)
            done = await asyncio.to_thread(
                hub_cli, "migrate", HUB_DATABASE_URL=database, HUB_MIGRATIONS=str(newer)
            )
            await other.execute("SELECT pg_advisory_unlock(hashtext($1))", MIGRATE_BESIDE_LOCK)
        assert done.returncode == 1
        assert done.stderr.endswith(
            "hub migrate: another hub migrate is rebuilding views on this database;"
            " the live views are as they were\n"
        ), done.stderr
        assert await snapshot(pool) == live
        assert not set(MIGRATIONS) & await _applied(pool)


async def test_a_migration_rebuilding_a_view_no_projection_makes_is_refused(
    database: str, newer: Path
) -> None:
    (newer / RESHAPING).write_text("-- rebuilds: agencies, agency\nSELECT 1;\n", encoding="utf-8")
    done = await asyncio.to_thread(
        hub_cli, "migrate", HUB_DATABASE_URL=database, HUB_MIGRATIONS=str(newer)
    )
    assert done.returncode == 1
    assert done.stderr.startswith(
        f"hub migrate: migration {RESHAPING} rebuilds agency, which no projection is called"
    ), done.stderr
    async with running(database, run_projections=False) as client:
        assert not set(MIGRATIONS) & await _applied(client.hub.pool)


async def test_hub_migrations_naming_no_folder_is_refused(database: str, newer: Path) -> None:
    absent = newer / "absent"
    done = await asyncio.to_thread(
        hub_cli, "migrate", HUB_DATABASE_URL=database, HUB_MIGRATIONS=str(absent)
    )
    assert done.returncode == 1
    assert done.stderr == f"hub migrate: HUB_MIGRATIONS names {absent}, which is not a folder\n"
