"""A database projected while the stations projection kept the posts (before migration 013)
goes on, started by this hub, with posts a projection of their own: posts still answer, and
nothing is lost or applied twice, held-back posts included."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from uuid import UUID

import asyncpg
from eventsourcing.persistence import StoredEvent

from hub.tools.reference_import import import_sample
from tests.agency_api import AUDITOR, send, unseen
from tests.conftest import Client, running
from tests.test_persistence import snapshot
from tests.test_stations_posts import CREATE_POST, ESTABLISH, FILL, VACATE
from tests.worker_api import register_worker

POSTS = "posts(first: 50) { edges { node { id status holder { id } } } }"


async def as_before_posts_had_a_projection(url: str) -> None:
    """Put the database as the hub before migration 013 left it: no `posts` position (the
    `stations` one covered posts), what it held back of posts held by `stations`, and the
    migration not applied."""
    conn = await asyncpg.connect(url)
    try:
        positions = dict(await conn.fetch("SELECT name, position FROM projection_positions"))
        assert positions["posts"] == positions["stations"], positions
        async with conn.transaction():
            await conn.execute("DELETE FROM projection_positions WHERE name = 'posts'")
            await conn.execute("DELETE FROM held_back WHERE projection = 'stations'")
            await conn.execute(
                "UPDATE held_back SET projection = 'stations' WHERE projection = 'posts'"
            )
            await conn.execute(
                "DELETE FROM schema_migrations WHERE name = '013_posts_projection.sql'"
            )
    finally:
        await conn.close()


async def store_broken_fill(client: Client, post_id: str) -> int:
    """Store a copy of the post's latest event (a fill) naming no worker the views can read,
    as a writer that checks nothing would; its position."""
    latest = await client.hub.pool.fetchrow(
        "SELECT originator_version, topic, state FROM registry_events WHERE originator_id = $1"
        " ORDER BY originator_version DESC LIMIT 1",
        UUID(post_id),
    )
    assert latest["topic"].endswith("Post.Filled"), latest["topic"]
    state = json.loads(latest["state"])
    state["worker"] = "not a worker's id"
    event = StoredEvent(
        originator_id=UUID(post_id),
        originator_version=latest["originator_version"] + 1,
        topic=latest["topic"],
        state=json.dumps(state).encode(),
    )
    [position] = await asyncio.to_thread(client.hub.registry.recorder.insert_events, [event])
    return position


async def caught_up(client: Client) -> None:
    deadline = time.monotonic() + 20
    pool = client.hub.pool
    last = await pool.fetchval("SELECT max(notification_id) FROM registry_events")
    while await pool.fetchval("SELECT min(position) FROM projection_positions") < last:
        assert time.monotonic() < deadline, "the projections did not catch up"
        await asyncio.sleep(0.05)


async def held(client: Client) -> set[tuple[str, UUID, int]]:
    rows = await client.hub.pool.fetch("SELECT projection, entity_id, position FROM held_back")
    return {(r["projection"], r["entity_id"], r["position"]) for r in rows}


async def posts_of(client: Client) -> dict[str, Any]:
    data = await client.run(f"{{ {POSTS} }}", auth=AUDITOR)
    return {e["node"]["id"]: e["node"] for e in data["posts"]["edges"]}


async def test_posts_projected_by_the_stations_projection_carry_on_in_their_own(
    database: str,
) -> None:
    async with running(database) as client:
        await import_sample(client.hub)
        codes = await client.run(
            '{ communities(first: 1, filter: {district: "500103"}) { edges { node { code } } } }',
            auth=AUDITOR,
        )
        code = codes["communities"]["edges"][0]["node"]["code"]
        station = (
            await send(client, ESTABLISH, community=code, name="站", effectiveOn="2017-01-01")
        )["station"]
        create = dict(
            sector="COMMUNITY",
            field="COMMUNITY_BUILDING",
            district="500103",
            hostOrganization="社区居委会",
            origin="CONVERTED",
            station=station["id"],
            community=code,
        )
        filled, broken = [(await send(client, CREATE_POST, **create))["post"] for _ in range(2)]
        worker, other = await register_worker(client), await register_worker(client)
        assert (await send(client, FILL, id=filled["id"], worker=worker["id"]))["errors"] == []
        assert (await send(client, FILL, id=broken["id"], worker=other["id"]))["errors"] == []
        poison = await store_broken_fill(client, broken["id"])
        await caught_up(client)
        assert await held(client) == {("posts", UUID(broken["id"]), poison)}

    # stored while the old hub was down or behind: not projected yet
    async with running(database, run_projections=False, read_your_writes_timeout=0.01) as client:
        assert unseen(await send(client, VACATE, id=filled["id"]))
        late = await send(client, CREATE_POST, **create)
        assert unseen(late)

    await as_before_posts_had_a_projection(database)

    async with running(database) as client:
        await caught_up(client)
        posts = await posts_of(client)
        [created_late] = posts.keys() - {filled["id"], broken["id"]}
        assert posts[created_late] == {"id": created_late, "status": "VACANT", "holder": None}
        assert posts[filled["id"]]["status"] == "VACANT"
        assert posts[broken["id"]]["holder"] == {"id": other["id"]}
        assert await held(client) == {("posts", UUID(broken["id"]), poison)}
        upgraded = await snapshot(client.hub.pool)

        # the same as projecting the posts from zero
        await client.hub.projector.rewind(["posts"])
        await caught_up(client)
        assert await snapshot(client.hub.pool) == upgraded
        assert await held(client) == {("posts", UUID(broken["id"]), poison)}
