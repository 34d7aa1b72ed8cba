"""Who was shown a worker's name or ID number: the personal-data access log (China's
Personal Information Protection Law expects one).

Every answer that reveals personal data (a query's `name` or `idNumber`, a history entry, a
stream event) calls `AccessLog.reveal` (a planned answer `reveal_answer`, with all its workers
at once), the one place a reveal is recorded. It only queues the reveal: a background task
writes the queue in batches (`COPY`) every `FLUSH_SECONDS`, or as soon as `BATCH` reveals
wait, so no request waits for the log. The reveals of one answer (one request id and actor)
that are queued together become one row listing its workers in the order shown, each with its
fields (a worker shown twice: the fields of both; one text for all of them when they are the
same), so a page of fifty workers is one row, not fifty. The queue is bounded in reveals
(answer, worker) (`HUB_ACCESS_LOG_QUEUE`): past it a reveal is dropped and counted, never
silently: the count is in `/readyz` (`personalDataAccess.dropped`) and the log says so once
per overflow. While the database is out of reach the queue waits for it; `stop` writes what
is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

import asyncpg

from hub.domain.envelope import Actor, Role
from hub.service.database import Outage

log = logging.getLogger("hub.access_log")

FLUSH_SECONDS = 0.1
BATCH = 1000
COLUMNS = (
    "at",
    "actor_sub",
    "actor_role",
    "actor_jurisdiction",
    "request_id",
    "workers",
    "fields",
)

WRITER_SETTINGS = {"synchronous_commit": "off"}
"""The writer's connection: a batch's commit does not wait for its WAL to reach the disk. The
server's WAL writer flushes it within a few tenths of a second, with others, instead of a disk
flush a batch, which cost the server more CPU than writing the rows. A server crash may lose
that last moment of the log, as a hub crash loses what is still queued; a server that stops
in order loses nothing."""


async def _kept(_: asyncpg.Connection) -> None:
    """The writer's connection keeps no session state: no reset (a round trip) a batch."""


Key = tuple[str | None, str, Role]
"""One row's identity while queued: request id, the actor's sub and role. Reveals without a
request id to one actor become one row per batch."""


@dataclass(slots=True)
class _Response:
    """One answer's reveals while queued: each worker shown, in order, with its fields."""

    at: datetime
    jurisdiction: str
    workers: dict[str, str] = field(default_factory=dict)
    """Worker id → fields shown, comma-separated: texts only, which the `COPY` encodes
    cheapest and the garbage collector need not follow while they wait (a list a worker
    would be in every collection until written)."""

    def add(self, worker_id: str, fields: Iterable[str]) -> None:
        shown = self.workers.get(worker_id)
        names = shown.split(",") if shown else []
        names.extend(f for f in fields if f not in names)
        self.workers[worker_id] = ",".join(names)

    def fields(self) -> list[str]:
        """The row's `fields`: each worker's, or one for all of them when they were all shown
        the same (a page of names: one short text, not fifty)."""
        shown = iter(self.workers.values())
        first = next(shown)
        if all(f == first for f in shown):
            return [first]
        return list(self.workers.values())


