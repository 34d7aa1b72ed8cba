"""Finding a worker by name or ID number through the blind index (issue 16): digests of the
current values, kept with every change, gone with the worker's key, filled in at start for
workers stored before; searched only by callers who may see what they find."""

from __future__ import annotations

import asyncio
import logging
from datetime import date
from itertools import count
from typing import Any
from uuid import UUID

import pytest

from hub.commands import worker as workers
from hub.domain.identifiers import make_id_number
from hub.registry.application import Registry
from hub.tools import seed as seeding
from tests.agency_api import AUDITOR, MUNICIPAL, register, send
from tests.conftest import Client, running, token
from tests.test_group_commit import waiting_for_lock
from tests.test_seed import in_batch
from tests.test_seed import register_worker as register_in_batch
from tests.test_seed import send as command
from tests.test_time_travel import RETRACT
from tests.worker_api import ERASE, UPDATE_WORKER, register_worker

FIND = """query($filter: WorkerFilter) { workers(filter: $filter) {
  totalCount edges { node { id name idNumber district { code } } } } }"""
PARTNER = token("PARTNER")
FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")

_people = count(1)


def someone(district: str = "500103") -> tuple[str, str]:
    """A name no other test uses, and a fresh ID number of `district`."""
    n = next(_people)
    return f"Search Person {n:04d}", make_id_number(district, date(1984, 2, 3), 500 + n)


async def found(client: Client, auth: str = AUDITOR, **filter: Any) -> list[str]:
    """The ids of the workers the search finds (and its total agrees)."""
    body = await client.post(FIND, {"filter": filter}, auth=auth)
    assert "errors" not in body, body["errors"]
    page = body["data"]["workers"]
    assert page["totalCount"] == len(page["edges"])
    return [e["node"]["id"] for e in page["edges"]]


async def digests(client: Client, worker_id: str) -> int:
    return await client.hub.pool.fetchval(
        "SELECT count(*) FROM personal_data_index WHERE worker_id = $1", UUID(worker_id)
    )


async def test_a_worker_is_found_by_name_and_id_number_however_spaced_or_wide(
    client: Client,
) -> None:
    name, number = someone()
    worker = await register_worker(client, name=name, idNumber=number)
    other = await register_worker(client)
    for spelling in (name, name.upper(), f"  {name.lower().replace(' ', '')} ", "Ｓ" + name[1:]):
        assert await found(client, name=spelling) == [worker["id"]], spelling
    wide = " ".join(number.translate(FULL_WIDTH).lower())
    for spelling in (number, wide, f"{number[:6]} {number[6:14]} {number[14:]}"):
        assert await found(client, idNumber=spelling) == [worker["id"]], spelling
    assert await found(client, name=name, idNumber=number) == [worker["id"]]
    assert await found(client, name=name, idNumber=other["idNumber"]) == []
    assert await found(client, name=name + "x") == []
    assert await found(client, name=name, district="500104") == []
    # nothing of the value is stored in clear, not even normalised
    stored = await client.hub.pool.fetchrow(
        "SELECT name, id_number FROM personal_data_index WHERE worker_id = $1", UUID(worker["id"])
    )
    assert [len(d) for d in stored.values()] == [32, 32]
    assert not [d for d in stored.values() if number.encode() in d or name.encode() in d]


async def test_an_empty_search_is_refused(client: Client) -> None:
    body = await client.post(FIND, {"filter": {"name": "  \u3000 "}}, auth=AUDITOR)
    assert body["data"] is None
    assert body["errors"][0]["message"] == "name must not be empty"


async def test_a_rename_moves_the_search_and_a_retraction_moves_it_back(client: Client) -> None:
    name, number = someone()
    worker = await register_worker(client, name=name, idNumber=number)
    renamed = await send(
        client, UPDATE_WORKER, id=worker["id"], name=name + " Jr", effectiveOn="2019-01-01"
    )
    assert renamed["errors"] == []
    assert await found(client, name=name) == []
    assert await found(client, name=name + " jr") == [worker["id"]]
    assert await found(client, idNumber=number) == [worker["id"]]

    retracted = await client.run(
        RETRACT,
        {"input": {"positions": [renamed["position"]], "reason": "renamed in error"}},
        auth=MUNICIPAL,
    )
    assert retracted["retractEvents"]["errors"] == []
    assert await found(client, name=name) == [worker["id"]]
    assert await found(client, name=name + " Jr") == []


