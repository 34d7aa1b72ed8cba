"""Long work says how far it is: plain lines where the output is not a terminal (a pipe, a log),
a bar with its rate and the time left on one (`hub.service.progress`)."""

from __future__ import annotations

import asyncio
import logging
import os
import pty
import re
import subprocess
import sys

import pytest

from tests.conftest import (
    PERSONAL_DATA_KEY,
    ROOT,
    SECRET,
    fresh_database,
    hub_cli,
    hub_command,
    running,
)

PHASE_LINE = re.compile(r"^workers: \d+/\d+ commands \(\d+%\), \d+ commands/s, \d+ s left$", re.M)
PROJECTED_LINE = re.compile(r"^projections: \d+/(\d+) events \((\d+)%\), \d+ events/s, .+ left$")


@pytest.fixture(scope="module")
async def seeded(server_url: str) -> tuple[str, subprocess.CompletedProcess[str]]:
    """A database `hub seed` filled at a small scale, and what the command printed (its
    catch-up in transactions of 1,000 events, so that it reports along the way)."""
    database = await fresh_database(server_url)
    seeding = ("seed", "--profile", "city-2018", "--scale", "0.01")
    done = await asyncio.to_thread(
        hub_cli, *seeding, HUB_DATABASE_URL=database, HUB_PROJECTION_BATCH="100"
    )
    assert done.returncode == 0, done.stderr
    return database, done


def _projected(stdout: str) -> list[int]:
    """The percentages of the projections' periodic lines."""
    return [int(m[2]) for line in stdout.splitlines() if (m := PROJECTED_LINE.match(line))]


async def test_hub_seed_prints_plain_lines_with_rate_and_time_left(
    seeded: tuple[str, subprocess.CompletedProcess[str]],
) -> None:
    _, done = seeded
    assert "\x1b" not in done.stdout, "a pipe got a terminal's bar"
    steps = PHASE_LINE.findall(done.stdout)
    assert len(steps) == 9, done.stdout  # at each tenth, the end apart
    assert re.search(
        r"^workers: done, \d+ commands in [\d.]+ s \(\d+ commands/s\)$", done.stdout, re.M
    )
    percents = _projected(done.stdout)
    assert percents and percents == sorted(percents) and percents[-1] < 100, done.stdout
    assert re.search(r"^projections: caught up, \d+ events in ", done.stdout, re.M)


async def test_hub_project_rebuild_prints_plain_lines(
    seeded: tuple[str, subprocess.CompletedProcess[str]],
) -> None:
    database, _ = seeded
    done = await hub_command(database, "project", "--once", "--rebuild", "workers", "posts")
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout
    lines = done.stdout.splitlines()
    assert lines[0] == "rebuilding workers, posts from position 0"
    assert len(_projected(done.stdout)) >= 5, done.stdout
    assert re.match(
        r"^projections: caught up, (\d+) events in [\d.]+ s \(\d+ events/s\)$", lines[-1]
    )


def _on_a_terminal(*args: str, database: str) -> str:
    """What `hub ARGS` shows on a terminal (a pseudo-terminal as its standard output)."""
    main, terminal = pty.openpty()
    env = {
        **os.environ,
        "HUB_DATABASE_URL": database,
        "HUB_JWT_SECRET": SECRET,
        "HUB_PERSONAL_DATA_KEY": PERSONAL_DATA_KEY,
        "TERM": "xterm",
        "COLUMNS": "160",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "hub", *args],
        stdout=terminal,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=ROOT,
    )
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        shown += chunk
    os.close(main)
    assert process.wait(timeout=60) == 0
    return shown.decode(errors="replace")


async def test_a_terminal_gets_a_bar_with_rate_and_time_left(
    seeded: tuple[str, subprocess.CompletedProcess[str]],
) -> None:
    database, _ = seeded
    shown = await asyncio.to_thread(
        _on_a_terminal, "project", "--once", "--rebuild", "workers", database=database
    )
    assert "━" in shown, shown
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)
    assert re.search(r"projections ━+ +(\d+)/\1 100% \d+ events/s .* left", plain), plain
    assert not _projected(shown.replace("\r", "\n")), "a terminal got the plain lines"


async def test_the_catch_up_at_start_up_logs_how_far_it_is(
    seeded: tuple[str, subprocess.CompletedProcess[str]], caplog: pytest.LogCaptureFixture
) -> None:
    database, _ = seeded
    async with running(database, run_projections=False) as stopped:
        await stopped.hub.projector.rewind(["workers", "event_log"])
        behind = await stopped.hub.projector.behind()
    assert behind > 500
    caplog.set_level(logging.INFO, logger="hub.projections.runner")
    async with running(database) as client:
        for _ in range(300):
            if not await client.hub.projector.behind():
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the projections did not catch up")
        await asyncio.sleep(0.2)  # the last batch's line follows its commit
    said = [r.getMessage() for r in caplog.records if r.name == "hub.projections.runner"]
    steps = [
        line for line in said if re.match(rf"projections catching up: \d+/{behind} events", line)
    ]
    assert steps, said
    assert any(
        re.match(rf"projections catching up: caught up, {behind} events in ", line) for line in said
    ), said
