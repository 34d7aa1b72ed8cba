"""What every resolver of one request can see: the hub, the caller, the request's loaders."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from strawberry.dataloader import DataLoader
from strawberry.types import Info as StrawberryInfo

from hub.domain.envelope import Actor
from hub.projections.timeline import Moment
from hub.service.auth import Unauthenticated
from hub.service.ids import uuid4
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
    together: SharedReads | None = None
    """The app's loaders of the views as they stand now, shared by its requests."""
    stored: bool = False
    """Set once the request's mutation is stored and the views show it: what its payload
    reads now is read together with the other mutations answered at the same time."""
    _loaders: dict[Hashable, DataLoader[Any, Any]] = field(default_factory=dict)

    def loader(self, batch: Batch, moment: Moment | None = None) -> DataLoader[Any, Any]:
        """This request's DataLoader over `batch(pool, keys, moment)`: one query per nesting
        level and moment; for a stored mutation's payload now, one shared with the others."""
        if self.stored and moment is None and self.together is not None:
            return self.together.loader(self.hub.pool, batch)
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


class SharedReads:
    """DataLoaders over the views as they stand now, one per batch function, shared by the
    requests of one app. The mutations a projector step showed are answered in the same turn
    of the event loop; their payloads' records are read in one query per nesting level
    instead of one each. Nothing is kept: each turn's loads are read afresh, and a batch
    function reads rows for keys alone, whoever asks."""

    def __init__(self) -> None:
        self._loaders: dict[Batch, DataLoader[Any, Any]] = {}

    def loader(self, pool: Any, batch: Batch) -> DataLoader[Any, Any]:
        found = self._loaders.get(batch)
        if found is None:
            found = self._loaders[batch] = DataLoader(
                lambda keys: batch(pool, keys, None), cache=False
            )
        return found


Info = StrawberryInfo[Context, None]
