"""The event store's recorder, as `eventsourcing` provides it but for two steps.

Reads of a record's events are tried once: the library tries ten times, which while the
database is away keeps a command waiting far past the bound the registry answers within.

The library sends each insert in psycopg's pipeline mode, which hangs once the statement
outgrows the socket buffer (about 1,000 events in one save; psycopg issue 685): psycopg stops
flushing when its queue is empty and waits for a result the server cannot send before it has
the whole statement. This recorder takes the same steps (table lock, NOTIFY, one INSERT) in
one ordinary transaction, so a save of any size works.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import Cursor
from psycopg.rows import DictRow


class RegistryRecorder(PostgresApplicationRecorder):
    # the registry retries a command's reads itself, within HUB_OUTCOME_CHECK_SECONDS
    select_events = PostgresApplicationRecorder.select_events.__wrapped__  # type: ignore[attr-defined]

    def _create_table(self, curs: Cursor[DictRow]) -> None:
        """Create the store's table and functions one process at a time: two hubs starting
        at once would otherwise both replace its functions ("tuple concurrently updated")."""
        curs.execute("SELECT pg_advisory_xact_lock(hashtext('hub.event_store'))")
        super()._create_table(curs)

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if not stored_events:
            return []
        with self.datastore.transaction(commit=True) as curs:
            self._insert_stored_events(curs, stored_events, **kwargs)
            return [row["notification_id"] for row in curs.fetchall()]