class AccessLog:
    """The process's queue of reveals and the task that writes it."""

    def __init__(self, enabled: bool, capacity: int) -> None:
        self.enabled = enabled
        self.capacity = capacity
        self._queued: dict[Key, _Response] = {}
        self._reveals = 0
        """(Answer, worker) pairs in `_queued`: what `capacity` bounds."""
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pool: asyncpg.Pool | None = None
        self._flushing = asyncio.Lock()
        self._writing = 0
        """Reveals taken from the queue by the write under way."""
        self.written = 0
        self.dropped = 0
        self._overflowing = False

    def reveal(
        self, actor: Actor, request_id: str | None, worker_id: UUID, fields: Iterable[str]
    ) -> None:
        """Record that `actor` was shown `fields` (the API's names: `name`, `idNumber`) of
        worker `worker_id` in the answer to request `request_id`. Never waits."""
        if self.enabled:
            self.reveal_answer(actor, request_id, {str(worker_id): list(dict.fromkeys(fields))})

    def reveal_answer(
        self, actor: Actor, request_id: str | None, shown: dict[str, list[str]]
    ) -> None:
        """Record that `actor` was shown, in the answer to request `request_id`, each worker
        of `shown` (by id as text, in its order) with its fields (each once): one lookup an
        answer. Never waits."""
        if not self.enabled or not shown:
            return
        key = (request_id, actor.sub, actor.role)
        response = self._queued.get(key)
        if response is None and self.queued + len(shown) <= self.capacity:
            workers = {w: ",".join(f) for w, f in shown.items()}
            self._queued[key] = _Response(datetime.now(UTC), actor.jurisdiction, workers)
            self._reveals += len(shown)
        else:
            for worker_id, fields in shown.items():
                if response is not None and worker_id in response.workers:
                    response.add(worker_id, fields)
                    continue
                if self.queued >= self.capacity:
                    self._drop()
                    continue
                if response is None:
                    response = self._queued[key] = _Response(datetime.now(UTC), actor.jurisdiction)
                response.workers[worker_id] = ",".join(fields)
                self._reveals += 1
        if self._reveals >= BATCH:
            self._wake.set()

    def _drop(self) -> None:
        self.dropped += 1
        if not self._overflowing:
            self._overflowing = True
            log.error(
                "the personal-data access log's queue is full (%s reveals, "
                "HUB_ACCESS_LOG_QUEUE): reveals are dropped and counted in /readyz",
                self.capacity,
            )

    async def start(self, url: str) -> None:
        """Write the queue into the database at `url` (the primary) from now on, on a
        connection of the log's own (`WRITER_SETTINGS`), made when first needed: a database
        out of reach now only holds the queue."""
        self._pool = await asyncpg.create_pool(
            url, min_size=0, max_size=1, server_settings=WRITER_SETTINGS, reset=_kept
        )
        if self.enabled:
            self._task = asyncio.create_task(self._run(), name="personal-data access log")

    async def stop(self) -> None:
        """Stop the writer, write what is still queued, and close its connection."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._pool is None:
            return
        try:
            if self._queued:
                await self.flush()
        except Exception as error:
            # said, never silent: these reveals are not in the log
            log.error(
                "%s rows of the personal-data access log could not be written before "
                "the hub stopped: %s",
                self.queued,
                str(error) or type(error).__name__,
            )
            raise
        finally:
            if self._queued:  # not written: the connection may be stuck, do not wait for it
                self._pool.terminate()
            else:
                await self._pool.close()

    @property
    def queued(self) -> int:
        """Reveals (answer, worker) not written yet, those being written included."""
        return self._reveals + self._writing

    def counts(self) -> dict[str, int]:
        """For `/readyz`: reveals (answer, worker) written, waiting, and dropped because the
        queue was full."""
        return {"written": self.written, "queued": self.queued, "dropped": self.dropped}

    async def _run(self) -> None:
        outage = Outage("the personal-data access log", log)
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), FLUSH_SECONDS)
            self._wake.clear()
            try:
                await self.flush()
                outage.ended()
            except Exception as error:  # noqa: BLE001 - kept queued, written on the next try
                await asyncio.sleep(outage.retry_after(error, "writing the access log failed"))

    async def flush(self) -> None:
        """Write every queued answer now, one row each; answers a failed (or cancelled) write
        took go back into the queue, merged with any reveal queued meanwhile, and the error
        is raised."""
        assert self._pool is not None
        async with self._flushing:
            while self._queued:
                keys = list(itertools.islice(self._queued, BATCH))
                taken = {k: self._queued.pop(k) for k in keys}
                count = sum(len(r.workers) for r in taken.values())
                self._reveals -= count
                self._writing = count
                try:
                    async with self._pool.acquire() as conn:
                        await conn.copy_records_to_table(
                            "personal_data_access",
                            records=[
                                (
                                    r.at,
                                    k[1],
                                    k[2].value,
                                    r.jurisdiction,
                                    k[0],
                                    list(r.workers),
                                    r.fields(),
                                )
                                for k, r in taken.items()
                            ],
                            columns=COLUMNS,
                        )
                except BaseException:
                    for k, r in self._queued.items():
                        if k in taken:
                            for worker_id, fields in r.workers.items():
                                taken[k].add(worker_id, fields.split(","))
                        else:
                            taken[k] = r
                    self._queued = taken
                    self._reveals = sum(len(r.workers) for r in taken.values())
                    raise
                finally:
                    self._writing = 0
                self.written += count
                if self._overflowing and self.queued < self.capacity:
                    self._overflowing = False


Entry = tuple[int, int]
"""One (answer, worker) entry of the log: the row's `seq` and the worker's place in it (1-based)."""


async def access_page(
    pool: asyncpg.Pool,
    *,
    first: int,
    after: Entry,
    worker: UUID | None,
    actor: str | None,
    start: datetime | None,
    end: datetime | None,
) -> tuple[Sequence[asyncpg.Record], bool, int]:
    """One page of the log's entries, one per (answer, worker), in the order written (by row,
    then by the order the row's workers were shown), after entry `after`, with whether more
    follow and how many entries match in all. Each has its row's columns, `place` in the row,
    `worker_id` and its `fields`."""
    conditions, args = [], []
    for column, op, value in (
        ("workers", "@>", None if worker is None else [worker]),
        ("actor_sub", "=", actor),
        ("at", ">=", start),
        ("at", "<=", end),
    ):
        if value is not None:
            args.append(value)
            conditions.append(f"a.{column} {op} ${len(args)}")
    where = " AND ".join(conditions) or "true"
    chosen = "true" if worker is None else "w.worker_id = ANY($1)"
    # one text of fields for all of a row's workers, or one for each (migration 017)
    fields = "a.fields[least(w.place, cardinality(a.fields))]"
    n = len(args)
    counted = "count(*)" if worker is not None else "coalesce(sum(cardinality(a.workers)), 0)"
    async with pool.acquire() as conn:
        # Planned for the values at hand each time (statements of their own, not the
        # connection's cache): a plan PostgreSQL keeps for any worker may walk the log in
        # `seq` order until it meets enough of the worker's rows, all of it for a worker
        # seldom shown, where the worker's own (the GIN index, then a sort) takes milliseconds.
        listed = await conn.prepare(
            "SELECT a.seq, a.at, a.actor_sub, a.actor_role, a.actor_jurisdiction, a.request_id,"
            " w.place, w.worker_id,"
            f" string_to_array({fields}, ',') AS fields"
            " FROM personal_data_access a,"
            " unnest(a.workers) WITH ORDINALITY AS w(worker_id, place)"
            f" WHERE {where} AND {chosen} AND a.seq >= ${n + 1}"
            f" AND (a.seq, w.place) > (${n + 1}, ${n + 2})"
            f" ORDER BY a.seq, w.place LIMIT ${n + 3}"
        )
        rows = await listed.fetch(*args, after[0], after[1], first + 1)
        total = await (
            await conn.prepare(f"SELECT {counted} FROM personal_data_access a WHERE {where}")
        ).fetchval(*args)
    return rows[:first], len(rows) > first, total
