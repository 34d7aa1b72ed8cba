"""The hub's settings, all read from `HUB_*` environment variables (README lists them)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

OPERATION_MODES = ("open", "allow-listed")
ROLE_COST_SETTINGS = {
    "MUNICIPAL": "HUB_MAX_COST_MUNICIPAL",
    "DISTRICT": "HUB_MAX_COST_DISTRICT",
    "CONTRACTOR": "HUB_MAX_COST_CONTRACTOR",
    "AUDITOR": "HUB_MAX_COST_AUDITOR",
    "PARTNER": "HUB_MAX_COST_PARTNER",
}
"""The setting that overrides `HUB_MAX_COST` for callers of each role."""
DEV_SECRET = "development-only-secret-set-HUB_JWT_SECRET"


class InvalidSetting(ValueError):
    """A `HUB_*` variable holds a value the hub does not take."""


@dataclass(frozen=True)
class Settings:
    database_url: str | None
    home: Path
    jwt_secret: str
    timezone: str
    host: str
    port: int
    run_projections: bool
    read_your_writes_timeout: float
    command_threads: int
    projection_batch: int
    stream_buffer: int
    stream_stall_seconds: float
    max_streams: int
    max_streams_per_token: int
    outcome_check_seconds: float
    ready_max_lag_seconds: float
    max_body_bytes: int
    statement_timeout_ms: int
    rate_limit_per_token: float
    rate_limit_burst: int
    max_ws_message_bytes: int
    max_subscriptions_per_connection: int
    operations: str = "open"
    """`open`, or `allow-listed`: only the operations `hub operations add` listed run."""
    operations_refresh_seconds: float = 2.0
    persisted_queries: int = 1000
    personal_data_key: str | None = field(default=None, repr=False)
    """Base64 of the 32-byte key-encryption key; None: the key file in `home`."""
    max_tokens: int = 10_000
    max_depth: int = 20
    max_aliases: int = 100
    max_cost: int = 20_000
    max_cost_by_role: Mapping[str, int] = field(default_factory=dict)
    """`max_cost` for callers of a role (`HUB_MAX_COST_AUDITOR`...); others: `max_cost`."""
    workers: int = 1
    """API processes `hub serve` runs on the one port (`HUB_WORKERS`)."""
    read_database_url: str | None = None
    """A streaming replica of the database that queries and streams read from."""

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        env = os.environ
        values: dict[str, object] = {
            "database_url": env.get("HUB_DATABASE_URL") or None,
            "home": Path(env.get("HUB_HOME", ".hub")),
            "jwt_secret": env.get("HUB_JWT_SECRET", DEV_SECRET),
            "timezone": env.get("HUB_TIMEZONE", "Asia/Shanghai"),
            "host": env.get("HUB_HOST", "127.0.0.1"),
            "port": int(env.get("HUB_PORT", "8000")),
            "run_projections": env.get("HUB_PROJECTIONS", "on") != "off",
            "read_your_writes_timeout": float(env.get("HUB_READ_YOUR_WRITES_TIMEOUT", "5")),
            "command_threads": int(env.get("HUB_COMMAND_THREADS", "8")),
            "projection_batch": int(env.get("HUB_PROJECTION_BATCH", "500")),
            "stream_buffer": int(env.get("HUB_STREAM_BUFFER", "1000")),
            "stream_stall_seconds": float(env.get("HUB_STREAM_STALL_SECONDS", "30")),
            "max_streams": int(env.get("HUB_MAX_STREAMS", "1000")),
            "max_streams_per_token": int(env.get("HUB_MAX_STREAMS_PER_TOKEN", "10")),
            "personal_data_key": env.get("HUB_PERSONAL_DATA_KEY") or None,
            "outcome_check_seconds": float(env.get("HUB_OUTCOME_CHECK_SECONDS", "5")),
            "ready_max_lag_seconds": float(env.get("HUB_READY_MAX_LAG_SECONDS", "10")),
            "operations": env.get("HUB_OPERATIONS", "open"),
            "operations_refresh_seconds": float(env.get("HUB_OPERATIONS_REFRESH_SECONDS", "2")),
            "persisted_queries": int(env.get("HUB_PERSISTED_QUERIES", "1000")),
            "max_body_bytes": int(env.get("HUB_MAX_BODY_BYTES", "1048576")),
            "statement_timeout_ms": int(env.get("HUB_STATEMENT_TIMEOUT_MS", "10000")),
            "rate_limit_per_token": float(env.get("HUB_RATE_LIMIT_PER_TOKEN", "50")),
            "rate_limit_burst": int(env.get("HUB_RATE_LIMIT_BURST", "100")),
            "max_ws_message_bytes": int(env.get("HUB_MAX_WS_MESSAGE_BYTES", "65536")),
            "max_subscriptions_per_connection": int(
                env.get("HUB_MAX_SUBSCRIPTIONS_PER_CONNECTION", "10")
            ),
            "max_tokens": int(env.get("HUB_MAX_TOKENS", "10000")),
            "max_depth": int(env.get("HUB_MAX_DEPTH", "20")),
            "max_aliases": int(env.get("HUB_MAX_ALIASES", "100")),
            "max_cost": int(env.get("HUB_MAX_COST", "20000")),
            "max_cost_by_role": {
                role: int(env[name]) for role, name in ROLE_COST_SETTINGS.items() if env.get(name)
            },
            "workers": int(env.get("HUB_WORKERS", "1")),
            "read_database_url": env.get("HUB_READ_DATABASE_URL") or None,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    def __post_init__(self) -> None:
        if self.operations not in OPERATION_MODES:
            raise InvalidSetting(
                f"HUB_OPERATIONS must be one of {', '.join(OPERATION_MODES)}, "
                f"not {self.operations!r}"
            )
        if self.workers < 1:
            raise InvalidSetting(f"HUB_WORKERS must be 1 or more, not {self.workers}")

    def today(self) -> date:
        """The business date in the city, which is what `effectiveOn` is checked against."""
        return datetime.now(ZoneInfo(self.timezone)).date()
