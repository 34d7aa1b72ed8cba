"""The public event log (API.md `Event`): one row per record event, with its envelope."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg

from hub.projections.changes import Change


class EventLog:
    name = "event_log"
    tables = ("event_log",)

    async def apply(self, conn: asyncpg.Connection, changes: Sequence[Change]) -> None:
        districts = await self._districts(conn, changes)
        await conn.executemany(
            "INSERT INTO event_log (position, entity_id, entity_type, type, version, recorded_at,"
            " effective_on, actor_sub, actor_party, actor_role, actor_jurisdiction, reason,"
            " retracts, correlation_id, idempotency_key, district, data)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7::text::date, $8, $9, $10, $11, $12, $13, $14,"
            " $15, $16, $17::jsonb)",
            [
                (
                    c.position,
                    c.entity_id,
                    c.entity_type,
                    c.type,
                    c.version,
                    c.recorded_at,
                    c.envelope["effective_on"],
                    c.envelope["actor"]["sub"],
                    c.envelope["actor"]["party"],
                    c.envelope["actor"]["role"],
                    c.envelope["actor"]["jurisdiction"],
                    c.envelope["reason"],
                    c.envelope["retracts"],
                    c.envelope["correlation_id"],
                    c.envelope["idempotency_key"],
                    districts.get(c.entity_id),
                    json.dumps(c.data, default=str, ensure_ascii=False),
                )
                for c in changes
            ],
        )

    async def _districts(self, conn: asyncpg.Connection, changes: Sequence[Change]) -> dict:
        """Each record's district: from its first event, in this batch or already logged."""
        found = {c.entity_id: c.facts["district"] for c in changes if "district" in c.facts}
        missing = list({c.entity_id for c in changes} - found.keys())
        if missing:
            rows = await conn.fetch(
                "SELECT entity_id, district FROM event_log"
                " WHERE entity_id = ANY($1) AND version = 1",
                missing,
            )
            found.update({r["entity_id"]: r["district"] for r in rows})
        return found


async def history(pool: asyncpg.Pool, entity_id: Any) -> list[asyncpg.Record]:
    """Every logged event of one record, oldest first."""
    return await pool.fetch(
        "SELECT * FROM event_log WHERE entity_id = $1 ORDER BY version", entity_id
    )


async def included_position(pool: asyncpg.Pool) -> int:
    """The last position every read view includes."""
    return await pool.fetchval("SELECT coalesce(min(position), 0) FROM projection_positions")
