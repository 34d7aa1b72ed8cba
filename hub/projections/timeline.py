"""Bitemporal read tables: each version of each row, with the two intervals it held for.

Every read table has `effective_from`/`effective_to` (the business dates a version held for;
`effective_to` NULL = still holds) and `recorded_from`/`recorded_to` (the positions between which
the registry said so; `recorded_to` NULL = it still says so). The current state is the slice
where both ends are open.

A record's versions follow four steps (the two times, `docs/domain.md`): its events recorded
up to a position, less those retracted by then, applied in order of effective date (ties by
position).
When an event arrives the record's timeline is worked out again and only the versions that
changed are closed (`recorded_to` = the event's position) and replaced. An event effective on
or after all the record's earlier events only touches the open-ended versions; a back-dated
event or a correction re-folds the record's whole history.

`Standing` is what the registry says of one record now; it takes the record's events one by
one. A live batch makes one per record from its stored versions; a rebuild's `Replay` keeps
one per record in memory from position 0, so both give every version the same recorded
interval.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from operator import itemgetter
from typing import Any, ClassVar, Protocol
from uuid import UUID

import asyncpg
from eventsourcing.domain import Aggregate, DomainEvent

from hub.domain.checks import camel_case
from hub.domain.corrections import retracted
from hub.domain.record import Record
from hub.projections.changes import Change

TIME_COLUMNS = ("effective_from", "effective_to", "recorded_from", "recorded_to")
EVERYTHING = 2**62
"""A position beyond any stored event: "as recorded now"."""


@dataclass(frozen=True)
class Moment:
    """A point on both axes: an effective date, and the last position recorded by a time."""

    effective: date
    recorded: int = EVERYTHING


def holds(moment: Moment, row: Any) -> bool:
    """Whether a version (a row with the four time columns) holds at `moment`: `visible` in
    Python, for rows already read."""
    return (
        row["effective_from"] <= moment.effective
        and (row["effective_to"] is None or moment.effective < row["effective_to"])
        and row["recorded_from"] <= moment.recorded
        and (row["recorded_to"] is None or moment.recorded < row["recorded_to"])
    )


def visible(
    moment: Moment | None, args: list[Any] | None, alias: str = "", ranged: bool = False
) -> str:
    """The SQL condition selecting the versions that hold at `moment` (None: now); its
    parameters are appended to `args`, or written as literals when `args` is None.

    `ranged` writes it with range types, for a table whose GiST index on the two intervals
    (migration 009) beats a scan: one where few versions hold at any moment.
    """
    a = f"{alias}." if alias else ""
    if moment is None:
        return f"{a}effective_to IS NULL AND {a}recorded_to IS NULL"
    if args is None:
        d, p = f"'{moment.effective.isoformat()}'::date", str(int(moment.recorded))
    else:
        args += [moment.effective, moment.recorded]
        d, p = f"${len(args) - 1}", f"${len(args)}"
    if ranged:
        return (
            f"daterange({a}effective_from, {a}effective_to) @> {d}::date"
            f" AND int8range({a}recorded_from, {a}recorded_to) @> {p}::bigint"
        )
    return (
        f"{a}effective_from <= {d} AND ({a}effective_to IS NULL OR {a}effective_to > {d})"
        f" AND {a}recorded_from <= {p} AND ({a}recorded_to IS NULL OR {a}recorded_to > {p})"
    )


@dataclass(frozen=True)
class Table:
    """A read table: its value columns, and the columns that identify a row within it (the
    first of which holds the record's id)."""

    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...] = ("id",)

    @property
    def record(self) -> str:
        return self.key[0]


Key = tuple[Any, ...]


