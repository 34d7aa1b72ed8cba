"""Group commit (`HUB_GROUP_COMMIT_MS`): commands decided at the same time are saved in one
transaction, yet each answers as it would alone, and a killed hub loses no acknowledged one."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Awaitable
from typing import Any
from uuid import UUID

import asyncpg
import httpx

from tests.agency_api import (
    AGENCY,
    AUDITOR,
    HISTORY,
    MUNICIPAL,
    REGISTER,
    UPDATE,
    register,
    send,
)
from tests.agency_api import registration as agency
from tests.conftest import PERSONAL_DATA_KEY, Client, running, token
from tests.streams import hub_serve
from tests.test_database_restart import (
    SAVING,
    backend_waiting,
    database_name,
    private_database,
    server,
    stored_registrations,
    until,
)

__all__ = ["private_database", "server"]  # the fixtures of the cut-off test


async def waiting_for_lock(
    client: Client, record_id: str, command: Awaitable[dict]
) -> asyncio.Future[dict]:
    """`command` (on `record_id`), started while the record's lock is held here, so that it
    decides (and the open group waits for it, as for any command deciding) until the lock
    is let go 0.1 s from now: the requests sent meanwhile join the same group, however
    slowly they reach it."""
    held, free = threading.Event(), threading.Event()

    def hold() -> None:
        with client.hub.registry._locked([UUID(record_id)]):
            held.set()
            free.wait(5)

    holding = asyncio.ensure_future(asyncio.to_thread(hold))
    await asyncio.to_thread(held.wait, 5)
    started = asyncio.ensure_future(command)
    while client.hub.registry.group._deciding == 0 and not started.done():
        await asyncio.sleep(0.001)
    asyncio.get_running_loop().call_later(0.1, free.set)

    async def answer() -> dict:
        await holding
        return await started

    return asyncio.ensure_future(answer())


async def test_commands_in_one_group_each_answer_their_own(database: str) -> None:
    async with running(database, group_commit_ms=200) as client:
        a = (await register(client))["agency"]
        b = (await register(client))["agency"]
        repeated = agency(idempotencyKey="group-once")
        first = await send(client, REGISTER, **repeated)
        contested = agency()
        before = await client.events()
        group = client.hub.registry.group
        one = await waiting_for_lock(
            client, a["id"], send(client, UPDATE, id=a["id"], name="a one")
        )
        answers = await asyncio.gather(
            *(
                send(client, REGISTER, auth=token("MUNICIPAL", sub=f"clerk-{n}"), **contested)
                for n in range(3)
            ),
            one,
            send(client, UPDATE, id=a["id"], name="a two"),
            send(client, UPDATE, id=b["id"], name="b", expectedVersion=1),
            send(client, UPDATE, id=b["id"], name="b stale", expectedVersion=9),
            send(client, REGISTER, **agency(creditCode=a["creditCode"])),
            send(client, REGISTER, **repeated),
            send(client, REGISTER, **agency()),
        )
        *racing, one, two, b_updated, stale, taken, again, fresh = answers
        assert group.largest > 1, "the commands were saved in groups"
        assert group.split >= 1, "the racing registrations' group was refused, then split"

        assert one["errors"] == two["errors"] == b_updated["errors"] == fresh["errors"] == []
        assert max(one["agency"]["version"], two["agency"]["version"]) == 3  # as the views show
        assert b_updated["agency"]["version"] == 2
        assert [e["code"] for e in stale["errors"]] == ["CONFLICT"]
        assert stale["errors"][0]["field"] == "expectedVersion"
        assert [e["field"] for e in taken["errors"]] == ["creditCode"]
        assert again == first
        assert sum(not r["errors"] for r in racing) == 1
        assert [e["field"] for r in racing for e in r["errors"]] == ["creditCode"] * 2

        # a's two renames, b's, and two registrations of an agency and its credit code
        assert await client.events() == before + 3 + 2 * 2
        final = {
            id: (await client.run(AGENCY, {"id": id}, auth=AUDITOR))["agency"]
            for id in (a["id"], b["id"])
        }
        assert final[a["id"]]["version"] == 3
        assert (final[b["id"]]["version"], final[b["id"]]["name"]) == (2, "b")
        positions = [r["position"] for r in (one, two, b_updated, fresh, *racing) if r["position"]]
        assert len(set(positions)) == len(positions), "each answers its own event's position"


async def test_commands_on_one_record_are_decided_one_after_another_in_one_group(
    database: str,
) -> None:
    async with running(database, group_commit_ms=200) as client:
        a = (await register(client))["agency"]
        group = client.hub.registry.group
        groups, split, followed = group.groups, group.split, group.followed
        first = await waiting_for_lock(
            client, a["id"], send(client, UPDATE, id=a["id"], name="rename 0")
        )
        renames = await asyncio.gather(
            first, *(send(client, UPDATE, id=a["id"], name=f"rename {n}") for n in range(1, 6))
        )
        assert all(r["errors"] == [] for r in renames), renames
        # at least one decided on the record as the one before it left it, in the same group
        assert group.followed > followed
        assert group.groups - groups < 6 and group.split == split
        assert sorted(r["agency"]["version"] for r in renames)[-1] == 7

        both = await asyncio.gather(
            *(
                send(client, UPDATE, id=a["id"], name=f"at 7, {n}", expectedVersion=7)
                for n in (1, 2)
            )
        )
        assert sorted(r["errors"] == [] for r in both) == [False, True]
        refused = next(r for r in both if r["errors"])
        assert [(e["code"], e["field"]) for e in refused["errors"]] == [
            ("CONFLICT", "expectedVersion")
        ]
        assert "at version 8, not the expected 7" in refused["errors"][0]["message"]
        assert group.split == split, "the refusal failed no other command"

        shown = await client.run(HISTORY, {"id": a["id"]}, auth=AUDITOR)
        assert [e["version"] for e in shown["history"]] == list(range(1, 9))
        accepted = [r["position"] for r in (*renames, *both) if not r["errors"]]
        assert sorted(accepted) == [e["position"] for e in shown["history"][1:]]


async def test_a_command_decided_on_a_group_that_is_refused_decides_again(
    database: str,
) -> None:
    """The group of three renames of one agency holds two registrations of one credit code
    too, so the store refuses it: the renames decided on the record as an earlier one left it
    are decided again, and all three are stored, one after another."""
    async with running(database, group_commit_ms=200) as client:
        a = (await register(client))["agency"]
        group = client.hub.registry.group
        split, followed = group.split, group.followed
        contested = agency()
        first = await waiting_for_lock(
            client, a["id"], send(client, UPDATE, id=a["id"], name="rename 0")
        )
        answers = await asyncio.gather(
            *(send(client, REGISTER, **contested) for _ in range(2)),
            first,
            *(send(client, UPDATE, id=a["id"], name=f"rename {n}") for n in range(1, 3)),
        )
        *racing, one, two, three = answers
        assert group.split > split, "the group was refused, then split"
        assert group.followed > followed, "a rename decided on the record as another left it"
        assert one["errors"] == two["errors"] == three["errors"] == []
        assert sorted(r["agency"]["version"] for r in (one, two, three))[-1] == 4
        assert sum(not r["errors"] for r in racing) == 1
        shown = await client.run(HISTORY, {"id": a["id"]}, auth=AUDITOR)
        assert [e["version"] for e in shown["history"]] == [1, 2, 3, 4]
        assert len({r["position"] for r in (one, two, three)}) == 3


async def test_a_group_save_cut_off_before_its_commit_is_decided_again_by_each(
    private_database: str,
) -> None:
    """The group's save waits for the table lock and its connection is cut: nothing was
    stored, so every command of the group runs again, each stored once."""
    names = [f"重庆市渝中区断线重做{n}号社工服务中心" for n in range(5)]
    async with running(private_database, group_commit_ms=200) as client:
        conn = await asyncpg.connect(private_database)
        try:
            locking = conn.transaction()
            await locking.start()
            await conn.execute("LOCK TABLE registry_events IN EXCLUSIVE MODE")  # as writers do
            sending = asyncio.gather(*(send(client, REGISTER, **agency(name=n)) for n in names))
            saver = await backend_waiting(conn, database_name(private_database), SAVING)
            await asyncio.sleep(0.3)  # the group's other commands join it meanwhile
            assert await conn.fetchval("SELECT pg_terminate_backend($1)", saver)
            await asyncio.sleep(0.5)
            await locking.commit()
            payloads = await sending
            assert [p["errors"] for p in payloads] == [[]] * len(names)
            assert [p["agency"]["name"] for p in payloads] == names
            for name in names:
                assert await stored_registrations(conn, name) == 1
            assert client.hub.registry.group.largest > 1
        finally:
            await conn.close()


async def test_a_hub_killed_while_saving_groups_loses_no_acknowledged_mutation(
    database: str,
) -> None:
    acknowledged: list[str] = []
    settings = {
        "HUB_DATABASE_URL": database,
        "HUB_PERSONAL_DATA_KEY": PERSONAL_DATA_KEY,
        "HUB_RATE_LIMIT_PER_TOKEN": "0",
        "HUB_GROUP_COMMIT_MS": "20",
    }
    async with hub_serve(None, **settings) as (http, process):

        async def write() -> None:
            while True:
                try:
                    response = await http.post(
                        "/graphql",
                        json={"query": REGISTER, "variables": {"input": agency()}},
                        headers={"Authorization": f"Bearer {MUNICIPAL}"},
                    )
                except httpx.TransportError:
                    return  # killed before it answered: not acknowledged
                payload: Any = response.json()["data"]["registerAgency"]
                if payload["position"] is not None:
                    acknowledged.append(payload["agency"]["id"])

        writers = [asyncio.create_task(write()) for _ in range(16)]

        async def enough() -> bool:
            return len(acknowledged) >= 60

        await until(enough, 60, "60 registrations acknowledged")
        os.kill(process.pid, signal.SIGKILL)
        await asyncio.gather(*writers)

    connection = await asyncpg.connect(database)
    try:
        rows = await connection.fetch("SELECT originator_id, topic FROM registry_events")
    finally:
        await connection.close()
    agencies = {r["originator_id"] for r in rows if r["topic"].startswith("hub.domain.agency:")}
    claims = [r for r in rows if r["topic"].startswith("hub.domain.claim:")]
    assert {str(id) for id in agencies} >= set(acknowledged)
    assert len(claims) == len(agencies) == len(rows) // 2, "each stored whole or not at all"
