"""What each event of one record changed: its rows on the event's effective date as the
registry said them just before and just after the event was recorded."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg

from hub.projections.agencies import AgencyHistory
from hub.projections.communities import CommunityHistory
from hub.projections.courses import CourseHistory
from hub.projections.posts import PostHistory
from hub.projections.projects import ProjectHistory
from hub.projections.stations import StationHistory
from hub.projections.timeline import History, Moment, Table, holds
from hub.projections.workers import WorkerHistory

HISTORIES: dict[str, History] = {
    h.entity_type: h
    for h in (
        AgencyHistory(),
        CommunityHistory(),
        CourseHistory(),
        ProjectHistory(),
        PostHistory(),
        StationHistory(),
        WorkerHistory(),
    )
}
UNSHOWN = {"id", "seq", "version", "updated_at", "name_sealed", "id_number_sealed", "position"}
"""Columns every event changes, personal data (shown by the event's own data, per role), and
the order related rows were made in."""

FieldChange = tuple[str, Any, Any]


async def changes_by_event(
    pool: asyncpg.Pool, entity_type: str, record_id: UUID, events: Sequence[tuple[int, date]]
) -> list[list[FieldChange]]:
    """For each (position, effective date) of the record's events, the fields it changed:
    (field, before, after), each named as the API names it (`establishedOn`, and
    `incubation.from` for a field of a nested object). A related row is named by the record's
    list field and the row's key (`staff/<workerId>`, `certificates/<level>/<number>`), with the
    row's fields before and after (None where there was, or is, no such row)."""
    history = HISTORIES[entity_type]
    versions = {
        table.name: [
            dict(r)
            for r in await pool.fetch(
                f"SELECT * FROM {table.name} WHERE {table.record} = $1", record_id
            )
        ]
        for table in history.tables
    }
    result = []
    for position, day in events:
        changed: list[FieldChange] = []
        for n, table in enumerate(history.tables):
            before = _at(versions[table.name], table.key, day, position - 1)
            after = _at(versions[table.name], table.key, day, position)
            for key in sorted(before.keys() | after.keys(), key=repr):
                old, new = before.get(key), after.get(key)
                if n == 0:
                    for column in table.columns:
                        if column in UNSHOWN:
                            continue
                        a = old.get(column) if old else None
                        b = new.get(column) if new else None
                        if a != b:
                            changed.append((history.field(column), _plain(a), _plain(b)))
                elif old != new:
                    name = "/".join([history.field(table.name), *(str(k) for k in key[1:])])
                    changed.append((name, _row(history, table, old), _row(history, table, new)))
        result.append(changed)
    return result


def _at(
    rows: list[dict[str, Any]], key: Sequence[str], day: date, position: int
) -> dict[tuple[Any, ...], dict[str, Any]]:
    moment = Moment(day, position)
    return {tuple(r[k] for k in key): r for r in rows if holds(moment, r)}


def _row(history: History, table: Table, row: dict[str, Any] | None) -> dict[str, Any] | None:
    """A related row's fields, less those its name gives (its key)."""
    if row is None:
        return None
    return {
        history.field(c): _plain(row[c])
        for c in table.columns
        if c not in table.key and c not in UNSHOWN
    }


def _plain(value: Any) -> Any:
    """A value as JSON shows it."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return str(value)