async def test_a_corrected_name_is_found_and_the_wrong_one_is_not(client: Client) -> None:
    name, number = someone()
    worker = await register_worker(client, name=name, idNumber=number)
    wrong = await send(client, UPDATE_WORKER, id=worker["id"], name=name + " Wrong")
    assert wrong["errors"] == []
    corrected = await send(
        client,
        UPDATE_WORKER,
        id=worker["id"],
        name=name + " Right",
        corrects=[wrong["position"]],
        reason="typed the wrong name",
    )
    assert corrected["errors"] == []
    assert await found(client, name=name + " Right") == [worker["id"]]
    assert await found(client, name=name + " Wrong") == []
    assert await found(client, name=name) == []


async def test_a_back_dated_rename_leaves_the_later_name_found(client: Client) -> None:
    """The search follows the name the workers view shows now: the latest by effective date,
    whichever was recorded last."""
    name, number = someone()
    worker = await register_worker(client, name=name, idNumber=number, effectiveOn="2015-01-01")
    later = await send(
        client, UPDATE_WORKER, id=worker["id"], name="Later", effectiveOn="2020-01-01"
    )
    assert later["errors"] == []
    earlier = await send(
        client, UPDATE_WORKER, id=worker["id"], name=name + " Mid", effectiveOn="2017-01-01"
    )
    assert earlier["errors"] == []
    shown = await client.run(FIND, {"filter": {"idNumber": number}}, auth=AUDITOR)
    assert shown["workers"]["edges"][0]["node"]["name"] == "Later"
    assert worker["id"] in await found(client, name="later")
    assert await found(client, name=name + " Mid") == []


async def test_an_erased_worker_is_never_found_again(client: Client) -> None:
    name, number = someone()
    worker = await register_worker(client, name=name, idNumber=number)
    assert await digests(client, worker["id"]) == 1
    erased = await send(client, ERASE, id=worker["id"], reason="the worker asked to be forgotten")
    assert erased["errors"] == []
    assert await found(client, name=name) == []
    assert await found(client, idNumber=number) == []
    assert await digests(client, worker["id"]) == 0


async def test_a_partner_may_not_search_by_personal_data(client: Client) -> None:
    name, number = someone()
    await register_worker(client, name=name, idNumber=number)
    for filter in ({"name": name}, {"idNumber": number}, {"name": "nobody at all"}):
        body = await client.post(FIND, {"filter": filter}, auth=PARTNER)
        assert body["data"] is None
        [error] = body["errors"]
        assert error["extensions"]["code"] == "FORBIDDEN"
        assert "PARTNER may not search workers by name or ID number" in error["message"]
    # the other filters still answer a partner
    assert (await client.run(FIND, {"filter": {"district": "500103"}}, auth=PARTNER))["workers"]


async def test_a_district_and_a_contractor_find_only_whom_they_may_see(client: Client) -> None:
    name, _ = someone()
    agency = (await register(client))["agency"]["id"]
    here = await register_worker(client, name=name, employer=agency)
    there = await register_worker(
        client,
        name=name,
        district="500104",
        idNumber=make_id_number("500104", date(1988, 8, 8), next(_people) % 1000),
    )
    assert sorted(await found(client, MUNICIPAL, name=name)) == sorted([here["id"], there["id"]])
    district = token("DISTRICT", district="500104", sub="desk-500104")
    assert await found(client, district, name=name) == [there["id"]]
    assert await found(client, district, idNumber=here["idNumber"]) == []
    contractor = token("CONTRACTOR", agency=agency, sub="agency-desk")
    assert await found(client, contractor, name=name) == [here["id"]]
    stranger = token("CONTRACTOR", agency=str(UUID(int=7)), sub="other-desk")
    assert await found(client, stranger, name=name) == []


async def test_the_planner_and_the_resolvers_find_the_same(database: str) -> None:
    async with running(database) as client:
        name, number = someone()
        agency = (await register(client))["agency"]["id"]
        worker = await register_worker(client, name=name, idNumber=number, employer=agency)
        await register_worker(client, name=name)
    callers = (
        AUDITOR,
        token("DISTRICT", district="500103", sub="d1"),
        token("DISTRICT", district="500104", sub="d2"),
        token("CONTRACTOR", agency=agency, sub="c1"),
        PARTNER,
    )
    filters = ({"name": name}, {"idNumber": number}, {"name": name, "status": "ACTIVE"})
    answers: list[list[Any]] = []
    for planner in (True, False):
        async with running(database, read_planner=planner) as client:
            answers.append(
                [await client.post(FIND, {"filter": f}, auth=a) for a in callers for f in filters]
            )
            planned = (await client.http.get("/readyz")).json()["reads"]["planned"]
            assert (planned > 0) is planner
    assert answers[0] == answers[1]
    assert answers[0][0]["data"]["workers"]["edges"][0]["node"]["id"] == worker["id"]


