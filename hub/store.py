"""The event store's recorder, as `eventsourcing` provides it but for one step.

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


class RegistryRecorder(PostgresApplicationRecorder):
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if not stored_events:
            return []
        with self.datastore.transaction(commit=True) as curs:
            self._insert_stored_events(curs, stored_events, **kwargs)
            return [row["notification_id"] for row in curs.fetchall()]
