"""The database goes away and comes back: every part of the hub resumes by itself, every write
is answered truthfully (stored, not stored, or not known yet, never a driver message), and
/readyz tells the truth throughout.

Most tests run on a PostgreSQL server of their own (`tests.private_server`), which they kill.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psycopg
import pytest

from hub.projections.runner import PROJECTED_CHANNEL, Projector
from hub.registry.application import ConnectionCheck
from hub.service.database import create_database
from hub.service.runtime import projections
from tests.agency_api import REGISTER, UPDATE, registration, send, unseen
from tests.conftest import running, token
from tests.private_server import Cluster, PrivateServer, scratch, wait_until_ready
from tests.streams import hub_serve
from tests.test_persistence import CrashingOnce
from tests.worker_api import register_worker

MUNICIPAL = token("MUNICIPAL")
AGENCIES = "{ agencies(first: 5) { totalCount } }"
CODE = "SERVICE_UNAVAILABLE"
SAVING = "wait_event_type = 'Lock'"
"""A command's save, waiting for the table lock that writers take (the only lock anything
else waits for while the test holds it)."""
READY_WITHIN = 5.0
SLACK = 1.0
"""/readyz is polled every 0.2 s and each poll is one HTTP round trip to a process that shares
two cores with the database and the test: a second covers both on a loaded machine."""


@pytest.fixture(scope="module")
def server() -> Iterator[PrivateServer]:
    with scratch("private-postgres-") as directory:
        server = PrivateServer(directory / "data")
        server.init()
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
async def private_database(server: PrivateServer) -> str:
    """A fresh database on the private server, which runs."""
    server.ensure_running()
    return await create_database(server.url(), f"hub_{uuid.uuid4().hex[:12]}")


async def until(check: Callable[[], Awaitable[bool]], seconds: float, what: str) -> float:
    """Wait until `check()` holds; return how long it took."""
    start = time.monotonic()
    while not await check():
        assert time.monotonic() - start < seconds, f"{what}: not within {seconds:g} s"
        await asyncio.sleep(0.05)
    return time.monotonic() - start


async def backend_waiting(conn: asyncpg.Connection, database: str, condition: str) -> int:
    """The pid of the server process of `database` that waits as `condition` says."""
    found: list[int] = []

    async def waiting() -> bool:
        found[:] = [
            r["pid"]
            for r in await conn.fetch(
                f"SELECT pid FROM pg_stat_activity WHERE datname = $1 AND {condition}", database
            )
        ]
        return len(found) == 1

    await until(waiting, 10, f"a backend waiting with {condition}")
    return found[0]


def database_name(url: str) -> str:
    return url.rsplit("/", 1)[1]


async def stored_registrations(conn: asyncpg.Connection, name: str) -> int:
    """How many registrations of an agency named `name` the event store holds."""
    return await conn.fetchval(
        "SELECT count(*) FROM registry_events WHERE topic LIKE '%Agency.Registered'"
        " AND convert_from(state, 'UTF8')::jsonb ->> 'name' = $1",
        name,
    )


# Answers that are not refusals --------------------------------------------------------------


async def test_a_change_the_views_do_not_show_in_time_is_not_yet_visible(database: str) -> None:
    async with running(database, run_projections=False, read_your_writes_timeout=0.2) as client:
        payload = await send(client, REGISTER, **registration())
        assert payload["agency"] is None and payload["position"] > 0
        (error,) = payload["errors"]
        assert error["code"] == "NOT_YET_VISIBLE"
        assert f"stored at position {payload['position']}" in error["message"]
        assert await client.events() == 2  # the agency and the claim of its credit code


async def test_readyz_is_503_while_the_views_have_been_behind_too_long(database: str) -> None:
    async with running(
        database, run_projections=False, read_your_writes_timeout=0.01, ready_max_lag_seconds=0.3
    ) as client:
        ready = await client.http.get("/readyz")
        assert ready.status_code == 200, ready.json()
        assert unseen(await send(client, REGISTER, **registration()))
        await asyncio.sleep(0.5)
        behind = await client.http.get("/readyz")
        assert behind.status_code == 503
        body = behind.json()
        assert "HUB_READY_MAX_LAG_SECONDS" in body["reason"] and body["behindSeconds"] > 0.3
        assert {p["lag"] for p in body["projections"].values()} == {body["head"]}
        hub = client.hub
        await Projector(hub.pool, hub.registry.mapper, projections(), asyncio.Event()).catch_up()
        ready = await client.http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["behindSeconds"] == 0


# The projector ------------------------------------------------------------------------------


async def test_the_projector_outlives_a_batch_that_fails(database: str) -> None:
    async with running(database, run_projections=False, read_your_writes_timeout=0.01) as client:
        for _ in range(4):
            assert (await send(client, REGISTER, **registration()))["position"] > 0
        hub = client.hub
        crashing = [CrashingOnce(p) for p in projections()]
        projector = Projector(hub.pool, hub.registry.mapper, crashing, asyncio.Event(), 2)
        running_task = asyncio.create_task(projector.run())
        try:

            async def caught_up() -> bool:
                assert not running_task.done(), running_task
                return await hub.pool.fetchval("SELECT count(*) FROM agencies") == 4

            await until(caught_up, 10, "the projector caught up after the failed batch")
        finally:
            running_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running_task


async def test_a_lost_notify_does_not_freeze_the_views(database: str) -> None:
    async with running(database) as client:
        assert client.hub.signals._conn is not None
        await client.hub.signals._conn.execute("UNLISTEN registry_events")
        payload = await send(client, REGISTER, **registration())
        assert payload["errors"] == [] and payload["agency"] is not None


async def test_the_projector_of_the_process_tells_its_waiters_without_the_notify(
    database: str,
) -> None:
    """A mutation waiting for the views is told by its own process's projector once its batch
    commits, not by the NOTIFY coming back from the server (other processes still need it)."""
    async with running(database) as client:
        assert client.hub.signals._conn is not None
        await client.hub.signals._conn.execute(f"UNLISTEN {PROJECTED_CHANNEL}")
        for _ in range(3):
            payload = await send(client, REGISTER, **registration())
            assert payload["errors"] == [] and payload["agency"] is not None


async def test_the_store_checks_a_connection_only_when_it_could_tell(database: str) -> None:
    """A connection of the store checked a moment ago is handed out without a round trip;
    one the server has closed since is found out before a command uses it."""
    check = ConnectionCheck().check
    with (
        await asyncio.to_thread(psycopg.connect, database) as used,
        await asyncio.to_thread(psycopg.connect, database, autocommit=True) as watching,
    ):
        pid = used.info.backend_pid

        def started() -> Any:
            query = "SELECT query_start FROM pg_stat_activity WHERE pid = %s"
            return watching.execute(query, (pid,)).fetchone()

        check(used)
        first = started()
        check(used)
        assert started() == first, "no second round trip"
        watching.execute("SELECT pg_terminate_backend(%s)", (pid,))
        await until(lambda: _gone(watching, pid), 5, "the server closed the connection")
        with pytest.raises(psycopg.OperationalError):
            check(used)


async def _gone(conn: psycopg.Connection[Any], pid: int) -> bool:
    query = "SELECT count(*) FROM pg_stat_activity WHERE pid = %s"
    row = conn.execute(query, (pid,)).fetchone()
    return row is not None and row[0] == 0


async def test_the_hub_starts_its_projector_again_when_it_ends(database: str) -> None:
    async with running(database) as client:
        assert client.hub._projecting is not None
        ended = client.hub._projecting
        ended.cancel()
        await asyncio.wait({ended})  # it may still be giving its connection back
        stopped = await client.http.get("/readyz")
        assert stopped.status_code == 503
        assert stopped.json()["reason"] == "the projector of this process is not running"

        async def ready() -> bool:
            return (await client.http.get("/readyz")).status_code == 200

        await until(ready, 5, "/readyz after the projector was started again")
        payload = await send(client, REGISTER, **registration())
        assert payload["errors"] == [] and payload["agency"] is not None


async def test_what_the_views_announced_outlives_a_crash(
    private_database: str, server: PrivateServer
) -> None:
    """Followers and waiting requests trust the projector's NOTIFY: a crash of the server
    right after it must not take the announced position back (the WAL writer is slowed down
    so that an asynchronous commit would surely be lost)."""
    await configure(server, "wal_writer_delay", "10s")
    try:
        async with running(private_database) as client:
            payload = await send(client, REGISTER, **registration())
            assert payload["errors"] == []
            await asyncio.to_thread(server.kill)
            await asyncio.to_thread(server.start)
            conn = await asyncpg.connect(private_database)
            try:
                included = await conn.fetchval("SELECT min(position) FROM projection_positions")
            finally:
                await conn.close()
            assert included >= payload["position"]
    finally:
        await configure(server, "wal_writer_delay", None)


async def configure(server: PrivateServer, setting: str, value: str | None) -> None:
    """Set `setting` on the whole private server (None: back to its default)."""
    server.ensure_running()
    admin = await asyncpg.connect(server.url())
    try:
        if value is None:
            await admin.execute(f"ALTER SYSTEM RESET {setting}")
        else:
            await admin.execute(f"ALTER SYSTEM SET {setting} = '{value}'")
        await admin.execute("SELECT pg_reload_conf()")
    finally:
        await admin.close()


# A save whose connection breaks -------------------------------------------------------------


async def test_a_save_cut_off_before_its_commit_is_decided_again(private_database: str) -> None:
    """The save waits for the table lock; its connection is cut; nothing was stored, so the
    command runs again and answers as usual, stored once."""
    name = "重庆市渝中区断线重做社工服务中心"
    async with running(private_database) as client:
        conn = await asyncpg.connect(private_database)
        try:
            locking = conn.transaction()
            await locking.start()
            await conn.execute("LOCK TABLE registry_events IN EXCLUSIVE MODE")  # as writers do
            sending = asyncio.create_task(send(client, REGISTER, **registration(name=name)))
            saver = await backend_waiting(conn, database_name(private_database), SAVING)
            assert await conn.fetchval("SELECT pg_terminate_backend($1)", saver)
            await asyncio.sleep(0.5)
            await locking.commit()
            payload = await sending
            assert payload["errors"] == [], payload
            assert payload["agency"]["name"] == name
            assert await stored_registrations(conn, name) == 1
        finally:
            await conn.close()


async def test_a_save_cut_off_while_the_database_stays_away_is_outcome_unknown(
    private_database: str,
) -> None:
    """The save is cut off and the store cannot be read within HUB_OUTCOME_CHECK_SECONDS: the
    answer says the outcome is unknown; the same request again with its key settles it."""
    name = "重庆市渝中区结果未知社工服务中心"
    input = registration(name=name, idempotencyKey="cut-off-1")
    async with running(private_database, outcome_check_seconds=1) as client:
        conn = await asyncpg.connect(private_database)
        try:
            locking = conn.transaction()
            await locking.start()
            await conn.execute("LOCK TABLE registry_events IN EXCLUSIVE MODE")  # as writers do
            sending = asyncio.create_task(send(client, REGISTER, **input))
            saver = await backend_waiting(conn, database_name(private_database), SAVING)
            assert await conn.fetchval("SELECT pg_terminate_backend($1)", saver)
            payload = await sending
            await locking.commit()
            assert payload["agency"] is None and payload["position"] is None
            (error,) = payload["errors"]
            assert error["code"] == "OUTCOME_UNKNOWN"
            assert "may or may not have been recorded" in error["message"]
            assert "same idempotencyKey" in error["message"]
            again = await send(client, REGISTER, **input)
            assert again["errors"] == [] and again["agency"]["name"] == name
            assert await stored_registrations(conn, name) == 1
        finally:
            await conn.close()


async def test_a_save_cut_off_after_its_commit_answers_as_stored(
    private_database: str, server: PrivateServer
) -> None:
    """The commit waits for a standby that does not exist, so it is stored but not yet
    acknowledged; its connection is cut then: the hub finds it stored and answers so."""
    name = "重庆市渝中区已经提交社工服务中心"
    async with running(private_database) as client:
        conn = await asyncpg.connect(private_database)
        try:
            await configure(server, "synchronous_standby_names", "nobody")
            sending = asyncio.create_task(send(client, REGISTER, **registration(name=name)))
            saver = await backend_waiting(
                conn, database_name(private_database), "wait_event = 'SyncRep'"
            )
            assert await conn.fetchval("SELECT pg_terminate_backend($1)", saver)
            await configure(server, "synchronous_standby_names", None)
            payload = await sending
            assert payload["errors"] == [], payload
            assert payload["agency"]["name"] == name
            assert await stored_registrations(conn, name) == 1
        finally:
            await configure(server, "synchronous_standby_names", None)
            await conn.close()


async def test_a_mutation_whose_answer_the_database_spoils_is_503(database: str) -> None:
    """The change is stored and shown, then a field of its answer reads a table whose
    connection is cut: that error is the mutation's own, at the top, and the answer is 503."""
    async with running(database) as client:
        agency = (await send(client, REGISTER, **registration()))["agency"]["id"]
        worker = await register_worker(client, employer=agency)
        locker, watcher = await asyncpg.connect(database), await asyncpg.connect(database)
        try:
            locking = locker.transaction()
            await locking.start()
            await locker.execute("LOCK TABLE agencies IN ACCESS EXCLUSIVE MODE")
            answering = asyncio.create_task(
                client.http.post(
                    "/graphql",
                    json={
                        "query": "mutation($input: UpdateWorkerInput!) { updateWorker(input:"
                        " $input) { worker { id employer { id name } } errors { code } } }",
                        "variables": {"input": {"id": worker["id"], "education": "MASTER"}},
                    },
                    headers={"Authorization": f"Bearer {MUNICIPAL}"},
                )
            )
            name = await watcher.fetchval("SELECT current_database()")
            employer = "wait_event_type = 'Lock' AND query LIKE '%FROM agencies%'"
            reader = await backend_waiting(watcher, name, employer)
            assert await watcher.fetchval("SELECT pg_terminate_backend($1)", reader)
            response = await answering
            await locking.commit()
        finally:
            await locker.close()
            await watcher.close()
        assert response.status_code == 503, response.text
        body = response.json()
        assert body["data"]["updateWorker"]["worker"]["id"] == worker["id"]
        assert [e["extensions"] for e in body["errors"]] == [{"code": CODE}], body
        assert body["errors"][0]["message"] == "the database is unavailable; retry"


