"""Events as the API shows them: personal data unsealed, redacted or marked erased."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from hub.domain.checks import camel_case
from hub.domain.envelope import Actor
from hub.domain.rules import may_see_personal_data
from hub.domain.worker import PERSONAL_FIELDS
from hub.projections.workers import workers_by_id
from hub.registry.personal_data import unseal
from hub.schema.common import Event
from hub.service.runtime import Hub

PERSONAL_KEYS = tuple(camel_case(f) for f in PERSONAL_FIELDS)


async def present(
    hub: Hub, actor: Actor, rows: Sequence[Any], *, request_id: str | None
) -> list[Event]:
    """Events of `rows`, with each worker's personal data shown as `actor` may see it; what
    it shows is recorded in the access log under `request_id`.

    Reads workers and keys afresh (not through a request's loaders), so that a stream that
    runs for days shows an erasure the moment it happens.
    """
    workers = list({r["entity_id"] for r in rows if r["entity_type"] == "WORKER"})
    found = await workers_by_id(hub.pool, workers) if workers else []
    keys = await hub.keys_by_worker(hub.pool, workers) if workers else []
    worker_rows = dict(zip(workers, found, strict=True))
    worker_keys = dict(zip(workers, keys, strict=True))
    events = []
    for row in rows:
        data = json.loads(row["data"])
        if row["entity_type"] == "WORKER" and any(k in data for k in PERSONAL_KEYS):
            data = _personal(
                actor,
                data,
                row["entity_id"],
                worker_rows.get(row["entity_id"]),
                worker_keys.get(row["entity_id"]),
            )
            shown = [k for k in PERSONAL_KEYS if data.get(k) is not None]
            if shown:
                hub.access_log.reveal(actor, request_id, row["entity_id"], shown)
        events.append(Event.of(row, data))
    return events


def _personal(
    actor: Actor, data: dict[str, Any], worker_id: Any, worker: Any, key: bytes | None
) -> dict[str, Any]:
    erased = worker is None or worker["erased"] or key is None
    employer = str(worker["employer"]) if worker is not None and worker["employer"] else None
    visible = worker is not None and may_see_personal_data(actor, worker["district"], employer)
    shown = dict(data)
    for name in PERSONAL_KEYS:
        if name in shown:
            shown[name] = None if erased or not visible else unseal(key, worker_id, shown[name])
    if erased:
        shown["personalDataErased"] = True
    elif not visible:
        shown["personalDataRedacted"] = True
    return shown


def as_json(event: Event) -> dict[str, Any]:
    """An event as the API's JSON shows it, for streams outside GraphQL (SSE)."""
    return {
        "position": event.position,
        "entityId": str(event.entity_id),
        "entityType": event.entity_type.value,
        "type": event.type,
        "version": event.version,
        "recordedAt": event.recorded_at.isoformat(),
        "effectiveOn": event.effective_on.isoformat(),
        "actor": {
            "sub": event.actor.sub,
            "party": event.actor.party,
            "role": event.actor.role.value,
            "jurisdiction": event.actor.jurisdiction,
        },
        "reason": event.reason,
        "retracts": event.retracts,
        "schemaVersion": event.schema_version,
        "correlationId": event.correlation_id,
        "requestId": event.request_id,
        "data": event.data,
    }
