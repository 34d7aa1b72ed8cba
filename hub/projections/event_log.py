"""The public event log (the API's `Event`): one row per record event, with its envelope."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from hub.domain.records import BY_ENTITY_TYPE
from hub.projections.changes import Change
from hub.projections.paging import page
from hub.projections.timeline import EarlierChanges

COLUMNS = (
    "position",
    "entity_id",
    "entity_type",
    "type",
    "version",
    "recorded_at",
    "effective_on",
    "actor_sub",
    "actor_party",
    "actor_role",
    "actor_jurisdiction",
    "reason",
    "retracts",
    "correlation_id",
    "idempotency_key",
    "district",
    "agency",
    "data",
    "request_id",
)

_JSON = msgspec.json.Encoder()
"""An event's data as the log's JSON: its dates, ids and amounts as strings."""

Scope = tuple[str | None, UUID | None]
"""A record's district and answerable agency, as its latest logged event left them."""


class EventLog:
    name = "event_log"
    tables = ("event_log",)

    async def apply(
        self, conn: asyncpg.Connection, changes: Sequence[Change], earlier: EarlierChanges
    ) -> None:
        current = await self._current(conn, changes)
        await conn.copy_records_to_table(
            "event_log", columns=COLUMNS, records=[_row(c, scope(c, current)) for c in changes]
        )

    def replay(self) -> LogReplay:
        """A rebuild's in-memory replay of the log from position 0."""
        return LogReplay()

    async def _current(
        self, conn: asyncpg.Connection, changes: Sequence[Change]
    ) -> dict[UUID, Scope]:
        """The scope already logged of each record the changes touch or name."""
        named = {
            UUID(c.facts[through])
            for c in changes
            if (through := BY_ENTITY_TYPE[c.entity_type].answers_to.through)
            and c.facts.get(through)
        }
        ids = list({c.entity_id for c in changes} | named)
        rows = await conn.fetch(
            "SELECT DISTINCT ON (entity_id) entity_id, district, agency FROM event_log"
            " WHERE entity_id = ANY($1) ORDER BY entity_id, position DESC",
            ids,
        )
        return {r["entity_id"]: (r["district"], r["agency"]) for r in rows}


def scope(change: Change, current: dict[UUID, Scope]) -> Scope:
    """A change's (district, answerable agency), carried forward from the record's earlier
    events (`current`, which it updates); which agency answers for a record is its type's
    `answers_to` (`hub.domain.rules.Answerable`)."""
    district, agency = current.get(change.entity_id, (None, None))
    facts = {**change.facts, **change.facts.get("changes", {})}
    district = facts.get("district") or district
    answers = BY_ENTITY_TYPE[change.entity_type].answers_to
    if answers.itself:
        agency = change.entity_id
    elif answers.through and change.version == 1:
        other = facts.get(answers.through)
        agency = current.get(UUID(other), (None, None))[1] if other else None
    elif answers.fact and answers.fact in facts:
        agency = UUID(str(facts[answers.fact])) if facts[answers.fact] else None
    current[change.entity_id] = (district, agency)
    return district, agency


def _row(change: Change, scope: Scope) -> tuple[Any, ...]:
    envelope, actor = change.envelope, change.envelope["actor"]
    return (
        change.position,
        change.entity_id,
        change.entity_type,
        change.type,
        change.version,
        change.recorded_at,
        change.effective_on,
        actor["sub"],
        actor["party"],
        actor["role"],
        actor["jurisdiction"],
        envelope["reason"],
        envelope["retracts"],
        envelope["correlation_id"],
        envelope["idempotency_key"],
        *scope,
        _JSON.encode(change.data).decode(),
        envelope.get("request_id"),  # none in events stored before it was kept
    )


class LogReplay:
    """The log replayed in memory for a rebuild, scopes carried forward, written with one COPY."""

    def __init__(self) -> None:
        self.current: dict[UUID, Scope] = {}
        self.rows: list[tuple[Any, ...]] = []
        self.held: set[UUID] = set()

    def add(self, changes: Sequence[Change]) -> list[tuple[UUID, int, Exception]]:
        failed = []
        for change in changes:
            if change.entity_id in self.held:
                continue
            try:
                self.rows.append(_row(change, scope(change, self.current)))
            except Exception as error:  # the live projector holds such a record back
                self.held.add(change.entity_id)
                failed.append((change.entity_id, change.position, error))
        return failed

    async def write(self, conn: asyncpg.Connection) -> None:
        await conn.copy_records_to_table("event_log", columns=COLUMNS, records=self.rows)


