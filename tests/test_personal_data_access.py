"""The personal-data access log: every answer that shows a worker's name or ID number (a
query, a history entry, a stream event) is recorded, off the request path, and read back
through `personalDataAccess` by MUNICIPAL and AUDITOR callers only."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from hub.service.database import migrate, migration_files
from tests.agency_api import AUDITOR, MUNICIPAL, send
from tests.conftest import Client, running, token
from tests.streams import Subscriber, served
from tests.worker_api import ERASE, register_worker

PARTNER = token("PARTNER")
WORKERS = """query($district: String) { workers(first: 10, filter: {district: $district}) {
  edges { node { id name } } } }"""
BOTH = "query($id: ID!) { worker(id: $id) { id name idNumber } }"
MIXED = """query($district: String, $id: ID!) {
  workers(first: 10, filter: {district: $district}) { edges { node { id name } } }
  worker(id: $id) { idNumber } }"""
NAME = "query($id: ID!) { worker(id: $id) { id name } }"
HISTORY = "query($id: ID!) { history(id: $id) { type data } }"
TRAIL = "query($id: ID!) { auditTrail(filter: {entityId: $id}) { edges { node { data } } } }"
ACCESS = """query($filter: PersonalDataAccessFilter, $first: Int!, $after: String) {
  personalDataAccess(filter: $filter, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { at actor { sub role party jurisdiction } worker { id }
                          fields requestId } } } }"""


ENTRIES = """SELECT a.seq, a.request_id, a.actor_role, w.place, w.worker_id,
  string_to_array(a.fields[least(w.place, cardinality(a.fields))], ',') AS fields
  FROM personal_data_access a, unnest(a.workers) WITH ORDINALITY AS w(worker_id, place)"""
"""The log's rows, one per (answer, worker) shown, as `personalDataAccess` lists them."""


async def ask(client: Client, document: str, auth: str, request_id: str, **variables: Any) -> dict:
    """A query's data, sent with `X-Request-ID: request_id`."""
    response = await client.http.post(
        "/graphql",
        json={"query": document, "variables": variables},
        headers={"Authorization": f"Bearer {auth}", "X-Request-ID": request_id},
    )
    assert response.headers["x-request-id"] == request_id
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


async def logged(client: Client, request_id: str) -> dict[str, list[str]]:
    """What the log holds for `request_id`, once written: worker id → fields."""
    await client.hub.access_log.flush()
    rows = await client.hub.pool.fetch(
        f"SELECT worker_id, fields FROM ({ENTRIES}) e WHERE request_id = $1", request_id
    )
    found: dict[str, list[str]] = {}
    for r in rows:
        assert str(r["worker_id"]) not in found, "one row per worker and request"
        found[str(r["worker_id"])] = sorted(r["fields"])
    return found


async def access(client: Client, auth: str = AUDITOR, **variables: Any) -> dict:
    variables.setdefault("first", 50)
    await client.hub.access_log.flush()
    data = await client.run(ACCESS, variables, auth=auth)
    return data["personalDataAccess"]


async def test_queries_record_exactly_the_workers_and_fields_shown(client: Client) -> None:
    shown = [await register_worker(client, district="500117") for _ in range(3)]
    ids = sorted(w["id"] for w in shown)
    other = await register_worker(client, district="500118")

    listed = await ask(client, WORKERS, AUDITOR, "look-list", district="500117")
    assert sorted(e["node"]["id"] for e in listed["workers"]["edges"]) == ids
    assert await logged(client, "look-list") == {id: ["name"] for id in ids}

    one = await ask(client, BOTH, MUNICIPAL, "look-one", id=ids[0])
    assert one["worker"]["name"] and one["worker"]["idNumber"]
    assert await logged(client, "look-one") == {ids[0]: ["idNumber", "name"]}

    # a PARTNER sees no personal data, a district's bureau none of another district's workers
    hidden = await ask(client, WORKERS, PARTNER, "look-partner", district="500117")
    assert {e["node"]["name"] for e in hidden["workers"]["edges"]} == {None}
    assert await logged(client, "look-partner") == {}
    elsewhere = token("DISTRICT", district="500118", sub="desk-500118")
    answered = await ask(client, BOTH, elsewhere, "look-district", id=ids[1])
    assert answered["worker"]["name"] is None
    assert await logged(client, "look-district") == {}
    theirs = await ask(client, BOTH, elsewhere, "look-own", id=other["id"])
    assert theirs["worker"]["name"]
    assert await logged(client, "look-own") == {other["id"]: ["idNumber", "name"]}

    # nothing to show once erased, so nothing to record
    await send(client, ERASE, id=ids[2], reason="本人申请")
    await ask(client, BOTH, AUDITOR, "look-erased", id=ids[2])
    assert await logged(client, "look-erased") == {}

    page = await access(client, filter={"actor": "desk-500118"})
    (entry,) = page["edges"]
    assert entry["node"]["actor"] == {
        "sub": "desk-500118",
        "role": "DISTRICT",
        "party": "DISTRICT",
        "jurisdiction": "500118",
    }
    assert entry["node"]["worker"] == {"id": other["id"]}
    assert entry["node"]["requestId"] == "look-own"


