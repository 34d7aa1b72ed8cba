"""The blind index: finding a worker by name or ID number without storing either.

Each worker's current name and ID number are stored in `personal_data_index` (a row per
worker) only as keyed digests (`Kek.index_digest`: an HMAC under a key derived from the KEK,
of the value `normalised`), so a search compares digests and whoever lacks the KEK can neither
read a value nor confirm a guess. The digests are not in events: an 18-digit ID number's
digest can be brute-forced by whoever holds the KEK, so it must go when the worker is erased,
which a row referencing the worker's key does (deleted with it, `ON DELETE CASCADE`).

The registry writes a worker's digests in the transaction that saves an event changing them
(`IndexChanges`), from the values the workers view will show (`current_sealed`); the hub
fills in those of workers stored before the index at start (`personal_data.backfill_index`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

from psycopg import Cursor

from hub.domain.checks import camel_case
from hub.domain.corrections import retracted
from hub.domain.errors import InvalidInput
from hub.domain.record import Record

FIELDS = ("name", "id_number")
"""What the index holds, as the record names its personal fields."""


def normalised(field: str, value: str) -> str:
    """What two spellings of one value share: Unicode NFKC (full-width forms become plain),
    whitespace removed; a name casefolded, an ID number upper-cased."""
    text = "".join(unicodedata.normalize("NFKC", value).split())
    return text.upper() if field == "id_number" else text.casefold()


def search_term(field: str, value: str) -> str:
    """A value searched for, refused when nothing is left of it once `normalised`."""
    if not normalised(field, value):
        raise InvalidInput(f"{camel_case(field)} must not be empty", camel_case(field))
    return value


def matches(worker: str, field: str, digest: str) -> str:
    """The SQL condition that the worker whose id is `worker` (an SQL expression) has the
    digest `digest` (a parameter) for `field`: the one way both read paths search. The ids
    are looked up first, once (an array), so the workers are then read by id whatever the
    statistics say."""
    assert field in FIELDS
    found = f"SELECT worker_id FROM personal_data_index WHERE {field} = {digest}"
    return f"{worker} = ANY (ARRAY({found}))"


@dataclass
class IndexChanges:
    """Workers' digests to store with a save: each worker's replace what is stored of it (none:
    erased). `fresh` workers have nothing stored yet (registered in this save)."""

    digests: dict[UUID, dict[str, bytes]] = field(default_factory=dict)
    fresh: set[UUID] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.digests)

    def set(self, worker_id: UUID, digests: dict[str, bytes], fresh: bool) -> None:
        self.digests[worker_id] = digests
        if fresh:
            self.fresh.add(worker_id)

    def update(self, other: IndexChanges) -> None:
        for worker_id, digests in other.digests.items():
            self.set(worker_id, digests, worker_id in other.fresh and worker_id not in self.digests)

    def write(self, curs: Cursor[Any], copy: bool = False) -> None:
        """Store them on `curs`, in its transaction; `copy`: rows sent with COPY (a batch's
        thousands), else in one INSERT (a save pipelined, where COPY cannot go)."""
        stale = [w for w in self.digests if w not in self.fresh]
        if stale:
            curs.execute("DELETE FROM personal_data_index WHERE worker_id = ANY(%s)", (stale,))
        rows = [(w, *(d.get(f) for f in FIELDS)) for w, d in self.digests.items() if d]
        if not rows:
            return
        if copy:
            columns = ", ".join(("worker_id", *FIELDS))
            with curs.copy(f"COPY personal_data_index ({columns}) FROM STDIN (FORMAT BINARY)") as c:
                c.set_types(["uuid", "bytea", "bytea"])
                for row in rows:
                    c.write_row(row)
            return
        curs.execute(
            "INSERT INTO personal_data_index (worker_id, name, id_number)"
            " SELECT * FROM unnest(%s::uuid[], %s::bytea[], %s::bytea[])",
            tuple(list(column) for column in zip(*rows, strict=True)),
        )


def touches_index(event: Any) -> bool:
    """Whether a worker's event may change what its digests should be."""
    if isinstance(event, Record.Retracted) or event.envelope.get("retracts"):
        return True
    name = type(event).__name__
    if name in ("Registered", "PersonalDataErased"):
        return True
    return name == "Updated" and any(f in event.changes for f in FIELDS)


def current_sealed(log: Iterable[tuple[int, Any]]) -> dict[str, str] | None:
    """A worker's sealed personal values as the workers view shows them now, from its events
    as (position, event) in position order: those not retracted, applied in order of effective
    date (ties by position), as `hub.projections.timeline` folds them. None once erased."""
    events = list(log)
    dropped = retracted((p, e.envelope.get("retracts") or ()) for p, e in events)
    values: dict[str, str] = {}
    erased = False
    for _, event in sorted(
        ((p, e) for p, e in events if p not in dropped),
        key=lambda pe: (date.fromisoformat(pe[1].envelope["effective_on"]), pe[0]),
    ):
        name = type(event).__name__
        if name == "Registered":
            values = {f: getattr(event, f) for f in FIELDS}
        elif name == "Updated":
            values.update({f: event.changes[f] for f in FIELDS if f in event.changes})
        elif name == "PersonalDataErased":
            erased = True
    return None if erased else values


def digests_of(
    sealed: dict[str, str] | None, unseal: Callable[[str], str | None], digest: DigestOf
) -> dict[str, bytes]:
    """The digests of a worker's sealed values (none when erased or its key is gone)."""
    found: dict[str, bytes] = {}
    for f, token in (sealed or {}).items():
        value = unseal(token)
        if value is not None:
            found[f] = digest(f, value)
    return found


DigestOf = Callable[[str, str], bytes]
"""`Kek.index_digest`: (field, value) → its digest."""