class Rows(dict[Key, dict[str, Any]]):
    """One table's rows in a record's state, noting the row each key held before the first
    change since they were last taken (`taken`): a fold then costs what it changes, not
    what the record holds (a course with hundreds of attendances)."""

    def __init__(self, rows: Mapping[Key, dict[str, Any]] | None = None) -> None:
        super().__init__(rows or {})
        self.before: dict[Key, dict[str, Any] | None] = {}

    def _note(self, key: Key) -> None:
        if key not in self.before:
            self.before[key] = dict.get(self, key)

    def __setitem__(self, key: Key, row: dict[str, Any]) -> None:
        self._note(key)
        super().__setitem__(key, row)

    def __delitem__(self, key: Key) -> None:
        self._note(key)
        super().__delitem__(key)

    def pop(self, key: Key, *default: Any) -> Any:  # type: ignore[override]
        self._note(key)
        return super().pop(key, *default)

    def popitem(self) -> tuple[Key, dict[str, Any]]:
        key, row = super().popitem()
        self.before.setdefault(key, row)
        return key, row

    def clear(self) -> None:
        for key in self:
            self._note(key)
        super().clear()

    def setdefault(self, key: Key, default: Any = None) -> Any:
        self._note(key)
        return super().setdefault(key, default)

    def update(self, *others: Any, **rows: Any) -> None:
        for key, row in dict(*others, **rows).items():
            self[key] = row

    def __ior__(self, other: Any) -> Rows:  # type: ignore[override,misc]
        self.update(other)
        return self

    def taken(self) -> Iterator[tuple[Key, dict[str, Any] | None, dict[str, Any] | None]]:
        """(key, row before, row now) of each row changed since last taken."""
        before, self.before = self.before, {}
        for key, old in before.items():
            new = dict.get(self, key)
            if old is not new and old != new:
                yield key, old, new


State = dict[str, Rows]
"""A record's rows at one effective date: table name → row key → row."""


def empty(history: History) -> State:
    return {t.name: Rows() for t in history.tables}


class History(Protocol):
    """How one kind of record's events become rows."""

    tables: tuple[Table, ...]

    @property
    def entity_type(self) -> str: ...

    def fold(self, state: State, change: Change) -> None:
        """Apply one change to the record's rows, in place, by putting new rows in (never by
        changing a row's dict: the rows before are kept to tell what changed)."""
        ...

    def field(self, name: str) -> str:
        """The API's field for a column, or its list field for a child table's rows."""
        ...


Interval = tuple[str, Key, date]
"""One version's identity: table, row key, effective_from."""
Versions = dict[Interval, tuple[date | None, dict[str, Any]]]
"""Versions of a record as the registry says at one position: → (effective_to, row)."""
Said = dict[Interval, tuple[date | None, dict[str, Any], int]]
"""Versions as stored and still said: → (effective_to, row, recorded_from)."""

EarlierChanges = Callable[
    [asyncpg.Connection, Sequence[UUID], int], Awaitable[dict[UUID, list[Change]]]
]


def kept(changes: Iterable[Change]) -> list[Change]:
    """The changes not retracted by a correction among them (steps 1–2), in position order."""
    ordered = sorted(changes, key=lambda c: c.position)
    dropped = retracted((c.position, c.retracts) for c in ordered)
    return [c for c in ordered if c.position not in dropped]


def timeline(history: History, changes: Iterable[Change]) -> Versions:
    """The versions of a record's rows from its kept changes (steps 3–4)."""
    state = empty(history)
    versions: Versions = {}
    opened: dict[tuple[str, Key], date] = {}
    ordered = sorted(changes, key=lambda c: (c.effective_on, c.position))
    i = 0
    while i < len(ordered):
        day = ordered[i].effective_on
        while i < len(ordered) and ordered[i].effective_on == day:
            history.fold(state, ordered[i])
            i += 1
        for table, key, old, new in _changed(state):
            if old is not None:
                start = opened.pop((table, key))
                versions[(table, key, start)] = (day, old)
            if new is not None:
                opened[(table, key)] = day
    for (table, key), start in opened.items():
        versions[(table, key, start)] = (None, state[table][key])
    return versions


def _changed(
    state: State,
) -> Iterator[tuple[str, Key, dict[str, Any] | None, dict[str, Any] | None]]:
    """(table, key, row before, row after) of each row changed since the state was last asked."""
    for table, rows in state.items():
        for key, old, new in rows.taken():
            yield table, key, old, new


