"""The relay's rate beside the seed's: does `hub relay` keep up with the hub's fastest writer?

Two rounds, each on a fresh database and a NATS JetStream stream of its own (deleted after):

- **live**: `hub relay` runs while `hub seed` writes a city; the seed reports its write rate,
  and the bench watches the stream's last `Hub-Position` until it is the log's last position,
  printing the relay's rate while it published and how long after the seed ended it caught up;
- **catch-up**: `hub relay --once` publishes the seeded log from an empty stream and reports
  its own rate (events acknowledged per second while publishing).

    python bench/relay.py [--scale 0.03] [--nats nats://127.0.0.1:4222]

Needs a NATS server with JetStream (`HUB_NATS_URL`, else the default above).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import nats
import nats.js.errors
from nats.js import JetStreamContext

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from http_client import SECRET, fresh_database  # noqa: E402

from hub.service.database import migrate  # noqa: E402

PERSONAL_DATA_KEY = base64.b64encode(os.urandom(32)).decode()


def env_of(database: str, nats_url: str) -> dict[str, str]:
    """The settings of a seed and a relay of one round: its database, its own stream."""
    tag = uuid.uuid4().hex[:10]
    return {
        **os.environ,
        "HUB_JWT_SECRET": SECRET,
        "HUB_PERSONAL_DATA_KEY": PERSONAL_DATA_KEY,
        "HUB_DATABASE_URL": database,
        "HUB_NATS_URL": nats_url,
        "HUB_NATS_STREAM": f"hub-bench-{tag}",
        "HUB_NATS_SUBJECT_PREFIX": f"hubbench.{tag}",
    }


def seed(scale: float, env: dict[str, str]) -> str:
    return hub("seed", "--profile", "city-2018", f"--scale={scale:g}", env=env)


def hub(*args: str, env: dict[str, str]) -> str:
    """The output of `hub <args>`, which must succeed."""
    done = subprocess.run(
        [sys.executable, "-m", "hub", *args], env=env, cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode:
        raise RuntimeError(f"hub {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def figure(pattern: str, text: str) -> float:
    found = re.search(pattern, text)
    if found is None:
        raise RuntimeError(f"no {pattern!r} in:\n{text}")
    return float(found.group(1))


@contextlib.asynccontextmanager
async def jetstream(url: str, stream: str) -> AsyncIterator[JetStreamContext]:
    """A JetStream client; `stream` is deleted when the round ends."""
    nc = await nats.connect(url, connect_timeout=2)
    try:
        yield nc.jetstream()
    finally:
        with contextlib.suppress(Exception):
            await nc.jetstream().delete_stream(stream)
        await nc.close()


async def last_relayed(js: JetStreamContext, stream: str) -> tuple[int, int]:
    """The stream's message count and the `Hub-Position` of its last message (0, 0: none)."""
    try:
        state = (await js.stream_info(stream)).state
    except nats.js.errors.NotFoundError:
        return 0, 0
    if not state.messages:
        return 0, 0
    last = await js.get_msg(stream, seq=state.last_seq)
    return state.messages, int((last.headers or {})["Hub-Position"])


async def logged_up_to(database: str) -> tuple[int, int]:
    """How many events the log holds, and its last position."""
    conn = await asyncpg.connect(database)
    try:
        row = await conn.fetchrow("SELECT count(*), coalesce(max(position), 0) FROM event_log")
    finally:
        await conn.close()
    return row[0], row[1]


async def live(scale: float, nats_url: str) -> dict[str, float]:
    """`hub relay` running while `hub seed` writes."""
    database = await fresh_database(ROOT)
    await migrate(database)
    env = env_of(database, nats_url)
    stream = env["HUB_NATS_STREAM"]
    async with jetstream(nats_url, stream) as js:
        relay = subprocess.Popen(
            [sys.executable, "-m", "hub", "relay"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            seeding = asyncio.create_task(asyncio.to_thread(seed, scale, env))
            first: tuple[float, int] | None = None
            while not seeding.done():
                count, _ = await last_relayed(js, stream)
                if first is None and count:
                    first = (time.perf_counter(), count)
                await asyncio.sleep(0.1)
            said = seeding.result()
            ended = time.perf_counter()
            events, position = await logged_up_to(database)
            deadline = ended + 300
            while (relayed := await last_relayed(js, stream))[1] < position:
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"the relay reached {relayed} of {position} in 300 s")
                await asyncio.sleep(0.05)
            caught_up = time.perf_counter()
        finally:
            relay.terminate()
            relay.wait(20)
    assert first is not None and relayed[0] == events, (relayed, events)
    return {
        "events": events,
        "seed": figure(r"wrote \d+ events \(\d+ commands\) in [\d.]+ s \((\d+) events/s\)", said),
        "relay": (events - first[1]) / max(caught_up - first[0], 1e-9),
        "lag": caught_up - ended,
    }


async def catch_up(scale: float, nats_url: str) -> dict[str, float]:
    """`hub relay --once` from an empty stream over a seeded log."""
    database = await fresh_database(ROOT)
    await migrate(database)
    env = env_of(database, nats_url)
    said = await asyncio.to_thread(seed, scale, env)
    events, _ = await logged_up_to(database)
    async with jetstream(nats_url, env["HUB_NATS_STREAM"]):
        relayed = await asyncio.to_thread(hub, "relay", "--once", env=env)
    return {
        "events": events,
        "seed": figure(r"wrote \d+ events \(\d+ commands\) in [\d.]+ s \((\d+) events/s\)", said),
        "relay": figure(r"\((\d+) events/s while publishing\)", relayed),
        "lag": float("nan"),
    }


async def main(scale: float, nats_url: str) -> None:
    rounds = [("live", await live(scale, nats_url)), ("catch-up", await catch_up(scale, nats_url))]
    print(f"city-2018 at scale {scale:g}; `hub seed` and `hub relay` each in its own process")
    print(
        f"{'round':>9} {'logged events':>13} {'seed writes/s':>13} {'relay events/s':>14} "
        f"{'caught up s after seed':>22}"
    )
    for name, got in rounds:
        print(
            f"{name:>9} {got['events']:>13.0f} {got['seed']:>13.0f} {got['relay']:>14.0f} "
            f"{got['lag']:>22.2f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.03, help="the seeded city's scale")
    parser.add_argument("--nats", default=os.environ.get("HUB_NATS_URL", "nats://127.0.0.1:4222"))
    arguments = parser.parse_args()
    asyncio.run(main(arguments.scale, arguments.nats))
