"""The read planner answers every query exactly as the resolvers do (issue 13, item 4).

Two apps run on one seeded database, one with `read_planner` on and one with it off; each
query goes to both, and their answers (HTTP status and parsed JSON, errors' messages, codes and
paths, null placement and key order included) must be equal. The queries: every query
operation the test suite sends (collected from the tests' modules, so new tests' queries join
in), and operations generated from the schema with hypothesis-graphql whose arguments are drawn
from the seeded registry and whose selections use aliases, fragments and directives, with a
token of each role and none. Both run on the seeded city, and on a copy of it after a
correction, a retraction and an erasure.

Bounded for CI (`DIFFERENTIAL_EXAMPLES` generated operations in all, default 2000);
`make differential` runs a longer one. The figures of what ran are printed at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from graphql import print_ast
from hypothesis import given, settings

from hub.tools import seed as seeding
from tests.agency_api import MUNICIPAL, send
from tests.conftest import Client, copied_database, fresh_database, running
from tests.differential import (
    ROLES,
    ROOTS,
    SETTINGS,
    Answer,
    Asked,
    Pair,
    Seeded,
    SuiteOperation,
    callers_of,
    comparable,
    difference,
    examples_of,
    read_seeded,
    roots_of,
    suite_operations,
    weighted,
)
from tests.test_time_travel import RETRACT
from tests.worker_api import ERASE, UPDATE_WORKER

EXAMPLES = int(os.environ.get("DIFFERENTIAL_EXAMPLES", "2000"))
SCALE = 0.01
STATES = ("seeded", "corrected")
"""The seeded city, and a copy of it after a correction, a retraction and an erasure."""
TURNS = (*ROLES[:5], *ROLES)
"""The roles in turn, each having its share; a request without a token half as often."""


@dataclass
class World:
    pair: Pair
    seeded: Seeded


async def correct_and_erase(client: Client) -> list[str]:
    """A correction (`corrects`), a back-dated change retracted, and an erasure, on workers
    with an employer and a post, made now: `asOf` a recorded moment of the seed shows them
    as they were before. Returns the ids of the workers, their employers and posts."""
    found = await client.run(
        "{ workers(first: 500) { edges { node { id education employer { id } posts { id } } } } }",
        auth=MUNICIPAL,
    )
    workers = [e["node"] for e in found["workers"]["edges"]]
    chosen = [w for w in workers if w["employer"] and w["posts"]] or workers
    corrected, retracted, erased = chosen[0], chosen[1 % len(chosen)], chosen[-1]
    other = "MASTER" if corrected["education"] != "MASTER" else "BACHELOR"
    wrong = await send(client, UPDATE_WORKER, id=corrected["id"], education=other)
    assert wrong["errors"] == [], wrong
    right = await send(
        client,
        UPDATE_WORKER,
        id=corrected["id"],
        education=corrected["education"],
        corrects=[wrong["position"]],
        reason="学历录入错误，更正",
    )
    assert right["errors"] == [], right
    late = await send(
        client,
        UPDATE_WORKER,
        id=retracted["id"],
        education="DOCTORATE",
        effectiveOn="2016-01-01",
        reason="补报",
    )
    assert late["errors"] == [], late
    undone = await client.run(
        RETRACT,
        {"input": {"positions": [late["position"]], "reason": "补报有误，撤回"}},
        auth=MUNICIPAL,
    )
    assert undone["retractEvents"]["errors"] == [], undone
    gone = await send(client, ERASE, id=erased["id"], reason="本人申请")
    assert gone["errors"] == [], gone
    touched = [corrected, retracted, erased]
    return [
        *(w["id"] for w in touched),
        *(w["employer"]["id"] for w in touched if w["employer"]),
        *(p["id"] for w in touched for p in w["posts"]),
    ]


@pytest.fixture(scope="module")
async def worlds(server_url: str) -> AsyncIterator[dict[str, World]]:
    """Both states, each served by the two apps. The city is seeded once, then copied."""
    seeded = await fresh_database(server_url)
    async with running(seeded) as client:
        report = await asyncio.to_thread(
            seeding.seed, client.hub.registry, today=client.hub.settings.today(), scale=SCALE
        )
        assert await client.hub.signals.projected_past(report.position, 120)
    copy = await copied_database(server_url, seeded)
    async with contextlib.AsyncExitStack() as apps:
        made: dict[str, World] = {}
        for state, url in zip(STATES, (seeded, copy), strict=True):
            planner = await apps.enter_async_context(running(url, read_planner=True))
            resolvers = await apps.enter_async_context(running(url, read_planner=False))
            touched = await correct_and_erase(planner) if state == "corrected" else []
            pair = Pair(planner, resolvers, await callers_of(planner))
            made[state] = World(pair, await read_seeded(planner, touched))
        yield made


async def show(capsys: pytest.CaptureFixture[str], title: str, pair: Pair) -> None:
    reads = await pair.planner_said()
    asked = reads["planned"] + reads["fellBack"]
    hits = reads["planCacheHits"] / max(1, reads["planCacheHits"] + reads["planCacheMisses"])
    with capsys.disabled():
        print(
            f"\n{title}\n{pair.coverage()}\nplanner: {reads['planned']} of {asked} operations"
            f" planned, {reads['fellBack']} fell back; plan cache hit rate {hits:.0%}"
        )
    assert reads["planned"] > 0, "the planner answered nothing: the comparison proves nothing"


def run_in_thread(pair: Pair, loop: asyncio.AbstractEventLoop, asked: Asked) -> None:
    """Compare from hypothesis's (synchronous) thread, on the apps' event loop."""
    asyncio.run_coroutine_threadsafe(pair.compare(asked), loop).result(120)


@pytest.mark.parametrize("state", STATES)
async def test_every_query_of_the_suite_answers_the_same_both_ways(
    worlds: dict[str, World], state: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each query operation of the tests, with each role's token and none, its variables
    drawn from the registry: one set for half the roles, another for the rest (the planner
    caches a plan per document), a fifth of them holding values the hub refuses."""
    world, pair = worlds[state], worlds[state].pair.anew()
    operations = [o for o in suite_operations() if roots_of(o.document)]
    assert len(operations) > 50, "the collector finds the suite's queries"
    loop = asyncio.get_running_loop()

    def replay(operation: SuiteOperation) -> None:
        text, roots = print_ast(operation.document), roots_of(operation.document)
        variables = weighted(
            (world.seeded.variables(operation.document), 4),
            (world.seeded.with_faults.variables(operation.document), 1),
        )
        sets = examples_of(variables, 3)
        for n, role in enumerate(ROLES):
            run_in_thread(pair, loop, Asked(text, sets[n % len(sets)], role, roots))

    for operation in operations:
        await asyncio.to_thread(replay, operation)
    await show(capsys, f"the suite's {len(operations)} query operations, {state}", pair)
    if pair.mismatches:
        pytest.fail(pair.failures(), pytrace=False)


