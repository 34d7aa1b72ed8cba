"""Workers and their certificates with their history; personal fields stay sealed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg

from hub.domain.worker import PERSONAL_FIELDS
from hub.projections.changes import Change
from hub.projections.paging import by_key, page, related
from hub.projections.timeline import Moment, RecordViews, RowHistory, State, Table, visible
from hub.registry.personal_data import destroy_keys

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
_RENAMED = {f: f"{f}_sealed" for f in PERSONAL_FIELDS}


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


CERTIFICATE_COLUMNS = ("worker_id", "level", "number", "awarded_on", "revoked", "position")


class WorkerHistory(RowHistory):
    entity_type = "WORKER"
    tables = (
        Table("workers", COLUMNS),
        Table("worker_certificates", CERTIFICATE_COLUMNS, ("worker_id", "level", "number")),
    )
    fold_row = staticmethod(fold)

    def fold_children(self, state: State, change: Change) -> None:
        certificates = state["worker_certificates"]
        if change.kind == "CertificateAwarded":
            key = (change.entity_id, change.facts["level"], change.facts["number"])
            certificates[key] = dict(
                zip(
                    CERTIFICATE_COLUMNS,
                    (*key, change.effective_on, False, change.position),
                    strict=True,
                )
            )
        elif change.kind == "CertificateRevoked":
            key = (change.entity_id, change.facts["level"], change.facts["number"])
            if key in certificates:
                certificates[key] = {**certificates[key], "revoked": True}


class Workers(RecordViews):
    def __init__(self) -> None:
        super().__init__("workers", WorkerHistory())

    async def after(self, conn: asyncpg.Connection, changes: Sequence[Change]) -> None:
        erased = [c.entity_id for c in changes if c.kind == "PersonalDataErased"]
        if erased:
            # The command deletes the key at once; this makes sure a crash in between
            # cannot leave it behind.
            await destroy_keys(conn, erased)


async def workers_by_id(
    pool: asyncpg.Pool, ids: Sequence[Any], moment: Moment | None = None
) -> list[asyncpg.Record | None]:
    return await by_key(pool, "workers", COLUMNS, "id", ids, moment)


async def certificates_by_worker(
    pool: asyncpg.Pool, ids: Sequence[Any], moment: Moment | None = None
) -> list[list[asyncpg.Record]]:
    return await related(
        pool, "worker_certificates", CERTIFICATE_COLUMNS, "worker_id", ids, moment, "position"
    )


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
    moment: Moment | None = None,
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
                f" AND c.level = $? AND NOT c.revoked AND {visible(moment, None, 'c')})",
                level,
            )
        },
        moment=moment,
    )
