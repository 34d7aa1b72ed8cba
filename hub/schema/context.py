"""What every resolver of one request can see: the hub, the caller, the request's loaders."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from strawberry.dataloader import DataLoader
from strawberry.types import Info as StrawberryInfo

from hub.domain.envelope import Actor
from hub.projections.timeline import Moment
from hub.service.auth import Unauthenticated
from hub.service.runtime import Hub

if TYPE_CHECKING:
    from hub.reads.planner import Planner

Batch = Callable[..., Awaitable[Sequence[Any]]]
"""`batch(pool, keys, moment)`: rows for each key, as they stand at `moment` (None: now)."""


@dataclass
class Context:
    hub: Hub
    actor: Actor | None
    auth_error: Unauthenticated | None
    expires_at: float | None = None
    token_hash: str | None = None
    request: Any = None
    connection_params: dict[str, Any] | None = None
    following: int = 0
    """Subscriptions running on this WebSocket connection."""
    correlation_id: str = field(default_factory=lambda: str(uuid4()))
    """Made here, never by the caller: it pairs the events one request writes."""
    request_id: str = field(default_factory=lambda: str(uuid4()))
    """The request's id in logs and answers (`X-Request-ID`), possibly the caller's own."""
    reads: Planner | None = None
    """The app's read planner (`hub.reads.planner.Planner`), for an HTTP request."""
    _loaders: dict[Hashable, DataLoader[Any, Any]] = field(default_factory=dict)

    def loader(self, batch: Batch, moment: Moment | None = None) -> DataLoader[Any, Any]:
        """This request's DataLoader over `batch(pool, keys, moment)`: one query per nesting
        level and moment."""
        found = self._loaders.get((batch, moment))
        if found is None:
            pool = self.hub.pool
            found = self._loaders[(batch, moment)] = DataLoader(
                lambda keys: batch(pool, keys, moment)
            )
        return found

    @property
    def caller(self) -> Actor:
        """The authenticated actor; `Unauthenticated` (answered as UNAUTHENTICATED) if the
        request carries no valid token."""
        if self.actor is None:
            raise self.auth_error or Unauthenticated("no token")
        return self.actor


Info = StrawberryInfo[Context, None]
