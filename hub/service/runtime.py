"""The running hub: its database, the registry application, the read pool, the projector."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import asyncpg
from eventsourcing.persistence import StoredEvent

from hub.domain.errors import CommandRefused
from hub.projections.agencies import Agencies
from hub.projections.communities import Communities
from hub.projections.courses import Courses
from hub.projections.event_log import EventLog
from hub.projections.held_back import every_held
from hub.projections.posts import Posts
from hub.projections.projects import Projects
from hub.projections.runner import Projection, Projector, open_pool
from hub.projections.stations import Stations
from hub.projections.workers import Workers
from hub.registry.application import Outcome, Registry, Request
from hub.registry.personal_data import KeysByWorker, check_and_upgrade, load_kek
from hub.registry.recorder import EventStoreReads
from hub.service import metrics
from hub.service.config import Settings
from hub.service.database import event_store_env, migrate, open_database, unavailable
from hub.service.operations import AllowList, PersistedQueries
from hub.service.signals import Signals
from hub.streams.slots import StreamSlots

log = logging.getLogger("hub")

RESTART_SECONDS = 1.0


def projections() -> list[Projection]:
    return [
        EventLog(),
        Agencies(),
        Workers(),
        Courses(),
        Projects(),
        Communities(),
        Stations(),
        Posts(),
    ]


CLOSE_SECONDS = 2
"""How long `Hub.stop` waits for its work and connections to end, in all, before it cuts them."""


async def _bounded(step: Awaitable[object], what: str, deadline: float) -> None:
    """Wait for `step` until `deadline` (loop time), and a moment at least, so it can clean up;
    then cancel it without waiting any longer."""
    task = asyncio.ensure_future(step)
    timeout = max(deadline - asyncio.get_running_loop().time(), 0.5)
    done, _ = await asyncio.wait([task], timeout=timeout)
    if not done:
        task.cancel()
        log.warning("%s did not end in time; cut short", what)
        return
    error = None if task.cancelled() else task.exception()
    if error is None:
        return
    if not unavailable(error):
        raise error
    log.warning("%s failed, the database being out of reach (%s); going on", what, error)


class ReadConnection(asyncpg.Connection):
    """A read-pool connection that counts the statements it sends (see `Hub.statements`)."""

    sent = 0

    async def _execute(self, *args: Any, **kwargs: Any) -> Any:
        ReadConnection.sent += 1
        return await super()._execute(*args, **kwargs)

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and not kwargs:  # a simple query bypasses _execute
            ReadConnection.sent += 1
        return await super().execute(*args, **kwargs)


async def _no_reset(_: asyncpg.Connection) -> None:
    """Read connections keep no session state, so skip asyncpg's reset round trip."""


