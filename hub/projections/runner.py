"""Runs projections over the event store: in position order, in batches, exactly once.

Each batch is one transaction that updates every projection's tables and its tracking
position, so a crash at any point leaves each projection at a position it fully applied.
The store's writers serialise on a table lock, so positions commit in order: reading
"after my position" never skips an event that commits later.

An event a projection cannot apply (or nobody can decode) does not stop the views: that
projection holds its record back (`hub.projections.held_back`) and every other record goes on.

A rebuild (`Projector.rebuild`) builds beside the live views: in a schema of its own that
holds empty copies of the projections' tables (and of the positions and held-back records),
reached first on the search path, so the projections' own SQL writes there unchanged. The
copies are worked out in memory (`Projector.replay`) and written in bulk. It swaps the copies
in within one short transaction; until then the live views answer as they were.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import re
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import astuple, dataclass
from typing import Protocol, TypeVar
from uuid import UUID

import asyncpg
from eventsourcing.persistence import Mapper

from hub.projections.apart import Apart, Tokens, may_fork
from hub.projections.changes import Change, Row, decode, decode_row
from hub.projections.held_back import Held, every_held, hold, holding, release, release_all
from hub.projections.timeline import EVERYTHING, EarlierChanges
from hub.registry.recorder import EventStoreReads
from hub.service.database import Outage, unavailable
from hub.service.progress import Meter, meter

log = logging.getLogger(__name__)
T = TypeVar("T")

PROJECTED_CHANNEL = "hub_projected"
SHADOW = "hub_rebuild"
"""The schema a rebuild builds in; what a rebuild cut short leaves there is dropped by the next."""
REBUILD_LOCK = "hub.rebuild"
SWAP_LOCK_TIMEOUT = "2s"
"""How long the swap waits for a query still reading a live table before it lets the views go
on, catches the copies up further and tries again (queries arriving meanwhile wait behind it)."""
CATCH_UP_BATCHES = 40
"""A catch-up's transactions are this many batches long at most (at 500, 20,000 events: a
third more events/s than 5,000, for the fewer round trips and the longer COPYs)."""
REPLAY_PAGE = 5000
"""Stored events a rebuild's replay reads at a time."""
REPLAY_STEPS = 10
"""A rebuild replays each projection in this many steps, counting its progress after each."""
REBUILD_MAINTENANCE_MEMORY = "256MB"
"""`maintenance_work_mem` of the transactions that build a rebuild's indexes on its copies."""
IDLE_SECONDS = 1.0
ERROR_PAUSE_SECONDS = 1.0
_MOVE = (  # a batch's last step: its projections are at its last position
    "UPDATE projection_positions SET position = $2, updated_at = now()"
    " WHERE name = ANY($1) AND position < $2"
)
_ANNOUNCE_WHERE_VIEWS_ARE = (  # as a batch's NOTIFY, for a change that moves no position
    "SELECT pg_notify($1, min(position)::text) FROM projection_positions"
)


class Replay(Protocol):
    """A projection replayed in memory from position 0, for a rebuild."""

    def add(self, changes: Sequence[Change]) -> list[tuple[UUID, int, Exception]]:
        """Apply `changes` (in position order); (record, position, error) of each record an
        event of which fails: it stays as before that event, and its later events are skipped."""
        ...

    async def write(self, conn: asyncpg.Connection) -> None:
        """Write what was replayed into the projection's (empty) tables."""
        ...


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


@dataclass(frozen=True)
class Retried:
    """What a retry of one held-back record did."""

    held: Held
    """The record as it was held."""
    applied: int
    """Its events applied now."""
    again: Held | None
    """Where it is held now, if an event failed again."""


Decoded = tuple[list[Change], list[tuple[Row, str]]]
"""A batch's changes, and each row that does not decode with why."""


def _decode_batch(mapper: Mapper, rows: list[Row]) -> Decoded:
    """The changes of the rows that decode, and each row that does not, with why."""
    changes, undecodable = [], []
    for row in rows:
        try:
            change = decode_row(mapper, row)
        except Exception as error:  # whatever the reason, the record is held back
            undecodable.append((row, _say(error)))
            continue
        if change is not None:
            changes.append(change)
    return changes, undecodable


INLINE_DECODING = 100
"""Stored events a batch decodes on the event loop: fewer decode in less time than a thread's
hand-off takes (a mutation's batch holds a few); more would keep the loop from requests."""


async def _off_the_loop(size: int, decoding: Callable[..., T], *args: object) -> T:
    """`decoding(*args)` for `size` stored events: in a thread if they are many."""
    if size < INLINE_DECODING:
        return decoding(*args)
    return await asyncio.to_thread(decoding, *args)


def _say(error: BaseException) -> str:
    """The error on one line (the database adds its detail on lines of their own), storable
    as text (a decoding error may quote the NUL that made it)."""
    return " ".join(f"{type(error).__name__}: {error}".replace("\x00", "\\x00").split())


