"""`hub serve --workers 2` as a real process on an embedded database of its own, through real
HTTP and WebSocket: the parent starts the database once, the requests reach both workers, one
worker projects (the holder of the projector's lease) and another takes over when it is
killed, and a mutation answers with its own change whichever worker serves it.

`/readyz` says which process answered (`process.pid`) and whether it projects
(`process.projects`); a client without keep-alive reaches the workers in turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from tests.agency_api import REGISTER, registration
from tests.conftest import hub_cli, token
from tests.streams import Subscriber
from tests.test_embedded_server import _handles, _postgres_of, hubs

MUNICIPAL = token("MUNICIPAL")
PARTNER = token("PARTNER")
TAKEN_OVER_WITHIN = 15
RESTARTED_WITHIN = 60


REGISTERED = 'hub_commands_total{{command="registerAgency",outcome="ok"}} {}.0'
"""The metrics line of the agencies registered, in all the workers."""


async def _processes(http: httpx.AsyncClient, requests: int = 40) -> dict[int, bool]:
    """The workers that answered `requests` readiness checks: pid, and whether it projects."""
    seen: dict[int, bool] = {}
    for _ in range(requests):
        try:
            response = await http.get("/readyz")
        except httpx.TransportError:  # accepted by a worker just killed
            continue
        if response.status_code == 200:
            process = response.json()["process"]
            seen[process["pid"]] = process["projects"]
    return seen


async def _until_workers(
    http: httpx.AsyncClient, check: Any, seconds: float, what: str
) -> dict[int, bool]:
    deadline = time.monotonic() + seconds
    while True:
        seen = await _processes(http)
        if check(seen):
            return seen
        assert time.monotonic() < deadline, f"{what} within {seconds} s: {seen}"
        await asyncio.sleep(0.2)


async def _register(http: httpx.AsyncClient) -> dict[str, Any]:
    """Register an agency; its payload, which must show the agency."""
    response = await http.post(
        "/graphql",
        json={"query": REGISTER, "variables": {"input": registration()}},
        headers={"Authorization": f"Bearer {MUNICIPAL}"},
    )
    payload = response.json()["data"]["registerAgency"]
    assert payload["errors"] == [] and payload["agency"] is not None, payload
    return payload


async def _sse_positions(base: str, after: int, found: list[int]) -> None:
    headers = {"Authorization": f"Bearer {PARTNER}"}
    url = f"{base}/events?after={after}&entityTypes=AGENCY"
    async with (
        httpx.AsyncClient(timeout=None) as http,
        http.stream("GET", url, headers=headers) as r,
    ):
        async for line in r.aiter_lines():
            if line.startswith("id: "):
                found.append(int(line[4:]))


async def test_two_workers_share_the_port_and_project_once(tmp_path: Path) -> None:
    with hubs(tmp_path) as start:
        hub = start("--workers", "2")
        assert _handles(hub.pgdata) == [hub.process.pid], "the parent alone starts the database"
        postmasters = [p for p in _postgres_of(hub.pgdata) if str(hub.pgdata) in p.cmdline()]
        assert len(postmasters) == 1
        fresh = httpx.AsyncClient(
            base_url=hub.url, timeout=10, limits=httpx.Limits(max_keepalive_connections=0)
        )
        async with fresh:
            seen = await _until_workers(
                fresh, lambda s: len(s) == 2, 30, "both workers answered /readyz"
            )
            children = {p.pid for p in psutil.Process(hub.process.pid).children()}
            assert set(seen) <= children
            assert sum(seen.values()) == 1, f"one worker projects: {seen}"

            head = (await fresh.get("/readyz")).json()["head"]
            sse: list[int] = []
            reading = asyncio.create_task(_sse_positions(hub.url, head, sse))
            async with Subscriber(hub.port, PARTNER) as ws:
                await ws.subscribe(after=head, types=["AGENCY"])
                written = [await _register(fresh) for _ in range(20)]
                positions = [p["position"] for p in written]
                for payload in written:  # read back on whichever worker answers
                    body = await fresh.post(
                        "/graphql",
                        json={
                            "query": "query($id: ID!) { agency(id: $id) { id } }",
                            "variables": {"id": payload["agency"]["id"]},
                        },
                        headers={"Authorization": f"Bearer {MUNICIPAL}"},
                    )
                    assert body.json()["data"]["agency"] == {"id": payload["agency"]["id"]}
                streamed = await ws.events(len(positions))
                assert [e["position"] for e in streamed] == positions
            deadline = time.monotonic() + 10
            while len(sse) < len(positions) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading
            assert sse == positions
            for _ in range(6):  # any worker's scrape counts every worker's commands
                scraped = (await fresh.get("/metrics")).text
                assert REGISTERED.format(len(positions)) in scraped.splitlines()

            projecting = next(pid for pid, projects in seen.items() if projects)
            os.kill(projecting, signal.SIGKILL)
            psutil.Process(hub.process.pid)  # the parent lives on
            seen = await _until_workers(
                fresh,
                lambda s: any(projects and pid != projecting for pid, projects in s.items()),
                TAKEN_OVER_WITHIN,
                "another worker took over the projector",
            )
            assert projecting not in seen
            payload = await _register(fresh)
            assert payload["position"] > positions[-1]
            await _until_workers(
                fresh, lambda s: len(s) == 2, RESTARTED_WITHIN, "a new worker replaced the killed"
            )
            assert sum((await _processes(fresh)).values()) == 1
        hub.stop()
        assert _postgres_of(hub.pgdata) == []


def test_workers_must_be_one_or_more_and_the_demo_runs_with_one() -> None:
    none = hub_cli("serve", HUB_WORKERS="0")
    assert none.returncode == 2
    assert none.stderr.strip() == "hub serve: HUB_WORKERS=0: not an integer, 1 or more"
    demo = hub_cli("serve", "--demo", "--workers", "2")
    assert demo.returncode != 0 and "--demo runs with one worker" in demo.stderr