class Writes:
    """The closes and inserts of versions, written per table at the end of a batch (or of a
    rebuild's replay, where every close meets a version still to be inserted)."""

    def __init__(self) -> None:
        self.closes: dict[str, list[dict[str, Any]]] = {}
        self.inserts: dict[str, dict[tuple[Interval, int], dict[str, Any]]] = {}

    def close(self, interval: Interval, effective_to: date | None, recorded: int, at: int) -> None:
        table, key, start = interval
        pending = self.inserts.get(table, {}).get((interval, recorded))
        if pending is not None:
            pending["recorded_to"] = at
        else:
            self.closes.setdefault(table, []).append(
                {"key": key, "effective_from": start, "effective_to": effective_to, "at": at}
            )

    def insert(
        self, interval: Interval, effective_to: date | None, row: dict[str, Any], at: int
    ) -> None:
        table, _, start = interval
        self.inserts.setdefault(table, {})[(interval, at)] = {
            **row,
            "effective_from": start,
            "effective_to": effective_to,
            "recorded_from": at,
            "recorded_to": None,
        }

    async def flush(self, conn: asyncpg.Connection, tables: Sequence[Table]) -> None:
        """Close with one UPDATE per table and insert with one COPY per table."""
        for table in tables:
            closes = self.closes.get(table.name)
            if closes:
                match = " AND ".join(f"t.{c} = c.{c}" for c in table.key)
                await conn.execute(
                    f"UPDATE {table.name} t SET recorded_to = c.recorded_to"
                    f" FROM jsonb_populate_recordset(NULL::{table.name}, $1::jsonb) c"
                    f" WHERE {match} AND t.effective_from = c.effective_from"
                    " AND t.effective_to IS NOT DISTINCT FROM c.effective_to"
                    " AND t.recorded_to IS NULL",
                    json.dumps(
                        [
                            {
                                **dict(zip(table.key, c["key"], strict=True)),
                                "effective_from": c["effective_from"],
                                "effective_to": c["effective_to"],
                                "recorded_to": c["at"],
                            }
                            for c in closes
                        ],
                        default=str,
                    ),
                )
            rows = self.inserts.get(table.name)
            if rows:
                columns = (*table.columns, *TIME_COLUMNS)
                await conn.copy_records_to_table(
                    table.name, columns=columns, records=map(itemgetter(*columns), rows.values())
                )


class Standing:
    """What the registry says now of one record: every version still said, and the
    open-ended ones as the state its next change folds onto."""

    def __init__(self, history: History, said: Said | None = None) -> None:
        self.history = history
        self.main = history.tables[0].name
        self._settle(said or {})

    def _settle(self, said: Said) -> None:
        self.said = said
        self.state = empty(self.history)
        self.starts: dict[tuple[str, Key], date] = {}
        self.latest: date | None = None
        """The start of the main row's latest version."""
        for (table, key, start), (end, row, _) in said.items():
            if end is None:
                dict.__setitem__(self.state[table], key, row)
                self.starts[(table, key)] = start
            if table == self.main and (self.latest is None or start > self.latest):
                self.latest = start

    def needs_refold(self, changes: Iterable[Change]) -> bool:
        """Whether one of these changes (in position order) retracts, or is effective before,
        what the record holds by then."""
        latest = self.latest
        for change in changes:
            if change.retracts or (latest is not None and change.effective_on < latest):
                return True
            latest = change.effective_on if latest is None else max(latest, change.effective_on)
        return False

    def append(self, change: Change, writes: Writes) -> None:
        """A change effective on or after all the record holds: fold it onto the open
        versions, closing those it changes (and inserting them again up to its date)."""
        self.history.fold(self.state, change)
        day, at = change.effective_on, change.position
        for table, key, old, new in _changed(self.state):
            if old is not None:
                start = self.starts.pop((table, key))
                interval = (table, key, start)
                _, _, recorded = self.said.pop(interval)
                writes.close(interval, None, recorded, at)
                if start < day:
                    writes.insert(interval, day, old, at)
                    self.said[interval] = (day, old, at)
            if new is not None:
                interval = (table, key, day)
                writes.insert(interval, None, new, at)
                self.said[interval] = (None, new, at)
                self.starts[(table, key)] = day
                if table == self.main and (self.latest is None or day > self.latest):
                    self.latest = day

    def refold(self, log: Iterable[Change], change: Change, writes: Writes) -> None:
        """A change that retracts or is back-dated: work the record's whole timeline out again
        from its log (which holds `change`), close the versions that changed, insert the new."""
        new = timeline(self.history, kept(log))
        said: Said = {}
        for interval, (end, row, recorded) in self.said.items():
            if new.get(interval) == (end, row):
                said[interval] = (end, row, recorded)
            else:
                writes.close(interval, end, recorded, change.position)
        for interval, (end, row) in new.items():
            if interval not in said:
                writes.insert(interval, end, row, change.position)
                said[interval] = (end, row, change.position)
        self._settle(said)