class Projector:
    def __init__(
        self,
        pool: asyncpg.Pool,
        mapper: Mapper,
        projections: Sequence[Projection],
        wake: asyncio.Event,
        batch_size: int = 500,
        *,
        announce: bool = True,
        projected: Callable[[int], None] | None = None,
        url: str | None = None,
    ) -> None:
        self.pool = pool
        self.url = url
        """Where the store is, for a rebuild's second process to connect to (none without)."""
        self.mapper = mapper
        self.projections = list(projections)
        self.batch_size = batch_size
        self.wake = wake
        self.announce = announce
        """Whether each batch tells the listeners where the views are (not a rebuild's copies,
        which no query reads)."""
        self.projected = projected
        """Told each announced position once its batch has committed: this process's waiters
        need not wait for the NOTIFY to come back from the server."""
        self._reached: int | None = None

    async def positions(self) -> dict[str, int]:
        async with self.pool.acquire() as conn:
            await conn.executemany(
                "INSERT INTO projection_positions (name) VALUES ($1) ON CONFLICT DO NOTHING",
                [(p.name,) for p in self.projections],
            )
            rows = await conn.fetch("SELECT name, position FROM projection_positions")
        known = {r["name"]: r["position"] for r in rows}
        return {p.name: known[p.name] for p in self.projections}

    async def step(self, size: int | None = None) -> int:
        """Apply one batch (of `size` events at most, default the batch size); return how many
        stored events it covered (0 when caught up).

        The batch is applied in one go; if that fails for a reason other than the database
        being out of reach, it is applied again event by event, holding back the records whose
        events fail.
        """
        self._reached = None
        with _collecting_paused():
            covered = await self._step(size)
        if self._reached is not None and self.projected is not None:
            self.projected(self._reached)
        return covered

    async def _step(self, size: int | None) -> int:
        async with self.pool.acquire() as conn:
            try:
                async with conn.transaction():
                    covered, held = await self._batch(conn, size, one_by_one=False)
            except Exception as error:
                if unavailable(error):
                    raise
                log.warning(
                    "a projection batch failed (%s); applying it event by event", _say(error)
                )
                async with conn.transaction():
                    covered, held = await self._batch(conn, size, one_by_one=True)
            for h in held:
                log.error(
                    "projection %s holds back record %s at position %s: %s"
                    " (its later events wait for `hub project --retry`)",
                    h.projection,
                    h.entity_id,
                    h.position,
                    h.error,
                )
        return covered

    async def _batch(
        self, conn: asyncpg.Connection, size: int | None, *, one_by_one: bool
    ) -> tuple[int, list[Held]]:
        """Apply the next batch; return how many stored events it covered, and the records
        it held back."""
        rows = await conn.fetch(
            "SELECT name, position FROM projection_positions WHERE name = ANY($1) FOR UPDATE",
            [p.name for p in self.projections],
        )
        at = {r["name"]: r["position"] for r in rows}
        start = min(at.values())
        stored = await EventStoreReads(conn).events_after(start, size or self.batch_size)
        if not stored:
            return 0, []
        changes, undecodable = await _off_the_loop(
            len(stored), _decode_batch, self.mapper, [tuple(r) for r in stored]
        )
        held = await holding(conn, list({r["originator_id"] for r in stored}))
        newly: dict[tuple[str, UUID], Held] = {}

        def hold_back(name: str, entity_id: UUID, position: int, error: str) -> None:
            if held.get((name, entity_id), EVERYTHING) > position:
                held[(name, entity_id)] = position
                newly[(name, entity_id)] = Held(name, entity_id, position, error)

        def pending(projection: Projection, change: Change) -> bool:
            return (
                change.position > at[projection.name]
                and held.get((projection.name, change.entity_id), EVERYTHING) > change.position
            )

        for (position, entity_id, *_), error in undecodable:
            for projection in self.projections:
                if position > at[projection.name]:
                    hold_back(projection.name, entity_id, position, error)
        if one_by_one:
            for change in changes:
                for projection in self.projections:
                    if not pending(projection, change):
                        continue
                    try:
                        async with conn.transaction():
                            await projection.apply(conn, [change], self.earlier)
                    except Exception as error:
                        if unavailable(error):
                            raise
                        hold_back(projection.name, change.entity_id, change.position, _say(error))
        else:
            for projection in self.projections:
                behind = changes
                if changes and (
                    at[projection.name] >= changes[0].position
                    or any(name == projection.name for name, _ in held)
                ):
                    behind = [c for c in changes if pending(projection, c)]
                if behind:
                    await projection.apply(conn, behind, self.earlier)
        await hold(conn, list(newly.values()))
        last = stored[-1]["notification_id"]
        names = [p.name for p in self.projections]
        if self.announce:  # one round trip moves the positions and tells the listeners
            await conn.execute(
                f"WITH moved AS ({_MOVE}) SELECT pg_notify($3, $2::text)",
                names,
                last,
                PROJECTED_CHANNEL,
            )
            self._reached = last
        else:
            await conn.execute(_MOVE, names, last)
        return len(stored), list(newly.values())

    async def retry(self) -> list[Retried]:
        """Apply every held-back record's events again, from the one that failed up to its
        projection's position, in position order; release the record if they all apply, or
        hold it at the event that fails now.

        Each record is retried in a transaction that locks its projection's position (and ends
        with the NOTIFY a batch sends, as the views changed though no position moved), so a
        projector running in another process waits rather than racing it.
        """
        named = {p.name: p for p in self.projections}
        outcomes = []
        for before in await every_held(self.pool):
            projection = named.get(before.projection)
            if projection is None:
                continue
            async with self.pool.acquire() as conn, conn.transaction():
                at = await conn.fetchval(
                    "SELECT position FROM projection_positions WHERE name = $1 FOR UPDATE",
                    projection.name,
                )
                key = (projection.name, before.entity_id)
                since = (await holding(conn, [before.entity_id])).get(key)
                if since is None:  # retried meanwhile by another process
                    continue
                stored = await EventStoreReads(conn).events_between(before.entity_id, since, at)
                applied, again = 0, None
                for row in stored:
                    try:
                        async with conn.transaction():
                            change = decode_row(self.mapper, tuple(row.values()))
                            if change is not None:
                                await projection.apply(conn, [change], self.earlier)
                    except Exception as error:
                        if unavailable(error):
                            raise
                        again = Held(*key, row["notification_id"], _say(error))
                        break
                    applied += change is not None
                if again is None:
                    await release(conn, *key)
                else:
                    await hold(conn, [again])
                # the views changed under their positions: readers keeping answers must know
                await conn.execute(_ANNOUNCE_WHERE_VIEWS_ARE, PROJECTED_CHANNEL)
            outcomes.append(Retried(before, applied, again))
        return outcomes

    async def earlier(
        self, conn: asyncpg.Connection, ids: Sequence[UUID], upto: int
    ) -> dict[UUID, list[Change]]:
        """Every change of the records `ids` up to position `upto`, in position order."""
        stored = await EventStoreReads(conn).events_of(ids, upto)
        changes = await _off_the_loop(len(stored), decode, self.mapper, [tuple(r) for r in stored])
        found: dict[UUID, list[Change]] = {i: [] for i in ids}
        for change in changes:
            found[change.entity_id].append(change)
        return found

    async def replay(
        self,
        progress: Meter | None = None,
        also: Sequence[asyncpg.Connection] = (),
        indexes: Mapping[str, Sequence[str]] | None = None,
    ) -> int:
        """Apply every stored event to projections at position 0 (a rebuild's empty copies)
        in memory, then write their tables in bulk; return how many stored events it covered
        (counted on `progress`).

        The stored events are read in parts, one on this projector's connection and one on
        each of `also` (with the same search path). Each projection's `replay` works its
        records out event by event as live batches do (in a thread), and holds back the same
        records. Its tables are written while the next projection is worked out, in a
        transaction of its own, on whichever connection is free; then each of `indexes` (per
        table, statements that build an index if missing) of its tables is built, on
        whichever is free, and each table is vacuumed and analyzed once its last index is in.
        Given the store's `url` and a second core, a second process shares the work
        (`hub.projections.apart`), with connections of its own.
        The positions move once all are written. A projection with no `replay`, or a bulk
        write the database refuses, makes it build the indexes, empty the tables and catch up
        batch by batch instead.
        """
        indexes = indexes or {}
        names = [p.name for p in self.projections]
        makers = [getattr(p, "replay", None) for p in self.projections]
        if any(make is None for make in makers) or any((await self.positions()).values()):
            return await self._caught_up(progress, indexes)
        replays = {name: make() for name, make in zip(names, makers, strict=True) if make}
        held: dict[tuple[str, UUID], Held] = {}
        started = time.monotonic()
        changes: list[Change] = []
        position = covered = 0
        async with self.pool.acquire() as conn, contextlib.AsyncExitStack() as paused:
            gc.collect()  # what earlier work left is not carried through the replay (and fork)
            paused.enter_context(_collecting_paused())  # from the first read to the last write
            readers = (conn, *also)
            head = await EventStoreReads(conn).head()
            splits = [head * k // len(readers) for k in range(len(readers))]
            reading = [
                asyncio.ensure_future(self._read_part(reader, after, upto))
                for reader, after, upto in zip(readers, splits, [*splits[1:], None], strict=True)
            ]
            try:
                parts = await asyncio.gather(*reading)
            except BaseException:  # the other parts stop too, their connections free again
                for part in reading:
                    part.cancel()
                await asyncio.gather(*reading, return_exceptions=True)
                raise
            for part in parts:
                for stored, (decoded, undecodable) in part:
                    changes += decoded
                    for (at, entity_id, *_), error in undecodable:
                        for name in names:
                            _hold_back(held, name, entity_id, at, error)
                    position = stored[-1]["notification_id"]
                    covered += len(stored)
            del parts, reading  # the rows read go: only their changes are kept
            read = time.monotonic()
            done = 0.0
            advanced = 0

            def count(share: float) -> None:
                """Count `share` (of 1) more of the replay as done on `progress`."""
                nonlocal done, advanced
                done += share
                if progress is not None and (reached := int(covered * done)) > advanced:
                    progress.advance(reached - advanced)
                    advanced = reached

            order = await _largest_first(conn, self.projections)
            tokens = Tokens(len(order))
            out = _WorkingOut(replays, order, tokens, changes, held, indexes, read)
            apart: Apart | None = None
            answer: asyncio.Future[dict[tuple[str, UUID], Held]] | None = None
            try:
                try:
                    if self.url is not None and may_fork():
                        path = await conn.fetchval("SHOW search_path")
                        apart = Apart.fork(functools.partial(out.apart, self.url, path))
                        answer = asyncio.ensure_future(apart.result(count))
                    await out.run((conn, *also), count)
                    if answer is not None:
                        held.update(await answer)
                finally:
                    tokens.close()
                    if apart is not None:
                        await asyncio.to_thread(apart.stop)
                    if answer is not None and not answer.done():
                        answer.cancel()
                changes.clear()  # gone before the collector resumes, which would scan them
                await paused.aclose()
                async with conn.transaction():
                    await hold(conn, list(held.values()))
                    await conn.execute(
                        "UPDATE projection_positions SET position = $2, updated_at = now()"
                        " WHERE name = ANY($1)",
                        names,
                        position,
                    )
            except Exception as error:
                await paused.aclose()
                if unavailable(error):
                    raise
                log.warning(
                    "the rebuild's bulk write failed (%s); going batch by batch", _say(error)
                )
                tables = [t for p in self.projections for t in p.tables]
                await conn.execute(f"TRUNCATE {', '.join(tables)}")
                return await self._caught_up(None, indexes)
        log.info(
            "replayed %d events: read in %.1f s, worked out and written in %.1f s%s",
            covered,
            read - started,
            time.monotonic() - read,
            " (in two processes)" if apart is not None else "",
        )
        for h in held.values():
            log.error("projection %s holds back record %s at position %s: %s", *astuple(h))
        return covered

    async def _caught_up(self, progress: Meter | None, indexes: Mapping[str, Sequence[str]]) -> int:
        """`catch_up` for a replay that cannot write in bulk: its indexes built first (batches
        read the tables through them), its tables vacuumed and analyzed after."""
        async with self.pool.acquire() as conn:
            for statements in indexes.values():
                for statement in statements:
                    await conn.execute(statement)
        covered = await self.catch_up(progress)
        await self.tidy()
        return covered

    async def _read_part(
        self, conn: asyncpg.Connection, after: int, upto: int | None
    ) -> list[tuple[list[asyncpg.Record], Decoded]]:
        """The stored events after position `after`, up to `upto` (to the end if None), page
        by page, decoded: a replay reads its parts on all its connections at once, and each
        reads its next page while this one is decoded."""
        reads = EventStoreReads(conn)
        pages = []
        fetching = asyncio.ensure_future(reads.events_after(after, REPLAY_PAGE))
        while fetching is not None and (stored := await fetching):
            last, fetching = stored[-1]["notification_id"], None
            if upto is None or last < upto:
                fetching = asyncio.ensure_future(reads.events_after(last, REPLAY_PAGE))
            else:
                stored = [r for r in stored if r["notification_id"] <= upto]
            if stored:
                pages.append((stored, await self._decode(stored)))
        return pages

    async def _decode(self, stored: list[asyncpg.Record]) -> Decoded:
        return await asyncio.to_thread(
            lambda: _decode_batch(self.mapper, [tuple(r) for r in stored])
        )

    async def stored(self) -> int:
        """How many events are stored: what a rebuild covers."""
        return await EventStoreReads(self.pool).count_after(0)

    async def behind(self) -> int:
        """How many stored events the furthest-behind projection has yet to cover."""
        lowest = min((await self.positions()).values())
        async with self.pool.acquire() as conn:  # (a rebuild's copies' projector has no pool)
            return await EventStoreReads(conn).count_after(lowest)

    async def catch_up(self, progress: Meter | None = None) -> int:
        """Apply every stored event; return how many were covered (counted on `progress`).

        It takes up to `CATCH_UP_BATCHES` batches in one transaction: fewer round trips and
        commits, and one COPY per table for more rows.
        """
        await self.positions()
        size = self._catching_up(await self.behind())
        total = 0
        while covered := await self.step(size):
            total += covered
            if progress is not None:
                progress.advance(covered)
        return total

    def _catching_up(self, behind: int) -> int:
        """Events a catch-up's transactions take when `behind`: as many as `CATCH_UP_BATCHES`
        batches hold, but a tenth of the way at most, so that its progress shows as it goes."""
        return max(self.batch_size, min(self.batch_size * CATCH_UP_BATCHES, -(-behind // 10)))

    async def run(self) -> None:
        """Follow the store for ever, woken by its NOTIFY (see `hub.service.signals`), and at least
        every `IDLE_SECONDS` so that a lost NOTIFY cannot freeze the views.

        A short batch means it was caught up when it read; anything stored since has set
        `wake`, which is cleared before reading. Behind by more than a batch (at its start, or
        after a bulk load), it goes in the longer transactions of `catch_up` until caught up.
        No failure ends it: while the database is out of reach it retries (see `Outage`); any
        other error is logged and retried after a pause.
        """
        outage = Outage("projections", log)
        tracked = False
        catching_up: Meter | None = None
        try:
            while True:
                self.wake.clear()
                try:
                    if not tracked:
                        behind = await self.behind()
                        if behind > self.batch_size:
                            catching_up = meter(
                                "projections catching up",
                                behind,
                                unit="events",
                                say=log.info,
                                stream=sys.stderr,  # beside the log
                            )
                        tracked = True
                    size = self._catching_up(behind) if catching_up else self.batch_size
                    while (covered := await self.step(size)) == size:
                        if catching_up is not None:
                            catching_up.advance(covered)
                        size = self.batch_size * CATCH_UP_BATCHES  # behind: as `catch_up` goes
                    if catching_up is not None:
                        catching_up.advance(covered)
                        catching_up.finish("caught up")
                        catching_up = None
                except Exception as error:
                    failure = "projection batch failed"
                    await asyncio.sleep(outage.retry_after(error, failure, ERROR_PAUSE_SECONDS))
                    continue
                outage.ended()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), IDLE_SECONDS)
        finally:
            if catching_up is not None:  # cut short by `stop`
                catching_up.finish("stopped")

    async def tidy(self) -> None:
        """VACUUM ANALYZE every projection's tables: after a large catch-up the planner's
        statistics are stale and dead versions fill the indexes (autovacuum gets there too,
        later)."""
        tables = [t for p in self.projections for t in p.tables]
        async with self.pool.acquire() as conn:
            await conn.execute(f"VACUUM ANALYZE {', '.join(tables)}")

    async def rewind(self, names: Sequence[str]) -> None:
        """Empty the named projections' tables in place and rewind them to position 0: the
        views are empty until the projector has caught up again (`rebuild` keeps them)."""
        chosen = [p for p in self.projections if p.name in names]
        async with self.pool.acquire() as conn, conn.transaction():
            tables = [table for projection in chosen for table in projection.tables]
            await conn.execute(f"TRUNCATE {', '.join(tables)}")
            await release_all(conn, [p.name for p in chosen])
            await conn.execute(
                "UPDATE projection_positions SET position = 0 WHERE name = ANY($1)",
                [p.name for p in chosen],
            )

    async def rebuild(
        self,
        names: Sequence[str],
        progress: Meter | None = None,
        *,
        reshape: str = "",
        writers: asyncpg.Pool | None = None,
        swapped: Swapped | None = None,
    ) -> int:
        """Rebuild the named projections from position 0 beside the live views, then swap them
        in; return how many stored events the rebuild covered (counted on `progress`).

        The copies are replayed in memory and written in bulk (`replay`; with one more
        connection borrowed from `writers`, two tables are written at once), while the live
        projector (here or in another process) goes on with the live tables. The swap locks
        the projections' live positions (`FOR UPDATE`, as every live batch does), so no live
        batch commits during it; it catches the copies up to at least the live position,
        replaces the live tables by them, and moves the positions and held-back records to the
        copies'. Cut short anywhere,
        the live views stay as they were; a rebuild started again drops what was left.

        `reshape` is SQL run on the empty copies before they are built (unqualified names
        reach the copies): how a migration that changes a view's tables rebuilds it beside
        instead of truncating it in place. `swapped` runs inside the swap's transaction, given
        the live schema's name (quoted): what it records commits with the swap or not at all.
        """
        chosen = [p for p in self.projections if p.name in names]
        async with self.pool.acquire() as conn:
            if not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", REBUILD_LOCK):
                raise RebuildRunning("another rebuild is running on this database")
            live = await conn.fetchval("SELECT current_schema()")
            path = await conn.fetchval("SHOW search_path")
            try:
                tables = [t for p in chosen for t in p.tables]
                await _make_shadow(conn, live, tables)
                await conn.execute(f"SET search_path TO {SHADOW}, {path}")
                if reshape:
                    await conn.execute(reshape)
                indexes = await _set_indexes_aside(conn, tables)
                beside = Projector(
                    _Lent(conn),
                    self.mapper,
                    chosen,
                    asyncio.Event(),
                    self.batch_size,
                    announce=False,
                    url=self.url,
                )
                async with contextlib.AsyncExitStack() as borrowed:
                    also = []
                    if writers is not None:
                        extra = await borrowed.enter_async_context(writers.acquire())
                        await borrowed.enter_async_context(_lent_to_copies(extra, path))
                        also.append(extra)
                    covered = await beside.replay(progress, also, indexes)
                while True:
                    try:
                        last = await _swap(conn, beside, live, swapped)
                        break
                    except asyncpg.exceptions.LockNotAvailableError:
                        log.warning(
                            "the swap waited %s for the live views' locks; trying again",
                            SWAP_LOCK_TIMEOUT,
                        )
                        covered += await beside.catch_up(progress)
                if progress is not None:
                    progress.advance(last)
                return covered + last
            finally:
                with contextlib.suppress(Exception):
                    await conn.execute(f"SET search_path TO {path}")
                    await conn.execute(f"DROP SCHEMA IF EXISTS {SHADOW} CASCADE")
                    await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", REBUILD_LOCK)


def _hold_back(
    held: dict[tuple[str, UUID], Held], name: str, entity_id: UUID, position: int, error: str
) -> None:
    """Hold a record back in a replay's projection from `position` on (or from where it is
    held already, if earlier)."""
    if (name, entity_id) not in held or held[(name, entity_id)].position > position:
        held[(name, entity_id)] = Held(name, entity_id, position, error)


async def _largest_first(
    conn: asyncpg.Connection, projections: Sequence[Projection]
) -> list[Projection]:
    """The projections by the size of their tables now, indexes included, most first: the
    order in which a replay's processes take them, so neither is left with a large one to
    work out and index alone at the end. (Sizes, not the planner's row counts, which a
    catch-up after a rewind leaves unknown until the tables are analyzed.)"""
    rows = await conn.fetch(
        "SELECT relname, max(pg_total_relation_size(oid)) AS n FROM pg_class"
        " WHERE relname = ANY($1) AND relkind = 'r' GROUP BY relname",
        [t for p in projections for t in p.tables],
    )
    size = {r["relname"]: r["n"] for r in rows}
    return sorted(projections, key=lambda p: -sum(size.get(t, 0) for t in p.tables))


class _WorkingOut:
    """A replay's projections worked out in memory and written, taken one at a time from
    `tokens` by this process, and by a second one if it forks (`apart`)."""

    def __init__(
        self,
        replays: dict[str, Replay],
        order: Sequence[Projection],
        tokens: Tokens,
        changes: list[Change],
        held: dict[tuple[str, UUID], Held],
        indexes: Mapping[str, Sequence[str]],
        read: float,
    ) -> None:
        self.replays = replays
        self.order = order
        self.tokens = tokens
        self.changes = changes
        self.held = held
        self.indexes = indexes
        self.read = read
        """When the stored events were read (for the log's timings)."""
        self.taken: list[str] = []
        """The projections this process took."""

    async def run(
        self, lanes: Sequence[asyncpg.Connection], count: Callable[[float], None]
    ) -> None:
        """Work out each projection this process takes and queue its tables' writing, then
        the building of each of their indexes, on whichever of `lanes` is free; each table
        is vacuumed and analyzed once its last index is built. `count` is told each share
        (of the whole replay) worked out."""
        work: asyncio.Queue[Job | None] = asyncio.Queue()
        failed: list[BaseException] = []
        """What stopped the replay: once it holds anything, the lanes skip what is queued."""

        async def serve(lane: asyncpg.Connection) -> None:
            """Do the queued writes on `lane` until told to stop (None)."""
            while (job := await work.get()) is not None:
                try:
                    if not failed:
                        await job(lane)
                except Exception as error:
                    failed.append(error)
                finally:
                    work.task_done()

        serving = [asyncio.create_task(serve(lane)) for lane in lanes]
        try:
            while (n := self.tokens.take()) is not None:
                projection = self.order[n]
                self.taken.append(projection.name)
                began = time.monotonic()
                replay, shares = await self._work_out(projection.name)
                for share in shares:
                    count(share / len(self.order))
                log.debug(
                    "worked %s out from %.2f s to %.2f s after the read",
                    projection.name,
                    began - self.read,
                    time.monotonic() - self.read,
                )
                work.put_nowait(self._write(work, projection, replay))
            await work.join()
        except BaseException as error:
            failed.append(error)
            raise
        finally:
            for _ in serving:
                work.put_nowait(None)
            await asyncio.gather(*serving)
        if failed:
            raise failed[0]

    async def _work_out(self, name: str) -> tuple[Replay, list[float]]:
        """Work projection `name` out, in `REPLAY_STEPS` steps (in a thread, so the lanes'
        writing goes on); return it, and the share of it each step covered."""
        replay = self.replays.pop(name)  # its rows go once they are written
        pending = self.changes
        if any(view == name for view, _ in self.held):
            pending = [
                c
                for c in self.changes
                if (h := self.held.get((name, c.entity_id))) is None or h.position > c.position
            ]
        if not pending:
            return replay, [1.0]
        shares = []
        step = max(len(pending) // REPLAY_STEPS, 1)
        for k in range(0, len(pending), step):
            chunk = pending[k : k + step]
            for entity_id, at, failure in await asyncio.to_thread(replay.add, chunk):
                _hold_back(self.held, name, entity_id, at, _say(failure))
            shares.append(len(chunk) / len(pending))
        return replay, shares

    def _write(
        self, work: asyncio.Queue[Job | None], projection: Projection, replay: Replay
    ) -> Job:
        """Write a worked-out projection's tables, then queue the building of each of their
        indexes (any lane may take one); each table is vacuumed and analyzed once its last
        index is built."""

        async def rows(lane: asyncpg.Connection) -> None:
            began = time.monotonic()
            async with lane.transaction():
                # only the swap must be durable: a crash before it leaves copies no query reads
                await lane.execute("SET LOCAL synchronous_commit = off")
                await replay.write(lane)
            log.debug(
                "wrote %s from %.2f s to %.2f s after the read",
                ", ".join(projection.tables),
                began - self.read,
                time.monotonic() - self.read,
            )
            for table in projection.tables:
                building = list(self.indexes.get(table, ()))
                if not building:
                    await _tidy(lane, table)
                for statement in building:
                    work.put_nowait(_build(table, statement, building))

        return rows

    async def apart(
        self, url: str, path: str, report: Callable[[float], None]
    ) -> dict[tuple[str, UUID], Held]:
        """The second process's share, on two connections of its own to `url` reaching the
        copies first (search path `path`); return what it held back in the projections it
        took."""
        settings = {"search_path": path, "statement_timeout": "0"}
        lanes = [await asyncpg.connect(url, server_settings=settings) for _ in range(2)]
        try:
            await self.run(lanes, report)
        finally:
            for lane in lanes:
                await lane.close()
        return {key: h for key, h in self.held.items() if key[0] in self.taken}


def _build(table: str, statement: str, building: list[str]) -> Job:
    """Build one index of a replay's copy; the last of a table's vacuums and analyzes it."""

    async def index(lane: asyncpg.Connection) -> None:
        async with lane.transaction():
            await lane.execute(
                "SET LOCAL synchronous_commit = off;"
                f" SET LOCAL maintenance_work_mem = '{REBUILD_MAINTENANCE_MEMORY}'"
            )
            await lane.execute(statement)
        building.remove(statement)
        if not building:
            await _tidy(lane, table)

    return index


@contextlib.contextmanager
def _collecting_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: a batch, and a replay more so, makes thousands of
    rows that live to its end, and the collections that their count sets off, rescanning
    them, would cost a tenth of its time or more (it makes no cycles worth collecting
    meanwhile; they are collected once it ends)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@contextlib.asynccontextmanager
async def _lent_to_copies(conn: asyncpg.Connection, path: str) -> AsyncIterator[None]:
    """A borrowed connection reaching the rebuild's copies first, with no statement timeout
    (a table's COPY takes seconds); given back as it was."""
    timeout = await conn.fetchval("SHOW statement_timeout")
    before = await conn.fetchval("SHOW search_path")
    await conn.execute(f"SET search_path TO {SHADOW}, {path}")
    await conn.execute("SET statement_timeout = 0")
    try:
        yield
    finally:
        await conn.execute(f"SET search_path TO {before}")
        await conn.execute("SELECT set_config('statement_timeout', $1, false)", timeout)


Job = Callable[[asyncpg.Connection], Awaitable[None]]
"""A piece of a replay's writing, done on whichever of its connections is free."""


async def _tidy(conn: asyncpg.Connection, table: str) -> None:
    """VACUUM ANALYZE a copy once it is written and indexed."""
    await conn.execute(f"VACUUM ANALYZE {_ident(table)}")


Swapped = Callable[[asyncpg.Connection, str], Awaitable[None]]
"""What a rebuild's caller does inside the swap's transaction (given the live schema)."""


class RebuildRunning(Exception):
    """A rebuild is under way on the database already (one at a time: they share a schema)."""


class _Lent:
    """One connection lent as a pool, so that a projector runs on it (with its search path)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        yield self.conn


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


_BOOKKEEPING = ("projection_positions", "held_back")
"""A rebuild's own copies of these keep its position and what it holds back."""

_INDEX_SHAPE = (
    "SELECT c.relname AS name, i.indisprimary, regexp_replace(pg_get_indexdef(i.indexrelid),"
    r" '^CREATE (UNIQUE )?INDEX \S+ ON \S+ ', '') AS shape"
    " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
    " WHERE i.indrelid = $1::regclass ORDER BY c.relname"
)


async def _make_shadow(conn: asyncpg.Connection, live: str, tables: Sequence[str]) -> None:
    """The rebuild's schema, afresh, with empty copies of `tables` and of the bookkeeping,
    their indexes named as the live ones (so that a later migration finds them by name)."""
    async with conn.transaction():
        await conn.execute(f"DROP SCHEMA IF EXISTS {SHADOW} CASCADE")
        await conn.execute(f"CREATE SCHEMA {SHADOW}")
        for table in (*tables, *_BOOKKEEPING):
            source, copy = f"{_ident(live)}.{_ident(table)}", f"{SHADOW}.{_ident(table)}"
            await conn.execute(f"CREATE TABLE {copy} (LIKE {source} INCLUDING ALL)")
            wanted = await conn.fetch(_INDEX_SHAPE, source)
            made = await conn.fetch(_INDEX_SHAPE, copy)
            renames = [
                f"ALTER INDEX {SHADOW}.{_ident(index['name'])} RENAME TO {_ident(f'_{n}')}"
                for n, index in enumerate(made)
            ]
            unnamed = [(i["indisprimary"], i["shape"], f"_{n}") for n, i in enumerate(made)]
            for index in wanted:
                found = next(u for u in unnamed if u[:2] == (index["indisprimary"], index["shape"]))
                unnamed.remove(found)
                renames.append(
                    f"ALTER INDEX {SHADOW}.{_ident(found[2])} RENAME TO {_ident(index['name'])}"
                )
            if renames:  # in one round trip
                await conn.execute(";".join(renames))


_SET_ASIDE = (  # a rebuild's copies' indexes that no constraint rests on
    "SELECT c.relname AS table, i.relname AS name, pg_get_indexdef(x.indexrelid) AS definition"
    " FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class c ON c.oid = x.indrelid"
    " WHERE c.relnamespace = $1::regnamespace AND c.relname = ANY($2) AND NOT EXISTS"
    " (SELECT FROM pg_constraint k WHERE k.conrelid = x.indrelid AND k.conindid = x.indexrelid)"
    " ORDER BY c.relname, i.relname"
)


async def _set_indexes_aside(
    conn: asyncpg.Connection, tables: Sequence[str]
) -> dict[str, list[str]]:
    """Drop the copies' indexes that back no constraint (as made and reshaped), and return,
    per table, the statements that build each again under its name if it is missing: kept
    up row by row during a COPY, they cost several times what building them after does."""
    async with conn.transaction():
        found = await conn.fetch(_SET_ASIDE, SHADOW, list(tables))
        if found:
            await conn.execute(
                "DROP INDEX " + ", ".join(f"{SHADOW}.{_ident(i['name'])}" for i in found)
            )
    aside: dict[str, list[str]] = {table: [] for table in tables}
    for index in found:
        aside[index["table"]].append(
            re.sub(r"^CREATE (UNIQUE )?INDEX ", r"\g<0>IF NOT EXISTS ", index["definition"])
        )
    return aside


async def _swap(
    conn: asyncpg.Connection, beside: Projector, live: str, swapped: Swapped | None = None
) -> int:
    """Put the rebuilt copies in place of the live tables in one transaction; return how many
    stored events the copies still had to cover first."""
    names = [p.name for p in beside.projections]
    schema = _ident(live)
    covered = 0
    started = time.monotonic()
    async with conn.transaction():
        await conn.execute(f"SET LOCAL lock_timeout = '{SWAP_LOCK_TIMEOUT}'")
        rows = await conn.fetch(
            f"SELECT position FROM {schema}.projection_positions WHERE name = ANY($1) FOR UPDATE",
            names,
        )
        reached = max((r["position"] for r in rows), default=0)
        while min((await beside.positions()).values()) < reached:
            if not (step := await beside.step()):
                break
            covered += step
        for table in (t for p in beside.projections for t in p.tables):
            await conn.execute(f"DROP TABLE {schema}.{_ident(table)}")
            await conn.execute(f"ALTER TABLE {SHADOW}.{_ident(table)} SET SCHEMA {schema}")
        await conn.execute(
            f"UPDATE {schema}.projection_positions live SET position = copy.position,"
            f" updated_at = now() FROM {SHADOW}.projection_positions copy"
            " WHERE live.name = copy.name AND live.name = ANY($1)",
            names,
        )
        await conn.execute(f"DELETE FROM {schema}.held_back WHERE projection = ANY($1)", names)
        await conn.execute(
            f"INSERT INTO {schema}.held_back SELECT * FROM {SHADOW}.held_back"
            " WHERE projection = ANY($1)",
            names,
        )
        await conn.execute(f"DROP SCHEMA {SHADOW} CASCADE")
        if swapped is not None:
            await swapped(conn, schema)
        await conn.execute(
            f"SELECT pg_notify($1, min(position)::text) FROM {schema}.projection_positions",
            PROJECTED_CHANNEL,
        )
    log.info(
        "swapped in the rebuilt %s in %.3f s (%d events caught up meanwhile)",
        ", ".join(names),
        time.monotonic() - started,
        covered,
    )
    return covered
