"""Batch mode of the registry: many commands decided in memory, saved together.

Inside `with registry.batch(size=N) as batch:`, every command this thread runs is the same
command function, checked by the same rules, but it is decided on state that includes the
batch's earlier commands that are not saved yet: records the batch loaded or created stay in
memory (`records`) and `Unit.load` finds them there; claims it made (`claims`) are consulted
before the store's, and the store is asked for a claim only if it holds one of that key (the
ids of its claims are read once, when the batch first checks one: `claim_may_be_stored`). A
command's events, claims, new personal-data keys and blind-index digests join the batch
instead of being saved.
Once `size` events are waiting, and when the block ends without an exception, they are saved
in one transaction (COPY), after the personal-data keys they are sealed with (stored first, in
a transaction of their own, so no stored event lacks its key).

What differs from running commands one at a time:
- `Outcome.position` is 0: a position is unknown until the batch is saved (`batch.position` is
  the last one saved so far).
- A refused command is forgotten whole: records it changed in memory are rebuilt from the store
  and the batch's earlier events, keys it made are dropped; the batch goes on.
- Commands take no record locks and keep no group commit waiting (`Registry.run`): what
  they decide is saved later, by the batch, where the store's versions catch another writer.
- A claim another writer takes after the batch first checked one is not seen by its commands:
  the batch's save of the same claim then fails as below (and the claims are read again).
- Nothing is retried. If another writer changed a record, or took a claim, that the waiting
  commands relied on, the store refuses the save as a whole (versions and claims are unique):
  none of those commands is saved, the batch forgets them and raises `Conflict`.
- An exception out of the block drops the commands not saved yet; earlier saves stay.
- Retractions and corrections are refused (`InvalidState`): send them on their own.
- Records stay in memory until the block ends (they are what makes the next commands fast), so
  a batch holds every record it touched.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from hub.domain.claim import Claim
from hub.domain.errors import Conflict, InvalidState
from hub.registry.blind_index import IndexChanges
from hub.registry.personal_data import PendingKeys

if TYPE_CHECKING:
    from hub.registry.application import Registry

DEFAULT_SIZE = 2000


class Batch:
    def __init__(self, registry: Registry, size: int, keys: PendingKeys) -> None:
        if size < 1:
            raise ValueError("a batch saves at least 1 event at a time")
        self.registry = registry
        self.size = size
        self.keys = keys
        self.records: dict[UUID, Any] = {}
        self.claims: dict[str, Claim] = {}
        self.events: list[Any] = []
        self.commands = 0
        """Commands accepted so far (saved or waiting)."""
        self.saved = 0
        """Events saved so far."""
        self.position = 0
        """The position of the last event saved so far; 0 before the first save."""
        self.index = IndexChanges()
        """The blind index's changes of the commands waiting."""
        self._touched: set[UUID] = set()
        self._stored_claims: set[UUID] | None = None

    def claim_may_be_stored(self, claim: UUID) -> bool:
        """Whether the store may hold claim `claim` (by id): False only if it held no such
        claim when the batch first asked, so a claim the batch checks costs no query."""
        if self._stored_claims is None:
            self._stored_claims = self.registry.store.records_created_as(
                f"{Claim.__module__}:{Claim.__qualname__}.%"
            )
        return claim in self._stored_claims

    def get(self, record_id: UUID) -> Any:
        """The record as the batch knows it; loaded from the store the first time."""
        record = self.records.get(record_id)
        if record is None:
            record = self.registry.stored_record(record_id)
            self.records[record_id] = record
        self._touched.add(record_id)
        return record

    @contextlib.contextmanager
    def command(self) -> Iterator[None]:
        """Around deciding one command: if it raises, forget what it changed."""
        self._touched.clear()
        mark = self.keys.mark()
        try:
            yield
        except BaseException:
            for record_id in self._touched:
                if self.records[record_id].pending_events:
                    self.records[record_id] = self._rebuilt(record_id)
            self._touched.clear()
            self.keys.reset(mark)
            raise

    def refuse_retractions(self, *records: Any) -> None:
        """Retractions and corrections change how a record loads, which the records kept in
        memory would not show: they are sent on their own, outside a batch."""
        for record in records:
            for event in record.pending_events:
                if getattr(event, "envelope", {}).get("retracts"):
                    raise InvalidState(
                        "retractions and corrections are not taken in batch mode: send them "
                        "on their own"
                    )

    def accept(self, *records: Any) -> None:
        """Take a decided command's records (and claims); save once `size` events wait."""
        mine = [e for record in records for e in getattr(record, "pending_events", ())]
        self.index.update(self.registry.index_changes(mine, self.events))
        for record in records:
            self.events.extend(record.collect_events())
            if isinstance(record, Claim):
                self.claims[record.key] = record
            else:
                self.records[record.id] = record
        self.commands += 1
        if len(self.events) >= self.size:
            self.flush()

    def flush(self) -> None:
        """Save the keys, then the events, waiting."""
        if not self.events:
            return
        waiting = len(self.events)
        try:
            self.registry.keys.store(self.keys.created)
            # What `save` does with events (the registry takes no snapshots), less its
            # protocol check of each event (a few per cent of the time), sent with COPY.
            to_stored = self.registry.mapper.to_stored_event
            stored = [to_stored(e) for e in self.events]
            last = self.registry.store.copy_events(stored, self.index)
        except IntegrityError:
            self._forget()
            raise Conflict(
                f"another writer changed a record or took a claim that this batch's last "
                f"{waiting} events relied on: none of them was saved"
            ) from None
        self.registry.keys.destroy_all(self.keys.destroyed)
        self.keys.reset((0, 0))
        self.events.clear()
        self.index = IndexChanges()
        self.saved += waiting
        self.position = last

    def _forget(self) -> None:
        """Drop every unsaved change: the next commands load what the store holds (and read
        its claims again, which now include the one another writer took)."""
        self.records.clear()
        self.claims.clear()
        self._stored_claims = None
        self.events.clear()
        self.index = IndexChanges()
        self.keys.reset((0, 0))

    def _rebuilt(self, record_id: UUID) -> Any:
        """The record as stored, with the batch's waiting events applied."""
        try:
            record = self.registry.stored_record(record_id)
        except AggregateNotFoundError:
            record = None
        for event in self.events:
            if event.originator_id == record_id:
                record = event.mutate(record)
        assert record is not None, f"record {record_id} was loaded, so it was stored or waiting"
        return record