async def test_history_entries_and_stream_events_are_recorded(database: str) -> None:
    async with served(database) as app, httpx.AsyncClient(base_url=app.base) as http:
        client = Client(http, app.hub)
        worker = await register_worker(client, district="500103")
        await ask(client, HISTORY, AUDITOR, "history-auditor", id=worker["id"])
        assert await logged(client, "history-auditor") == {worker["id"]: ["idNumber", "name"]}
        await ask(client, TRAIL, AUDITOR, "trail-auditor", id=worker["id"])
        assert await logged(client, "trail-auditor") == {worker["id"]: ["idNumber", "name"]}
        redacted = await ask(client, HISTORY, PARTNER, "history-partner", id=worker["id"])
        assert redacted["history"][0]["data"]["personalDataRedacted"] is True
        assert await logged(client, "history-partner") == {}

        headers = {"Authorization": f"Bearer {AUDITOR}", "X-Request-ID": "sse-auditor"}
        params = {"after": "0", "entityTypes": "WORKER"}
        async with http.stream(
            "GET", "/events", params=params, headers=headers, timeout=10
        ) as response:
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    assert json.loads(line[len("data: ") :])["data"]["name"]
                    break
        assert await logged(client, "sse-auditor") == {worker["id"]: ["idNumber", "name"]}

        async with Subscriber(app.port, AUDITOR) as subscriber:
            await subscriber.subscribe(after=0, types=["WORKER"])
            (event,) = await subscriber.events(1)
            assert event["data"]["name"]
        await app.hub.access_log.flush()
        streamed = await app.hub.pool.fetch(
            f"SELECT request_id FROM ({ENTRIES}) e WHERE worker_id = $1::uuid"
            " AND request_id NOT IN ('history-auditor', 'trail-auditor', 'sse-auditor')"
            " AND actor_role = 'AUDITOR'",
            worker["id"],
        )
        assert [r["request_id"] is not None for r in streamed] == [True]

        async with Subscriber(app.port, PARTNER) as subscriber:
            await subscriber.subscribe(after=0, types=["WORKER"])
            (event,) = await subscriber.events(1)
            assert event["data"]["name"] is None
        await app.hub.access_log.flush()
        partner = await app.hub.pool.fetchval(
            "SELECT count(*) FROM personal_data_access WHERE actor_role = 'PARTNER'"
        )
        assert partner == 0


@contextlib.asynccontextmanager
async def log_locked(client: Client) -> AsyncIterator[None]:
    """The log's table locked against writes, as a slow disk would hold them up."""
    conn = await asyncpg.connect(client.hub.url)
    try:
        async with conn.transaction():
            await conn.execute("LOCK TABLE personal_data_access IN EXCLUSIVE MODE")
            yield
    finally:
        await conn.close()


async def test_the_log_is_written_off_the_request_path(database: str) -> None:
    async with running(database) as client:
        workers = [await register_worker(client) for _ in range(5)]
    async with running(database, access_log_queue=3) as client:
        async with log_locked(client):
            for n, worker in enumerate(workers[:3]):
                await asyncio.wait_for(
                    ask(client, BOTH, AUDITOR, f"locked-{n}", id=worker["id"]), 5
                )
            assert client.hub.access_log.queued == 3
            # a full queue drops the next reveal, and says so, but answers the query
            await asyncio.wait_for(ask(client, NAME, AUDITOR, "dropped", id=workers[3]["id"]), 5)
            ready = (await client.http.get("/readyz")).json()["personalDataAccess"]
            assert ready["dropped"] == 1 and ready["queued"] == 3, ready
            written = await client.hub.pool.fetchval(
                "SELECT count(*) FROM personal_data_access WHERE request_id LIKE 'locked-%'"
            )
            assert written == 0
        # the writer gets through once the table is free
        for _ in range(400):
            if client.hub.access_log.queued == 0:
                break
            await asyncio.sleep(0.05)
        rows = await client.hub.pool.fetch(
            "SELECT request_id FROM personal_data_access WHERE request_id LIKE 'locked-%'"
            " ORDER BY request_id"
        )
        assert [r["request_id"] for r in rows] == ["locked-0", "locked-1", "locked-2"]

    # what is queued when the hub stops is written before it ends
    async with running(database) as client, log_locked(client):
        await ask(client, BOTH, AUDITOR, "at-stop", id=workers[4]["id"])
    async with running(database) as client:
        assert await logged(client, "at-stop") == {workers[4]["id"]: ["idNumber", "name"]}


