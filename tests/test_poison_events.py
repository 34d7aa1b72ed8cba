"""An event a view cannot apply holds back its record in that view while every other record
goes on, however the event got into the store; `hub project --retry` applies it once the cause
is fixed."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID

import eventsourcing.utils
import httpx
import pytest
from eventsourcing.persistence import StoredEvent

from hub import cli
from hub.domain.agency import Agency
from hub.projections.held_back import held_back
from hub.service.runtime import Hub, projections
from tests.agency_api import AGENCY, AUDITOR, HISTORY, UPDATE, register, send
from tests.conftest import Client, hub_command, running, token
from tests.streams import Subscriber, served
from tests.test_persistence import snapshot

NEWER_TOPIC = "hub.domain.agency:Agency.Renamed"
"""An event type only a newer hub knows."""


async def store_next(client: Client, agency_id: str, name: str, topic: str | None = None) -> int:
    """Store the agency's next event straight into the event store, as a writer that checks
    nothing would: a copy of its latest profile update naming it `name` (under `topic` if
    given). Returns its position."""
    latest = await client.hub.pool.fetchrow(
        "SELECT originator_version, topic, state FROM registry_events WHERE originator_id = $1"
        " ORDER BY originator_version DESC LIMIT 1",
        UUID(agency_id),
    )
    assert latest["topic"].endswith("Agency.ProfileUpdated"), latest["topic"]
    state = json.loads(latest["state"])
    state["changes"]["name"] = name
    event = StoredEvent(
        originator_id=UUID(agency_id),
        originator_version=latest["originator_version"] + 1,
        topic=topic or latest["topic"],
        state=json.dumps(state).encode(),
    )
    [position] = await asyncio.to_thread(client.hub.registry.recorder.insert_events, [event])
    return position


async def rows_of(client: Client, record_id: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row (every version) the views hold of one record, by table."""
    record = UUID(record_id)
    return {
        table: [row for row in rows if record in row]
        for table, rows in (await snapshot(client.hub.pool)).items()
    }


async def ready_held(client: Client) -> list[dict[str, Any]]:
    ready = (await client.http.get("/readyz")).json()
    return ready["heldBack"]


def held(entries: list[dict[str, Any]]) -> set[tuple[str, str, int]]:
    return {(h["projection"], h["entityId"], h["position"]) for h in entries}


