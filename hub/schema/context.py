"""What every resolver of one request can see: the hub, the caller, the request's loaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

from strawberry.dataloader import DataLoader
from strawberry.types import Info as StrawberryInfo

from hub.auth import Unauthenticated
from hub.domain.envelope import Actor
from hub.projections.agencies import agencies_by_id
from hub.runtime import Hub


@dataclass
class Context:
    hub: Hub
    actor: Actor | None
    auth_error: Unauthenticated | None
    correlation_id: str = field(default_factory=lambda: str(uuid4()))
    agencies: DataLoader[UUID, Any] = field(init=False)

    def __post_init__(self) -> None:
        pool = self.hub.pool
        self.agencies = DataLoader(lambda ids: agencies_by_id(pool, ids))

    @property
    def caller(self) -> Actor:
        """The authenticated actor; the Authenticated extension guarantees there is one."""
        assert self.actor is not None
        return self.actor


Info = StrawberryInfo[Context, None]