async def test_a_full_queue_takes_the_reveals_of_an_answer_it_has_room_for(
    database: str,
) -> None:
    async with running(database) as client:
        for _ in range(2):
            await register_worker(client, district="500103")
    async with running(database, access_log_queue=3) as client:
        async with log_locked(client):
            for request_id in ("full-0", "full-1"):
                page = await asyncio.wait_for(
                    ask(client, WORKERS, AUDITOR, request_id, district="500103"), 5
                )
                assert [e["node"]["name"] is not None for e in page["workers"]["edges"]] == [
                    True,
                    True,
                ]
            ready = (await client.http.get("/readyz")).json()["personalDataAccess"]
            assert ready == {"written": 0, "queued": 3, "dropped": 1}, ready
        first = [e["node"]["id"] for e in page["workers"]["edges"]][0]
        await client.hub.access_log.flush()
        rows = await client.hub.pool.fetch(
            "SELECT request_id, workers::text[] FROM personal_data_access"
            " WHERE request_id LIKE 'full-%' ORDER BY seq"
        )
        assert [r["request_id"] for r in rows] == ["full-0", "full-1"]
        assert len(rows[0]["workers"]) == 2 and rows[1]["workers"] == [first]


async def test_off_records_nothing(database: str) -> None:
    async with running(database, personal_data_access_log=False) as client:
        worker = await register_worker(client)
        await ask(client, BOTH, AUDITOR, "unlogged", id=worker["id"])
        assert await logged(client, "unlogged") == {}
        assert client.hub.access_log.counts() == {"written": 0, "queued": 0, "dropped": 0}


