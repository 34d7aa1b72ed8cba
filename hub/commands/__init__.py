"""The registry's commands, one module per record type.

Each command is a function `(registry, request) -> Outcome` whose name, in camelCase, is the
command's name in the rule table and in the API.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from uuid import UUID, uuid4

from hub.domain.checks import camel_case
from hub.domain.envelope import Actor
from hub.registry.application import Outcome, Registry, Request

Command = Callable[[Registry, Request], Outcome]


def request_for(
    run: Command,
    actor: Actor,
    *,
    today: date,
    on: date | None = None,
    record: UUID | None = None,
    reason: str | None = None,
    key: str | None = None,
    **inputs: object,
) -> Request:
    """A request to run command `run` as `actor`, effective `on`, for callers inside the hub
    (the demo, the seed): what a mutation's input would give."""
    return Request(
        command=camel_case(run.__name__),
        actor=actor,
        correlation_id=str(uuid4()),
        today=today,
        inputs=inputs,
        record_id=record,
        effective_on=on,
        reason=reason,
        idempotency_key=key,
    )
