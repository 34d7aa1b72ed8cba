"""The hub's Prometheus metrics (`GET /metrics`), every name starting `hub_`.

With `PROMETHEUS_MULTIPROC_DIR` set (several worker processes), each process writes its values
there and a scrape of any one of them answers for all (prometheus-client's multiprocess mode).
Operation names are the client's choice, so only a bounded set of them become labels.
"""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)

from hub.domain.errors import CommandRefused, OutcomeUnknown

if TYPE_CHECKING:
    from hub.service.runtime import Hub

T = TypeVar("T")

disable_created_metrics()  # a `_created` series per counter doubles a scrape, to say little

REGISTRY = CollectorRegistry(auto_describe=True)
"""The hub's own metrics only: no `process_`/`python_` ones, so that every name is `hub_`."""

REQUESTS = Counter(
    "hub_requests",
    "HTTP requests and WebSocket connections, by path, GraphQL operation name and outcome "
    "(ok, or the first error's code, or http_<status>)",
    ["path", "operation", "outcome"],
    registry=REGISTRY,
)
REQUEST_SECONDS = Histogram(
    "hub_request_duration_seconds",
    "Time to answer an HTTP request (a stream: its whole life), by path and operation name",
    ["path", "operation"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
COMMANDS = Counter(
    "hub_commands",
    "Commands run, by command and outcome (ok, or the refusal's code)",
    ["command", "outcome"],
    registry=REGISTRY,
)
READ_OPERATIONS = Counter(
    "hub_read_operations",
    "Query operations over HTTP, by path: planned (one SQL statement) or fallback (the resolvers)",
    ["path"],
    registry=REGISTRY,
)
INDICATOR_CACHE = Counter(
    "hub_indicator_cache_lookups",
    "Answers of indicators and indicatorSeries asked of the cache, by outcome: hit (kept),"
    " shared (another request's statement was running), miss (one statement ran)",
    ["outcome"],
    registry=REGISTRY,
)
EVENTS_APPENDED = Counter(
    "hub_events_appended", "Record events the commands of this hub stored", registry=REGISTRY
)
STORE_HEAD = Gauge(
    "hub_event_store_head",
    "The position of the last stored event",
    registry=REGISTRY,
    multiprocess_mode="mostrecent",
)
PROJECTION_POSITION = Gauge(
    "hub_projection_position",
    "The last position each projection applied",
    ["projection"],
    registry=REGISTRY,
    multiprocess_mode="mostrecent",
)
PROJECTION_LAG = Gauge(
    "hub_projection_lag_events",
    "Stored events each projection has not applied yet",
    ["projection"],
    registry=REGISTRY,
    multiprocess_mode="mostrecent",
)
PROJECTION_BEHIND = Gauge(
    "hub_projection_behind_seconds",
    "Age of the oldest stored event the read views do not include yet (0: none)",
    registry=REGISTRY,
    multiprocess_mode="mostrecent",
)
SUBSCRIBERS = Gauge(
    "hub_stream_subscribers",
    "Event streams being followed now, by transport (websocket, sse)",
    ["transport"],
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
DELIVERED = Counter(
    "hub_stream_events_delivered",
    "Events sent to stream subscribers, by transport",
    ["transport"],
    registry=REGISTRY,
)
POOL_IN_USE = Gauge(
    "hub_read_pool_connections_in_use",
    "Read-pool connections lent out (sampled at each request's end and at each scrape)",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
POOL_SIZE = Gauge(
    "hub_read_pool_connections",
    "Read-pool connections open",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)

TRANSPORTS = ("websocket", "sse")
PATHS = frozenset({"/graphql", "/events", "/healthz", "/readyz", "/metrics"})
OTHER = "other"
ANONYMOUS = "anonymous"
NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,99}")


class OperationNames:
    """The operation names that become labels: those of allow-listed operations when only
    they may run, else the first `limit` distinct ones seen; any other is `other`, so a client
    sending ever new names cannot grow the label set without bound."""

    def __init__(self, limit: int = 100) -> None:
        self.limit = limit
        self.seen: set[str] = set()

    def label(self, name: str | None, allowed: Any = None) -> str:
        if not name:
            return ANONYMOUS
        if name in self.seen:
            return name
        if not NAME.fullmatch(name):
            return OTHER
        if allowed is not None:
            if not any(op.name == name for op in allowed.by_hash.values()):
                return OTHER
        elif len(self.seen) >= self.limit:
            return OTHER
        self.seen.add(name)
        return name


OPERATIONS = OperationNames()


def path_label(path: str) -> str:
    return path if path in PATHS else OTHER


def requested(path: str, operation: str, outcome: str, seconds: float, hub: Hub | None) -> None:
    """One request answered (or one WebSocket connection ended)."""
    path = path_label(path)
    REQUESTS.labels(path, operation, outcome).inc()
    REQUEST_SECONDS.labels(path, operation).observe(seconds)
    if hub is not None:
        _sample_pool(hub)


async def counted(command: str, running: Awaitable[T]) -> T:
    """`running`'s outcome (a command's), counted by command and outcome."""
    try:
        outcome = await running
    except Exception as error:
        refused = isinstance(error, CommandRefused | OutcomeUnknown)
        COMMANDS.labels(command, error.code if refused else "INTERNAL_SERVER_ERROR").inc()
        raise
    COMMANDS.labels(command, "ok").inc()
    EVENTS_APPENDED.inc(len(getattr(outcome, "written", ())))
    return outcome


class Subscriber:
    """One stream being followed over `transport`, for as long as the block runs."""

    def __init__(self, transport: str) -> None:
        self.gauge = SUBSCRIBERS.labels(transport)
        self.delivered = DELIVERED.labels(transport)

    def __enter__(self) -> Subscriber:
        self.gauge.inc()
        return self

    def __exit__(self, *_: object) -> None:
        self.gauge.dec()


def _sample_pool(hub: Hub) -> None:
    pool = getattr(hub, "pool", None)
    if pool is None:
        return
    size = pool.get_size()
    POOL_SIZE.set(size)
    POOL_IN_USE.set(size - pool.get_idle_size())


async def exposition(hub: Hub) -> tuple[bytes, str]:
    """The metrics as Prometheus text, with the projections' positions read now (skipped when
    the database cannot be reached: the request counts still answer)."""
    _sample_pool(hub)
    try:
        lag = await hub.projection_lag()
    except Exception:  # noqa: BLE001 - metrics answer whatever state the database is in
        lag = None
    if lag is not None:
        STORE_HEAD.set(lag["head"])
        PROJECTION_BEHIND.set(lag["behindSeconds"])
        for name, at in lag["projections"].items():
            PROJECTION_POSITION.labels(name).set(at["position"])
            PROJECTION_LAG.labels(name).set(at["lag"])
    if multiprocessing():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST


def multiprocessing() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def process_ended() -> None:
    """Drop this process's live gauges from a multiprocess directory as it stops."""
    if multiprocessing():
        multiprocess.mark_process_dead(os.getpid())


def _init_transports() -> None:
    for transport in TRANSPORTS:
        SUBSCRIBERS.labels(transport)
        DELIVERED.labels(transport)
    for outcome in ("hit", "shared", "miss"):
        INDICATOR_CACHE.labels(outcome)


_init_transports()
