"""The views `bench/read_peer.py` gives PostGraphile hold what the hub answers now: every
record of each list and every related row, with the same values, so the peer is asked for the
same data as the hub (no npm needed)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest

from tests.conftest import ROOT, Client, fresh_database, hub_command, running, token

sys.path.insert(0, str(ROOT / "bench"))

import read_peer  # noqa: E402

Rows = Callable[[dict[str, Any]], list[tuple[Any, ...]]]


def scalars(node: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The node's values, in the selection's order, a related record's by its key."""
    return [tuple(next(iter(v.values())) if isinstance(v, dict) else v for v in node.values())]


def related(name: str) -> Rows:
    """One row per item of the node's list `name`: the node's id, then the item's values."""
    return lambda node: [(node["id"], *item.values()) for item in node[name]]


CHECKS: list[tuple[str, str, str, Rows, str]] = [
    (
        "agencies",
        "agencies",
        "id version status name creditCode kind registeredOn",
        scalars,
        "id, version, status, name, credit_code, kind, registered_on",
    ),
    (
        "communities",
        "communities",
        "code id version name urban",
        scalars,
        "code, id, version, name, urban",
    ),
    (
        "workers",
        "workers",
        "id version status education registeredOn personalDataErased employer { id }",
        scalars,
        "id, version, status, education, registered_on, personal_data_erased, employer_id",
    ),
    (
        "certificates",
        "workers",
        "id certificates { level number awardedOn revoked }",
        related("certificates"),
        "worker_id, level, number, awarded_on, revoked",
    ),
    (
        "stations",
        "stations",
        "id version status name establishedOn operator { id } community { code }",
        scalars,
        "id, version, status, name, established_on, operator_id, community_code",
    ),
    (
        "station_staff",
        "stations",
        "id staff { fullTime since worker { id } }",
        lambda node: [
            (node["id"], s["fullTime"], s["since"], s["worker"]["id"]) for s in node["staff"]
        ],
        "station_id, full_time, since, worker_id",
    ),
    (
        "posts",
        "posts",
        "id version status sector field origin createdOn station { id } holder { id }",
        scalars,
        "id, version, status, sector, field, origin, created_on, station_id, holder_id",
    ),
    (
        "courses",
        "courses",
        "id version status title category level hours deliveredBy { id }",
        scalars,
        "id, version, status, title, category, level, hours, delivered_by_id",
    ),
    (
        "attendances",
        "courses",
        "id attendances { workerId hours passed effectiveOn }",
        related("attendances"),
        "course_id, worker_id, hours, passed, effective_on",
    ),
]


def text(value: Any) -> str | None:
    """A value as PostgreSQL's text output writes it."""
    if value is None:
        return None
    return json.dumps(value) if isinstance(value, bool) else str(value)


@pytest.fixture(scope="module")
async def seeded(server_url: str) -> str:
    """A city seeded at a small scale, with the benchmark's views."""
    database = await fresh_database(server_url)
    done = await hub_command(database, "seed", "--profile", "city-2018", "--scale", "0.01")
    assert done.returncode == 0, done.stderr
    await read_peer.create_views(database)
    return database


async def every(client: Client, root: str, selection: str) -> list[dict[str, Any]]:
    """Every node of the hub's list `root`, page by page."""
    nodes: list[dict[str, Any]] = []
    after = None
    while True:
        page = (
            await client.run(
                f"query($after: String) {{ {root}(first: 100, after: $after) {{"
                f" pageInfo {{ hasNextPage endCursor }} edges {{ node {{ {selection} }} }} }} }}",
                {"after": after},
                auth=token("MUNICIPAL"),
            )
        )[root]
        nodes += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


@pytest.mark.parametrize("check", CHECKS, ids=[c[0] for c in CHECKS])
async def test_each_view_holds_what_the_hub_answers_now(
    seeded: str, check: tuple[str, str, str, Rows, str]
) -> None:
    view, root, selection, rows, columns = check
    async with running(seeded) as client:
        nodes = await every(client, root, selection)
    ours = sorted(tuple(text(v) for v in row) for node in nodes for row in rows(node))
    connection = await asyncpg.connect(seeded)
    try:
        cast = ", ".join(f"{c.strip()}::text" for c in columns.split(","))
        theirs = sorted(tuple(r) for r in await connection.fetch(f"SELECT {cast} FROM peer.{view}"))
    finally:
        await connection.close()
    assert ours, f"the seed gave the hub no {view}"
    assert ours == theirs


async def test_the_views_are_made_again_from_scratch(seeded: str) -> None:
    """Running the benchmark again on the same database replaces its views."""
    await read_peer.create_views(seeded)
    connection = await asyncpg.connect(seeded)
    try:
        names = await connection.fetch(
            "SELECT table_name FROM information_schema.views WHERE table_schema = 'peer'"
        )
    finally:
        await connection.close()
    assert {r["table_name"] for r in names} == set(read_peer.VIEWS)