async def test_workers_stored_before_the_index_are_found_after_a_restart(
    database: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(database) as client:
        name, number = someone()
        kept = await register_worker(client, name=name, idNumber=number)
        renamed = await register_worker(client)
        assert (await send(client, UPDATE_WORKER, id=renamed["id"], name=name + " Two"))[
            "errors"
        ] == []
        erased = await register_worker(client, name=name + " Gone")
        assert (await send(client, ERASE, id=erased["id"], reason="asked"))["errors"] == []
        await client.hub.pool.execute("DELETE FROM personal_data_index")
        assert await found(client, name=name) == []
    said = "indexing workers' names and ID numbers: done, 2 workers"
    for again in (False, True):  # and again: nothing left to do
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="hub.registry.personal_data"):
            async with running(database) as client:
                assert await found(client, name=name) == [kept["id"]]
                assert await found(client, idNumber=number) == [kept["id"]]
                assert await found(client, name=name + " two") == [renamed["id"]]
                assert await found(client, name=name + " Gone") == []
                rows = await client.hub.pool.fetchval("SELECT count(*) FROM personal_data_index")
                assert rows == 2
        assert any(said in m for m in caplog.messages) is not again, caplog.messages


async def test_a_batch_writes_the_digests_of_what_it_saves(client: Client) -> None:
    name, _ = someone()

    def work(registry: Registry) -> tuple[UUID, UUID]:
        first = register_in_batch(registry)
        second = register_in_batch(registry)
        command(
            registry,
            workers.update_worker,
            second,
            name=name,
            id_number=None,
            district=None,
            education=None,
            employer=None,
        )
        return first, second

    (first, second), batch = await in_batch(client, work)
    assert await client.hub.signals.projected_past(batch.position, 10)
    assert await digests(client, str(first)) == 1
    assert await found(client, name=name) == [str(second)]
    assert str(second) not in await found(client, name="张三")
    assert str(first) in await found(client, name="张三")


@pytest.mark.parametrize("scale", [0.005])
async def test_the_seeded_city_is_searchable(database: str, scale: float) -> None:
    async with running(database) as client:
        report = await asyncio.to_thread(
            seeding.seed, client.hub.registry, today=client.hub.settings.today(), scale=scale
        )
        assert await client.hub.signals.projected_past(report.position, 60)
        indexed = await client.hub.pool.fetchval(
            "SELECT count(*) FROM workers w WHERE w.effective_to IS NULL"
            " AND w.recorded_to IS NULL AND NOT w.erased"
        )
        assert indexed > 0
        assert await client.hub.pool.fetchval("SELECT count(*) FROM personal_data_index") == indexed
        page = await client.run(
            "{ workers(first: 3) { edges { node { id name idNumber personalDataErased } } } }",
            auth=AUDITOR,
        )
        for edge in page["workers"]["edges"]:
            node = edge["node"]
            if node["personalDataErased"]:
                continue
            assert node["id"] in await found(client, name=node["name"])
            assert await found(client, idNumber=node["idNumber"]) == [node["id"]]


async def test_renames_of_one_worker_saved_in_one_group_are_found_as_the_view_shows(
    database: str,
) -> None:
    """Commands on one worker decided one after another in one group: the digests the group
    stores follow all of them, not only the last command's own events (the first rename takes
    effect last, so it is the name now)."""
    async with running(database, group_commit_ms=200) as client:
        name, number = someone()
        worker = await register_worker(client, name=name, idNumber=number)
        group = client.hub.registry.group
        followed = group.followed
        first = await waiting_for_lock(
            client,
            worker["id"],
            send(
                client, UPDATE_WORKER, id=worker["id"], name=f"{name} 0", effectiveOn="2019-12-01"
            ),
        )
        later = [
            send(
                client,
                UPDATE_WORKER,
                id=worker["id"],
                name=f"{name} {n}",
                effectiveOn=f"2019-0{n + 1}-01",
            )
            for n in range(1, 4)
        ]
        renames = await asyncio.gather(first, *later)
        assert all(r["errors"] == [] for r in renames), renames
        assert group.followed > followed, "a rename was decided as the one before left it"
        assert await found(client, name=f"{name} 0") == [worker["id"]]
        assert await found(client, idNumber=number) == [worker["id"]]
        assert await found(client, name=f"{name} 3") == []
