"""The registry application: runs commands on records and stores their events.

`eventsourcing` is synchronous; callers on the event loop run `Registry` methods in a thread
(see `hub.service.runtime.Hub.command`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import select
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar
from uuid import UUID

import psycopg
import psycopg_pool
from eventsourcing.application import AggregateNotFoundError, Application, project_aggregate
from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Transcoding

from hub.domain.checks import camel_case, plain_text, plain_texts
from hub.domain.claim import Claim, claim_id
from hub.domain.corrections import PARTNERS, UNRETRACTABLE, command_of, retracted
from hub.domain.envelope import Actor, Envelope
from hub.domain.errors import (
    CommandRefused,
    Conflict,
    InvalidInput,
    InvalidState,
    NotFound,
    OutcomeUnknown,
    ServiceUnavailable,
)
from hub.domain.record import Record, require_reason
from hub.domain.worker import Worker
from hub.registry.batch import DEFAULT_SIZE, Batch
from hub.registry.blind_index import IndexChanges, current_sealed, digests_of, touches_index
from hub.registry.group import GroupCommit
from hub.registry.personal_data import Kek, KeyStore, unseal
from hub.registry.recorder import RegistryRecorder
from hub.service.database import Outage, unavailable

R = TypeVar("R", bound=Record)
MAX_REASON = 2_000
MAX_IDEMPOTENCY_KEY = 200
ATTEMPTS = 10
STRIPES = 256
RECONNECT_SECONDS = 1.0
PING_SECONDS = 1.0
"""How long a connection of the store goes unchecked while its server says nothing."""
NOTHING_WRITTEN = "the database is unavailable: nothing was written; retry"


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


@dataclass(frozen=True)
class Request:
    """One command as the caller asked for it, before it is decided."""

    command: str
    actor: Actor
    correlation_id: str
    today: date
    inputs: dict[str, Any] = field(default_factory=dict)
    record_id: UUID | None = None
    expected_version: int | None = None
    effective_on: date | None = None
    reason: str | None = None
    idempotency_key: str | None = None
    corrects: tuple[int, ...] = ()
    request_id: str | None = None

    def __post_init__(self) -> None:
        """No text of a request holds control characters (they would stop the views); the
        stamp's own texts are bounded too."""
        for name, value in self.inputs.items():
            plain_texts(value, camel_case(name))
        if self.reason is not None:
            plain_text(self.reason, "reason", max_length=MAX_REASON)
        if self.idempotency_key is not None:
            plain_text(self.idempotency_key, "idempotencyKey", max_length=MAX_IDEMPOTENCY_KEY)

    def envelope(self) -> Envelope:
        effective_on = self.effective_on or self.today
        if effective_on > self.today:
            raise InvalidInput(
                f"effectiveOn {effective_on.isoformat()} is in the future "
                f"(today is {self.today.isoformat()})",
                "effectiveOn",
            )
        envelope = Envelope(
            actor=self.actor,
            effective_on=effective_on,
            correlation_id=self.correlation_id,
            reason=(self.reason or "").strip() or None,
            idempotency_key=self.idempotency_key,
            retracts=tuple(sorted(set(self.corrects))),
            request_id=self.request_id,
        )
        if self.corrects:
            require_reason(envelope, "a correction (corrects)")
        return envelope

    def fingerprint(self, kek: Kek) -> str:
        """What makes two requests with one idempotency key the same request; keyed, since
        the inputs may be personal data."""
        return kek.fingerprint(self.digest())

    def digest(self) -> str:
        """The SHA-256 of what the request asks: never stored bare (see `fingerprint`)."""
        facts = {
            "command": self.command,
            "inputs": self.inputs,
            "id": self.record_id,
            "expectedVersion": self.expected_version,
            "effectiveOn": self.effective_on,
            "reason": self.reason,
            "corrects": sorted(self.corrects),
        }
        return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class Outcome:
    """What a command did: the record it acted on, and the position of its last event (0 in
    batch mode: unknown until the batch is saved, see `hub.registry.batch`)."""

    record_id: UUID
    position: int
    replayed: bool = False
    written: tuple[int, ...] = ()
    """Positions of every record event the command wrote (empty when replayed)."""
    visible: bool = True
    """Whether the read views showed it in time (see `hub.service.runtime.Hub.command`)."""


