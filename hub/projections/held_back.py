"""Records a projection holds back: an event of theirs failed to apply, so that projection
keeps their rows as they were before it and skips their later events until they are retried
(`hub project --retry`), while every other record goes on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import asyncpg


@dataclass(frozen=True)
class Held:
    projection: str
    entity_id: UUID
    position: int
    """The event the projection could not apply; its rows are as they were before it."""
    error: str

    def public(self) -> dict[str, object]:
        return {
            "projection": self.projection,
            "entityId": str(self.entity_id),
            "position": self.position,
            "error": self.error,
        }


def _held(row: asyncpg.Record) -> Held:
    return Held(row["projection"], row["entity_id"], row["position"], row["error"])


async def held_back(pool: asyncpg.Pool | asyncpg.Connection, entity_id: UUID) -> Held | None:
    """Whether a view holds the record back: its earliest held event, or None."""
    row = await pool.fetchrow(
        "SELECT projection, entity_id, position, error FROM held_back WHERE entity_id = $1"
        " ORDER BY position, projection LIMIT 1",
        entity_id,
    )
    return _held(row) if row else None


async def every_held(pool: asyncpg.Pool | asyncpg.Connection) -> list[Held]:
    """Every held-back record, in the order they were held."""
    rows = await pool.fetch(
        "SELECT projection, entity_id, position, error FROM held_back ORDER BY position, projection"
    )
    return [_held(r) for r in rows]


async def holding(conn: asyncpg.Connection, ids: Sequence[UUID]) -> dict[tuple[str, UUID], int]:
    """Of the records `ids`, those held back: (projection, record) → the held position."""
    rows = await conn.fetch(
        "SELECT projection, entity_id, position FROM held_back WHERE entity_id = ANY($1)",
        list(ids),
    )
    return {(r["projection"], r["entity_id"]): r["position"] for r in rows}


async def hold(conn: asyncpg.Connection, held: Sequence[Held]) -> None:
    """Hold records back (or, for one held already, move it on to a later failing event)."""
    if not held:  # as nearly every batch: no round trip
        return
    await conn.executemany(
        "INSERT INTO held_back (projection, entity_id, position, error) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (projection, entity_id) DO UPDATE"
        " SET position = excluded.position, error = excluded.error, held_at = now()",
        [(h.projection, h.entity_id, h.position, h.error) for h in held],
    )


async def release(conn: asyncpg.Connection, projection: str, entity_id: UUID) -> None:
    await conn.execute(
        "DELETE FROM held_back WHERE projection = $1 AND entity_id = $2", projection, entity_id
    )


async def release_all(conn: asyncpg.Connection, projections: Sequence[str]) -> None:
    """Forget what the named projections hold back (they are rebuilt from zero)."""
    await conn.execute("DELETE FROM held_back WHERE projection = ANY($1)", list(projections))