class RecordViews:
    """A projection keeping the bitemporal tables of some kinds of record."""

    def __init__(self, name: str, *histories: History) -> None:
        self.name = name
        self.histories = {h.entity_type: h for h in histories}
        self.tables = tuple(t.name for h in histories for t in h.tables)

    async def apply(
        self, conn: asyncpg.Connection, changes: Sequence[Change], earlier: EarlierChanges
    ) -> None:
        for entity_type, history in self.histories.items():
            mine = [c for c in changes if c.entity_type == entity_type]
            if mine:
                await self._apply(conn, history, mine, earlier)
                await self.after(conn, mine)

    async def after(self, conn: asyncpg.Connection, changes: Sequence[Change]) -> None:
        """Side effects a projection adds beside its tables (none by default)."""

    def replay(self) -> Replay:
        """A rebuild's in-memory replay of this projection from position 0."""
        return Replay(self)

    async def _apply(
        self,
        conn: asyncpg.Connection,
        history: History,
        changes: Sequence[Change],
        earlier: EarlierChanges,
    ) -> None:
        by_record: dict[UUID, list[Change]] = {}
        for change in changes:
            by_record.setdefault(change.entity_id, []).append(change)
        standing = {
            record_id: Standing(history, said)
            for record_id, said in (await _recorded(conn, history, list(by_record))).items()
        }
        refold = [
            record_id
            for record_id, mine in by_record.items()
            if (standing.get(record_id) or Standing(history)).needs_refold(mine)
        ]
        if refold:  # their versions effective in the past too, and their earlier changes
            for record_id, said in (await _recorded(conn, history, refold, now=False)).items():
                standing[record_id] = Standing(history, said)
        past = await earlier(conn, refold, changes[0].position - 1) if refold else {}
        writes = Writes()
        for record_id, mine in by_record.items():
            record = standing.get(record_id) or Standing(history)
            log = past.get(record_id)
            for change in mine:
                if log is not None:
                    log.append(change)
                    record.refold(log, change, writes)
                else:
                    record.append(change, writes)
        await writes.flush(conn, history.tables)


class Replay:
    """A projection's records replayed in memory from position 0, for a rebuild: each
    record's versions are worked out change by change as the live projector works them out
    batch by batch (the same `Standing`), so every closed version gets the recorded interval
    it has in the live tables; then every table is written with one COPY."""

    def __init__(self, views: RecordViews) -> None:
        self.views = views
        self.records: dict[UUID, Standing] = {}
        self.logs: dict[UUID, list[Change]] = {}
        self.held: set[UUID] = set()
        self.applied: list[Change] = []
        self.writes = Writes()

    def add(self, changes: Sequence[Change]) -> list[tuple[UUID, int, Exception]]:
        """Apply `changes` (in position order); (record, position, error) of each record an
        event of which fails: it stays as before that event, and its later events are skipped."""
        failed = []
        for change in changes:
            history = self.views.histories.get(change.entity_type)
            if history is None or change.entity_id in self.held:
                continue
            record = self.records.get(change.entity_id) or Standing(history)
            log = self.logs.setdefault(change.entity_id, [])
            log.append(change)
            try:
                if record.needs_refold([change]):
                    record.refold(log, change, self.writes)
                else:
                    record.append(change, self.writes)
            except Exception as error:  # the live projector holds such a record back
                log.pop()
                self.held.add(change.entity_id)
                failed.append((change.entity_id, change.position, error))
                continue
            self.records[change.entity_id] = record
            self.applied.append(change)
        return failed

    async def write(self, conn: asyncpg.Connection) -> None:
        assert not self.writes.closes, "a replay closes only versions it inserted"
        for history in self.views.histories.values():
            await self.writes.flush(conn, history.tables)
        for entity_type in self.views.histories:
            mine = [c for c in self.applied if c.entity_type == entity_type]
            if mine:
                await self.views.after(conn, mine)