async def test_filters_and_pages(client: Client) -> None:
    first, second = [await register_worker(client, district="500119") for _ in range(2)]
    auditor2 = token("AUDITOR", sub="auditor-filters-2")
    started = datetime.now(UTC)
    for n in range(3):
        await ask(client, BOTH, auditor2, f"page-{n}", id=first["id"])
    await ask(client, BOTH, auditor2, "page-other", id=second["id"])
    await client.hub.access_log.flush()
    middle = datetime.now(UTC)
    await ask(client, BOTH, auditor2, "page-late", id=first["id"])

    mine = await access(client, filter={"actor": "auditor-filters-2"})
    assert mine["totalCount"] == 5
    assert [e["node"]["requestId"] for e in mine["edges"]] == [
        "page-0",
        "page-1",
        "page-2",
        "page-other",
        "page-late",
    ]
    assert all(e["node"]["actor"]["role"] == "AUDITOR" for e in mine["edges"])
    by_worker = await access(client, filter={"actor": "auditor-filters-2", "worker": first["id"]})
    assert [e["node"]["requestId"] for e in by_worker["edges"]] == [
        "page-0",
        "page-1",
        "page-2",
        "page-late",
    ]
    window = await access(
        client,
        filter={
            "actor": "auditor-filters-2",
            "from": started.isoformat(),
            "to": middle.isoformat(),
        },
    )
    assert window["totalCount"] == 4
    late = await access(client, filter={"actor": "auditor-filters-2", "from": middle.isoformat()})
    assert [e["node"]["requestId"] for e in late["edges"]] == ["page-late"]

    seen, after = [], None
    while True:
        page = await access(client, filter={"actor": "auditor-filters-2"}, first=2, after=after)
        assert page["totalCount"] == 5
        seen += [e["node"]["requestId"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [e["node"]["requestId"] for e in mine["edges"]]

    for variables, field in (
        ({"after": "bm90LWEtY3Vyc29y"}, "after"),
        ({"first": 501}, "first"),
        ({"filter": {"worker": "not-an-id"}}, "id"),
        ({"filter": {"from": middle.isoformat(), "to": started.isoformat()}}, "to"),
    ):
        body = await client.post(ACCESS, {"first": 10, **variables}, auth=AUDITOR)
        (error,) = body["errors"]
        assert error["extensions"]["code"] == "VALIDATION", error
        assert error["extensions"]["field"] == field, error


async def test_an_answer_is_one_row_and_pages_across_and_within_rows(client: Client) -> None:
    shown = [await register_worker(client, district="500120") for _ in range(3)]
    auditor = token("AUDITOR", sub="auditor-rows")
    listed = [
        [
            e["node"]["id"]
            for e in (await ask(client, WORKERS, auditor, r, district="500120"))["workers"]["edges"]
        ]
        for r in ("rows-0", "rows-1")
    ]
    await ask(client, BOTH, auditor, "rows-2", id=shown[1]["id"])
    # one answer showing one worker more than the others: each worker's own fields
    mixed = await ask(client, MIXED, auditor, "rows-3", district="500120", id=shown[1]["id"])
    assert mixed["worker"]["idNumber"]
    assert sorted(listed[0]) == sorted(w["id"] for w in shown)
    await client.hub.access_log.flush()
    stored = await client.hub.pool.fetch(
        "SELECT request_id, workers::text[], fields FROM personal_data_access"
        " WHERE actor_sub = 'auditor-rows' ORDER BY seq"
    )
    assert [(r["request_id"], r["workers"]) for r in stored] == [
        ("rows-0", listed[0]),
        ("rows-1", listed[1]),
        ("rows-2", [shown[1]["id"]]),
        ("rows-3", listed[0]),
    ]
    # the same fields for every worker of a row: stored once
    assert [r["fields"] for r in stored[:3]] == [["name"], ["name"], ["name,idNumber"]]
    assert sorted(stored[3]["fields"]) == ["name", "name", "name,idNumber"]

    expected = [("rows-0", w, ["name"]) for w in listed[0]]
    expected += [("rows-1", w, ["name"]) for w in listed[1]]
    expected += [("rows-2", shown[1]["id"], ["name", "idNumber"])]
    expected += [
        ("rows-3", w, ["name", "idNumber"] if w == shown[1]["id"] else ["name"]) for w in listed[0]
    ]
    for size in (1, 2, 4, 7, 8):
        for filter, wanted in (
            ({"actor": "auditor-rows"}, expected),
            (
                {"actor": "auditor-rows", "worker": shown[1]["id"]},
                [e for e in expected if e[1] == shown[1]["id"]],
            ),
        ):
            seen, after = [], None
            while True:
                page = await access(client, filter=filter, first=size, after=after)
                assert page["totalCount"] == len(wanted)
                assert len(page["edges"]) <= size
                seen += [
                    (e["node"]["requestId"], e["node"]["worker"]["id"], e["node"]["fields"])
                    for e in page["edges"]
                ]
                if not page["pageInfo"]["hasNextPage"]:
                    break
                after = page["pageInfo"]["endCursor"]
            assert seen == wanted, (size, filter)


@pytest.mark.parametrize(
    "auth",
    [
        token("DISTRICT", district="500103"),
        token("CONTRACTOR", agency="00000000-0000-0000-0000-000000000001"),
        PARTNER,
    ],
)
async def test_only_municipal_and_auditor_may_read_it(client: Client, auth: str) -> None:
    body = await client.post(ACCESS, {"first": 5}, auth=auth)
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "FORBIDDEN", error
    assert "MUNICIPAL, AUDITOR" in error["message"]
    assert body["data"] is None
    assert (await access(client, auth=MUNICIPAL))["totalCount"] >= 0


async def test_rows_written_before_one_text_of_fields_per_row_read_the_same(
    database: str,
) -> None:
    await migrate(database, [f for f in migration_files() if f.name < "016"])
    workers = [uuid.uuid4(), uuid.uuid4()]
    conn = await asyncpg.connect(database)
    try:
        await conn.execute(
            "INSERT INTO personal_data_access (at, actor_sub, actor_role, actor_jurisdiction,"
            " request_id, workers, fields) VALUES (now(), 'auditor-before', 'AUDITOR', '500000',"
            " 'before-0', $1, ARRAY['name', 'name,idNumber'])",
            workers,
        )
    finally:
        await conn.close()
    document = """query($worker: ID) { personalDataAccess(first: 10,
      filter: {actor: "auditor-before", worker: $worker}) { edges { node { fields } } } }"""

    async def fields(worker: uuid.UUID | None) -> list[list[str]]:
        variables = {"worker": worker and str(worker)}
        page = (await client.run(document, variables, auth=AUDITOR))["personalDataAccess"]
        return [e["node"]["fields"] for e in page["edges"]]

    async with running(database) as client:  # migrates the rest
        assert await fields(None) == [["name"], ["name", "idNumber"]]
        assert await fields(workers[0]) == [["name"]]
        assert await fields(workers[1]) == [["name", "idNumber"]]
