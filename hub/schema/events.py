"""Events as the API shows them: personal data unsealed, redacted or marked erased."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from hub.domain.rules import may_see_personal_data
from hub.personal_data import keys_by_worker, unseal
from hub.projections.workers import workers_by_id
from hub.schema.common import Event
from hub.schema.context import Info

PERSONAL_KEYS = ("name", "idNumber")


async def present(info: Info, rows: Sequence[Any]) -> list[Event]:
    """Events of `rows`, with each worker's personal data shown as the caller may see it."""
    workers = list({r["entity_id"] for r in rows if r["entity_type"] == "WORKER"})
    found = await info.context.loader(workers_by_id).load_many(workers)
    keys = await info.context.loader(keys_by_worker).load_many(workers)
    worker_rows = dict(zip(workers, found, strict=True))
    worker_keys = dict(zip(workers, keys, strict=True))
    events = []
    for row in rows:
        data = json.loads(row["data"])
        if row["entity_type"] == "WORKER" and any(k in data for k in PERSONAL_KEYS):
            data = _personal(
                info,
                data,
                row["entity_id"],
                worker_rows.get(row["entity_id"]),
                worker_keys.get(row["entity_id"]),
            )
        events.append(Event.of(row, data))
    return events


def _personal(
    info: Info, data: dict[str, Any], worker_id: Any, worker: Any, key: bytes | None
) -> dict[str, Any]:
    erased = worker is None or worker["erased"] or key is None
    employer = str(worker["employer"]) if worker is not None and worker["employer"] else None
    visible = worker is not None and may_see_personal_data(
        info.context.caller, worker["district"], employer
    )
    shown = dict(data)
    for name in PERSONAL_KEYS:
        if name in shown:
            shown[name] = None if erased or not visible else unseal(key, worker_id, shown[name])
    if erased:
        shown["personalDataErased"] = True
    elif not visible:
        shown["personalDataRedacted"] = True
    return shown
