"""The hub's settings, all read from `HUB_*` environment variables (README lists them).

`Settings` is the one definition: each field's type and bounds say what its variable accepts,
and a value outside them stops the hub with `InvalidSetting` naming the variable.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "development-only-secret-set-HUB_JWT_SECRET"


class InvalidSetting(ValueError):
    """A `HUB_*` variable holds a value the hub does not take."""


class Accepts(str):
    """What a setting's variable accepts, in words, for the line that refuses a bad value."""


def _time_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as unknown:
        raise ValueError("unknown time zone") from unknown
    return name


Port = Annotated[int, Field(ge=1, le=65535), Accepts("a port (an integer 1-65535)")]
Count = Annotated[int, Field(ge=1), Accepts("an integer, 1 or more")]
Limit = Annotated[int, Field(ge=0), Accepts("an integer, 0 or more")]
Seconds = Annotated[float, Field(gt=0), Accepts("a number of seconds above 0")]
Rate = Annotated[float, Field(ge=0), Accepts("a number, 0 or more")]
Switch = Annotated[bool, Accepts("on or off (also true/false, yes/no, 1/0, in any case)")]
TimeZone = Annotated[
    str, AfterValidator(_time_zone), Accepts("a time zone name (such as Asia/Shanghai)")
]
Mode = Literal["open", "allow-listed"]
OperationMode = Annotated[Mode, Accepts("one of " + ", ".join(get_args(Mode)))]
Format = Literal["auto", "json", "text"]
LogFormat = Annotated[Format, Accepts("one of " + ", ".join(get_args(Format)))]


class Settings(BaseSettings):
    """Every `HUB_*` setting: the variable is `HUB_` and the field's name in capitals, unless
    the field names another. Immutable; tests and `hub serve --port` pass overrides."""

    model_config = SettingsConfigDict(
        env_prefix="HUB_",
        env_ignore_empty=True,
        frozen=True,
        extra="forbid",
        validate_by_name=True,
        validate_default=True,
    )

    database_url: str | None = Field(None, description="PostgreSQL URL; unset: embedded server")
    home: Path = Field(Path(".hub"), description="the embedded server's data and the key file")
    migrations: Path | None = Field(
        None, description="a folder of SQL migrations to apply instead of the hub's own"
    )
    personal_data_key: str | None = Field(
        None, repr=False, description="base64 of the 32-byte key-encryption key"
    )
    """None: the key file in `home`."""
    jwt_secret: str = Field(DEV_SECRET, repr=False, description="HS256 key for bearer tokens")
    host: str = Field("127.0.0.1", description="where `hub serve` listens")
    port: Port = Field(8000, description="the port `hub serve` listens on")
    timezone: TimeZone = Field("Asia/Shanghai", description="the city's time zone")
    run_projections: Switch = Field(
        True,
        validation_alias="HUB_PROJECTIONS",
        description="off: this server runs no projections",
    )
    read_planner: Switch = Field(
        True, description="on: query operations it covers are answered from one SQL statement"
    )
    indicator_cache: Limit = Field(
        256, description="answers of indicators and indicatorSeries kept (0: none)"
    )
    read_your_writes_timeout: Seconds = Field(
        5.0, description="how long a mutation waits for the read views"
    )
    outcome_check_seconds: Seconds = Field(
        5.0, description="how long a mutation waits for an unreachable database"
    )
    ready_max_lag_seconds: Seconds = Field(10.0, description="the lag past which /readyz is 503")
    command_threads: Count = Field(8, description="threads running commands")
    group_commit_ms: Rate = Field(
        2.0, description="how long a save waits for concurrent commands to join it (0: none)"
    )
    projection_batch: Count = Field(500, description="stored events per projection transaction")
    stream_buffer: Count = Field(1000, description="events a stream reads ahead")
    stream_stall_seconds: Seconds = Field(30.0, description="how long a stalled consumer is kept")
    max_streams: Limit = Field(1000, description="open event streams one process serves")
    max_streams_per_token: Limit = Field(10, description="open event streams per token")
    operations: OperationMode = Field(
        "open", description="`open`, or `allow-listed`: only listed operations run"
    )
    operations_refresh_seconds: Seconds = Field(
        2.0, description="how often the allow-list is read again"
    )
    persisted_queries: Limit = Field(1000, description="persisted query texts one process keeps")
    max_body_bytes: Limit = Field(1_048_576, description="largest request body (0: no limit)")
    statement_timeout_ms: Limit = Field(10_000, description="longest read query (0: no limit)")
    rate_limit_per_token: Rate = Field(50.0, description="requests/s per token (0: no limit)")
    rate_limit_burst: Count = Field(100, description="requests a token may send at once")
    max_ws_message_bytes: Limit = Field(65_536, description="largest WebSocket message (0: none)")
    max_subscriptions_per_connection: Limit = Field(
        10, description="operations one WebSocket runs at once (0: no limit)"
    )
    max_tokens: Limit = Field(10_000, description="tokens a query may hold (0: no limit)")
    max_depth: Limit = Field(20, description="levels of nested fields (0: no limit)")
    max_aliases: Limit = Field(100, description="aliased fields in a query (0: no limit)")
    max_cost: Limit = Field(20_000, description="rows a query may ask for (0: no limit)")
    max_cost_municipal: Limit | None = Field(None, description="max_cost for MUNICIPAL callers")
    max_cost_district: Limit | None = Field(None, description="max_cost for DISTRICT callers")
    max_cost_contractor: Limit | None = Field(None, description="max_cost for CONTRACTOR callers")
    max_cost_auditor: Limit | None = Field(None, description="max_cost for AUDITOR callers")
    max_cost_partner: Limit | None = Field(None, description="max_cost for PARTNER callers")
    log_format: LogFormat = Field(
        "auto", description="`json`, `text`, or `auto`: text on a terminal, JSON otherwise"
    )
    workers: Count = Field(1, description="API processes `hub serve` runs on one port")
    read_database_url: str | None = Field(
        None, description="a streaming replica's PostgreSQL URL for reads; unset: the primary"
    )
    personal_data_access_log: Switch = Field(
        True, description="record who was shown a worker's name or ID number"
    )
    access_log_queue: Count = Field(
        100_000, description="reveals waiting to be written; more are dropped and counted"
    )
    nats_url: str | None = Field(
        None, description="NATS server `hub relay` publishes to (e.g. nats://127.0.0.1:4222)"
    )
    nats_stream: str = Field("hub-events", description="the JetStream stream `hub relay` fills")
    nats_subject_prefix: str = Field(
        "hub.events", description="subjects of the relayed events: `<prefix>.<type>.<district>`"
    )

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """The settings in the environment, `overrides` (by field name) taking precedence."""
        try:
            return cls(**overrides)
        except ValidationError as refused:
            raise InvalidSetting(_first_problem(refused)) from None

    @property
    def max_cost_by_role(self) -> dict[str, int]:
        """`max_cost` for callers of a role that has its own (`HUB_MAX_COST_AUDITOR`...)."""
        return {
            role: limit
            for role in ROLE_COST_SETTINGS
            if (limit := getattr(self, f"max_cost_{role.lower()}")) is not None
        }

    def today(self) -> date:
        """The business date in the city, which is what `effectiveOn` is checked against."""
        return datetime.now(ZoneInfo(self.timezone)).date()


