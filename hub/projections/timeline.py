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
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
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


State = dict[str, dict[tuple[Any, ...], dict[str, Any]]]
"""A record's rows at one effective date: table name → row key → row."""


class History(Protocol):
    """How one kind of record's events become rows."""

    tables: tuple[Table, ...]

    @property
    def entity_type(self) -> str: ...

    def fold(self, state: State, change: Change) -> None:
        """Apply one change to the record's rows, in place."""
        ...

    def field(self, name: str) -> str:
        """The API's field for a column, or its list field for a child table's rows."""
        ...


Interval = tuple[str, tuple[Any, ...], date]
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
    state: State = {t.name: {} for t in history.tables}
    versions: Versions = {}
    opened: dict[tuple[str, tuple[Any, ...]], date] = {}
    ordered = sorted(changes, key=lambda c: (c.effective_on, c.position))
    i = 0
    while i < len(ordered):
        day = ordered[i].effective_on
        before = _snapshot(state)
        while i < len(ordered) and ordered[i].effective_on == day:
            history.fold(state, ordered[i])
            i += 1
        for table, key, old, new in _changed(before, state):
            if old is not None:
                start = opened.pop((table, key))
                versions[(table, key, start)] = (day, old)
            if new is not None:
                opened[(table, key)] = day
    for (table, key), start in opened.items():
        versions[(table, key, start)] = (None, state[table][key])
    return versions


def _changed(
    before: State, after: State
) -> Iterator[tuple[str, tuple[Any, ...], dict[str, Any] | None, dict[str, Any] | None]]:
    """(table, key, row before, row after) of each row that differs between two states."""
    for table, rows in after.items():
        for key in before[table].keys() | rows.keys():
            old, new = before[table].get(key), rows.get(key)
            if old != new:
                yield table, key, old, new


def _snapshot(state: State) -> State:
    return {table: {k: dict(r) for k, r in rows.items()} for table, rows in state.items()}


class Writes:
    """The closes and inserts a batch makes, written per table at the end of the batch."""

    def __init__(self) -> None:
        self.closes: dict[str, list[tuple[Any, ...]]] = {}
        self.inserts: dict[str, dict[tuple[Interval, int], dict[str, Any]]] = {}

    def close(self, interval: Interval, effective_to: date | None, recorded: int, at: int) -> None:
        table, key, start = interval
        pending = self.inserts.get(table, {}).get((interval, recorded))
        if pending is not None:
            pending["recorded_to"] = at
        else:
            self.closes.setdefault(table, []).append((*key, start, effective_to, at))

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
        for table in tables:
            closes = self.closes.get(table.name)
            if closes:
                n = len(table.key)
                match = " AND ".join(f"{c} = ${i}" for i, c in enumerate(table.key, 1))
                await conn.executemany(
                    f"UPDATE {table.name} SET recorded_to = ${n + 3} WHERE {match}"
                    f" AND effective_from = ${n + 1}"
                    f" AND effective_to IS NOT DISTINCT FROM ${n + 2} AND recorded_to IS NULL",
                    closes,
                )
            rows = self.inserts.get(table.name)
            if rows:
                columns = (*table.columns, *TIME_COLUMNS)
                await conn.copy_records_to_table(
                    table.name,
                    columns=columns,
                    records=[tuple(r[c] for c in columns) for r in rows.values()],
                )


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
        ids = list(by_record)
        stored = await _recorded(conn, history, ids)
        writes = Writes()
        refold = [
            record_id
            for record_id, mine in by_record.items()
            if _needs_refold(history, stored.get(record_id, {}), mine)
        ]
        past = await earlier(conn, refold, changes[0].position - 1) if refold else {}
        for record_id, mine in by_record.items():
            versions = stored.get(record_id, {})
            if record_id in past:
                log = past[record_id]
                for change in mine:
                    log.append(change)
                    versions = _diff(versions, timeline(history, kept(log)), change, writes)
            else:
                for change in mine:
                    versions = _append(history, versions, change, writes)
        await writes.flush(conn, history.tables)


async def _recorded(
    conn: asyncpg.Connection, history: History, ids: Sequence[UUID]
) -> dict[UUID, Said]:
    """The versions the registry says now of each record: → (effective_to, row, recorded_from)."""
    found: dict[UUID, Said] = {}
    for table in history.tables:
        rows = await conn.fetch(
            f"SELECT {', '.join(table.columns)}, effective_from, effective_to, recorded_from"
            f" FROM {table.name} WHERE {table.record} = ANY($1) AND recorded_to IS NULL",
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


def _needs_refold(
    history: History,
    versions: Said,
    changes: Sequence[Change],
) -> bool:
    """Whether a change retracts, or is effective before, what the record already holds."""
    main = history.tables[0].name
    latest = max((i[2] for i in versions if i[0] == main), default=None)
    for change in changes:
        if change.retracts or (latest is not None and change.effective_on < latest):
            return True
        latest = change.effective_on if latest is None else max(latest, change.effective_on)
    return False


def _diff(
    old: Said,
    new: Versions,
    change: Change,
    writes: Writes,
) -> Said:
    """Close the versions `change` ended, insert the ones it began; the versions now said."""
    result = {}
    for interval, (end, row, recorded) in old.items():
        if new.get(interval) == (end, row):
            result[interval] = (end, row, recorded)
        else:
            writes.close(interval, end, recorded, change.position)
    for interval, (end, row) in new.items():
        if interval not in result:
            writes.insert(interval, end, row, change.position)
            result[interval] = (end, row, change.position)
    return result


def _append(
    history: History,
    versions: Said,
    change: Change,
    writes: Writes,
) -> Said:
    """A change effective on or after all the record holds: fold it onto the open versions."""
    state: State = {t.name: {} for t in history.tables}
    starts: dict[tuple[str, tuple[Any, ...]], Interval] = {}
    for interval, (end, row, _) in versions.items():
        if end is None:
            state[interval[0]][interval[1]] = copy.copy(row)
            starts[(interval[0], interval[1])] = interval
    before = _snapshot(state)
    history.fold(state, change)
    day = change.effective_on
    result = dict(versions)
    for table, key, old, new in _changed(before, state):
        if old is not None:
            interval = starts[(table, key)]
            writes.close(interval, None, versions[interval][2], change.position)
            del result[interval]
            if interval[2] < day:
                writes.insert(interval, day, old, change.position)
                result[interval] = (day, old, change.position)
        if new is not None:
            interval = (table, key, day)
            writes.insert(interval, None, new, change.position)
            result[interval] = (None, new, change.position)
    return result


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