class Unit:
    """The records one command reads and writes; saved together in one transaction."""

    def __init__(self, registry: Registry, request: Request) -> None:
        self.registry = registry
        self.request = request
        self.envelope = request.envelope()
        self.claims: list[Claim] = []
        self.others: list[Record] = []

    def load(self, cls: type[R], record_id: UUID | None = None, field: str = "id") -> R:
        """A record the command reads: by default the one it acts on, at the expected version."""
        record_id = record_id or self.request.record_id
        correcting = self.request.corrects if record_id == self.request.record_id else ()
        try:
            record = self.registry.get_record(record_id, dropping=correcting)
        except AggregateNotFoundError:
            record = None
        if not isinstance(record, cls):
            raise NotFound(f"no {cls.entity_type.value.lower()} with id {record_id}", field)
        if correcting:
            self.check_corrections(record)
        expected = self.request.expected_version
        if (
            expected is not None
            and record_id == self.request.record_id
            and record.version != expected
        ):
            raise Conflict(
                f"{cls.entity_type.value.lower()} {record_id} is at version {record.version}, "
                f"not the expected {expected}: reload it and retry",
                "expectedVersion",
            )
        return record

    def check_corrections(self, record: Record) -> None:
        """A command that `corrects` positions retracts events of its own record, which the
        actor needs the authority to have issued; the record was loaded without them."""
        plan = self.registry.retraction(self.request.corrects)
        others = [str(r) for r in plan if r != record.id]
        if others:
            raise InvalidInput(
                f"corrects names events of other records ({', '.join(others)}): a correction "
                "retracts events of the record it acts on; use retractEvents for others",
                "corrects",
            )
        record.stamp_retraction(
            [c for _, _, commands in plan.get(record.id, []) for c in commands],
            self.envelope,
            record.authority(lambda id: self.refer(Record, id, "corrects")),
        )

    def find(self, cls: type[R], record_id: UUID) -> R | None:
        """A record the command may create: None while there is none."""
        try:
            record = self.registry.get_record(record_id)
        except AggregateNotFoundError:
            return None
        if not isinstance(record, cls):
            raise InvalidState(f"record {record_id} is not a {cls.entity_type.value.lower()}")
        return record

    def refer(self, cls: type[R], raw_id: str, field: str) -> R:
        """Another record the command names by id in input field `field`."""
        try:
            record_id = UUID(str(raw_id))
        except ValueError:
            raise InvalidInput(f"{field} {raw_id!r} is not a record id (a UUID)", field) from None
        return self.load(cls, record_id, field)

    def also(self, record: Record) -> None:
        """Save `record` too, in the same transaction as the record the command acts on."""
        self.others.append(record)

    def claim_unique(
        self, key: str, record: Record, field: str, taken: Callable[[UUID], str]
    ) -> None:
        """Claim `key` for `record`; if another record holds it, refuse with `taken(holder)`."""
        holder = self.registry.claim_holder(key)
        if holder is not None and holder.record_id != record.id:
            raise InvalidInput(taken(holder.record_id), field)
        if holder is None:
            self.claims.append(
                Claim(key=key, record_id=record.id, record_version=record.version, fingerprint="")
            )