def variable(name: str) -> str:
    """The environment variable of field `name`."""
    alias = Settings.model_fields[name].validation_alias
    return alias if isinstance(alias, str) else f"HUB_{name.upper()}"


VARIABLES: dict[str, str] = {variable(name): name for name in Settings.model_fields}
"""Each `HUB_*` variable and the field it sets."""
ROLE_COST_SETTINGS: dict[str, str] = {
    name.removeprefix("max_cost_").upper(): variable(name)
    for name in Settings.model_fields
    if name.startswith("max_cost_")
}
"""The setting that overrides `HUB_MAX_COST` for callers of each role."""


def accepts(name: str) -> str:
    """What field `name`'s variable accepts, in words."""
    info = Settings.model_fields[name]
    for said in [*info.metadata, *_said(info.annotation)]:
        if isinstance(said, Accepts):
            return str(said)
    return "a text"


def _said(annotation: object) -> list[object]:
    """The metadata of `annotation`'s members, for a setting that may be unset."""
    return [said for member in get_args(annotation) for said in getattr(member, "__metadata__", ())]


def _first_problem(refused: ValidationError) -> str:
    """`HUB_PORT=abc: not a port (an integer 1-65535)`: the first bad value, one line."""
    problem = refused.errors()[0]
    where = str(problem["loc"][0]) if problem["loc"] else ""
    field = where if where in Settings.model_fields else VARIABLES.get(where)
    if field is None:
        return f"{where}: not a setting"
    value = problem["input"]
    shown = value if isinstance(value, str) and value.isprintable() else repr(value)
    return f"{variable(field)}={shown}: not {accepts(field)}"