class Hub:
    """Everything a process of the hub holds; `start` and `stop` bracket its life."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = ""
        self.registry: Registry
        self.pool: asyncpg.Pool
        self.signals: Signals
        self.projector: Projector
        self.keys_by_worker: KeysByWorker
        """Worker keys for the read side, unwrapped with this process's KEK."""
        self._executor = ThreadPoolExecutor(settings.command_threads, thread_name_prefix="command")
        self._projecting: asyncio.Task[None] | None = None
        self.runs_projections = False
        self._stopping = False
        self.background: list[asyncio.Task[Any]] = []
        """Tasks that live as long as this process serves (stopped by `stop`)."""
        self.streams = StreamSlots(settings.max_streams, settings.max_streams_per_token)
        self.persisted = PersistedQueries(settings.persisted_queries)
        self.allowed: AllowList | None = (
            AllowList(settings.operations_refresh_seconds)
            if settings.operations == "allow-listed"
            else None
        )
        """The allow-list, when only listed operations may run."""

    async def start(self, *, project: bool | None = None) -> None:
        """Raises `PersonalDataKeyError` when the KEK is unusable or not the database's."""
        kek = await asyncio.to_thread(load_kek, self.settings.personal_data_key, self.settings.home)
        self.keys_by_worker = KeysByWorker(kek)
        self.database = await asyncio.to_thread(
            open_database, self.settings.database_url, self.settings.home
        )
        self.url = self.database.url
        try:
            await migrate(self.url)
            await check_and_upgrade(self.url, kek)
        except BaseException:
            await asyncio.to_thread(self.database.release)
            raise
        self.registry = await asyncio.to_thread(
            Registry,
            env=event_store_env(self.url),
            kek=kek,
            outcome_check_seconds=self.settings.outcome_check_seconds,
        )
        self.pool = await asyncpg.create_pool(
            self.url,
            min_size=2,
            max_size=10,
            reset=_no_reset,
            connection_class=ReadConnection,
            # compiling a plan costs more than running any query the API sends
            server_settings={
                "jit": "off",
                "statement_timeout": str(self.settings.statement_timeout_ms),
            },
        )
        if self.allowed is not None:
            await self.allowed.load(self.pool)
            following = self.allowed.follow(self.pool)
            self.background.append(asyncio.create_task(following, name="allowed operations"))
        self._projector_pool = await open_pool(self.url)
        self.signals = Signals(self.url)
        self.projector = Projector(
            self._projector_pool,
            self.registry.mapper,
            projections(),
            wake=self.signals.stored,
            batch_size=self.settings.projection_batch,
        )
        positions = await self.projector.positions()
        await self.signals.start(min(positions.values()))
        self.runs_projections = self.settings.run_projections if project is None else project
        if self.runs_projections:
            self._project()
        if self.database.embedded is not None:
            supervising = self.database.embedded.supervise()
            self.background.append(asyncio.create_task(supervising, name="embedded PostgreSQL"))

    def _project(self) -> None:
        """Run the projector; should it ever end before `stop`, log it and run it again."""
        if self._stopping:
            return
        self._projecting = asyncio.create_task(self.projector.run(), name="projector")
        self._projecting.add_done_callback(self._projector_ended)

    def _projector_ended(self, task: asyncio.Task[None]) -> None:
        if self._stopping:
            return
        error = None if task.cancelled() else task.exception()
        log.error(
            "the projector %s; starting it again in %g s",
            "was cancelled" if task.cancelled() else "ended",
            RESTART_SECONDS,
            exc_info=error,
        )
        asyncio.get_running_loop().call_later(RESTART_SECONDS, self._project)

    @property
    def projecting(self) -> bool:
        """Whether this process's projector is running."""
        return self._projecting is not None and not self._projecting.done()

    async def stop(self) -> None:
        """Bounded (`CLOSE_SECONDS`, then the embedded server's stop), so that stopping ends
        whatever state the database is in."""
        self._stopping = True
        deadline = asyncio.get_running_loop().time() + CLOSE_SECONDS
        try:
            for task in self.background:
                task.cancel()
            if self._projecting is not None:
                self._projecting.cancel()
                await _bounded(self._projecting, "the projector", deadline)
            finishing = asyncio.to_thread(self._executor.shutdown, cancel_futures=True)
            await _bounded(finishing, "the running commands", deadline)
            await _bounded(self.signals.stop(), "closing the LISTEN connection", deadline)
            await _bounded(self._projector_pool.close(), "closing the projector's pool", deadline)
            await _bounded(self.pool.close(), "closing the read pool", deadline)
            closing = asyncio.to_thread(self.registry.close)
            await _bounded(closing, "closing the event store", deadline)
        finally:
            await asyncio.to_thread(self.database.release)

    async def command(
        self, run: Callable[[Registry, Request], Outcome], request: Request
    ) -> Outcome:
        """Run a command off the event loop and wait until the read views show it.

        Raises `CommandRefused` when the command is refused (and nothing was written), and
        `OutcomeUnknown` when the database went away while saving and did not come back in time.
        The outcome says whether the read views showed it in time (`visible`).
        """
        loop = asyncio.get_running_loop()
        running = loop.run_in_executor(self._executor, run, self.registry, request)
        outcome = await metrics.counted(request.command, running)
        caught_up = await self.signals.projected_past(
            outcome.position, self.settings.read_your_writes_timeout
        )
        if not caught_up:
            log.warning("read views did not reach position %s in time", outcome.position)
            return dataclasses.replace(outcome, visible=False)
        return outcome

    @property
    def statements(self) -> int:
        """SQL statements the read pools of this process have sent so far."""
        return ReadConnection.sent

    async def projection_lag(self) -> dict[str, Any]:
        """The store's head, each projection's position and lag, and for how long the read
        views have been behind: the age of the oldest stored event they do not include yet
        (0 when they include every one)."""
        async with self.pool.acquire() as conn:
            store = EventStoreReads(conn)
            head = await store.head()
            rows = await conn.fetch("SELECT name, position, updated_at FROM projection_positions")
            held = await every_held(conn)
            oldest = await store.first_after(min((r["position"] for r in rows), default=head))
        behind = 0.0
        if oldest is not None:
            try:
                event = self.registry.mapper.to_domain_event(StoredEvent(**oldest))
            except Exception:  # noqa: BLE001 - a poison event: the projector holds it back
                event = None
            if event is not None:
                behind = max(0.0, (datetime.now(UTC) - event.timestamp).total_seconds())
        return {
            "head": head,
            "behindSeconds": round(behind, 3),
            "projections": {
                r["name"]: {
                    "position": r["position"],
                    "lag": head - r["position"],
                    "updatedAt": r["updated_at"].isoformat(),
                }
                for r in rows
            },
            "heldBack": [h.public() for h in held],
        }

    async def readiness(self) -> tuple[str | None, dict[str, Any]]:
        """Why this process should get no traffic now (None: it is ready), with
        `projection_lag`. Raises when the database cannot be reached."""
        lag = await self.projection_lag()
        if self.runs_projections and not self.projecting:
            return "the projector of this process is not running", lag
        behind, limit = lag["behindSeconds"], self.settings.ready_max_lag_seconds
        if behind > limit:
            return (
                f"the read views have been behind for {behind:.1f} s, more than "
                f"HUB_READY_MAX_LAG_SECONDS ({limit:g} s)",
                lag,
            )
        return None, lag


__all__ = ["CommandRefused", "Hub"]