@pytest.mark.parametrize("state", STATES)
async def test_generated_queries_answer_the_same_both_ways(
    worlds: dict[str, World], state: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Operations of the whole schema, half of `DIFFERENTIAL_EXAMPLES` in each state."""
    world, pair = worlds[state], worlds[state].pair.anew()
    loop = asyncio.get_running_loop()

    turns = itertools.count()
    slots = (*ROOTS, *[None] * (len(ROOTS) // 4))
    """Each root field alone, and a fifth of the operations selecting any of them."""

    def generate(root: str | None, examples: int) -> None:
        @settings(SETTINGS, max_examples=examples)
        @given(generated=world.seeded.generated(root))
        def operations(generated: tuple[str, dict, tuple[str, ...]]) -> None:
            query, variables, selected = generated
            turn = next(turns)
            role = TURNS[turn % len(TURNS)]
            method = "GET" if turn % 7 == 3 else "POST"
            run_in_thread(pair, loop, Asked(query, variables, role, selected, method))

        operations()

    total = max(EXAMPLES // len(STATES), len(slots))
    for n, root in enumerate(slots):
        await asyncio.to_thread(generate, root, total // len(slots) + (n < total % len(slots)))
    while (ran := sum(pair.roles.values())) < total:  # a field of few shapes ran out of them
        await asyncio.to_thread(generate, None, total - ran)
    await show(capsys, f"generated operations, {state}", pair)
    if pair.mismatches:
        pytest.fail(pair.failures(), pytrace=False)


async def test_a_difference_between_the_two_sides_is_found_and_reported(
    worlds: dict[str, World],
) -> None:
    """The comparison can fail: asked of the resolvers as PARTNER and of the planner as
    MUNICIPAL, a worker's name differs, and the report says where, for whom, and shows both."""
    world = worlds["seeded"]
    probe = world.pair.anew()
    worker = world.seeded.ids["worker"][0]
    asked = Asked(
        "query($id: ID!) { worker(id: $id) { id name } }", {"id": worker}, "MUNICIPAL", ("worker",)
    )
    assert await probe.compare(asked) is None
    found = await probe.compare(asked, resolvers_role="PARTNER")
    assert found is not None and found.where.startswith("$.body.data.worker.name: ")
    report = probe.failures()
    assert "1 operations answered differently" in report
    for shown in (
        "role: MUNICIPAL, sent by POST",
        f'"id": "{worker}"',
        "worker(id: $id)",
        "(HTTP 200)",
    ):
        assert shown in report, report


@pytest.mark.parametrize(
    ("left", "right", "where"),
    [
        ({"a": 1}, {"a": 1}, None),
        (
            {"a": 1, "b": [1, 2]},
            {"b": [1, 2], "a": 1},
            "$: keys in the order ['a', 'b'] != ['b', 'a']",
        ),
        ({"a": 1, "b": 2}, {"b": 1, "a": 2}, "$.a: 1 != 2"),  # values first, then the order
        ({"a": 1}, {"a": 1.0}, "$.a: 1 != 1.0"),
        ({"a": 1}, {"a": True}, "$.a: 1 != true"),
        ({"a": None}, {}, "$.a: null != (absent)"),
        ({}, {"a": None}, "$.a: (absent) != null"),
        ({"a": [1, 2]}, {"a": [2, 1]}, "$.a[0]: 1 != 2"),
        ({"a": [1, 2]}, {"a": [1]}, "$.a: 2 items != 1 items"),
        ({"a": {"b": None}}, {"a": None}, '$.a: {"b": null} != null'),
        ({"data": {"n": "名"}}, {"data": {"n": "名 "}}, '$.data.n: "名" != "名 "'),
        (
            {"errors": [{"message": "m", "path": ["x", 0], "extensions": {"code": "VALIDATION"}}]},
            {"errors": [{"message": "m", "path": ["x", 1], "extensions": {"code": "VALIDATION"}}]},
            "$.errors[0].path[1]: 0 != 1",
        ),
        (
            {"errors": [{"message": "m", "extensions": {"code": "VALIDATION"}}]},
            {"errors": [{"message": "m", "extensions": {"code": "FORBIDDEN"}}]},
            '$.errors[0].extensions.code: "VALIDATION" != "FORBIDDEN"',
        ),
    ],
)
def test_the_comparison_is_exact(left: object, right: object, where: str | None) -> None:
    assert difference(left, right) == where


def test_only_the_request_id_of_a_fault_is_left_out_of_the_comparison() -> None:
    def fault(message: str) -> Answer:
        error = {"message": message, "extensions": {"code": "INTERNAL_SERVER_ERROR"}}
        return Answer(200, {"data": None, "errors": [error]})

    one = fault(f"a fault of the hub, logged with request id {uuid.uuid4()}")
    other = fault(f"a fault of the hub, logged with request id {uuid.uuid4()}")
    assert difference(comparable(one), comparable(other)) is None
    assert difference(comparable(one), comparable(fault("first must be between 0 and 500")))
    assert difference(comparable(one), comparable(Answer(500, one.body))) == "$.status: 200 != 500"