async def history(pool: asyncpg.Pool, entity_id: Any) -> list[asyncpg.Record]:
    """Every logged event of one record, oldest first."""
    return await pool.fetch(
        "SELECT * FROM event_log WHERE entity_id = $1 ORDER BY version", entity_id
    )


async def events_at(pool: asyncpg.Pool, positions: list[int]) -> list[asyncpg.Record]:
    """The logged events at `positions`, in position order."""
    return await pool.fetch(
        "SELECT * FROM event_log WHERE position = ANY($1::bigint[]) ORDER BY position", positions
    )


async def retractions_with(pool: asyncpg.Pool, position: int) -> list[asyncpg.Record]:
    """The retractions written in the same request as the one at `position` (for a replayed
    `retractEvents`, whose positions are not at hand)."""
    return await pool.fetch(
        "SELECT * FROM event_log WHERE type LIKE '%Retracted' AND correlation_id ="
        " (SELECT correlation_id FROM event_log WHERE position = $1) ORDER BY position",
        position,
    )


async def last_recorded(pool: asyncpg.Pool, at: datetime) -> int:
    """The last position recorded at or before `at` (0 before the first event)."""
    found = await pool.fetchval(
        "SELECT position FROM event_log WHERE recorded_at <= $1"
        " ORDER BY recorded_at DESC, position DESC LIMIT 1",
        at,
    )
    return found or 0


INCLUDED_POSITION = "SELECT coalesce(min(position), 0) FROM projection_positions"


async def included_position(pool: asyncpg.Pool) -> int:
    """The last position every read view includes."""
    return await pool.fetchval(INCLUDED_POSITION)


_FIRST_HELD = f"(SELECT min(position) FROM held_back WHERE projection = '{EventLog.name}')"
"""The first event the log holds back (`hub.projections.held_back`), or null."""


async def complete_position(pool: asyncpg.Pool, projected: int | None = None) -> int:
    """The last position up to which the log has every event: `projected` (default: what
    every view includes), or just before an event the log holds back. Streams never pass that
    gap, so a partner gets the held record's events, in order, once they are retried."""
    return await pool.fetchval(
        f"SELECT least(coalesce($1, (SELECT min(position) FROM projection_positions), 0),"
        f" {_FIRST_HELD} - 1)",
        projected,
    )


async def events_after(
    pool: asyncpg.Pool,
    after: int,
    *,
    limit: int,
    entity_types: Sequence[str] | None = None,
    district: str | None = None,
    agency: UUID | None = None,
) -> list[asyncpg.Record]:
    """Logged events after position `after`, in position order, filtered.

    The log is written only by the projector, in position order, a whole batch per commit,
    so what this sees is always a gap-free prefix of it; it stops before an event the log
    holds back (see `complete_position`).
    """
    where = ["position > $1", f"position < coalesce({_FIRST_HELD}, {2**63 - 1})"]
    args: list[Any] = [after]
    for column, value in (
        ("entity_type", entity_types),
        ("district", district),
        ("agency", agency),
    ):
        if value is not None:
            args.append(value)
            where.append(
                f"{column} = ANY(${len(args)})"
                if column == "entity_type"
                else f"{column} = ${len(args)}"
            )
    args.append(limit)
    return await pool.fetch(
        f"SELECT * FROM event_log WHERE {' AND '.join(where)} ORDER BY position LIMIT ${len(args)}",
        *args,
    )


async def audit_page(
    pool: asyncpg.Pool,
    *,
    first: int,
    after: int,
    actor: str | None = None,
    party: str | None = None,
    district: str | None = None,
    agency: UUID | None = None,
    entity_types: Sequence[str] | None = None,
    type: str | None = None,
    entity_id: UUID | None = None,
    recorded_from: datetime | None = None,
    recorded_to: datetime | None = None,
    effective_from: date | None = None,
    effective_to: date | None = None,
) -> tuple[list[asyncpg.Record], bool, int]:
    """One page of the log in position order, filtered as `auditTrail` asks; ranges include
    both ends."""
    filters = {
        "actor_sub": actor,
        "actor_party": party,
        "district": district,
        "agency": agency,
        "type": type,
        "entity_id": entity_id,
    }
    conditions = {
        "entity types": ("entity_type = ANY($?)", list(entity_types) if entity_types else None),
        "recorded from": ("recorded_at >= $?", recorded_from),
        "recorded to": ("recorded_at <= $?", recorded_to),
        "effective from": ("effective_on >= $?", effective_from),
        "effective to": ("effective_on <= $?", effective_to),
    }
    return await page(
        pool,
        "event_log",
        ("*",),
        first,
        after,
        filters,
        conditions=conditions,
        order="position",
        bitemporal=False,
    )
