"""What every resolver of one request can see: the hub, the caller, the request's loaders."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

import asyncpg
from strawberry.dataloader import DataLoader
from strawberry.types import Info as StrawberryInfo

from hub.auth import Unauthenticated
from hub.domain.envelope import Actor
from hub.runtime import Hub

Batch = Callable[[asyncpg.Pool, Sequence[Any]], Awaitable[Sequence[Any]]]


@dataclass
class Context:
    hub: Hub
    actor: Actor | None
    auth_error: Unauthenticated | None
    expires_at: float | None = None
    request: Any = None
    connection_params: dict[str, Any] | None = None
    correlation_id: str = field(default_factory=lambda: str(uuid4()))
    _loaders: dict[Hashable, DataLoader[Any, Any]] = field(default_factory=dict)

    def loader(self, batch: Batch) -> DataLoader[Any, Any]:
        """This request's DataLoader over `batch(pool, keys)`: one query per nesting level."""
        found = self._loaders.get(batch)
        if found is None:
            pool = self.hub.pool
            found = self._loaders[batch] = DataLoader(lambda keys: batch(pool, keys))
        return found

    @property
    def caller(self) -> Actor:
        """The authenticated actor; the Authenticated extension guarantees there is one."""
        assert self.actor is not None
        return self.actor


Info = StrawberryInfo[Context, None]
