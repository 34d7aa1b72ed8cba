"""The event store's recorder, as `eventsourcing` provides it but for two steps.

Reads of a record's events are tried once: the library tries ten times, which while the
database is away keeps a command waiting far past the bound the registry answers within.

The library sends each insert in psycopg's pipeline mode, which hangs once the statement
outgrows the socket buffer (about 1,000 events in one save; psycopg issue 685): psycopg stops
flushing when its queue is empty and waits for a result the server cannot send before it has
the whole statement. This recorder takes the same steps (table lock, NOTIFY, one INSERT) in
one ordinary transaction, so a save of any size works; only a small save (`PIPELINED_BYTES`,
such as a group of commands) is pipelined, in one round trip instead of six.

Every read of the store's table is a named method here (`RegistryRecorder` for the registry's
threads, `EventStoreReads` for the event loop), so its SQL lives in this module alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import Cursor
from psycopg.pq import TransactionStatus
from psycopg.rows import DictRow

from hub.registry.blind_index import IndexChanges

PIPELINED_BYTES = 16_384
"""A save this small (its events' payloads), far below the size that hangs, goes in psycopg's
pipeline mode: BEGIN, its statements and COMMIT in one round trip (the connections of the
store's pool are in autocommit mode, so the transaction is its own)."""
TABLE = "registry_events"
"""The store's table (the registry's name, lower-cased, as the library names it)."""


class RegistryRecorder(PostgresApplicationRecorder):
    # the registry retries a command's reads itself, within HUB_OUTCOME_CHECK_SECONDS
    select_events = PostgresApplicationRecorder.select_events.__wrapped__  # type: ignore[attr-defined]

    def create_table(self) -> None:
        """Create the store; two processes making its composite types at once collide in
        PostgreSQL's catalog (a unique violation, not the DuplicateObject the library expects),
        so the one that lost tries again, and then finds them made."""
        try:
            super().create_table()
        except IntegrityError:
            super().create_table()

    def _create_table(self, curs: Cursor[DictRow]) -> None:
        """Create the store's table and functions one process at a time: two hubs starting
        at once would otherwise both replace its functions ("tuple concurrently updated")."""
        curs.execute("SELECT pg_advisory_xact_lock(hashtext('hub.event_store'))")
        super()._create_table(curs)

    def insert_events(
        self,
        stored_events: Sequence[StoredEvent],
        *,
        index: IndexChanges | None = None,
        **kwargs: Any,
    ) -> Sequence[int] | None:
        """Insert the events, and the blind index's changes that go with them (`index`)."""
        if not stored_events:
            return []
        if sum(len(e.state) for e in stored_events) > PIPELINED_BYTES:
            with self.datastore.transaction(commit=True) as curs:
                self._insert_stored_events(curs, stored_events, **kwargs)
                positions = [row["notification_id"] for row in curs.fetchall()]
                if index:
                    index.write(curs)
                return positions
        with self.datastore.get_connection() as conn:
            failed: Exception | None = None
            with conn.pipeline() as pipeline, conn.cursor() as control, conn.cursor() as curs:
                control.execute("BEGIN")
                self._insert_stored_events(curs, stored_events, **kwargs)
                if index:
                    index.write(control)
                control.execute("COMMIT")  # skipped by the server if a statement failed
                try:
                    pipeline.sync()
                    positions = [row["notification_id"] for row in curs.fetchall()]
                except Exception as error:
                    failed = error  # raised once the pipeline has ended
            if failed is not None:
                if conn.info.transaction_status != TransactionStatus.IDLE:
                    with contextlib.suppress(Exception):
                        conn.execute("ROLLBACK")
                raise failed
            return positions

    def copy_events(self, stored_events: Sequence[StoredEvent], index: IndexChanges) -> int:
        """Save a batch's events as `insert_events` does (table lock, NOTIFY, one transaction,
        positions in the order given, the blind index's changes with them), but sent with
        COPY: a batch of thousands of events spends most of an INSERT's time building its array
        of composites. Returns the position of the last event; a version or claim already
        stored raises IntegrityError.
        """
        with self.datastore.transaction(commit=True) as curs:
            self._lock_table(curs)
            self._notify_channel(curs)
            columns = "originator_id, originator_version, topic, state"
            with curs.copy(f"COPY {TABLE} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["uuid", "int8", "text", "bytea"])
                for e in stored_events:
                    copy.write_row((e.originator_id, e.originator_version, e.topic, e.state))
            if index:
                index.write(curs, copy=True)
            # The table lock keeps other writers' positions out of this transaction's range.
            curs.execute(
                f"SELECT currval(pg_get_serial_sequence('{TABLE}', 'notification_id')) AS last"
            )
            row = curs.fetchone()
        assert row is not None
        return int(row["last"])

    # Named reads of the store's table, for the registry (psycopg, sync).

    def position_of(self, record_id: UUID, version: int) -> int:
        """The position of one stored event of a record; 0 if it is not stored."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                f"SELECT notification_id FROM {TABLE}"
                " WHERE originator_id = %s AND originator_version = %s",
                (record_id, version),
            )
            row = curs.fetchone()
        return int(row["notification_id"]) if row else 0

    def versions_at(self, record_id: UUID) -> dict[int, int]:
        """Position → version of each stored event of one record."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                f"SELECT notification_id, originator_version FROM {TABLE} WHERE originator_id = %s",
                (record_id,),
            )
            return {int(r["notification_id"]): int(r["originator_version"]) for r in curs}

    def stored_at(self, positions: Sequence[int]) -> dict[int, tuple[UUID, int]]:
        """Position → (record id, version) of the stored events at `positions`."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                f"SELECT notification_id, originator_id, originator_version FROM {TABLE}"
                " WHERE notification_id = ANY(%s)",
                (list(positions),),
            )
            return {
                int(r["notification_id"]): (r["originator_id"], int(r["originator_version"]))
                for r in curs
            }

    def records_created_as(self, topic_pattern: str) -> set[UUID]:
        """The ids of the records whose first event's topic is LIKE `topic_pattern`: one read
        of the whole table, for a batch that would otherwise ask about them one at a time."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                f"SELECT originator_id FROM {TABLE} WHERE originator_version = 1 AND topic LIKE %s",
                (topic_pattern,),
            )
            return {row["originator_id"] for row in curs.fetchall()}

    def records_stored(self, ids: Sequence[UUID]) -> set[UUID]:
        """Which of these records have events: one query instead of one load per record."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                f"SELECT DISTINCT originator_id FROM {TABLE} WHERE originator_id = ANY(%s)",
                (list(ids),),
            )
            return {row["originator_id"] for row in curs.fetchall()}

    def settled_events(
        self, keys: Sequence[tuple[UUID, int]], within: float
    ) -> dict[tuple[UUID, int], tuple[int, StoredEvent]]:
        """(record id, version) → (position, stored event) of those of `keys` the store holds.

        Reads under a SHARE lock on the table, waiting up to `within` seconds for any writer
        still holding it, so a commit still in flight is settled first.
        """
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                "SELECT set_config('lock_timeout', %s, true)", (f"{max(1, int(within * 1000))}ms",)
            )
            curs.execute(f"LOCK TABLE {TABLE} IN SHARE MODE")
            curs.execute(
                "SELECT originator_id, originator_version, notification_id, topic, state"
                f" FROM {TABLE} WHERE (originator_id, originator_version) IN"
                " (SELECT * FROM unnest(%s::uuid[], %s::bigint[]))",
                ([i for i, _ in keys], [v for _, v in keys]),
            )
            return {
                (r["originator_id"], int(r["originator_version"])): (
                    int(r["notification_id"]),
                    StoredEvent(
                        originator_id=r["originator_id"],
                        originator_version=r["originator_version"],
                        topic=r["topic"],
                        state=bytes(r["state"]),
                    ),
                )
                for r in curs
            }

    def count_events_except(self, topic_pattern: str) -> int:
        """How many stored events have a topic not LIKE `topic_pattern` (e.g. the claims')."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                f"SELECT count(*) AS n FROM {TABLE} WHERE topic NOT LIKE %s", (topic_pattern,)
            )
            row = curs.fetchone()
        return int(row["n"]) if row else 0


Executor = asyncpg.Pool | asyncpg.Connection
_ROW = "notification_id, originator_id, originator_version, topic, state"


class EventStoreReads:
    """The same table read on the event loop (asyncpg): by the projector, the runtime's lag,
    the command line, and the personal-data key upgrade. `db` is a pool or a connection (in
    its transaction)."""

    def __init__(self, db: Executor) -> None:
        self.db = db

    async def head(self) -> int:
        """The last stored position (0 before the first event)."""
        return await self.db.fetchval(f"SELECT coalesce(max(notification_id), 0) FROM {TABLE}")

    async def count_after(self, position: int) -> int:
        """How many events are stored after `position`."""
        return await self.db.fetchval(
            f"SELECT count(*) FROM {TABLE} WHERE notification_id > $1", position
        )

    async def events_after(self, position: int, limit: int) -> list[asyncpg.Record]:
        """Up to `limit` stored events after `position`, in position order."""
        return await self.db.fetch(
            f"SELECT {_ROW} FROM {TABLE} WHERE notification_id > $1"
            " ORDER BY notification_id LIMIT $2",
            position,
            limit,
        )

    async def first_after(self, position: int) -> asyncpg.Record | None:
        """The first stored event after `position` (without its position), or None."""
        return await self.db.fetchrow(
            f"SELECT originator_id, originator_version, topic, state FROM {TABLE}"
            " WHERE notification_id > $1 ORDER BY notification_id LIMIT 1",
            position,
        )

    async def events_of(self, ids: Sequence[UUID], upto: int) -> list[asyncpg.Record]:
        """Every stored event of the records `ids` up to position `upto`, in position order."""
        return await self.db.fetch(
            f"SELECT {_ROW} FROM {TABLE} WHERE originator_id = ANY($1) AND notification_id <= $2"
            " ORDER BY notification_id",
            list(ids),
            upto,
        )

    async def events_between(self, record_id: UUID, first: int, last: int) -> list[asyncpg.Record]:
        """One record's stored events from position `first` to `last`, in position order."""
        return await self.db.fetch(
            f"SELECT {_ROW} FROM {TABLE} WHERE originator_id = $1"
            " AND notification_id BETWEEN $2 AND $3 ORDER BY notification_id",
            record_id,
            first,
            last,
        )

    async def unkeyed_claims(self) -> list[asyncpg.Record]:
        """The claims whose idempotency fingerprints were stored bare (position, state),
        locked until the transaction ends."""
        return await self.db.fetch(
            f"SELECT notification_id, state FROM {TABLE}"
            " JOIN unkeyed_fingerprints USING (notification_id) FOR UPDATE OF unkeyed_fingerprints"
        )

    async def tidy(self) -> None:
        """VACUUM ANALYZE the store after a bulk load: until its rows' hint bits and the
        visibility map are set, every read of them (the projector's catch-up first) pays for
        it, and autovacuum does it later on the same cores."""
        await self.db.execute(f"VACUUM ANALYZE {TABLE}")

    async def replace_states(self, states: Sequence[tuple[int, bytes]]) -> None:
        """Write new states of stored events, by position: only for re-encrypting what an
        event already says (the key upgrade), never to change it."""
        await self.db.executemany(
            f"UPDATE {TABLE} SET state = $2 WHERE notification_id = $1", states
        )
