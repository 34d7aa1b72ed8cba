"""A rebuild's second process (`hub.projections.apart`): its result and progress come back,
its failure is told, and it dies with the process that forked it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import psutil
import pytest

from hub.projections.apart import Apart, ApartFailed, Report, Tokens, may_fork
from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(not may_fork(), reason="needs fork and a second core")


async def test_the_second_process_answers_its_result_and_progress() -> None:
    async def work(report: Report) -> dict[str, int]:
        for _ in range(4):
            report(0.25)
        await asyncio.sleep(0)
        return {"pid": os.getpid()}

    apart = Apart.fork(work)
    told: list[float] = []
    answer = await apart.result(told.append)
    assert told == [0.25] * 4
    assert answer["pid"] == apart.pid != os.getpid()
    assert not psutil.pid_exists(apart.pid)


async def test_a_failure_of_the_second_process_is_told() -> None:
    async def work(report: Report) -> None:
        raise RuntimeError("the copy was refused")

    with pytest.raises(ApartFailed, match="RuntimeError: the copy was refused"):
        await Apart.fork(work).result(lambda share: None)


async def test_a_second_process_that_dies_is_told() -> None:
    async def work(report: Report) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    with pytest.raises(ApartFailed, match="ended unexpectedly"):
        await Apart.fork(work).result(lambda share: None)


def test_the_two_processes_take_each_projection_once() -> None:
    tokens = Tokens(8)

    async def work(report: Report) -> list[int]:
        taken = []
        while (n := tokens.take()) is not None:
            taken.append(n)
            await asyncio.sleep(0.001)
        return taken

    async def both() -> tuple[list[int], list[int]]:
        apart = Apart.fork(work)
        mine = await work(lambda share: None)
        return mine, await apart.result(lambda share: None)

    mine, theirs = asyncio.run(both())
    tokens.close()
    assert sorted(mine + theirs) == list(range(8))


FORKING = """
import asyncio
from hub.projections.apart import Apart

async def work(report):
    await asyncio.sleep(60)

async def main():
    apart = Apart.fork(work)
    print(apart.pid, flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


async def test_the_second_process_dies_with_the_one_that_forked_it() -> None:
    """kill -9 of a rebuild leaves nothing writing into the copies the next one makes."""
    forking = subprocess.Popen(
        [sys.executable, "-c", FORKING], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert forking.stdout is not None
        second = psutil.Process(int(await asyncio.to_thread(forking.stdout.readline)))
        assert second.is_running()
    finally:
        forking.send_signal(signal.SIGKILL)
        forking.wait()
    _, alive = await asyncio.to_thread(psutil.wait_procs, [second], 5)
    assert not alive
