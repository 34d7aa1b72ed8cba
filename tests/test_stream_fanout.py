"""Fan-out: an event is shown once per role view and rendered once per selection, and the
subscribers that share both are sent the same bytes, while each view keeps its own redaction."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import websockets
from graphql import parse

from hub.domain.envelope import Actor, Role
from hub.schema.subscription import selection_of
from hub.streams.dispatch import dispatcher_of
from hub.streams.fanout import renderings_of, view_of
from tests.agency_api import REGISTER, registration
from tests.conftest import token
from tests.streams import EVENTS, Subscriber, served
from tests.test_streams import AUDITOR, mutate
from tests.worker_api import ERASE, REGISTER_WORKER, worker_input

PARTNER = token("PARTNER")
NAMES = """subscription($withType: Boolean!) {
  named: events { position entityType type @include(if: $withType) data } }"""


class RawSubscriber:
    """A graphql-transport-ws client that keeps each `next` message as the text it arrived."""

    def __init__(self, port: int, auth: str, document: str, variables: dict[str, Any]) -> None:
        self.port, self.auth, self.document, self.variables = port, auth, document, variables

    async def __aenter__(self) -> RawSubscriber:
        self.ws = await websockets.connect(
            f"ws://127.0.0.1:{self.port}/graphql", subprotocols=["graphql-transport-ws"]
        )
        init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {self.auth}"}}
        await self.ws.send(json.dumps(init))
        assert json.loads(await self.ws.recv())["type"] == "connection_ack"
        payload = {"query": self.document, "variables": self.variables}
        await self.ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.ws.close()

    async def texts(self, count: int) -> list[str]:
        found = []
        while len(found) < count:
            text = await asyncio.wait_for(self.ws.recv(), 10)
            if json.loads(text)["type"] == "next":
                found.append(text)
        return found


async def test_subscribers_of_one_view_and_selection_get_the_same_bytes(database: str) -> None:
    async with served(database) as app, httpx.AsyncClient(base_url=app.base) as http:
        agency = await mutate(http, REGISTER, **registration(district="500103"))
        head = (await app.hub.pool.fetchval("SELECT max(position) FROM event_log")) or 0
        live = {"after": head}
        named = {"withType": True}
        async with (
            RawSubscriber(app.port, PARTNER, EVENTS, live) as partner,
            RawSubscriber(app.port, token("PARTNER", sub="another"), EVENTS, live) as other,
            RawSubscriber(app.port, AUDITOR, EVENTS, live) as auditor,
            RawSubscriber(app.port, PARTNER, NAMES, named) as shaped,
            RawSubscriber(app.port, PARTNER, NAMES, {"withType": False}) as unshaped,
        ):
            await asyncio.sleep(0.5)  # every subscription started: the events come live
            await mutate(
                http,
                REGISTER_WORKER,
                **worker_input(district="500103", name="隐私姓名", employer=agency["agency"]["id"]),
            )
            await mutate(http, REGISTER, **registration(district="500103"))
            seen, also, full, own, bare = await asyncio.gather(
                *(s.texts(2) for s in (partner, other, auditor, shaped, unshaped))
            )
        assert seen == also
        worker, registered = (json.loads(t)["payload"]["data"]["events"] for t in seen)
        assert worker["data"]["name"] is None and worker["data"]["personalDataRedacted"] is True
        assert json.loads(full[0])["payload"]["data"]["events"]["data"]["name"] == "隐私姓名"
        assert [json.loads(t)["payload"]["data"]["named"]["type"] for t in own] == [
            "WorkerRegistered",
            "AgencyRegistered",
        ]
        assert all("type" not in json.loads(t)["payload"]["data"]["named"] for t in bare)
        assert json.loads(own[1])["payload"]["data"]["named"]["data"] == registered["data"]

        partner_view = view_of(Actor("someone", Role.PARTNER))
        row = {"position": registered["position"], "entity_type": "AGENCY"}
        shown = await renderings_of(app.hub).shown(partner_view, row, _unused)
        assert len(shown.renders) == 3  # EVENTS, and NAMES with and without `type`


async def test_an_erasure_shows_to_a_follower_after_the_event_was_sent_live(
    database: str,
) -> None:
    async with served(database) as app, httpx.AsyncClient(base_url=app.base) as http:
        agency = await mutate(http, REGISTER, **registration(district="500103"))
        head = await app.hub.pool.fetchval("SELECT max(position) FROM event_log")
        async with RawSubscriber(app.port, AUDITOR, EVENTS, {"after": head}) as live:
            await asyncio.sleep(0.5)
            worker = await mutate(
                http,
                REGISTER_WORKER,
                **worker_input(district="500103", name="隐私姓名", employer=agency["agency"]["id"]),
            )
            (sent,) = await live.texts(1)
        assert json.loads(sent)["payload"]["data"]["events"]["data"]["name"] == "隐私姓名"
        await mutate(http, ERASE, id=worker["worker"]["id"], reason="本人申请")
        async with RawSubscriber(app.port, AUDITOR, EVENTS, {"after": head}) as later:
            replayed, _ = await later.texts(2)
        data = json.loads(replayed)["payload"]["data"]["events"]["data"]
        assert data["name"] is None and data["personalDataErased"] is True


async def _unused(row: Any) -> Any:
    raise AssertionError("the event was shown to this view already")


async def test_server_sent_events_of_one_view_share_their_frame(database: str) -> None:
    async with served(database) as app, httpx.AsyncClient(base_url=app.base) as http:
        await mutate(http, REGISTER, **registration())
        await mutate(http, REGISTER, **registration())

        async def frames(auth: str) -> list[str]:
            headers = {"Authorization": f"Bearer {auth}"}
            async with http.stream(
                "GET", "/events", params={"after": "0"}, headers=headers, timeout=10
            ) as response:
                found, block = [], []
                async for line in response.aiter_lines():
                    if line.startswith(":"):
                        continue
                    block.append(line)
                    if not line and len(block) > 1:
                        found.append("\n".join(block))
                        block = []
                        if len(found) == 2:
                            return found
                return found

        first, second = await asyncio.gather(frames(PARTNER), frames(token("PARTNER", sub="b")))
        assert first == second and len(first) == 2
        position = int(first[0].split("\n")[0].removeprefix("id: "))
        shown = await renderings_of(app.hub).shown(
            view_of(Actor("x", Role.PARTNER)),
            {"position": position, "entity_type": "AGENCY"},
            _unused,
        )
        assert shown.renders["sse"] == first[0] + "\n"


async def test_a_replay_is_handed_to_the_dispatcher_without_a_gap_or_a_repeat(
    database: str,
) -> None:
    """Events logged before the server started are replayed by the subscription itself; once
    it is caught up the process's dispatcher writes its live events: the same events in both
    protocols, each in its own message type."""
    async with served(database) as app, httpx.AsyncClient(base_url=app.base) as http:
        for _ in range(3):
            await mutate(http, REGISTER, **registration(district="500103"))
    async with served(database) as app, httpx.AsyncClient(base_url=app.base) as http:
        async with (
            Subscriber(app.port, PARTNER) as direct,
            Subscriber(app.port, PARTNER, "graphql-ws") as legacy,
        ):
            await direct.subscribe(after=0)
            await legacy.subscribe(after=0)
            replayed = await direct.events(3)
            assert replayed == await legacy.events(3)
            dispatcher = await dispatcher_of(app.hub)
            for _ in range(100):  # it is handed over once the tail holds what follows
                if len(dispatcher.listeners) == 2:
                    break
                await asyncio.sleep(0.05)
            assert len(dispatcher.listeners) == 2  # one per protocol
            listeners = set(dispatcher.listeners)
            for n in range(4):
                await mutate(http, REGISTER, **registration(district="500103"))
                if n == 1:  # a worker's event, which each subscriber has made for itself
                    await mutate(
                        http,
                        REGISTER_WORKER,
                        **worker_input(district="500103", name="隐私姓名"),
                    )
            live = await direct.events(5)
            assert live == await legacy.events(5)
            assert dispatcher.listeners == listeners
        positions = [e["position"] for e in replayed + live]
        assert positions == sorted(set(positions))
        logged = await app.hub.pool.fetch("SELECT position FROM event_log ORDER BY position")
        assert positions == [r["position"] for r in logged]
        worker = next(e for e in live if e["entityType"] == "WORKER")
        assert worker["data"]["name"] is None and worker["data"]["personalDataRedacted"] is True


async def test_a_client_whose_socket_is_full_is_handed_back_and_loses_nothing(
    database: str,
) -> None:
    """While its connection asks writers to wait (as its transport does when the client
    reads too slowly), the dispatcher hands the subscription back to its own follower, whose
    send waits; once the client reads again it gets every event in order, and the dispatcher
    takes it over again."""
    async with served(database) as app, httpx.AsyncClient(base_url=app.base) as http:
        head = (await app.hub.pool.fetchval("SELECT max(position) FROM event_log")) or 0
        async with Subscriber(app.port, PARTNER) as slow:
            await slow.subscribe(after=head)
            dispatcher = await dispatcher_of(app.hub)
            for _ in range(100):
                if dispatcher.listeners:
                    break
                await asyncio.sleep(0.05)
            (listener,) = dispatcher.listeners
            first = await mutate(http, REGISTER, **registration())
            (event,) = await slow.events(1)
            assert event["position"] == first["position"]
            writable = listener.direct.socket.protocol.writable
            writable.clear()
            for _ in range(3):
                await mutate(http, REGISTER, **registration())
            await asyncio.sleep(0.5)
            assert listener.ended.done() and not dispatcher.listeners
            with pytest.raises(TimeoutError):
                await slow.events(1, timeout=0.5)  # nothing is written while it waits
            writable.set()
            held = await slow.events(3)
            for _ in range(50):
                if dispatcher.listeners:
                    break
                await asyncio.sleep(0.1)
            assert dispatcher.listeners and dispatcher.listeners != {listener}
            later = await mutate(http, REGISTER, **registration())
            (last,) = await slow.events(1)
        positions = [e["position"] for e in [event, *held, last]]
        logged = await app.hub.pool.fetch(
            "SELECT position FROM event_log WHERE position > $1 ORDER BY position", head
        )
        assert positions == [r["position"] for r in logged]
        assert positions[-1] == later["position"]


def test_a_selection_is_what_shapes_the_output_not_what_chooses_events() -> None:
    def selection(document: str, **variables: Any) -> Any:
        operation, *fragments = parse(document).definitions
        by_name = {f.name.value: f for f in fragments}  # type: ignore[attr-defined]
        return selection_of(operation, by_name, variables)  # type: ignore[arg-type]

    plain = selection("subscription { events { position } }")
    assert selection("subscription($a: Int) { events(after: $a) { position } }", a=3) == plain
    assert selection('subscription { events(after: 7, district: "500103") { position } }') == plain
    assert selection("subscription { e: events { position } }") != plain
    assert selection("subscription { events { position type } }") != plain
    shaped = "subscription($t: Boolean!) { events { position type @include(if: $t) } }"
    assert selection(shaped, t=True) != selection(shaped, t=False)
    assert selection(shaped, t=True) == selection(shaped, t=True)
    fragment = "subscription { events { ...F } } fragment F on Event { %s }"
    assert selection(fragment % "position") != selection(fragment % "type")
