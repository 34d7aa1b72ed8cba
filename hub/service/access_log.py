"""Who was shown a worker's name or ID number: the personal-data access log (China's
Personal Information Protection Law expects one).

Every answer that reveals personal data (a query's `name` or `idNumber`, a history entry, a
stream event) calls `AccessLog.reveal`, the one place a reveal is recorded. It only queues the
reveal: a background task writes the queue in batches (`COPY`) every `FLUSH_SECONDS`, or as
soon as `BATCH` rows wait, so no request waits for the log. Reveals of one worker to one request
that are still queued become one row with the fields of both. The queue is bounded
(`HUB_ACCESS_LOG_QUEUE`): past it a reveal is dropped and counted, never silently: the count is
in `/readyz` (`personalDataAccess.dropped`) and the log says so once per overflow. While the
database is out of reach the queue waits for it; `stop` writes what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from hub.domain.envelope import Actor
from hub.service.database import Outage

log = logging.getLogger("hub.access_log")

FLUSH_SECONDS = 0.1
BATCH = 1000
COLUMNS = (
    "at",
    "actor_sub",
    "actor_role",
    "actor_jurisdiction",
    "worker_id",
    "fields",
    "request_id",
)

Key = tuple[str | None, str, str, UUID]
"""One row's identity while queued: request id, the actor's sub and role, the worker."""


@dataclass
class _Row:
    at: datetime
    jurisdiction: str
    fields: list[str] = field(default_factory=list)


class AccessLog:
    """The process's queue of reveals and the task that writes it."""

    def __init__(self, enabled: bool, capacity: int) -> None:
        self.enabled = enabled
        self.capacity = capacity
        self._queued: dict[Key, _Row] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pool: asyncpg.Pool | None = None
        self._flushing = asyncio.Lock()
        self._writing = 0
        """Rows taken from the queue by the write under way."""
        self.written = 0
        self.dropped = 0
        self._overflowing = False

    def reveal(
        self, actor: Actor, request_id: str | None, worker_id: UUID, fields: Iterable[str]
    ) -> None:
        """Record that `actor` was shown `fields` (the API's names: `name`, `idNumber`) of
        worker `worker_id` in the answer to request `request_id`. Never waits."""
        if not self.enabled:
            return
        key = (request_id, actor.sub, actor.role.value, worker_id)
        row = self._queued.get(key)
        if row is None:
            if self.queued >= self.capacity:
                self.dropped += 1
                if not self._overflowing:
                    self._overflowing = True
                    log.error(
                        "the personal-data access log's queue is full (%s rows, "
                        "HUB_ACCESS_LOG_QUEUE): reveals are dropped and counted in /readyz",
                        self.capacity,
                    )
                return
            row = self._queued[key] = _Row(datetime.now(UTC), actor.jurisdiction)
            if len(self._queued) >= BATCH:
                self._wake.set()
        row.fields.extend(f for f in fields if f not in row.fields)

    def start(self, pool: asyncpg.Pool) -> None:
        """Write the queue into `pool`'s database from now on."""
        self._pool = pool
        if self.enabled:
            self._task = asyncio.create_task(self._run(), name="personal-data access log")

    async def stop(self) -> None:
        """Stop the writer, then write what is still queued."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._queued and self._pool is not None:
            try:
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

    @property
    def queued(self) -> int:
        """Rows not written yet, those being written included."""
        return len(self._queued) + self._writing

    def counts(self) -> dict[str, int]:
        """For `/readyz`: rows written, waiting, and dropped because the queue was full."""
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
        """Write every queued row now; rows a failed (or cancelled) write took go back into
        the queue, merged with any reveal queued meanwhile, and the error is raised."""
        assert self._pool is not None
        async with self._flushing:
            while self._queued:
                keys = list(itertools.islice(self._queued, BATCH))
                taken = {k: self._queued.pop(k) for k in keys}
                self._writing = len(taken)
                try:
                    async with self._pool.acquire() as conn:
                        await conn.copy_records_to_table(
                            "personal_data_access",
                            records=[
                                (r.at, k[1], k[2], r.jurisdiction, k[3], r.fields, k[0])
                                for k, r in taken.items()
                            ],
                            columns=COLUMNS,
                        )
                except BaseException:
                    for k, r in self._queued.items():
                        if k in taken:
                            taken[k].fields.extend(f for f in r.fields if f not in taken[k].fields)
                        else:
                            taken[k] = r
                    self._queued = taken
                    raise
                finally:
                    self._writing = 0
                self.written += len(taken)
                if self._overflowing and self.queued < self.capacity:
                    self._overflowing = False


async def access_page(
    pool: asyncpg.Pool,
    *,
    first: int,
    after: int,
    worker: UUID | None,
    actor: str | None,
    start: datetime | None,
    end: datetime | None,
) -> tuple[Sequence[asyncpg.Record], bool, int]:
    """One page of the log in the order it was written, after row `after`, with whether more
    follow and how many rows match in all."""
    conditions, args = [], []
    for column, op, value in (
        ("worker_id", "=", worker),
        ("actor_sub", "=", actor),
        ("at", ">=", start),
        ("at", "<=", end),
    ):
        if value is not None:
            args.append(value)
            conditions.append(f"{column} {op} ${len(args)}")
    where = " AND ".join(conditions) or "true"
    args_page: list[Any] = [*args, after, first + 1]
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            f"SELECT * FROM personal_data_access WHERE {where} AND seq > ${len(args) + 1}"
            f" ORDER BY seq LIMIT ${len(args) + 2}",
            *args_page,
        )
        total = await conn.fetchval(
            f"SELECT count(*) FROM personal_data_access WHERE {where}", *args
        )
    return rows[:first], len(rows) > first, total