# The database down --------------------------------------------------------------------------


async def test_while_the_database_is_down_queries_and_writes_say_so(
    private_database: str, server: PrivateServer
) -> None:
    async with running(private_database, outcome_check_seconds=1) as client:
        assert (await send(client, REGISTER, **registration()))["errors"] == []
        await asyncio.to_thread(server.kill)
        try:
            response = await client.http.post(
                "/graphql",
                json={"query": AGENCIES},
                headers={"Authorization": f"Bearer {MUNICIPAL}"},
            )
            assert response.status_code == 503
            (error,) = response.json()["errors"]
            assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
            assert error["message"] == "the database is unavailable; retry"
            ready = await client.http.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["reason"] == "the database cannot be reached", ready.json()
            assert "Errno" not in ready.text and "Connect call" not in ready.text, ready.text
            for resuming in ({}, {"Last-Event-ID": "1"}):
                stream = await client.http.get(
                    "/events", headers={"Authorization": f"Bearer {MUNICIPAL}", **resuming}
                )
                assert stream.status_code == 503, stream.text
                assert stream.json()["errors"] == [
                    {"message": "the database is unavailable; retry", "extensions": {"code": CODE}}
                ]
            payload = await send(client, REGISTER, **registration())
            assert payload["agency"] is None and payload["position"] is None
            (error,) = payload["errors"]
            assert error["code"] == "SERVICE_UNAVAILABLE"
            assert "nothing was written" in error["message"]
        finally:
            await asyncio.to_thread(server.start)

        async def ready() -> bool:
            return (await client.http.get("/readyz")).status_code == 200

        await until(ready, READY_WITHIN, "/readyz after the database came back")
        assert (await client.run(AGENCIES, auth=MUNICIPAL))["agencies"]["totalCount"] == 1
        payload = await send(client, REGISTER, **registration())
        assert payload["errors"] == [] and payload["agency"] is not None
        assert await client.events() == 4  # two registrations, each with its claim