class Registry(Application):
    name = "Registry"

    def __init__(
        self,
        *args: Any,
        kek: Kek,
        outcome_check_seconds: float = 5.0,
        group_commit_ms: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.kek = kek
        self.outcome_check_seconds = outcome_check_seconds
        """How long a command waits for an unavailable database (`HUB_OUTCOME_CHECK_SECONDS`)."""
        self.group = GroupCommit(self._put, group_commit_ms)
        """Where commands' saves go (`HUB_GROUP_COMMIT_MS`; see `hub.registry.group`)."""
        # Commands on one record queue here instead of racing to the store; races with other
        # processes are still caught by the store and retried.
        self._stripes = [threading.Lock() for _ in range(STRIPES)]
        self.store: RegistryRecorder = self.recorder  # type: ignore[assignment]
        """The store's named reads (see `hub.registry.recorder`)."""
        datastore = self.store.datastore
        self.keys = KeyStore(datastore, kek)
        self._batches = threading.local()
        # The pool retries a lost connection with pauses that double up to this long, then
        # lets the next request connect afresh: so it reconnects within about a second of the
        # server's return however long it was gone (psycopg_pool's default waits minutes).
        pool: psycopg_pool.ConnectionPool[Any] = datastore.pool
        pool.reconnect_timeout = RECONNECT_SECONDS
        # The pool's check (POSTGRES_PRE_PING) costs every transaction a round trip; a
        # connection in use a moment ago whose server said nothing since needs none.
        assert pool._check is not None, "the store's pool checks its connections"
        pool._check = ConnectionCheck().check

    @contextlib.contextmanager
    def _locked(self, records: Iterable[UUID]) -> Iterator[Locks]:
        """Hold the locks of these records (in one order, so two commands never deadlock)
        until the block ends or they are let go (`Locks.release`)."""
        records = list(records)
        locks = Locks(
            records, [self._stripes[s] for s in sorted({r.int % STRIPES for r in records})]
        )
        try:
            for lock in locks.stripes:
                lock.acquire()
                locks.held += 1
            yield locks
        finally:
            locks.release()

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    def claim_holder(self, key: str) -> Claim | None:
        batch = self._current_batch()
        if batch is not None:
            if key in batch.claims:
                return batch.claims[key]
            if not batch.claim_may_be_stored(claim_id(key)):
                return None
        try:
            claim = self.repository.get(claim_id(key))
        except AggregateNotFoundError:
            return None
        assert isinstance(claim, Claim)
        return claim

    def position_of(self, record_id: UUID, version: int) -> int:
        """The position of a record's event; 0 while it waits in a batch (not saved yet)."""
        return self.store.position_of(record_id, version)

    def run(
        self, request: Request, decide: Callable[[Unit], Record], also: Iterable[UUID] = ()
    ) -> Outcome:
        """Decide the command on fresh state and store its events (with those of commands
        decided at the same time, see `hub.registry.group`), retrying lost races; while it
        runs, commands on its record (and on the records `also`) wait."""
        if self._current_batch() is not None:
            # Saved later by the batch, where the store's versions catch another writer: locks
            # held while deciding would not cover that save, and no group waits for it.
            return self._run(request, decide)
        ids = [request.record_id] if request.record_id is not None else []
        # deciding from before it waits for the locks: the open group waits for it too
        with self.keys.command(), self.group.deciding(), self._locked([*ids, *also]) as locks:
            return self._run(request, decide, locks)

    def _run(
        self, request: Request, decide: Callable[[Unit], Record], locks: Locks | None = None
    ) -> Outcome:
        key = (
            f"idempotency:{request.actor.sub}:{request.idempotency_key}"
            if request.idempotency_key
            else None
        )
        fingerprint = request.fingerprint(self.kek) if key is not None else ""
        outage = Outage(request.command, seconds=self.outcome_check_seconds)
        races = 0
        while True:
            try:
                decided = self._attempt(request, decide, key, fingerprint)
            except Exception as error:
                if not unavailable(error):
                    raise
                _wait_out(outage, error)
                continue
            if isinstance(decided, Outcome):
                return decided
            unit, record = decided
            saving = (record, *unit.others, *unit.claims)
            pending = [e for r in saving for e in r.collect_events()]
            events = [e for e in pending if isinstance(e, Record.Event)]
            written = (record, *unit.others)
            # what the next command on these records may decide on before the group is saved:
            # not a correction or retraction (their positions are not known until then)
            follows = not request.corrects and not any(_retracts(e) for e in events)
            release = None
            if follows and locks is not None and set(locks.records) <= {r.id for r in written}:
                release = locks.release
            try:
                recordings = self.group.save(pending, written if follows else (), release)
            except IntegrityError:
                races += 1
                if races == ATTEMPTS:
                    raise Conflict(
                        "the record kept changing while this command ran: retry it"
                    ) from None
                time.sleep(random.uniform(0, 0.01 * 2**races))
                continue
            except Exception as error:
                if not unavailable(error):
                    raise
                if isinstance(error.__cause__, psycopg_pool.PoolTimeout):
                    _wait_out(outage, error)  # it had no connection, so it sent nothing
                    continue
                outage.failed(error)
                stored = self._settle(events, request, outage)
                if stored is None:
                    continue  # nothing was written: decide again, as after a lost race
                return Outcome(
                    record.id,
                    max(p for (i, _), p in stored.items() if i == record.id),
                    written=tuple(sorted(stored.values())),
                )
            position = max(
                r.notification.id for r in recordings if r.domain_event.originator_id == record.id
            )
            written = tuple(
                r.notification.id for r in recordings if isinstance(r.domain_event, Record.Event)
            )
            return Outcome(record.id, position, written=written)

    def _put(self, events: Sequence[Any]) -> list[Any]:
        """Store events of one or more commands (a group, where several may follow each other
        on one record) with the blind-index changes they make, in one transaction."""
        return self.events.put(events, index=self.index_changes(events))

    def index_changes(self, events: Sequence[Any], waiting: Sequence[Any] = ()) -> IndexChanges:
        """The blind index's changes a save of `events` makes: the digests of each worker whose
        personal data they may change, as the workers view will show them
        (`blind_index.current_sealed`) from the worker's stored events, the unsaved `waiting`
        ones (a batch's), then these."""
        changes = IndexChanges()
        touched: dict[UUID, list[Any]] = {}
        for event in events:
            if isinstance(event, Worker.Event):
                touched.setdefault(event.originator_id, []).append(event)
        for worker_id, mine in touched.items():
            if not any(map(touches_index, mine)):
                continue
            stored: list[tuple[int, Any]] = []
            queued: list[Any] = []
            if mine[0].originator_version > 1:  # not registered here: what came before
                queued = [e for e in waiting if e.originator_id == worker_id]
                if (queued or mine)[0].originator_version > 1:
                    stored = self._logged(worker_id)
            after = max((p for p, _ in stored), default=0) + 1
            log = [*stored, *enumerate([*queued, *mine], start=after)]
            key = self.keys.get(worker_id)
            digests = digests_of(
                current_sealed(log),
                lambda token, w=worker_id, k=key: unseal(k, w, token),
                self.kek.index_digest,
            )
            changes.set(worker_id, digests, fresh=not stored)
        return changes

    def _logged(self, record_id: UUID) -> list[tuple[int, Any]]:
        """A record's stored events as (position, event), in position order."""
        position_of = {v: p for p, v in self.versions_at(record_id).items()}
        events = self.repository.event_store.get(record_id)
        return sorted(((position_of[e.originator_version], e) for e in events), key=_first)

    def _attempt(
        self, request: Request, decide: Callable[[Unit], Record], key: str | None, fingerprint: str
    ) -> Outcome | tuple[Unit, Record]:
        """The first answer to a repeated idempotency key, or the command decided on fresh
        state (its unit, with the claim of its key, and the record it acts on)."""
        while True:
            if key is not None:
                first = self.claim_holder(key)
                if first is not None:
                    if first.fingerprint != fingerprint:
                        raise Conflict(
                            f"idempotencyKey {request.idempotency_key!r} was already used for "
                            f"a different request",
                            "idempotencyKey",
                        )
                    return Outcome(
                        first.record_id,
                        self.position_of(first.record_id, first.record_version),
                        replayed=True,
                    )
            unit = Unit(self, request)
            try:
                record = self._decide(decide, unit)
            except CommandRefused:
                if key is not None and self.claim_holder(key) is not None:
                    continue  # the same request won a race meanwhile: answer as it did
                raise
            if key is not None:
                unit.claims.append(
                    Claim(
                        key=key,
                        record_id=record.id,
                        record_version=record.version,
                        fingerprint=fingerprint,
                    )
                )
            batch = self._current_batch()
            if batch is not None:
                batch.accept(record, *unit.others, *unit.claims)
                return Outcome(record.id, 0)  # its position is known once the batch is saved
            return unit, record

    def _settle(
        self, events: Sequence[Any], request: Request, outage: Outage
    ) -> dict[tuple[UUID, int], int] | None:
        """Whether a save that lost the database was stored after all: the positions of its
        record `events` if they are stored with this request's correlation id, None if they
        are not. Waits for the database as long as `outage` allows, then raises
        `OutcomeUnknown`."""
        assert events, "every command writes an event of the record it acts on"
        while True:
            try:
                return self._stored_by(events, request.correlation_id, outage.left or 0.0)
            except Exception as error:
                if not unavailable(error):
                    raise
                retry = (
                    "retry with the same idempotencyKey"
                    if request.idempotency_key
                    else f"check the history of record {events[0].originator_id} before "
                    "retrying (an idempotencyKey makes a retry safe)"
                )
                _wait_out(
                    outage,
                    error,
                    OutcomeUnknown(
                        "the database went away while this change was being saved and did not "
                        f"come back in time: it may or may not have been recorded; {retry}"
                    ),
                )

    def _stored_by(
        self, events: Sequence[Any], correlation_id: str, within: float
    ) -> dict[tuple[UUID, int], int] | None:
        """Positions of `events` if the store holds them as written by `correlation_id`.

        Reads under a SHARE lock on the table, waiting up to `within` seconds for any writer
        still holding it, so a commit of this very save that is still in flight is settled.
        """
        rows = self.store.settled_events(
            [(e.originator_id, e.originator_version) for e in events], within
        )
        first = rows.get((events[0].originator_id, events[0].originator_version))
        if first is None:
            return None
        stored = self.mapper.to_domain_event(first[1])
        if stored.envelope["correlation_id"] != correlation_id:  # type: ignore[attr-defined]
            return None
        return {k: position for k, (position, _) in rows.items()}

    # Batch mode (see hub/registry/batch.py): this thread's commands are saved together, later.

    @contextlib.contextmanager
    def batch(self, size: int = DEFAULT_SIZE) -> Iterator[Batch]:
        """Run this thread's commands in batch mode until the block ends, saving every `size`
        events and at the end; an exception out of the block drops what is not saved yet."""
        if self._current_batch() is not None:
            raise RuntimeError("a batch is already open in this thread")
        with self.keys.deferred() as keys:
            batch = Batch(self, size, keys)
            self._batches.current = batch
            try:
                yield batch
                batch.flush()
            finally:
                self._batches.current = None

    def _current_batch(self) -> Batch | None:
        return getattr(self._batches, "current", None)

    def get_record(self, record_id: UUID, dropping: Sequence[int] = ()) -> Any:
        """A record by id as commands see it: without its retracted events (and those at
        positions `dropping`); in batch mode, with the batch's unsaved changes.

        Raises `AggregateNotFoundError` when there is none.
        """
        batch = self._current_batch()
        if batch is not None:
            return batch.get(record_id)
        left = self.group.pending(record_id, as_left=not dropping)
        if left is not None:
            return left
        return self.stored_record(record_id, dropping)

    def stored_record(self, record_id: UUID, dropping: Sequence[int] = ()) -> Any:
        """`get_record` from the store alone, whether or not a batch is open."""
        return self.repository.get(
            record_id, projector_func=lambda agg, events: self._project(agg, events, dropping)
        )

    def _project(self, aggregate: Any, events: Iterable[Any], dropping: Sequence[int]) -> Any:
        """A record from its events less the retracted ones, in the order they were recorded.

        A retraction that is itself retracted does not count, so it restores what it retracted.
        """
        events = list(events)
        retracting = any(_retracts(e) for e in events)
        if not (retracting or dropping):
            return project_aggregate(aggregate, events)
        version_at = self.versions_at(events[0].originator_id)
        dropped = _dropped(events, version_at, dropping)
        for e in events:
            if e.originator_version in dropped:
                continue
            if aggregate is not None:
                aggregate.version = e.originator_version - 1
            aggregate = e.mutate(aggregate)
        if aggregate is not None:
            aggregate.version = events[-1].originator_version  # the next event follows them all
        return aggregate

    def versions_at(self, record_id: UUID) -> dict[int, int]:
        """Position → version of each stored event of one record."""
        return self.store.versions_at(record_id)

    def retraction(self, positions: Sequence[int]) -> dict[UUID, list[tuple[int, str, list[str]]]]:
        """What retracting the events at `positions` takes: per record, (position, event type,
        the commands that wrote it) of each event, with partners written together with them.
        A retraction was written by the commands of what it retracted.

        Refuses positions that hold no record event, creations, erasures and events already
        retracted.
        """
        wanted = sorted(set(positions))
        found = self.stored_at(wanted)
        for position in wanted:
            if position not in found:
                raise NotFound(f"no event of a record at position {position}", "positions")
        plan: dict[UUID, list[tuple[int, str, list[str]]]] = {}
        logs: dict[UUID, tuple[list[Any], dict[int, int], set[int]]] = {}
        todo = list(wanted)
        while todo:
            position = todo.pop()
            record_id, version = found[position]
            if record_id not in logs:
                events = list(self.repository.event_store.get(record_id))
                if not events or not isinstance(getattr(events[0], "envelope", None), dict):
                    raise NotFound(f"no event of a record at position {position}", "positions")
                version_at = self.versions_at(record_id)
                logs[record_id] = (events, version_at, _dropped(events, version_at, ()))
            events, version_at, dropped = logs[record_id]
            event = events[version - 1]
            kind = _kind(event)
            if version == 1:
                raise InvalidState(
                    f"position {position} created record {record_id}: a record's creation"
                    " cannot be retracted",
                    "positions",
                )
            if type(event) in UNRETRACTABLE:
                refusal = UNRETRACTABLE[type(event)]
                raise InvalidState(f"position {position}: {refusal}", "positions")
            if version in dropped:
                raise InvalidState(f"position {position} is already retracted", "positions")
            entry = plan.setdefault(record_id, [])
            if any(p == position for p, _, _ in entry):
                continue
            entry.append((position, kind, _commands(event, events, version_at)))
            partner = PARTNERS.get(type(event))
            if partner is not None:
                todo.extend(self._partners(event, partner, found))
            if isinstance(event, Record.Retracted):
                todo.extend(self._retraction_partners(event, events, version_at, found))
        return plan

    def _retraction_partners(
        self,
        retraction: Any,
        events: Sequence[Any],
        version_at: dict[int, int],
        found: dict[int, tuple[UUID, int]],
    ) -> list[int]:
        """A retraction of one of a pair was written with the retraction of the other (same
        correlation id): retracting it takes that one along."""
        result = []
        for p in _retracts(retraction):
            retracted = events[version_at[p] - 1] if p in version_at else None
            pair = PARTNERS.get(type(retracted)) if retracted is not None else None
            if pair is None:
                continue
            other = UUID(str(getattr(retracted, pair[0])))
            position_of = {v: q for q, v in self.versions_at(other).items()}
            for e in self.repository.event_store.get(other):
                if (
                    isinstance(e, Record.Retracted)
                    and e.envelope["correlation_id"] == retraction.envelope["correlation_id"]
                ):
                    q = position_of[e.originator_version]
                    found[q] = (other, e.originator_version)
                    result.append(q)
        return result

    def _partners(
        self,
        event: Any,
        partner: tuple[str, type[DomainEvent], str],
        found: dict[int, tuple[UUID, int]],
    ) -> list[int]:
        """Positions of the events of another record written together with `event`."""
        fact, partner_type, back = partner
        other = UUID(str(getattr(event, fact)))
        position_of = {v: p for p, v in self.versions_at(other).items()}
        result = []
        for e in self.repository.event_store.get(other):
            if (
                type(e) is partner_type
                and str(getattr(e, back, "")) == str(event.originator_id)
                and e.envelope["correlation_id"] == event.envelope["correlation_id"]
            ):
                p = position_of[e.originator_version]
                found[p] = (other, e.originator_version)
                result.append(p)
        return result

    def stored_at(self, positions: Sequence[int]) -> dict[int, tuple[UUID, int]]:
        """Position → (record id, version) of the stored events at `positions`."""
        return self.store.stored_at(positions)

    def _decide(self, decide: Callable[[Unit], Record], unit: Unit) -> Record:
        batch = self._current_batch()
        if batch is None:
            self.group.decision()
            return decide(unit)
        with batch.command():
            record = decide(unit)
            batch.refuse_retractions(record, *unit.others)
            return record


class Locks:
    """The locks of the records a command acts on, held from before it decides until it
    ends, or until its records are pending in the group it joined (`hub.registry.group`)."""

    def __init__(self, records: list[UUID], stripes: list[threading.Lock]) -> None:
        self.records = records
        self.stripes = stripes
        self.held = 0
        """How many of `stripes` (the first ones) are held."""

    def release(self) -> None:
        """Let go of the held locks (once: later calls do nothing)."""
        while self.held:
            self.held -= 1
            self.stripes[self.held].release()


class ConnectionCheck:
    """psycopg_pool's connection check, sent only when it could tell something: when the
    connection's socket has something to read (the server closing it, as on its restart, or
    a message) or it was last checked more than `PING_SECONDS` ago. A connection that fails
    after a check anyway fails its statement, which the registry settles like any outage."""

    def __init__(self) -> None:
        self._checked: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()  # the command threads check at once

    def check(self, conn: Any) -> None:
        now = time.monotonic()
        if conn.closed or conn.broken:
            raise psycopg.OperationalError("the connection is closed")
        with self._lock:
            last = self._checked.get(conn, -PING_SECONDS)
        if now - last >= PING_SECONDS or _readable(conn):
            psycopg_pool.ConnectionPool.check_connection(conn)
            with self._lock:
                self._checked[conn] = now


def _readable(conn: Any) -> bool:
    """Whether the server sent something on an idle connection (so it may have closed it)."""
    poll = select.poll()
    poll.register(conn.pgconn.socket, select.POLLIN)
    return bool(poll.poll(0))


def _wait_out(
    outage: Outage,
    error: BaseException,
    expired: Exception | None = None,
) -> None:
    """Pause before trying again after `error` (the database out of reach), or, once it has
    been away longer than `outage` allows, answer with `expired` (by default: nothing was
    written). Every wait of a command for the database is this one."""
    pause = outage.failed(error)
    if outage.expired:
        raise (expired or ServiceUnavailable(NOTHING_WRITTEN)) from None
    time.sleep(pause)


def _first(pair: tuple[int, Any]) -> int:
    return pair[0]


def _retracts(event: Any) -> list[int]:
    envelope = getattr(event, "envelope", None)
    return list(envelope.get("retracts") or ()) if isinstance(envelope, dict) else []


def _dropped(
    events: Sequence[Any], version_at: dict[int, int], dropping: Sequence[int]
) -> set[int]:
    """Versions of a record's events that no longer count (see `retracted`), also dropping
    those at positions `dropping`."""
    position_of = {v: p for p, v in version_at.items()}
    log = [(position_of[e.originator_version], _retracts(e)) for e in events]
    return {version_at[p] for p in retracted(log, dropping) if p in version_at}


def _kind(event: Any) -> str:
    """An event's type as the API names it, e.g. `PostFilled`."""
    return type(event).__qualname__.replace(".", "")


def _commands(event: Any, events: Sequence[Any], version_at: dict[int, int]) -> list[str]:
    """The commands behind `event`: for a retraction, those of what it retracted."""
    if not isinstance(event, Record.Retracted):
        command = command_of(type(event))
        return [command] if command else []
    return [
        c
        for p in _retracts(event)
        if p in version_at
        for c in _commands(events[version_at[p] - 1], events, version_at)
    ]
