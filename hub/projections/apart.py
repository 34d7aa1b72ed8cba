"""A rebuild's second process: the replay forks once it has read and decoded the stored
events, so that two processes (two cores; one process works on one, under the GIL) work the
projections out and write them, each on connections of its own.

The fork shares the decoded events without copying them. The two take the projections one at
a time from a pipe holding a byte per projection (`Tokens`), largest first, so that neither
waits while the other has several left. The second process reports its progress and the
records it held back through a pipe, and dies with the process that forked it: a rebuild
killed at any moment leaves nothing writing into the copies that the next one makes.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import multiprocessing
import os
import signal
import threading
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from typing import Any, NoReturn

_PR_SET_PDEATHSIG = 1


def usable_cores() -> int:
    """How many cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def may_fork() -> bool:
    """Whether a replay may work in two processes here (a fork, and a second core)."""
    return hasattr(os, "fork") and usable_cores() > 1


class Tokens:
    """The numbers 0 to `count` - 1 in a pipe, each taken by whichever process reads it first
    (a read of one byte from a pipe is atomic); both hold its reading end after the fork."""

    def __init__(self, count: int) -> None:
        assert count <= 256
        self.fd, written = os.pipe()
        os.write(written, bytes(range(count)))
        os.close(written)

    def take(self) -> int | None:
        """The next number, or None once all are taken."""
        taken = os.read(self.fd, 1)
        return taken[0] if taken else None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


Report = Callable[[float], None]
"""Tells the parent a share (of 1) more of the replay is done."""
Work = Callable[[Report], Awaitable[Any]]
"""What the second process does, on an event loop of its own; its result goes back pickled."""


class ApartFailed(Exception):
    """The second process failed, or ended without saying how."""


class Apart:
    """The forking process's hold on its second process."""

    def __init__(self, pid: int, reader: Connection) -> None:
        self.pid = pid
        self.reader = reader
        self._reaped = False
        self._stopping = threading.Lock()

    @classmethod
    def fork(cls, work: Work) -> Apart:
        """Fork a process that runs `work` and ends; this process goes on at once."""
        reader, writer = multiprocessing.Pipe(duplex=False)
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            reader.close()
            _second(work, writer, parent)
        writer.close()
        return cls(pid, reader)

    async def result(self, report: Report) -> Any:
        """The second process's result, once it has ended, passing its progress to `report`;
        raises ApartFailed if it failed or died."""
        try:
            while True:
                kind, value = await asyncio.to_thread(self._receive)
                if kind == "progress":
                    report(value)
                elif kind == "failed":
                    raise ApartFailed(f"the rebuild's second process failed: {value}")
                elif kind == "ended":
                    raise ApartFailed("the rebuild's second process ended unexpectedly")
                else:
                    return value
        finally:
            await asyncio.to_thread(self.stop)

    def _receive(self) -> tuple[str, Any]:
        """The next message; the pipe is closed after the last, by the thread that read it
        (closed under a read still waiting, its number could be another file's)."""
        try:
            kind, value = self.reader.recv()
        except EOFError:
            kind, value = "ended", None
        if kind != "progress":
            self.reader.close()
        return kind, value

    def stop(self) -> None:
        """End the second process if it still runs, and reap it (once: its number may be
        another process's after)."""
        with self._stopping:
            if self._reaped:
                return
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            self._reaped = True


def _second(work: Work, writer: Connection, parent: int) -> NoReturn:
    """The second process: run `work` on a new event loop, say how it went, and end without
    running anything the forking process registered (its exit handlers, its buffers)."""
    code = 1
    try:
        _die_with(parent)
        with contextlib.suppress(ValueError):  # the forking thread was not the main one
            signal.set_wakeup_fd(-1)  # the parent's event loop's, not this one's
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        result = asyncio.run(work(lambda share: writer.send(("progress", share))))
        writer.send(("done", result))
        code = 0
    except BaseException as error:
        with contextlib.suppress(Exception):
            writer.send(("failed", f"{type(error).__name__}: {error}"))
    finally:
        os._exit(code)


def _die_with(parent: int) -> None:
    """Have the kernel kill this process when its parent dies (Linux); end now if it already
    has."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)