# Killed at random under concurrent writers ----------------------------------------------------

ROUNDS = 5
WRITERS = 4
RETRY = {"OUTCOME_UNKNOWN", "SERVICE_UNAVAILABLE"}


@dataclass
class Acknowledged:
    key: str
    registration: bool
    agency: str
    """Its id; "" for a registration answered NOT_YET_VISIBLE (the payload had no record)."""
    name: str


@dataclass
class Run:
    """What the clients of one hub process saw."""

    http: httpx.AsyncClient
    cluster: Cluster
    acknowledged: list[Acknowledged] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    readiness: list[tuple[float, int | None]] = field(default_factory=list)
    """(when the answer came, its HTTP status or None when the hub could not be reached)"""
    delivered: list[int] = field(default_factory=list)
    retried: Counter[str] = field(default_factory=Counter)
    """Answers that sent a write again, by what they said."""
    writing: bool = True
    following: bool = True

    async def mutate(self, document: str, input: dict[str, Any]) -> dict[str, Any] | None:
        """Send one write until it is resolved; the payload, or None after a failure."""
        body = {"query": document, "variables": {"input": input}}
        headers = {"Authorization": f"Bearer {MUNICIPAL}"}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                response = await self.http.post("/graphql", json=body, headers=headers)
            except httpx.ConnectError:
                self.retried["connection refused"] += 1
                await asyncio.sleep(0.2)
                continue
            answer = response.json() if response.status_code in (200, 503) else None
            top = [e.get("extensions", {}).get("code") for e in (answer or {}).get("errors", [])]
            if answer is None or (top and set(top) != {"SERVICE_UNAVAILABLE"}):
                self.failures.append(f"{input['idempotencyKey']}: {response.status_code} {answer}")
                return None
            if top:
                self.retried["SERVICE_UNAVAILABLE (query)"] += 1
                await asyncio.sleep(0.2)
                continue
            payload = next(iter(answer["data"].values()))
            codes = {e["code"] for e in payload["errors"]}
            if codes <= RETRY and codes:
                self.retried.update(codes)
                await asyncio.sleep(0.2)
                continue
            stored = not codes and payload["agency"] is not None
            position = f"position {payload['position']}"
            if stored or (unseen(payload) and position in payload["errors"][0]["message"]):
                self.retried["NOT_YET_VISIBLE (acknowledged)"] += not stored
                return payload
            self.failures.append(f"{input['idempotencyKey']}: {payload}")
            return None
        self.failures.append(f"{input['idempotencyKey']}: unresolved after 60 s")
        return None

    async def write(self, writer: int, rng: random.Random) -> None:
        """Register agencies and rename them, one write at a time, until told to stop."""
        mine: list[Acknowledged] = []
        for n in range(10_000):
            if not self.writing:
                return
            key = f"writer-{writer}-{n}"
            if mine and rng.random() < 0.4:
                target = rng.choice(mine)
                input = {"id": target.agency, "name": f"更名 {key}", "idempotencyKey": key}
                document = UPDATE
            else:
                input = registration(name=f"社工服务中心 {key}", idempotencyKey=key)
                document = REGISTER
            payload = await self.mutate(document, input)
            if payload is None:
                return
            shown = payload["agency"]
            agency = shown["id"] if shown else input.get("id", "")
            done = Acknowledged(key, document is REGISTER, agency, input["name"])
            self.acknowledged.append(done)
            if done.registration and done.agency:
                mine.append(done)

    async def poll_readiness(self) -> None:
        while self.following:
            down_before = not self.cluster.alive()
            try:
                status: int | None = (await self.http.get("/readyz", timeout=10)).status_code
            except httpx.HTTPError:
                status = None
            if status == 200 and down_before and not self.cluster.alive():
                self.failures.append("/readyz answered 200 while the database was down")
            self.readiness.append((time.monotonic(), status))
            await asyncio.sleep(0.2)

    async def follow(self) -> None:
        """Follow GET /events from the start, resuming with Last-Event-ID when cut off."""
        headers = {"Authorization": f"Bearer {token('AUDITOR')}"}
        timeout = httpx.Timeout(10, read=30)
        while self.following:
            last = self.delivered[-1] if self.delivered else 0
            try:
                async with self.http.stream(
                    "GET",
                    "/events",
                    headers={**headers, "Last-Event-ID": str(last)},
                    timeout=timeout,
                ) as response:
                    if response.status_code != 200:
                        await asyncio.sleep(0.2)
                        continue
                    async for line in response.aiter_lines():
                        if line.startswith("id: "):
                            self.delivered.append(int(line[4:]))
            except httpx.HTTPError:
                await asyncio.sleep(0.2)

    async def ready_since(self, back: float, what: str) -> None:
        """/readyz answers 200 within READY_WITHIN (+ SLACK) of the database's return."""

        async def ready() -> bool:
            return any(at > back and status == 200 for at, status in self.readiness)

        await until(ready, READY_WITHIN + SLACK, f"{what}: /readyz 200 after the database's return")


