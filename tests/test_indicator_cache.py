"""Kept answers of `indicators` and `indicatorSeries` are the answers the statement gives, and
never outlive a change of the read views: a mutation (for its writer, another caller and
another process), a retry of a held-back record, a rebuild. Statements are counted through the
projection functions the resolvers call."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any
from uuid import UUID

import eventsourcing.utils
import pytest
from eventsourcing.persistence import StoredEvent

import hub.schema.indicators as resolvers
from hub.domain.agency import Agency
from hub.service.config import Settings
from hub.service.runtime import Hub
from tests.agency_api import AUDITOR, DEREGISTER, MUNICIPAL, register, send
from tests.conftest import PERSONAL_DATA_KEY, SECRET, Client, running

INDICATORS = """query($asOf: AsOf, $district: String) {
  indicators(asOf: $asOf, district: $district) {
    workers agencies demonstrationAgencies stations posts projects fundsDisbursed
    certificatesByLevel { level count } postsBySector { sector count } } }"""
SERIES = """query($district: String) {
  indicatorSeries(from: "2017-01-01", to: "2018-12-31", every: QUARTER, district: $district) {
    on indicators { agencies workers } } }"""
ASKED: list[dict[str, Any]] = [
    {},
    {"district": "500103"},
    {"district": "500105"},
    {"asOf": {"effective": "2017-12-31"}},
    {"asOf": {"effective": "2018-06-30", "recorded": "2099-01-01T00:00:00"}},
    {"asOf": {"effective": "2018-06-30"}, "district": "500103"},
]
AS_FRAGMENTS = """fragment F on Indicators { agencies __typename }
  query Q { now: indicators { ...F } ... on Query { targets { indicator } } }"""
MIXED = "{ now: indicators { agencies __typename } agencies(first: 1) { totalCount } }"
"""Not only indicators: answered field by field, the figures kept all the same."""
DISSOLVED = "hub.domain.agency:Agency.Dissolved"
"""An event type only a newer hub knows (here: a deregistration under another name)."""


class Counted:
    """The projection functions the resolvers call, counting each statement run."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, delay: float = 0) -> None:
        self.calls = 0
        self.delay = delay
        for name in ("indicators", "indicator_series"):
            monkeypatch.setattr(resolvers, name, self._counting(getattr(resolvers, name)))

    def _counting(self, run: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.delay:  # let concurrent requests for the same answer arrive meanwhile
                await asyncio.sleep(self.delay)
            return await run(*args, **kwargs)

        return counted


async def agencies(client: Client, auth: str = AUDITOR, **variables: Any) -> int:
    data = await client.run(INDICATORS, variables, auth=auth)
    return data["indicators"]["agencies"]


async def answers(client: Client) -> list[Any]:
    found = [await client.run(INDICATORS, v, auth=AUDITOR) for v in ASKED]
    for district in (None, "500103"):
        found.append(await client.run(SERIES, {"district": district}, auth=AUDITOR))
    return found


async def until(check: Callable[[], Awaitable[bool]]) -> None:
    """Wait until `check()` holds: the NOTIFY of another process's change takes a moment."""
    deadline = time.monotonic() + 10
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def seeded(client: Client) -> list[str]:
    made = []
    for district, on in [
        ("500103", "2017-03-01"),
        ("500103", "2018-02-01"),
        ("500105", "2018-05-01"),
    ]:
        made.append((await register(client, district=district, effectiveOn=on))["agency"]["id"])
    return made


async def test_kept_answers_are_the_statements_answers(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running(database) as client:
        await seeded(client)
        counted = Counted(monkeypatch)
        first = await answers(client)
        assert counted.calls == len(first)
        again = await answers(client)
        assert again == first
        assert counted.calls == len(first)  # all kept
        kept = (await client.http.get("/readyz")).json()["indicatorCache"]
        # each operation's whole answer, and the figures its field asked for
        assert kept["hits"] == len(first) and kept["entries"] == 2 * len(first), kept
        sent = {"query": AS_FRAGMENTS, "variables": {}}
        headers = {"Authorization": f"Bearer {AUDITOR}"}
        bodies = [(await client.http.post("/graphql", json=sent, headers=headers)).content]
        bodies.append((await client.http.post("/graphql", json=sent, headers=headers)).content)
        assert bodies[0] == bodies[1]  # the kept body is the one the resolvers gave, byte for byte
        for document in (AS_FRAGMENTS, MIXED):
            answered = await client.run(document, auth=AUDITOR)
            assert await client.run(document, auth=AUDITOR) == answered
            assert answered["now"]["agencies"] == 3 and answered["now"]["__typename"]
            assert answered.get("agencies", {"totalCount": 3})["totalCount"] == 3
        assert counted.calls == len(first)  # the same figures again
        anonymous = await client.post(INDICATORS, {}, auth=None)  # kept, yet still refused
        assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", anonymous
        metrics = (await client.http.get("/metrics")).text
        assert 'hub_indicator_cache_lookups_total{outcome="hit"}' in metrics
    async with running(database, indicator_cache=0) as uncached:
        counted = Counted(monkeypatch)
        assert await answers(uncached) == first
        assert await answers(uncached) == first
        assert counted.calls == 2 * len(first)  # none kept
        kept = (await uncached.http.get("/readyz")).json()["indicatorCache"]
        assert kept == {"size": 0, "entries": 0, "hits": 0, "misses": 0, "shared": 0}


async def test_a_mutation_changes_the_figure_at_once_for_every_caller(database: str) -> None:
    async with running(database) as client, running(database, run_projections=False) as other:
        ids = await seeded(client)
        before = await agencies(client, auth=MUNICIPAL)
        assert await agencies(client) == before == 3
        assert await agencies(other) == before
        assert await agencies(client, district="500105") == 1

        payload = await register(client, district="500105")
        assert await agencies(client, auth=MUNICIPAL) == before + 1  # the writer
        assert await agencies(client) == before + 1  # another caller of this process
        assert await agencies(client, district="500105") == 2
        assert await other.hub.signals.projected_past(payload["position"], 5)
        assert await agencies(other) == before + 1  # another process, once it was told

        gone = await send(
            client, DEREGISTER, id=ids[0], reason="dissolved", effectiveOn="2018-06-01"
        )
        assert gone["errors"] == []
        assert await agencies(client) == before
        assert await agencies(client, asOf={"effective": "2018-05-31"}) == before + 1


async def test_concurrent_requests_for_one_answer_run_one_statement(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running(database) as client:
        await seeded(client)
        counted = Counted(monkeypatch, delay=0.2)
        asked = [agencies(client, district="500103") for _ in range(12)]
        asked += [agencies(client, district="500105") for _ in range(4)]
        found = await asyncio.gather(*asked)
        assert found == [2] * 12 + [1] * 4
        assert counted.calls == 2
        kept = (await client.http.get("/readyz")).json()["indicatorCache"]
        assert kept["misses"] == 2 and kept["shared"] == 14, kept
        await register(client, district="500103")
        assert await agencies(client, district="500103") == 3
        assert counted.calls == 3


@pytest.fixture
def dissolved() -> Iterator[None]:
    yield
    eventsourcing.utils._topic_cache.pop(DISSOLVED, None)  # the upgrade the test simulated


async def test_a_retry_of_a_held_back_record_changes_the_figure(
    database: str, dissolved: None
) -> None:
    async with running(database) as client:
        held = await seeded(client)
        gone = await send(client, DEREGISTER, id=held[2], reason="moved", effectiveOn="2018-06-01")
        assert gone["errors"] == []
        # a deregistration of agency 0 only a newer hub can read: held back in every view
        store = client.hub.pool
        deregistered = await store.fetchrow(
            "SELECT state FROM registry_events WHERE originator_id = $1"
            " ORDER BY originator_version DESC LIMIT 1",
            UUID(held[2]),
        )
        version = await store.fetchval(
            "SELECT max(originator_version) FROM registry_events WHERE originator_id = $1",
            UUID(held[0]),
        )
        event = StoredEvent(
            originator_id=UUID(held[0]),
            originator_version=version + 1,
            topic=DISSOLVED,
            state=json.dumps(json.loads(deregistered["state"])).encode(),
        )
        [position] = await asyncio.to_thread(client.hub.registry.recorder.insert_events, [event])
        await register(client, district="500105")  # projected past the held event
        assert {h["position"] for h in (await client.http.get("/readyz")).json()["heldBack"]} == {
            position
        }
        assert await agencies(client) == 3  # agency 0 still counted: its event is held

        eventsourcing.utils.register_topic(DISSOLVED, Agency.Deregistered)
        await client.hub.projector.retry()
        assert (await client.http.get("/readyz")).json()["heldBack"] == []

        async def released() -> bool:
            return await agencies(client) == 2

        await until(released)


async def test_a_rebuild_changes_the_figure(database: str) -> None:
    async with running(database) as client:
        ids = await seeded(client)
        # views that lost a row (as a rebuild would put right)
        await client.hub.pool.execute("DELETE FROM agencies WHERE id = $1", UUID(ids[1]))
        assert await agencies(client) == 2
        await client.hub.projector.rebuild(["agencies"])

        async def rebuilt() -> bool:
            return await agencies(client) == 3

        await until(rebuilt)


async def test_a_new_listen_connection_changes_the_figure(database: str) -> None:
    """Notifications sent while the LISTEN connection was lost are lost with it."""
    async with running(database) as client:
        ids = await seeded(client)
        assert await agencies(client) == 3
        # a change whose NOTIFY this process will not get
        await client.hub.pool.execute("DELETE FROM agencies WHERE id = $1", UUID(ids[1]))
        assert await agencies(client) == 3
        listening = client.hub.signals._conn
        assert listening is not None
        await client.hub.pool.execute("SELECT pg_terminate_backend($1)", listening.get_server_pid())

        async def reconnected() -> bool:
            return await agencies(client) == 2

        await until(reconnected)


def test_a_read_replica_keeps_no_answers() -> None:
    """The replica replays the primary's changes after the primary's NOTIFY (see `Hub`)."""
    settings = dict(jwt_secret=SECRET, personal_data_key=PERSONAL_DATA_KEY)
    replicated = Hub(
        Settings.from_env(**settings, read_database_url="postgresql://127.0.0.1:1/replica")
    )
    assert replicated.indicator_cache.size == 0
    assert Hub(Settings.from_env(**settings)).indicator_cache.size == 256
