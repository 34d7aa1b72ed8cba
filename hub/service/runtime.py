"""The running hub: its database, the registry application, the read pool, the projector."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from importlib.resources.abc import Traversable
from typing import Any
from uuid import UUID

import asyncpg
from eventsourcing.persistence import StoredEvent

from hub.domain.errors import CommandRefused
from hub.projections.agencies import Agencies
from hub.projections.communities import Communities
from hub.projections.courses import Courses
from hub.projections.event_log import EventLog
from hub.projections.held_back import Held, every_held, held_back
from hub.projections.posts import Posts
from hub.projections.projects import Projects
from hub.projections.runner import Projection, Projector, open_pool
from hub.projections.stations import Stations
from hub.projections.workers import Workers
from hub.registry.application import Outcome, Registry, Request
from hub.registry.personal_data import KeysByWorker, check_and_upgrade, load_kek
from hub.registry.recorder import EventStoreReads
from hub.service import metrics
from hub.service.access_log import AccessLog
from hub.service.config import Settings
from hub.service.database import (
    Outage,
    event_store_env,
    migrate,
    migrated,
    migration_files,
    open_database,
    unavailable,
)
from hub.service.indicator_cache import IndicatorCache
from hub.service.operations import AllowList, PersistedQueries
from hub.service.signals import Signals
from hub.streams.slots import StreamSlots

log = logging.getLogger("hub")

RESTART_SECONDS = 1.0
LEASE = "hub.projector"
"""The advisory lock whose holder, one process of all those on the database, runs the projector."""
LEASE_SECONDS = 0.5
"""How often a process waiting for the lease tries for it, and the holder checks it still has it."""


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
        self.migrations: list[Traversable] = []
        """The SQL migrations this hub applies (`migration_files`)."""
        self.registry: Registry
        self.pool: asyncpg.Pool
        self.signals: Signals
        self.projector: Projector
        self.keys_by_worker: KeysByWorker
        """Worker keys for the read side, unwrapped with this process's KEK."""
        self._executor = ThreadPoolExecutor(settings.command_threads, thread_name_prefix="command")
        self._projecting: asyncio.Task[None] | None = None
        self._holding: tuple[int, asyncio.Future[bool]] | None = None
        """The views generation, and whether the views held any record back then."""
        self._leasing: asyncio.Task[None] | None = None
        self.replica_url = settings.read_database_url
        """Where reads go, when not to the primary (`HUB_READ_DATABASE_URL`)."""
        self.indicator_cache = IndicatorCache(
            lambda: self.signals.generation,
            0 if self.replica_url else settings.indicator_cache,
        )
        """Answers of `indicators` and `indicatorSeries` (`HUB_INDICATOR_CACHE`). None are kept
        with a read replica: the views generation moves when the primary's views do, and the
        replica replays that later; a rebuild's swap or a retry leaves the positions where they
        were, so there is no position to wait for on the replica, and an answer read from it
        meanwhile would be kept under the new generation, stale."""
        self.runs_projections = False
        self.leads = False
        """Whether this process holds the lease (`LEASE`), so runs the projector."""
        self._stopping = False
        self.background: list[asyncio.Task[Any]] = []
        """Tasks that live as long as this process serves (stopped by `stop`)."""
        self.streams = StreamSlots(settings.max_streams, settings.max_streams_per_token)
        self.access_log = AccessLog(settings.personal_data_access_log, settings.access_log_queue)
        """Who was shown personal data (`AccessLog.reveal`), written off the request path."""
        self.persisted = PersistedQueries(settings.persisted_queries)
        self.allowed: AllowList | None = (
            AllowList(settings.operations_refresh_seconds)
            if settings.operations == "allow-listed"
            else None
        )
        """The allow-list, when only listed operations may run."""

    async def start(self, *, project: bool | None = None, migrating: bool = False) -> None:
        """Raises `PersonalDataKeyError` when the KEK is unusable or not the database's, and
        `MigrationPending` when a migration that rebuilds projections beside the live views
        waits (unless `migrating`: `hub migrate` starts the hub to run it)."""
        self.migrations = migration_files(self.settings.migrations)
        kek = await asyncio.to_thread(load_kek, self.settings.personal_data_key, self.settings.home)
        self.keys_by_worker = KeysByWorker(kek)
        self.database = await asyncio.to_thread(
            open_database, self.settings.database_url, self.settings.home
        )
        self.url = self.database.url
        try:
            if migrating:
                await migrate(self.url, self.migrations)
            else:
                await migrated(self.url, self.migrations)
            await check_and_upgrade(self.url, kek)
        except BaseException:
            await asyncio.to_thread(self.database.release)
            raise
        self.registry = await asyncio.to_thread(
            Registry,
            env=event_store_env(self.url),
            kek=kek,
            outcome_check_seconds=self.settings.outcome_check_seconds,
            group_commit_ms=self.settings.group_commit_ms,
        )
        self.pool = await asyncpg.create_pool(
            self.replica_url or self.url,
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
        self.primary: asyncpg.Pool = self.pool
        """The read pool's twin on the primary, for what a replica cannot answer or take."""
        if self.replica_url:
            self.primary = await asyncpg.create_pool(self.url, min_size=1, max_size=2)
        await self.access_log.start(self.url)
        if self.allowed is not None:
            await self.allowed.load(self.pool)
            following = self.allowed.follow(self.pool)
            self.background.append(asyncio.create_task(following, name="allowed operations"))
        self._projector_pool = await open_pool(self.url)
        self.signals = Signals(self.url, replica=self.pool if self.replica_url else None)
        self.projector = Projector(
            self._projector_pool,
            self.registry.mapper,
            projections(),
            wake=self.signals.stored,
            batch_size=self.settings.projection_batch,
            projected=self.signals.announce,
            url=self.url,
        )
        positions = await self.projector.positions()
        await self.signals.start(min(positions.values()))
        self.runs_projections = self.settings.run_projections if project is None else project
        if self.runs_projections:
            tried = asyncio.Event()
            self._leasing = asyncio.create_task(self._lease(tried), name="projector lease")
            self.background.append(self._leasing)
            # one process alone on its database projects from its start, as it did before leases
            waiting = asyncio.ensure_future(tried.wait())
            await asyncio.wait([waiting, self._leasing], return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
        if self.database.embedded is not None:
            supervising = self.database.embedded.supervise()
            self.background.append(asyncio.create_task(supervising, name="embedded PostgreSQL"))

    async def _lease(self, tried: asyncio.Event) -> None:
        """Run the projector while this process holds the lease, so that one process of all
        those on the database projects (`hub serve --workers N`), and another takes over
        within `LEASE_SECONDS` when it dies or loses its connection."""
        outage = Outage("the projector's lease", log)
        while True:
            try:
                conn = await asyncpg.connect(
                    self.url, server_settings={"application_name": f"hub projector {os.getpid()}"}
                )
            except Exception as error:
                if not unavailable(error):
                    raise
                await asyncio.sleep(outage.failed(error))
                continue
            try:
                while not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", LEASE):
                    tried.set()
                    await asyncio.sleep(LEASE_SECONDS)
                outage.ended()
                log.info("process %s holds the projector's lease: it projects", os.getpid())
                self.leads = True
                self._project()
                tried.set()
                while True:
                    await asyncio.sleep(LEASE_SECONDS)
                    await conn.fetchval("SELECT 1")
            except Exception as error:
                if not unavailable(error):
                    raise
                log.warning("the projector's lease is lost (%s); trying for it again", error)
                await asyncio.sleep(outage.failed(error))
            finally:
                self.leads = False
                if self._projecting is not None:
                    self._projecting.cancel()
                conn.terminate()

    def _project(self) -> None:
        """Run the projector; should it ever end before `stop`, log it and run it again."""
        if self._stopping or not self.leads:
            return
        self._projecting = asyncio.create_task(self.projector.run(), name="projector")
        self._projecting.add_done_callback(self._projector_ended)

    def _projector_ended(self, task: asyncio.Task[None]) -> None:
        if self._stopping or not self.leads:
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
            # first, while the database is surely there: what the log still holds
            await _bounded(self.access_log.stop(), "writing the access log", deadline)
            if self._projecting is not None:
                self._projecting.cancel()
                await _bounded(self._projecting, "the projector", deadline)
            finishing = asyncio.to_thread(self._executor.shutdown, cancel_futures=True)
            await _bounded(finishing, "the running commands", deadline)
            await _bounded(self.signals.stop(), "closing the LISTEN connection", deadline)
            await _bounded(self._projector_pool.close(), "closing the projector's pool", deadline)
            await _bounded(self.pool.close(), "closing the read pool", deadline)
            if self.primary is not self.pool:
                await _bounded(self.primary.close(), "closing the primary's pool", deadline)
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

    async def held_back(self, record_id: UUID) -> Held | None:
        """Whether a view holds the record back (see `held_back`), for a change the views
        showed in time. While they hold nothing back, one query per views generation answers
        for every change it covers (each waited for the batch that moved it, which wrote
        whatever it held back); with a replica, which replays that later, each asks."""
        if self.replica_url is None and not await self._holding_any():
            return None
        return await held_back(self.pool, record_id)

    def holds_nothing(self) -> bool:
        """Whether `held_back` is known to answer None for any record now, without asking
        the database (the views held nothing back in this views generation)."""
        holding = self._holding
        return (
            self.replica_url is None
            and holding is not None
            and holding[0] == self.signals.generation
            and holding[1].done()
            and not holding[1].cancelled()
            and holding[1].exception() is None
            and holding[1].result() is False
        )

    async def _holding_any(self) -> bool:
        generation = self.signals.generation
        if self._holding is None or self._holding[0] != generation:
            asked = self.pool.fetchval("SELECT EXISTS (SELECT FROM held_back)")
            self._holding = (generation, asyncio.ensure_future(asked))
        holding = self._holding
        try:
            return await asyncio.shield(holding[1])
        except Exception:
            if self._holding is holding:
                self._holding = None  # not kept: the next one asks again
            raise

    @property
    def statements(self) -> int:
        """SQL statements the read pools of this process have sent so far."""
        return ReadConnection.sent

    async def projection_lag(self) -> dict[str, Any]:
        """The store's head, each projection's position and lag, and for how long the read
        views have been behind: the age of the oldest stored event they do not include yet
        (0 when they include every one)."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch("SELECT name, position, updated_at FROM projection_positions")
            held = await every_held(conn)
        async with self.primary.acquire() as conn:
            store = EventStoreReads(conn)
            head = await store.head()
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
            **({"replica": await self.replica_lag()} if self.replica_url else {}),
        }

    async def replica_lag(self) -> dict[str, Any]:
        """How far the read replica is behind the primary: WAL bytes not replayed yet, and the
        age of the last transaction it replayed when it has not replayed all it received."""
        primary_lsn = await self.primary.fetchval("SELECT pg_current_wal_lsn()::text")
        row = await self.pool.fetchrow(
            "SELECT pg_wal_lsn_diff($1::text::pg_lsn, pg_last_wal_replay_lsn()) AS bytes,"
            " CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
            " ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END AS seconds",
            primary_lsn,
        )
        return {
            "replayLagBytes": max(0, int(row["bytes"] or 0)),
            "replayLagSeconds": round(float(row["seconds"] or 0), 3),
        }

    async def readiness(self) -> tuple[str | None, dict[str, Any]]:
        """Why this process should get no traffic now (None: it is ready), with
        `projection_lag`. Raises when the database cannot be reached."""
        lag = await self.projection_lag()
        if self.runs_projections and self.leads and not self.projecting:
            return "the projector of this process is not running", lag
        if self.runs_projections and (self._leasing is None or self._leasing.done()):
            return "this process no longer tries for the projector's lease", lag
        behind, limit = lag["behindSeconds"], self.settings.ready_max_lag_seconds
        if behind > limit:
            return (
                f"the read views have been behind for {behind:.1f} s, more than "
                f"HUB_READY_MAX_LAG_SECONDS ({limit:g} s)",
                lag,
            )
        return None, lag


__all__ = ["CommandRefused", "Hub"]