async def _recorded(
    conn: asyncpg.Connection, history: History, ids: Sequence[UUID], *, now: bool = True
) -> dict[UUID, Said]:
    """The versions the registry says now of each record: → (effective_to, row, recorded_from);
    only those effective now (open-ended), unless `now` is False."""
    found: dict[UUID, Said] = {}
    for table in history.tables:
        rows = await conn.fetch(
            f"SELECT {', '.join(table.columns)}, effective_from, effective_to, recorded_from"
            f" FROM {table.name} WHERE {table.record} = ANY($1) AND recorded_to IS NULL"
            + (" AND effective_to IS NULL" if now else ""),
            ids,
        )
        for r in rows:
            row = {c: r[c] for c in table.columns}
            key = tuple(row[c] for c in table.key)
            found.setdefault(key[0], {})[(table.name, key, r["effective_from"])] = (
                r["effective_to"],
                row,
                r["recorded_from"],
            )
    return found


Step = Callable[[dict[str, Any], Change], None]
"""How one event changes a record's main row (a copy, changed in place)."""
ChildStep = Callable[[State, Change], None]
"""How one event changes a record's child rows (in place)."""


def unchanged(row: dict[str, Any], change: Change) -> None:
    """The step of an event that changes no value of the main row (only its version)."""


def status(value: str) -> Step:
    """The step of an event that puts the record in status `value`."""

    def step(row: dict[str, Any], change: Change) -> None:
        row["status"] = value

    return step


class RowHistory:
    """A record kept as one main row (the first table) with child rows (the other tables),
    folded by steps chosen by the event's class: `steps` for the main row, `child_steps` for
    the child rows. Every event class of `record` has a step in one of them (or both); its
    retraction changes nothing but the version, and an event class with no step is refused.

    The creation event's step fills in a row of Nones that has the record's id and `seq`. A
    row's `version` and `updated_at` are those of the latest event applied to it, whatever
    the order of effective dates, so that the current `version` is the record's own.
    """

    record: ClassVar[type[Record]]
    tables: ClassVar[tuple[Table, ...]]
    steps: ClassVar[Mapping[type[DomainEvent], Step]]
    child_steps: ClassVar[Mapping[type[DomainEvent], ChildStep]] = {}
    fields: ClassVar[Mapping[str, str]] = {}
    """The API's name for a column, or for a child table's rows, where it is not the column
    camelCased (see `field`)."""

    @property
    def entity_type(self) -> str:
        return self.record.entity_type.value

    def handled(self) -> set[type[DomainEvent]]:
        """The event classes this history folds: every one the record declares."""
        return {*self.steps, *self.child_steps, self.record.Retracted}

    def field(self, name: str) -> str:
        """The API's field for a column (`establishedOn`, `incubation.from`), or its list
        field for a child table's rows (`staff`)."""
        return self.fields.get(name) or camel_case(name)

    def fold(self, state: State, change: Change) -> None:
        event = change.event_type
        step = self.steps.get(event)
        if step is None:
            if event not in self.child_steps and not issubclass(event, Record.Retracted):
                raise LookupError(f"{change.type} at {change.position}: no projection step")
            step = unchanged
        main = state[self.tables[0].name]
        key = (change.entity_id,)
        before = main.get(key)
        if issubclass(event, Aggregate.Created):
            row = dict.fromkeys(self.tables[0].columns)
            row.update(id=change.entity_id, seq=change.position)
        else:
            assert before is not None, f"{change.type} at {change.position} before its record"
            row = dict(before)
        step(row, change)
        row.update(version=change.version, updated_at=change.recorded_at)
        if before is not None:
            row["version"] = max(change.version, before["version"])
            row["updated_at"] = max(change.recorded_at, before["updated_at"])
        main[key] = row
        child_step = self.child_steps.get(event)
        if child_step is not None:
            child_step(state, change)
