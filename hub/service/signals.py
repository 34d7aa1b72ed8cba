"""One LISTEN connection per process: it wakes the projector when events are stored, and
wakes requests waiting to read their own writes when the projections move on. In the process
that projects, the projector announces each batch it committed itself (`announce`), so that
process's requests need not wait for its NOTIFY.

With a read replica, "moved on" means the replica shows it: a position the primary's views
reached counts once the replica's `projection_positions` have replayed it."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from hub.projections.runner import PROJECTED_CHANNEL
from hub.service.database import Outage

log = logging.getLogger(__name__)

STORED_CHANNEL = "registry_events"
REPLICA_POLL_SECONDS = 0.005
"""How often the replica is asked how far it shows while a position is awaited from it."""


class Signals:
    def __init__(self, url: str, *, replica: asyncpg.Pool | None = None) -> None:
        self.url = url
        self.replica = replica
        self.projected = 0
        """The position this process's reads (the replica's, if one) include."""
        self.generation = 0
        """The views generation: moves whenever the primary's read tables may have changed (each
        batch committed, each `hub_projected` NOTIFY, among them a rebuild's swap and a retry of
        held-back records, and each new LISTEN connection, as notifications may have been lost
        meanwhile), always before the requests waiting for that change are woken. Answers kept
        under an older generation (`hub.service.indicator_cache`) are never served again."""
        self._announced = 0
        self._replaying = asyncio.Event()
        self._following: asyncio.Task[None] | None = None
        self.stored = asyncio.Event()
        self._waiters: list[tuple[int, asyncio.Future[bool]]] = []
        self._conn: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()

    async def start(self, projected: int) -> None:
        self.announce(projected)
        await self._connect()
        self._task = asyncio.create_task(self._watch())
        if self.replica is not None:
            self._following = asyncio.create_task(self._follow_replica(), name="replica")

    async def stop(self) -> None:
        self._closed.set()
        if self._following is not None:
            self._following.cancel()
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()

    async def _connect(self) -> None:
        """LISTEN on a new connection, then read where the views are and wake everyone: the
        projector, and the requests whose position the views reached meanwhile."""
        conn = await asyncpg.connect(self.url)
        try:
            await conn.add_listener(STORED_CHANNEL, self._on_stored)
            await conn.add_listener(PROJECTED_CHANNEL, self._on_projected)
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _conn: lost.set())
            projected = await conn.fetchval(
                "SELECT coalesce(min(position), 0) FROM projection_positions"
            )
        except BaseException:
            conn.terminate()
            raise
        self._conn, self._lost = conn, lost
        self.announce(projected)
        self.stored.set()

    async def _watch(self) -> None:
        """Reconnect a lost LISTEN connection, whatever goes wrong on the way."""
        outage = Outage("the LISTEN connection", log)
        while not self._closed.is_set():
            await self._lost.wait()
            log.warning("lost the LISTEN connection; reconnecting")
            if self._conn is not None:
                self._conn.terminate()
            while not self._closed.is_set():
                try:
                    await self._connect()
                except Exception as error:
                    await asyncio.sleep(outage.retry_after(error, "could not LISTEN again"))
                    continue
                outage.ended()
                break

    def _on_stored(self, *_: object) -> None:
        self.stored.set()

    def _on_projected(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        self.announce(int(payload))

    def announce(self, position: int) -> None:
        """The primary's views include `position`: said by their NOTIFY, or at once by the
        projector of this process after its commit."""
        self.generation += 1
        if self.replica is None:
            self.advance(position)
            return
        self._announced = max(self._announced, position)
        self._replaying.set()

    async def _follow_replica(self) -> None:
        """While the primary's views are ahead of what the replica shows, ask the replica how
        far it shows every `REPLICA_POLL_SECONDS`."""
        assert self.replica is not None
        outage = Outage("the read replica", log)
        while True:
            await self._replaying.wait()
            self._replaying.clear()
            while self.projected < self._announced:
                try:
                    shown = await self.replica.fetchval(
                        "SELECT coalesce(min(position), 0) FROM projection_positions"
                    )
                except Exception as error:
                    failure = "could not read the replica's positions"
                    await asyncio.sleep(outage.retry_after(error, failure))
                    continue
                outage.ended()
                self.advance(shown)
                if self.projected < self._announced:
                    await asyncio.sleep(REPLICA_POLL_SECONDS)

    def advance(self, position: int) -> None:
        self.projected = max(self.projected, position)
        still = []
        for wanted, future in self._waiters:
            if wanted <= self.projected:
                if not future.done():
                    future.set_result(True)
            else:
                still.append((wanted, future))
        self._waiters = still

    async def projected_past(self, position: int, timeout: float) -> bool:
        """Wait until the read views include `position`; False if they did not in time."""
        if position <= self.projected:
            return True
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._waiters.append((position, future))
        expiry = loop.call_later(timeout, _answer, future, False)  # not `wait_for`: a turn less
        try:
            return await future
        finally:
            expiry.cancel()


def _answer(future: asyncio.Future[bool], answer: bool) -> None:
    if not future.done():
        future.set_result(answer)