def said(caplog: pytest.LogCaptureFixture, record_id: str) -> list[str]:
    """The ERROR lines that name the record."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.ERROR and record_id in r.getMessage()
    ]


async def until(check: Callable[[], bool]) -> None:
    """Wait until `check()` holds (logging follows the commit that holds a record back)."""
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


@pytest.fixture
def newer_topic() -> Iterator[None]:
    yield
    eventsourcing.utils._topic_cache.pop(NEWER_TOPIC, None)  # the upgrade a test simulated


async def test_a_name_no_view_can_store_holds_back_that_agency_alone(
    database: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hub.projections")
    async with running(database) as client:
        poisoned = (await register(client))["agency"]
        id = poisoned["id"]
        other = (await register(client))["agency"]
        renamed = (await send(client, UPDATE, id=id, name="before the poison"))["agency"]
        before = await rows_of(client, id)
        position = await store_next(client, id, "bad\u0000name")

        moved = await send(client, UPDATE, id=other["id"], name="still projected")
        assert moved["errors"] == [] and moved["agency"]["name"] == "still projected"
        assert (await register(client))["agency"]["version"] == 1
        later = await send(client, UPDATE, id=id, name="after the poison")
        assert later["agency"] == renamed and later["position"] > position
        [unseen] = later["errors"]
        assert unseen["code"] == "NOT_YET_VISIBLE", unseen
        assert f"holds the record back since its event at position {position}" in unseen["message"]
        assert await rows_of(client, id) == before

        entries = await ready_held(client)
        assert held(entries) == {("event_log", id, position), ("agencies", id, position)}
        errors = {h["projection"]: h["error"] for h in entries}
        assert "0x00" in errors["agencies"], errors
        assert "Unicode" in errors["event_log"], errors
        first = await held_back(client.hub.pool, UUID(id))
        assert first is not None and first.position == position
        assert first.error == errors[first.projection]
        assert await held_back(client.hub.pool, UUID(other["id"])) is None
        await until(lambda: len(said(caplog, id)) == 2)
        for line in said(caplog, id):
            assert f"at position {position}" in line
            assert ("projection agencies" in line and "0x00" in line) or (
                "projection event_log" in line and "Unicode" in line
            ), line

    caplog.clear()
    async with running(database) as client:
        assert await ready_held(client) == entries
        again = await send(client, UPDATE, id=id, name="after a restart")
        assert again["agency"] == renamed
        assert [e["code"] for e in again["errors"]] == ["NOT_YET_VISIBLE"]
        moved = await send(client, UPDATE, id=other["id"], name="after a restart")
        assert moved["agency"]["name"] == "after a restart"
        assert said(caplog, id) == []  # its later events are skipped, not failed again

        done = await hub_command(database, "project", "--retry")
        assert done.returncode != 0, done.stdout
        assert "2 record(s) remain held back" in done.stderr
        for projection in ("event_log", "agencies"):
            assert f"{projection}: record {id} held at {position}: applied 0 event(s), then" in (
                done.stdout
            )
        assert "0x00" in done.stdout
        assert "retried 2 held-back record(s): 0 released, 2 held" in done.stdout
        still = await ready_held(client)
        assert held(still) == held(entries)
        assert {h["projection"]: h["error"] for h in still} == errors
        assert await rows_of(client, id) == before
        assert (await client.run(AGENCY, {"id": id}, auth=AUDITOR))["agency"] == renamed


async def test_an_event_from_a_newer_hub_is_held_back_until_retried_after_an_upgrade(
    database: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    newer_topic: None,
) -> None:
    caplog.set_level(logging.INFO, logger="hub.projections")
    async with running(database) as client:
        id = (await register(client))["agency"]["id"]
        other = (await register(client))["agency"]
        renamed = (await send(client, UPDATE, id=id, name="before the upgrade"))["agency"]
        before = await rows_of(client, id)
        position = await store_next(client, id, "renamed by a newer hub", topic=NEWER_TOPIC)

        moved = await send(client, UPDATE, id=other["id"], name="still projected")
        assert moved["errors"] == [] and moved["agency"]["name"] == "still projected"
        assert await rows_of(client, id) == before
        entries = await ready_held(client)
        assert held(entries) == {(p.name, id, position) for p in projections()}
        assert all(NEWER_TOPIC in h["error"] for h in entries), entries
        await until(lambda: len(said(caplog, id)) == len(projections()))

    # the upgrade: this hub now knows the event type (as what it calls a profile update)
    eventsourcing.utils.register_topic(NEWER_TOPIC, Agency.ProfileUpdated)
    async with running(database) as client:
        assert held(await ready_held(client)) == held(entries)
        later = await send(client, UPDATE, id=id, name="after the upgrade")
        assert later["agency"] == renamed
        assert [e["code"] for e in later["errors"]] == ["NOT_YET_VISIBLE"]

        monkeypatch.setenv("HUB_DATABASE_URL", database)
        capsys.readouterr()
        await asyncio.to_thread(cli.main, ["project", "--retry"])  # exits 0: returns
        out = capsys.readouterr().out
        assert f"agencies: record {id} held at {position}: applied its 2 event(s)" in out
        n = len(projections())
        assert f"retried {n} held-back record(s): {n} released, 0 held" in out

        assert await ready_held(client) == []
        shown = (await client.run(AGENCY, {"id": id}, auth=AUDITOR))["agency"]
        assert (shown["name"], shown["version"]) == ("after the upgrade", 4)
        history = (await client.run(HISTORY, {"id": id}, auth=AUDITOR))["history"]
        assert [(e["version"], e["position"], e["data"].get("name")) for e in history][2:] == [
            (3, position, "renamed by a newer hub"),
            (4, later["position"], "after the upgrade"),
        ]

        retried = await snapshot(client.hub.pool)
        await client.hub.projector.rebuild([p.name for p in projections()])
        assert await snapshot(client.hub.pool) == retried


async def test_a_rebuild_from_zero_applies_again_what_was_held_back(
    database: str, newer_topic: None
) -> None:
    async with running(database) as client:
        id = (await register(client))["agency"]["id"]
        await send(client, UPDATE, id=id, name="before the upgrade")
        position = await store_next(client, id, "renamed by a newer hub", topic=NEWER_TOPIC)
        await send(client, UPDATE, id=(await register(client))["agency"]["id"], name="later")
        assert held(await ready_held(client)) == {(p.name, id, position) for p in projections()}

        eventsourcing.utils.register_topic(NEWER_TOPIC, Agency.ProfileUpdated)
        await client.hub.projector.rebuild(["agencies"])
        assert held(await ready_held(client)) == {
            (p.name, id, position) for p in projections() if p.name != "agencies"
        }
        shown = (await client.run(AGENCY, {"id": id}, auth=AUDITOR))["agency"]
        assert (shown["name"], shown["version"]) == ("renamed by a newer hub", 3)


async def test_partners_never_pass_a_held_back_event_and_get_it_in_order_once_retried(
    database: str, newer_topic: None
) -> None:
    """The stream promises every position once, in order: it waits at an event the log holds
    back rather than skip it, and goes on from there once the event is retried."""
    async with (
        served(database) as app,
        httpx.AsyncClient(base_url=app.base) as http,
        Subscriber(app.port, token("PARTNER")) as partner,
    ):
        client = Client(http, app.hub)
        id = (await register(client))["agency"]["id"]
        await send(client, UPDATE, id=id, name="before the upgrade")
        position = await store_next(client, id, "renamed by a newer hub", topic=NEWER_TOPIC)
        after = (await register(client))["agency"]
        assert after["name"] and (await ready_held(client))

        await partner.subscribe(after=0)
        before = await logged(app.hub, upto=position - 1)
        assert [e["position"] for e in await partner.events(len(before))] == before
        with pytest.raises(TimeoutError):  # not the events after the held one
            await partner.next(timeout=1.5)

        eventsourcing.utils.register_topic(NEWER_TOPIC, Agency.ProfileUpdated)
        await app.hub.projector.retry()
        await register(client)  # the views move on, which wakes the stream
        rest = (await logged(app.hub))[len(before) :]
        assert rest[0] == position and len(rest) == 3
        assert [e["position"] for e in await partner.events(len(rest))] == rest


async def logged(hub: Hub, upto: int | None = None) -> list[int]:
    """The positions of every record event in the store (up to `upto`)."""
    rows = await hub.pool.fetch(
        "SELECT notification_id FROM registry_events WHERE topic NOT LIKE '%Claim%'"
        " AND notification_id <= coalesce($1, notification_id) ORDER BY notification_id",
        upto,
    )
    return [r["notification_id"] for r in rows]
