"""The registry application: runs commands on records and stores their events.

`eventsourcing` is synchronous; callers on the event loop run `Registry` methods in a thread
(see `hub.app.Hub.command`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Transcoding

from hub.domain.claim import Claim, claim_id
from hub.domain.envelope import Actor, Envelope
from hub.domain.errors import CommandRefused, Conflict, InvalidInput, NotFound
from hub.domain.record import Record
from hub.personal_data import KeyStore

R = TypeVar("R", bound=Record)
ATTEMPTS = 10
STRIPES = 256


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

    def envelope(self) -> Envelope:
        effective_on = self.effective_on or self.today
        if effective_on > self.today:
            raise InvalidInput(
                f"effectiveOn {effective_on.isoformat()} is in the future "
                f"(today is {self.today.isoformat()})",
                "effectiveOn",
            )
        return Envelope(
            actor=self.actor,
            effective_on=effective_on,
            correlation_id=self.correlation_id,
            reason=(self.reason or "").strip() or None,
            idempotency_key=self.idempotency_key,
        )

    def fingerprint(self) -> str:
        """What makes two requests with one idempotency key the same request."""
        facts = {
            "command": self.command,
            "inputs": self.inputs,
            "id": self.record_id,
            "expectedVersion": self.expected_version,
            "effectiveOn": self.effective_on,
            "reason": self.reason,
        }
        return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class Outcome:
    """What a command did: the record it acted on, and the position of its last event."""

    record_id: UUID
    position: int
    replayed: bool = False


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
        try:
            record = self.registry.repository.get(record_id)
        except AggregateNotFoundError:
            record = None
        if not isinstance(record, cls):
            raise NotFound(f"no {cls.entity_type.value.lower()} with id {record_id}", field)
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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Commands on one record queue here instead of racing to the store; races with other
        # processes are still caught by the store and retried.
        self._stripes = [threading.Lock() for _ in range(STRIPES)]
        self.keys = KeyStore(self.recorder.datastore)  # type: ignore[attr-defined]

    def _lock_for(self, request: Request) -> threading.Lock | contextlib.nullcontext[None]:
        if request.record_id is None:
            return contextlib.nullcontext()
        return self._stripes[request.record_id.int % STRIPES]

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    def claim_holder(self, key: str) -> Claim | None:
        try:
            claim = self.repository.get(claim_id(key))
        except AggregateNotFoundError:
            return None
        assert isinstance(claim, Claim)
        return claim

    def position_of(self, record_id: UUID, version: int) -> int:
        datastore = self.recorder.datastore  # type: ignore[attr-defined]
        with datastore.transaction(commit=False) as curs:
            curs.execute(
                "SELECT notification_id FROM registry_events"
                " WHERE originator_id = %s AND originator_version = %s",
                (record_id, version),
            )
            row = curs.fetchone()
        return int(row["notification_id"])

    def run(self, request: Request, decide: Callable[[Unit], Record]) -> Outcome:
        """Decide the command on fresh state and store its events, retrying lost races."""
        with self._lock_for(request):
            return self._run(request, decide)

    def _run(self, request: Request, decide: Callable[[Unit], Record]) -> Outcome:
        key = (
            f"idempotency:{request.actor.sub}:{request.idempotency_key}"
            if request.idempotency_key
            else None
        )
        fingerprint = request.fingerprint()
        for attempt in range(ATTEMPTS):
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
                record = decide(unit)
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
            try:
                recordings = self.save(record, *unit.others, *unit.claims)
            except IntegrityError:
                if attempt == ATTEMPTS - 1:
                    raise Conflict(
                        "the record kept changing while this command ran: retry it"
                    ) from None
                time.sleep(random.uniform(0, 0.01 * 2**attempt))
                continue
            position = max(
                r.notification.id for r in recordings if r.domain_event.originator_id == record.id
            )
            return Outcome(record.id, position)
        raise AssertionError("unreachable")
