"""Runs projections over the event store: in position order, in batches, exactly once.

Each batch is one transaction that updates every projection's tables and its tracking
position, so a crash at any point leaves each projection at a position it fully applied.
The store's writers serialise on a table lock, so positions commit in order: reading
"after my position" never skips an event that commits later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Protocol
from uuid import UUID

import asyncpg
from eventsourcing.persistence import Mapper

from hub.database import Outage, unavailable
from hub.projections.changes import Change, decode
from hub.projections.timeline import EarlierChanges

log = logging.getLogger("hub.projections")

PROJECTED_CHANNEL = "hub_projected"
IDLE_SECONDS = 1.0
ERROR_PAUSE_SECONDS = 1.0


class Projection(Protocol):
    name: str
    tables: tuple[str, ...]

    async def apply(
        self, conn: asyncpg.Connection, changes: Sequence[Change], earlier: EarlierChanges
    ) -> None:
        """Apply `changes` (in position order); `earlier` gives records' previous changes."""
        ...


async def open_pool(url: str) -> asyncpg.Pool:
    """The projector's connection.

    Its commits wait for the WAL like any other: a batch committed asynchronously is visible,
    and announced by NOTIFY, before it is durable, so a crash of the server could take back a
    position that followers and waiting requests had already been told the views include.
    """
    return await asyncpg.create_pool(url, min_size=1, max_size=1, reset=_keep)


async def _keep(_: asyncpg.Connection) -> None:
    """Skip asyncpg's reset round trip: the projector keeps no session state to reset."""


class Projector:
    def __init__(
        self,
        pool: asyncpg.Pool,
        mapper: Mapper,
        projections: Sequence[Projection],
        wake: asyncio.Event,
        batch_size: int = 500,
    ) -> None:
        self.pool = pool
        self.mapper = mapper
        self.projections = list(projections)
        self.batch_size = batch_size
        self.wake = wake

    async def positions(self) -> dict[str, int]:
        async with self.pool.acquire() as conn:
            await conn.executemany(
                "INSERT INTO projection_positions (name) VALUES ($1) ON CONFLICT DO NOTHING",
                [(p.name,) for p in self.projections],
            )
            rows = await conn.fetch("SELECT name, position FROM projection_positions")
        known = {r["name"]: r["position"] for r in rows}
        return {p.name: known[p.name] for p in self.projections}

    async def step(self) -> int:
        """Apply one batch; return how many stored events it covered (0 when caught up)."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT name, position FROM projection_positions WHERE name = ANY($1) FOR UPDATE",
                [p.name for p in self.projections],
            )
            at = {r["name"]: r["position"] for r in rows}
            start = min(at.values())
            stored = await conn.fetch(
                "SELECT notification_id, originator_id, originator_version, topic, state"
                " FROM registry_events WHERE notification_id > $1"
                " ORDER BY notification_id LIMIT $2",
                start,
                self.batch_size,
            )
            if not stored:
                return 0
            changes = await asyncio.to_thread(
                decode, self.mapper, [tuple(r.values()) for r in stored]
            )
            last = stored[-1]["notification_id"]
            for projection in self.projections:
                behind = [c for c in changes if c.position > at[projection.name]]
                if behind:
                    await projection.apply(conn, behind, self.earlier)
            await conn.execute(
                "UPDATE projection_positions SET position = $2, updated_at = now()"
                " WHERE name = ANY($1) AND position < $2",
                [p.name for p in self.projections],
                last,
            )
            await conn.execute("SELECT pg_notify($1, $2)", PROJECTED_CHANNEL, str(last))
            return len(stored)

    async def earlier(
        self, conn: asyncpg.Connection, ids: Sequence[UUID], upto: int
    ) -> dict[UUID, list[Change]]:
        """Every change of the records `ids` up to position `upto`, in position order."""
        stored = await conn.fetch(
            "SELECT notification_id, originator_id, originator_version, topic, state"
            " FROM registry_events WHERE originator_id = ANY($1) AND notification_id <= $2"
            " ORDER BY notification_id",
            list(ids),
            upto,
        )
        changes = await asyncio.to_thread(decode, self.mapper, [tuple(r.values()) for r in stored])
        found: dict[UUID, list[Change]] = {i: [] for i in ids}
        for change in changes:
            found[change.entity_id].append(change)
        return found

    async def catch_up(self) -> int:
        """Apply every stored event; return how many were covered."""
        await self.positions()
        total = 0
        while covered := await self.step():
            total += covered
        return total

    async def run(self) -> None:
        """Follow the store for ever, woken by its NOTIFY (see `hub.signals`), and at least
        every `IDLE_SECONDS` so that a lost NOTIFY cannot freeze the views.

        A short batch means it was caught up when it read; anything stored since has set
        `wake`, which is cleared before reading. No failure ends it: while the database is out
        of reach it retries (see `Outage`); any other error is logged and retried after a
        pause.
        """
        outage = Outage("projections", log)
        tracked = False
        while True:
            self.wake.clear()
            try:
                if not tracked:
                    await self.positions()
                    tracked = True
                while await self.step() == self.batch_size:
                    pass
            except Exception as error:
                if unavailable(error):
                    await asyncio.sleep(outage.failed(error))
                else:
                    log.exception("projection batch failed; retrying in %g s", ERROR_PAUSE_SECONDS)
                    await asyncio.sleep(ERROR_PAUSE_SECONDS)
                continue
            outage.ended()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), IDLE_SECONDS)

    async def tidy(self) -> None:
        """VACUUM ANALYZE every projection's tables: after a large catch-up the planner's
        statistics are stale and dead versions fill the indexes (autovacuum gets there too,
        later)."""
        tables = [t for p in self.projections for t in p.tables]
        async with self.pool.acquire() as conn:
            await conn.execute(f"VACUUM ANALYZE {', '.join(tables)}")

    async def rebuild(self, names: Sequence[str]) -> None:
        """Empty the named projections' tables and rewind them to position 0."""
        chosen = [p for p in self.projections if p.name in names]
        async with self.pool.acquire() as conn, conn.transaction():
            tables = [table for projection in chosen for table in projection.tables]
            await conn.execute(f"TRUNCATE {', '.join(tables)}")
            await conn.execute(
                "UPDATE projection_positions SET position = 0 WHERE name = ANY($1)",
                [p.name for p in chosen],
            )