@pytest.mark.parametrize("mode", ["external", "embedded"])
async def test_the_hub_rides_out_a_database_killed_at_random(
    mode: str, server: PrivateServer
) -> None:
    """External: the test starts the server again; embedded: the hub must."""
    with scratch("restart-") as directory:
        await ride_out(mode, server, directory)


async def ride_out(mode: str, server: PrivateServer, directory: Path) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    env = {k: v for k, v in os.environ.items() if k != "HUB_DATABASE_URL"}
    url = ""
    if mode == "external":
        server.ensure_running()
        url = await create_database(server.url(), f"hub_{uuid.uuid4().hex[:12]}")
        env["HUB_DATABASE_URL"] = url
        cluster: Cluster = server
    else:
        env["HUB_HOME"] = str(directory / "home")
        cluster = Cluster(directory / "home" / "pgdata")
    log = directory / "hub.log"

    def seen() -> tuple[int, list[str], str]:
        return seed, run.failures[:5], log.read_text()[-4000:]

    try:
        # the writers share one token, at full speed
        served = hub_serve(log, timeout=60, HUB_RATE_LIMIT_PER_TOKEN="0", **env)
        async with served as (http, _):
            run = Run(http, cluster)
            writers = [asyncio.create_task(run.write(n, rng)) for n in range(WRITERS)]
            watchers = [
                asyncio.create_task(run.poll_readiness()),
                asyncio.create_task(run.follow()),
            ]
            try:
                for round in range(ROUNDS):
                    await asyncio.sleep(rng.uniform(0.3, 2.0))
                    await asyncio.to_thread(cluster.kill)
                    await asyncio.sleep(rng.uniform(0.1, 1.0))
                    if isinstance(cluster, PrivateServer):
                        await asyncio.to_thread(cluster.start)
                    else:
                        restarted = await asyncio.to_thread(wait_until_ready, cluster, 30)
                        assert restarted, "the hub did not start its embedded server again"
                    await run.ready_since(time.monotonic(), f"round {round}")
                    assert not run.failures, seen()
                run.writing = False
                await asyncio.gather(*writers)
                assert not run.failures, seen()
                await check_everything_landed(run, url or cluster.url())
                assert not run.failures, seen()
                print(f"seed {seed}: {len(run.acknowledged)} writes acknowledged, {run.retried}")
            finally:
                run.writing = run.following = False
                for task in writers + watchers:
                    task.cancel()
                await asyncio.gather(*writers, *watchers, return_exceptions=True)
    finally:
        if mode == "embedded" and cluster.alive():
            cluster.kill()


