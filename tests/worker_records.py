"""Workers made directly through the application, for tests of records that name a worker.

The API has no `registerWorker` yet; when it has, tests should register workers through it.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import date, timedelta
from uuid import uuid4

from hub.domain.envelope import Actor, Role
from hub.domain.identifiers import make_id_number
from hub.domain.record import Record
from hub.domain.worker import Worker
from hub.registry import Request, Unit
from tests.conftest import Client

_numbers = itertools.count(1)


async def register_worker(client: Client, district: str = "500103") -> str:
    """Register a worker (as the municipal bureau, effective 2015-01-01); return its id."""
    n = next(_numbers)
    id_number = make_id_number(district, date(1980, 1, 1) + timedelta(days=n // 1000), n % 1000)

    def decide(unit: Unit) -> Record:
        return Worker.register(
            id=uuid4(),
            name=f"测试社工{n}",
            id_number=id_number,
            district=district,
            education="BACHELOR",
            employer=None,
            envelope=unit.envelope,
            seal=lambda s: s,
        )

    request = Request(
        command="registerWorker",
        actor=Actor("test-municipal", Role.MUNICIPAL),
        correlation_id=str(uuid4()),
        today=client.hub.settings.today(),
        effective_on=date(2015, 1, 1),
    )
    outcome = await asyncio.to_thread(client.hub.registry.run, request, decide)
    return str(outcome.record_id)
