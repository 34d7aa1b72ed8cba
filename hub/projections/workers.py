"""Workers and their certificates as they stand now; personal fields stay sealed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg

from hub.projections.changes import Change
from hub.projections.paging import by_key, grouped, page, upsert

COLUMNS = (
    "id",
    "seq",
    "version",
    "status",
    "name_sealed",
    "id_number_sealed",
    "district",
    "education",
    "employer",
    "post",
    "erased",
    "registered_on",
    "updated_at",
)
_RENAMED = {"name": "name_sealed", "id_number": "id_number_sealed"}


def _uuid(value: str | None) -> UUID | None:
    return UUID(value) if value else None


def fold(row: dict[str, Any] | None, change: Change) -> dict[str, Any]:
    """The worker row after one change."""
    facts = change.facts
    if change.kind == "Registered":
        row = dict.fromkeys(COLUMNS)
        row.update(
            id=change.entity_id,
            seq=change.position,
            status="ACTIVE",
            name_sealed=facts["name"],
            id_number_sealed=facts["id_number"],
            district=facts["district"],
            education=facts["education"],
            employer=_uuid(facts["employer"]),
            erased=False,
            registered_on=date.fromisoformat(change.envelope["effective_on"]),
        )
    else:
        assert row is not None, f"{change.type} at {change.position} for an unknown worker"
        row = dict(row)
        if change.kind == "Updated":
            for name, value in facts["changes"].items():
                row[_RENAMED.get(name, name)] = _uuid(value) if name == "employer" else value
        elif change.kind == "PersonalDataErased":
            row.update(erased=True, name_sealed=None, id_number_sealed=None)
        elif change.kind == "PostTaken":
            row["post"] = _uuid(facts["post"])
        elif change.kind == "PostLeft":
            row["post"] = None
    row.update(version=change.version, updated_at=change.recorded_at)
    return row


class Workers:
    name = "workers"
    tables = ("worker_certificates", "workers")

    async def apply(self, conn: asyncpg.Connection, changes: Sequence[Change]) -> None:
        mine = [c for c in changes if c.entity_type == "WORKER"]
        if not mine:
            return
        await upsert(conn, "workers", COLUMNS, mine, fold)
        for change in mine:
            if change.kind == "CertificateAwarded":
                await conn.execute(
                    "INSERT INTO worker_certificates (worker_id, level, number, awarded_on,"
                    " position) VALUES ($1, $2, $3, $4::text::date, $5)"
                    " ON CONFLICT (worker_id, level, number) DO UPDATE SET revoked = false,"
                    " awarded_on = EXCLUDED.awarded_on, position = EXCLUDED.position",
                    change.entity_id,
                    change.facts["level"],
                    change.facts["number"],
                    change.envelope["effective_on"],
                    change.position,
                )
            elif change.kind == "CertificateRevoked":
                await conn.execute(
                    "UPDATE worker_certificates SET revoked = true"
                    " WHERE worker_id = $1 AND level = $2 AND number = $3",
                    change.entity_id,
                    change.facts["level"],
                    change.facts["number"],
                )
        erased = [c.entity_id for c in mine if c.kind == "PersonalDataErased"]
        if erased:
            # The command deletes the key at once; this makes sure a crash in between
            # cannot leave it behind.
            await conn.execute("DELETE FROM personal_data_keys WHERE worker_id = ANY($1)", erased)


async def workers_by_id(pool: asyncpg.Pool, ids: Sequence[Any]) -> list[asyncpg.Record | None]:
    return await by_key(pool, "workers", COLUMNS, "id", ids)


async def certificates_by_worker(
    pool: asyncpg.Pool, ids: Sequence[Any]
) -> list[list[asyncpg.Record]]:
    rows = await pool.fetch(
        "SELECT * FROM worker_certificates WHERE worker_id = ANY($1) ORDER BY position",
        list(ids),
    )
    return grouped(rows, "worker_id", ids)


async def worker_page(
    pool: asyncpg.Pool,
    *,
    first: int,
    after_seq: int,
    district: str | None = None,
    status: str | None = None,
    level: str | None = None,
    employer: UUID | None = None,
    education: str | None = None,
) -> tuple[list[asyncpg.Record], bool, int]:
    """One page of workers in registration order, whether more follow, and the total."""
    return await page(
        pool,
        "workers",
        COLUMNS,
        first,
        after_seq,
        {"district": district, "status": status, "employer": employer, "education": education},
        conditions={
            "level": (
                "EXISTS (SELECT 1 FROM worker_certificates c WHERE c.worker_id = workers.id"
                " AND c.level = $? AND NOT c.revoked)",
                level,
            )
        },
    )