async def check_everything_landed(run: Run, url: str) -> None:
    """Every acknowledged write is stored once and shown; the views include every stored
    event; the stream delivered the whole log once, in order."""
    http = run.http
    registered = [a for a in run.acknowledged if a.registration]
    assert len(registered) >= ROUNDS, run.acknowledged
    headers = {"Authorization": f"Bearer {MUNICIPAL}"}

    async def graphql(query: str, **variables: Any) -> dict[str, Any]:
        body = {"query": query, "variables": variables}
        answer = (await http.post("/graphql", json=body, headers=headers)).json()
        assert "errors" not in answer, answer
        return answer["data"]

    async def caught_up() -> bool:
        ready = await http.get("/readyz")
        if ready.status_code != 200:
            return False
        return (await graphql("{ position }"))["position"] == ready.json()["head"]

    await until(caught_up, 15, "the views including every stored event")
    last = await run.mutate(REGISTER, registration(name="最后一个", idempotencyKey="last"))
    assert last is not None and last["errors"] == [], "read-your-writes works again"
    run.acknowledged.append(Acknowledged("last", True, last["agency"]["id"], "最后一个"))
    registered.append(run.acknowledged[-1])
    conn = await asyncpg.connect(url)
    try:
        keys = {
            r["key"]: r["count"]
            for r in await conn.fetch(
                "SELECT convert_from(state, 'UTF8')::jsonb -> 'envelope' ->> 'idempotency_key'"
                " AS key, count(*) FROM registry_events WHERE topic NOT LIKE '%Claim%' GROUP BY 1"
            )
        }
        logged = [
            r["notification_id"]
            for r in await conn.fetch(
                "SELECT notification_id FROM registry_events WHERE topic NOT LIKE '%Claim%'"
                " ORDER BY notification_id"
            )
        ]
    finally:
        await conn.close()
    assert {k: c for k, c in keys.items() if c != 1} == {}, "stored more than once"
    assert [a.key for a in run.acknowledged if a.key not in keys] == [], "acknowledged, not stored"
    assert len(keys) == len(run.acknowledged), "stored, never acknowledged"

    names: dict[str, str] = {}
    after = None
    while True:
        shown = (
            await graphql(
                "query($after: String) { agencies(first: 500, after: $after) { totalCount"
                " edges { node { id name } } pageInfo { hasNextPage endCursor } } }",
                after=after,
            )
        )["agencies"]
        assert shown["totalCount"] == len(registered)
        names |= {edge["node"]["id"]: edge["node"]["name"] for edge in shown["edges"]}
        if not shown["pageInfo"]["hasNextPage"]:
            break
        after = shown["pageInfo"]["endCursor"]
    assert len(names) == len(registered)
    latest = {a.agency: a.name for a in run.acknowledged if a.agency}
    assert {id: names.get(id) for id in latest} == latest
    unseen_names = {a.name for a in registered if not a.agency}
    assert unseen_names <= set(names.values())

    async def delivered_all() -> bool:
        return len(run.delivered) >= len(logged)

    await until(delivered_all, 20, "the SSE follower reaching the head of the log")
    assert run.delivered == logged
