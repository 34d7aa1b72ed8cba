"""Workers and their certificates with their history; personal fields stay sealed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg

from hub.domain.worker import PERSONAL_FIELDS, Worker
from hub.projections.changes import Change, optional_id
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


def _registered(row: dict[str, Any], change: Change) -> None:
    facts = change.facts
    row.update(
        status="ACTIVE",
        name_sealed=facts["name"],
        id_number_sealed=facts["id_number"],
        district=facts["district"],
        education=facts["education"],
        employer=optional_id(facts["employer"]),
        erased=False,
        registered_on=change.effective_on,
    )


def _updated(row: dict[str, Any], change: Change) -> None:
    for name, value in change.facts["changes"].items():
        row[_RENAMED.get(name, name)] = optional_id(value) if name == "employer" else value


def _erased(row: dict[str, Any], change: Change) -> None:
    row.update(erased=True, name_sealed=None, id_number_sealed=None)


def _post_taken(row: dict[str, Any], change: Change) -> None:
    row["post"] = optional_id(change.facts["post"])


def _post_left(row: dict[str, Any], change: Change) -> None:
    row["post"] = None


CERTIFICATE_COLUMNS = ("worker_id", "level", "number", "awarded_on", "revoked", "position")


def _certificate(change: Change) -> tuple[Any, ...]:
    return (change.entity_id, change.facts["level"], change.facts["number"])


def _awarded(state: State, change: Change) -> None:
    key = _certificate(change)
    state["worker_certificates"][key] = dict(
        zip(CERTIFICATE_COLUMNS, (*key, change.effective_on, False, change.position), strict=True)
    )


def _revoked(state: State, change: Change) -> None:
    certificates, key = state["worker_certificates"], _certificate(change)
    if key in certificates:
        certificates[key] = {**certificates[key], "revoked": True}


class WorkerHistory(RowHistory):
    record = Worker
    tables = (
        Table("workers", COLUMNS),
        Table("worker_certificates", CERTIFICATE_COLUMNS, ("worker_id", "level", "number")),
    )
    steps = {
        Worker.Registered: _registered,
        Worker.Updated: _updated,
        Worker.PersonalDataErased: _erased,
        Worker.PostTaken: _post_taken,
        Worker.PostLeft: _post_left,
    }
    child_steps = {Worker.CertificateAwarded: _awarded, Worker.CertificateRevoked: _revoked}
    fields = {"erased": "personalDataErased", "worker_certificates": "certificates"}


class Workers(RecordViews):
    def __init__(self) -> None:
        super().__init__("workers", WorkerHistory())

    async def after(self, conn: asyncpg.Connection, changes: Sequence[Change]) -> None:
        erased = [c.entity_id for c in changes if c.event_type is Worker.PersonalDataErased]
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
    searched: dict[str, tuple[str, Any]] | None = None,
    moment: Moment | None = None,
) -> tuple[list[asyncpg.Record], bool, int]:
    """One page of workers in registration order, whether more follow, and the total;
    `searched`: more named conditions (a search by personal data, `hub.schema.worker`)."""
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
            ),
            **(searched or {}),
        },
        moment=moment,
    )
