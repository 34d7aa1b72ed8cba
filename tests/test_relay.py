"""`hub relay`: the log in NATS JetStream exactly, in order, each event once, through `kill -9`
of the relay, a NATS restart and a second relay waiting on the lock.

Uses the NATS server (with JetStream) at `NATS_URL` (default nats://127.0.0.1:4222), creating
only its own streams (unique names and subject prefixes) and deleting them after; the restart
test runs a private `nats-server -js` of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import nats.errors
import pytest
from nats.js import JetStreamContext

from hub.domain.records import schema_version
from hub.streams.relay import NO_DISTRICT
from tests.agency_api import AUDITOR, register
from tests.conftest import PERSONAL_DATA_KEY, ROOT, SECRET, Client, hub_cli, missing, running
from tests.worker_api import register_worker

NATS_URL = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")


@contextlib.asynccontextmanager
async def jetstream(url: str = NATS_URL) -> AsyncIterator[JetStreamContext]:
    try:
        nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=-1)
    except (nats.errors.Error, OSError):
        missing(f"no NATS server at {url}")
    try:
        yield nc.jetstream()
    finally:
        await nc.close()


@pytest.fixture
def names() -> Iterator[tuple[str, str]]:
    """A stream name and subject prefix of this test alone."""
    tag = uuid.uuid4().hex[:10]
    yield f"hub-test-{tag}", f"hubtest.{tag}"


@contextlib.asynccontextmanager
async def own_stream(js: JetStreamContext, name: str) -> AsyncIterator[None]:
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            await js.delete_stream(name)


def relay_env(database: str, stream: str, prefix: str, url: str = NATS_URL) -> dict[str, str]:
    return {
        **os.environ,
        "HUB_JWT_SECRET": SECRET,
        "HUB_PERSONAL_DATA_KEY": PERSONAL_DATA_KEY,
        "HUB_DATABASE_URL": database,
        "HUB_NATS_URL": url,
        "HUB_NATS_STREAM": stream,
        "HUB_NATS_SUBJECT_PREFIX": prefix,
    }


def start_relay(env: dict[str, str], output: Path) -> subprocess.Popen[bytes]:
    """`hub relay` in a process of its own, its output appended to `output`."""
    with output.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "hub", "relay"],
            env=env,
            cwd=ROOT,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


async def relay_once(env: dict[str, str]) -> str:
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "hub", "relay", "--once"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


async def logged(client: Client) -> list[int]:
    rows = await client.hub.pool.fetch("SELECT position FROM event_log ORDER BY position")
    return [r["position"] for r in rows]


async def consumed(js: JetStreamContext, stream: str, prefix: str) -> list[nats.aio.msg.Msg]:
    """Every message of the stream, read by a durable pull consumer as a partner would."""
    durable = f"test-{uuid.uuid4().hex[:8]}"
    sub = await js.pull_subscribe(f"{prefix}.>", durable=durable, stream=stream)
    found = []
    while True:
        try:
            batch = await sub.fetch(500, timeout=1)
        except TimeoutError:  # nats-py raises its own or asyncio's
            break
        for msg in batch:
            await msg.ack()
        found += batch
    await sub.unsubscribe()
    return found


def positions(messages: list[nats.aio.msg.Msg]) -> list[int]:
    return [int(m.headers["Hub-Position"]) for m in messages]


async def write(client: Client, until: asyncio.Event, writers: int = 3) -> None:
    """Agencies registered by `writers` concurrent writers until `until` is set."""

    async def writer() -> None:
        while not until.is_set():
            await register(client)

    await asyncio.gather(*(writer() for _ in range(writers)))


async def test_the_stream_holds_the_log_as_a_partner_sees_it(
    database: str, names: tuple[str, str]
) -> None:
    stream, prefix = names
    async with running(database) as client, jetstream() as js, own_stream(js, stream):
        await register(client, district="500103")
        await register_worker(client)
        env = relay_env(database, stream, prefix)
        said = await relay_once(env)
        assert "events/s" in said
        messages = await consumed(js, stream, prefix)
        assert positions(messages) == await logged(client)
        for msg in messages:
            body = json.loads(msg.data)
            assert msg.headers["Nats-Msg-Id"] == str(body["position"])
            assert msg.headers["Hub-Type"] == body["type"]
            assert msg.headers["Hub-Schema-Version"] == str(body["schemaVersion"]) == "1"
            assert msg.headers["Hub-Recorded-At"] == body["recordedAt"]
            district = msg.subject.split(".")[-1]
            assert msg.subject.startswith(f"{prefix}.{body['entityType']}.")
            assert district == NO_DISTRICT or district.isdigit()
        trail = await client.run(
            "{ auditTrail(first: 10) { edges { node { position type schemaVersion } } } }",
            auth=AUDITOR,
        )
        shown = {e["node"]["position"]: e["node"] for e in trail["auditTrail"]["edges"]}
        for msg in messages:
            node = shown[int(msg.headers["Hub-Position"])]
            assert node["schemaVersion"] == schema_version(node["type"])
            assert msg.headers["Hub-Schema-Version"] == str(node["schemaVersion"])
        worker = next(json.loads(m.data) for m in messages if ".WORKER." in m.subject)
        assert worker["data"]["personalDataRedacted"] is True
        assert worker["data"]["name"] is None

        await relay_once(env)  # resumes from the stream: nothing twice
        await register(client)
        await relay_once(env)
        assert positions(await consumed(js, stream, prefix)) == await logged(client)


async def test_kill_9_at_random_moments_under_writers_skips_and_repeats_nothing(
    database: str, names: tuple[str, str], tmp_path: Path
) -> None:
    stream, prefix = names
    rng = random.Random(os.environ.get("HUB_TEST_SEED", "relay"))
    async with running(database) as client, jetstream() as js, own_stream(js, stream):
        env = relay_env(database, stream, prefix)
        stop = asyncio.Event()
        writing = asyncio.create_task(write(client, stop))
        try:
            for _ in range(10):
                relay = start_relay(env, tmp_path / "relay.log")
                await asyncio.sleep(rng.uniform(1.5, 4.0))
                relay.send_signal(signal.SIGKILL)
                await asyncio.to_thread(relay.wait)
        finally:
            stop.set()
            await writing
        await relay_once(env)
        found = positions(await consumed(js, stream, prefix))
        log = await logged(client)
        assert len(log) > 50
        assert found == log
        # most of the ten were killed while publishing, not while starting
        assert (tmp_path / "relay.log").read_text().count("holding the relay lock") >= 5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def private_nats(store: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    server = subprocess.Popen(
        ["nats-server", "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(store)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield server
    finally:
        server.terminate()
        server.wait(10)


async def test_a_nats_restart_loses_and_repeats_nothing(
    database: str, names: tuple[str, str], tmp_path: Path
) -> None:
    if shutil.which("nats-server") is None:
        missing("nats-server is not installed (Debian: apt-get install nats-server)")
    stream, prefix = names
    port = free_port()
    url = f"nats://127.0.0.1:{port}"
    env = relay_env(database, stream, prefix, url)
    async with running(database) as client:
        stop = asyncio.Event()
        writing = asyncio.create_task(write(client, stop, writers=2))
        output = tmp_path / "relay.log"
        relay = start_relay(env, output)
        try:
            with private_nats(tmp_path / "store", port):
                async with jetstream(url) as js:
                    await until_relayed(js, stream, 1)
                await asyncio.sleep(1)
            await asyncio.sleep(1)  # stopped: the relay waits, the writers go on
            with private_nats(tmp_path / "store", port):  # back on the same port and store
                await asyncio.sleep(3)
                stop.set()
                await writing
                log = await logged(client)
                async with jetstream(url) as js:
                    await until_relayed(js, stream, log[-1])
                    found = positions(await consumed(js, stream, prefix))
        finally:
            stop.set()
            relay.kill()
            relay.wait()
        assert found == log
        said = output.read_text()
        assert "disconnected from NATS" in said
        assert "Traceback" not in said


async def until_relayed(js: JetStreamContext, stream: str, position: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(nats.errors.Error):
            info = await js.stream_info(stream)
            if info.state.last_seq:
                last = await js.get_msg(stream, seq=info.state.last_seq)
                if int(last.headers["Hub-Position"]) >= position:
                    return
        await asyncio.sleep(0.5)
    raise AssertionError(f"the relay did not reach position {position}")


async def test_a_second_relay_waits_for_the_first(
    database: str, names: tuple[str, str], tmp_path: Path
) -> None:
    stream, prefix = names
    async with running(database) as client, jetstream() as js, own_stream(js, stream):
        await register(client)
        env = relay_env(database, stream, prefix)
        first = start_relay(env, tmp_path / "first.log")
        try:
            await asyncio.sleep(4)
            second = start_relay(env, tmp_path / "second.log")
            try:
                await asyncio.sleep(4)
                assert second.poll() is None
                first.send_signal(signal.SIGKILL)
                first.wait()
                await register(client)
                await asyncio.sleep(4)
            finally:
                second.terminate()
                second.wait(20)
        finally:
            if first.poll() is None:
                first.kill()
                first.wait()
        said = (tmp_path / "second.log").read_text()
        assert "waiting for its lock" in said
        assert "holding the relay lock" in said
        assert positions(await consumed(js, stream, prefix)) == await logged(client)


def test_without_a_nats_url_the_relay_refuses_in_one_line() -> None:
    done = hub_cli("relay", HUB_NATS_URL="")
    assert done.returncode == 1
    assert "HUB_NATS_URL is not set" in done.stderr
