"""The `hub` command: serve, migrate, project, relay, import-reference, seed, operations, token,
export-schema, export-event-reference."""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import logging
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from hub.projections.held_back import every_held
from hub.registry.personal_data import PersonalDataKeyError
from hub.service import logs
from hub.service.config import DEV_SECRET, InvalidSetting, Settings
from hub.service.database import MigrationPending, MigrationsMissing, migration_files
from hub.service.progress import meter
from hub.service.runtime import projections

if TYPE_CHECKING:
    import asyncpg
    from starlette.applications import Starlette

    from hub.projections.runner import Swapped
    from hub.service.runtime import Hub

LOG_FORMAT = "%(asctime)s %(name)s %(message)s"


def _serve(args: argparse.Namespace) -> None:
    import uvicorn

    from hub.service.web import create_app

    settings = Settings.from_env(**_overrides(args))
    logs.configure(settings.log_format)
    # refused here in one line, not in a traceback of the server's start-up
    _migrated_before_serving(settings)
    if settings.jwt_secret == DEV_SECRET:
        logging.getLogger("hub").warning(
            "HUB_JWT_SECRET is not set: tokens are signed with the development secret"
        )
    served = {
        "host": settings.host,
        "port": settings.port,
        "log_level": "info",
        "log_config": None,  # uvicorn's records go through the hub's handler (`logs.configure`)
        "access_log": False,  # the hub logs each request itself, with its request id
        # streams never end by themselves: on SIGTERM they get this long, then are cut
        "timeout_graceful_shutdown": GRACE_SECONDS,
        # the app enforces it too; here a too-big frame is refused before it is buffered
        "ws_max_size": settings.max_ws_message_bytes or 16 * 1024 * 1024,
    }
    if settings.workers > 1:
        if args.demo:
            sys.exit("hub serve: --demo runs with one worker (unset --workers and HUB_WORKERS)")
        _serve_workers(settings, served)
        return
    on_start = None
    if args.demo:
        from hub.tools import demo

        on_start = demo.show
    uvicorn.run(create_app(settings, on_start=on_start), **served)


def _migrated_before_serving(settings: Settings) -> None:
    """Apply the migrations, or raise `MigrationPending` when one waits for `hub migrate`
    (and `MigrationsMissing` when there are none)."""
    from hub.service.database import migrated, open_database

    files = migration_files(settings.migrations)
    database = open_database(settings.database_url, settings.home)
    try:
        asyncio.run(migrated(database.url, files))
    finally:
        database.release()


def _serve_workers(settings: Settings, served: dict[str, object]) -> None:
    """`settings.workers` processes on one port (uvicorn's, each making the app from the
    environment), after what they share is made once here: the embedded database, the
    personal-data key file, the metrics directory."""
    import os
    import shutil
    import threading

    import uvicorn

    from hub.registry.personal_data import load_kek
    from hub.service.database import open_database

    load_kek(settings.personal_data_key, settings.home)
    database = open_database(settings.database_url, settings.home)
    try:
        metrics = (settings.home / "metrics").resolve()
        shutil.rmtree(metrics, ignore_errors=True)
        metrics.mkdir(parents=True)
        os.environ.update(
            HUB_DATABASE_URL=database.url,
            HUB_HOST=settings.host,
            HUB_PORT=str(settings.port),
            HUB_WORKERS=str(settings.workers),
            PROMETHEUS_MULTIPROC_DIR=str(metrics),
        )
        if database.embedded is not None:
            supervising = database.embedded.supervise
            threading.Thread(
                target=lambda: asyncio.run(supervising()), name="embedded", daemon=True
            ).start()
        uvicorn.run("hub.cli:worker_app", factory=True, workers=settings.workers, **served)
    finally:
        database.release()


def worker_app() -> Starlette:
    """The app of one worker of `hub serve --workers N`, made in that process from the
    environment the parent set, logging as `hub` does."""
    from hub.service.web import create_app

    settings = Settings.from_env()
    logs.configure(settings.log_format)
    return create_app(settings)


GRACE_SECONDS = 2
"""How long `hub serve` lets open requests and streams finish once told to stop."""
BAD_SETTING = 2
"""The exit status when a `HUB_*` variable holds a value the hub does not take."""


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    """The settings a command's options set (`hub serve --host/--port/--workers`)."""
    given = ("host", "port", "workers")
    return {name: value for name in given if (value := getattr(args, name, None))}


def _migrate(_: argparse.Namespace) -> None:
    from hub.projections.runner import RebuildRunning
    from hub.service.runtime import Hub

    async def main() -> None:
        hub = Hub(Settings.from_env())
        await hub.start(project=False, migrating=True)
        try:
            try:
                await _migrate_beside(hub, lambda line: print(line, flush=True))
            except RebuildRunning as running:
                sys.exit(f"hub migrate: {running}; the live views are as they were")
            print(
                f"migrated; the event store and read tables are ready at position "
                f"{hub.signals.projected}"
            )
        finally:
            await hub.stop()

    with _interruptible():
        asyncio.run(main())


MIGRATE_BESIDE_LOCK = "hub.migrate.beside"
"""Held by the one `hub migrate` running the migrations that rebuild views beside the live ones."""


async def _migrate_beside(hub: Hub, say: Callable[[str], None]) -> None:
    """Run each migration that rebuilds projections (`Migration.rebuilds`) beside the live
    views, recorded as applied in the swap's transaction, and the plain ones after it; one
    `hub migrate` at a time (else `RebuildRunning`), so that none runs twice."""
    from hub.projections.runner import RebuildRunning
    from hub.service.database import migrate, waiting_migration

    known = [p.name for p in hub.projector.projections]
    async with hub.primary.acquire() as conn:
        lock = "SELECT pg_try_advisory_lock(hashtext($1))"
        if not await conn.fetchval(lock, MIGRATE_BESIDE_LOCK):
            raise RebuildRunning("another hub migrate is rebuilding views on this database")
        try:
            while (migration := await waiting_migration(hub.url, hub.migrations)) is not None:
                unknown = [name for name in migration.rebuilds if name not in known]
                if unknown:
                    sys.exit(
                        f"hub migrate: migration {migration.name} rebuilds {', '.join(unknown)},"
                        f" which no projection is called (the projections: {', '.join(known)});"
                        f" it is not applied"
                    )
                say(
                    f"migration {migration.name}: rebuilding {', '.join(migration.rebuilds)} "
                    f"beside the live views"
                )
                await _rebuild(
                    hub,
                    list(migration.rebuilds),
                    say,
                    reshape=migration.sql,
                    swapped=_recording(migration.name),
                )
                for applied in await migrate(hub.url, hub.migrations):
                    say(f"applied migration {applied}")
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", MIGRATE_BESIDE_LOCK)


def _project(args: argparse.Namespace) -> None:
    from hub.projections.runner import RebuildRunning
    from hub.service.runtime import Hub

    async def main() -> int:
        hub = Hub(Settings.from_env())
        await hub.start(project=False)
        try:
            if args.retry:
                return await _retry(hub, lambda line: print(line, flush=True))
            if args.rebuild:
                print(f"rebuilding {', '.join(args.rebuild)} from position 0", flush=True)
                try:
                    await _rebuild(hub, args.rebuild, lambda line: print(line, flush=True))
                except RebuildRunning as running:
                    sys.exit(f"hub project: {running}; the live views are as they were")
            await _catch_up(hub, lambda line: print(line, flush=True))
            if not args.once:
                print("following the event store (Ctrl-C to stop)", flush=True)
                await hub.projector.run()
            return 0
        finally:
            await hub.stop()

    with _interruptible():
        held = asyncio.run(main())
        if held:
            sys.exit(f"hub project --retry: {held} record(s) remain held back")


def _relay(args: argparse.Namespace) -> None:
    from hub.service.runtime import Hub
    from hub.streams.relay import RelayRefused, nats_url, run

    settings = Settings.from_env()
    try:
        nats_url(settings)  # refused before the hub starts
    except RelayRefused as refused:
        sys.exit(f"hub relay: {refused}")

    async def main() -> None:
        hub = Hub(settings)
        await hub.start(project=False)
        asyncio.get_running_loop().add_signal_handler(
            signal.SIGTERM,
            asyncio.current_task().cancel,  # type: ignore[union-attr]
        )
        try:
            try:
                relay = await run(hub, once=args.once)
            except asyncio.CancelledError:
                print("hub relay: stopped (SIGTERM)", flush=True)
                return
            print(
                f"relayed {relay.published} events ({relay.rate:.0f} events/s while "
                f"publishing); the stream {settings.nats_stream} holds the log up to "
                f"position {relay.position}",
                flush=True,
            )
        finally:
            await hub.stop()

    with _interruptible():
        try:
            asyncio.run(main())
        except RelayRefused as refused:
            sys.exit(f"hub relay: {refused}")


def _import_reference(args: argparse.Namespace) -> None:
    from hub.service.runtime import CommandRefused, Hub
    from hub.tools.reference_import import ImportRefused, import_communities, read_csv

    try:
        rows = read_csv(args.file)
    except OSError as error:
        sys.exit(f"hub import-reference: cannot read {args.file}: {error.strerror}")
    except ImportRefused as refused:
        for problem in refused.problems:
            print(problem, file=sys.stderr)
        sys.exit(f"hub import-reference: {refused}")
    print(f"{len(rows)} communities in {args.file.name} are valid", flush=True)

    async def main() -> None:
        hub = Hub(Settings.from_env())
        await hub.start(project=False)
        try:
            summary = await import_communities(
                hub,
                rows,
                sub=args.sub,
                reason=f"imported from {args.file.name}",
                progress=lambda line: print(line, flush=True),
                wait=False,  # whichever projector runs (`hub serve`, `hub project`) applies it
            )
        finally:
            await hub.stop()
        at = f" (up to position {summary.position})" if summary.position else ""
        print(f"{summary}{at}", flush=True)

    try:
        asyncio.run(main())
    except CommandRefused as refused:
        sys.exit(f"hub import-reference: {refused.message}")


def _seed(args: argparse.Namespace) -> None:
    from hub.registry.recorder import EventStoreReads
    from hub.service.runtime import CommandRefused, Hub
    from hub.tools.seed import PROFILES, SeedRefused, seed

    if args.profile not in PROFILES:
        sys.exit(
            f"hub seed: unknown profile {args.profile!r}; the profiles are: {', '.join(PROFILES)}"
        )
    if not args.scale > 0:
        sys.exit(f"hub seed: --scale must be above 0, got {args.scale}")

    def say(line: str) -> None:
        print(line, flush=True)

    async def main() -> None:
        hub = Hub(Settings.from_env())
        await hub.start(project=False)
        try:
            say(f"seeding {args.profile} at scale {args.scale:g}")
            report = await asyncio.to_thread(
                seed,
                hub.registry,
                today=hub.settings.today(),
                profile=args.profile,
                scale=args.scale,
                progress=say,
            )
            if report.already_seeded:
                say(
                    f"this registry already holds the seeded city ({report.already_seeded}); "
                    f"nothing written"
                )
            else:
                say(
                    f"wrote {report.events} events ({report.commands} commands) in "
                    f"{report.seconds:.1f} s ({report.events / report.seconds:.0f} events/s), "
                    f"up to position {report.position}"
                )
                if report.events >= TIDY_AFTER:
                    tidied = time.monotonic()
                    await EventStoreReads(hub.pool).tidy()
                    tidying = time.monotonic() - tidied
                    say(f"vacuumed and analyzed the event store in {tidying:.1f} s")
            covered, seconds = await _catch_up(hub, say)
        finally:
            await hub.stop()
        if not report.already_seeded:
            total = report.seconds + seconds
            say(
                f"seeded: {report.events} events written in {report.seconds:.1f} s "
                f"({report.events / report.seconds:.0f}/s), projected in {seconds:.1f} s "
                f"({covered / max(seconds, 1e-9):.0f}/s); {total:.1f} s in all"
            )

    try:
        asyncio.run(main())
    except SeedRefused as refused:
        sys.exit(f"hub seed: {refused}; nothing written")
    except CommandRefused as refused:  # a command of the plan, or another writer got between
        sys.exit(
            f"hub seed: stopped: {refused.message}; what was saved before stays "
            f"(seed a new HUB_HOME to start again)"
        )


async def _catch_up(hub: Hub, say: Callable[[str], None]) -> tuple[int, float]:
    """Drive the projections until they include every stored event, showing how far they are;
    return how many events they applied, and the seconds it took."""
    with meter("projections", await hub.projector.behind(), unit="events", say=say) as counting:
        covered = await hub.projector.catch_up(counting)
        seconds = counting.finish("caught up")
    if covered >= TIDY_AFTER:
        tidied = time.monotonic()
        await hub.projector.tidy()
        say(f"vacuumed and analyzed the read tables in {time.monotonic() - tidied:.1f} s")
    return covered, seconds


def _recording(name: str) -> Swapped:
    """What records migration `name` as applied in a rebuild's swap: a second run of it
    (another `hub migrate` meanwhile) fails its swap, leaving the views as the first left them."""

    async def record(conn: asyncpg.Connection, schema: str) -> None:
        await conn.execute(f"INSERT INTO {schema}.schema_migrations (name) VALUES ($1)", name)

    return record


async def _rebuild(
    hub: Hub,
    names: list[str],
    say: Callable[[str], None],
    *,
    reshape: str = "",
    swapped: Swapped | None = None,
) -> None:
    """Rebuild the views `names` beside the live ones (their copies reshaped by `reshape`)
    and swap them in, showing how far the copies are."""
    total = await hub.projector.stored()
    with meter("projections", total, unit="events", say=say) as counting:
        await hub.projector.rebuild(
            names, counting, writers=hub.primary, reshape=reshape, swapped=swapped
        )
        counting.finish(f"rebuilt {', '.join(names)} and swapped them in")


async def _retry(hub: Hub, say: Callable[[str], None]) -> int:
    """Apply the held-back records again, saying what became of each; return how many remain
    held back."""
    outcomes = await hub.projector.retry()
    for o in outcomes:
        record = f"{o.held.projection}: record {o.held.entity_id} held at {o.held.position}"
        if o.again is None:
            say(f"{record}: applied its {o.applied} event(s); released")
        else:
            say(
                f"{record}: applied {o.applied} event(s), then position {o.again.position}"
                f" failed again: {o.again.error}; still held"
            )
    remaining = len(await every_held(hub.pool))
    released = sum(o.again is None for o in outcomes)
    say(f"retried {len(outcomes)} held-back record(s): {released} released, {remaining} held")
    return remaining


TIDY_AFTER = 10_000
"""Events after which a catch-up refreshes the read tables' statistics."""


def _operations(args: argparse.Namespace) -> None:
    from hub.service import operations
    from hub.service.runtime import Hub

    found: list[operations.AllowedOperation] = []
    if args.action == "add":
        from hub.schema.root import schema

        try:
            text = args.target.read_text(encoding="utf-8")
            found = operations.operations_of(text, schema._schema)
        except OSError as error:
            sys.exit(f"hub operations add: cannot read {args.target}: {error.strerror}")
        except ValueError as refused:
            sys.exit(f"hub operations add: {args.target} {refused}; nothing was added")

    async def main() -> list[operations.AllowedOperation]:
        hub = Hub(Settings.from_env())
        await hub.start(project=False)
        try:
            if args.action == "add":
                await operations.add(hub.primary, found)
                return found
            if args.action == "remove":
                return await operations.remove(hub.primary, str(args.target))
            return await operations.listed(hub.pool)
        finally:
            await hub.stop()

    shown = asyncio.run(main())
    if args.action == "remove" and not shown:
        sys.exit(f"hub operations remove: no allowed operation has the hash or name {args.target}")
    verb = {"add": "added ", "remove": "removed ", "list": ""}[args.action]
    for operation in shown:
        print(f"{verb}{operation.name} {operation.hash}", flush=True)


def _token(args: argparse.Namespace) -> None:
    from hub.domain.envelope import Role
    from hub.service.auth import issue_token

    try:
        token = issue_token(
            Settings.from_env().jwt_secret,
            Role(args.role),
            sub=args.sub or f"{args.role.lower()}-user",
            district=args.district,
            agency=args.agency,
            ttl_seconds=int(args.hours * 3600),
        )
    except ValueError as error:
        sys.exit(f"hub token: {error}")
    print(token)


def _export_schema(_: argparse.Namespace) -> None:
    from hub.schema.root import schema

    print(schema.as_str())


def _export_event_reference(args: argparse.Namespace) -> None:
    from hub.tools.event_reference import differences, export

    if args.check:
        found = differences(args.docs)
        for line in found:
            print(line, file=sys.stderr)
        if found:
            sys.exit(f"hub export-event-reference: {len(found)} file(s) differ from the code")
        print(f"the event reference in {args.docs} matches the code")
        return
    written, refused = export(args.docs)
    for line in refused:
        print(line, file=sys.stderr)
    if refused:
        sys.exit("hub export-event-reference: nothing written")
    for path in written:
        print(f"wrote {args.docs / path}")
    if not written:
        print(f"the event reference in {args.docs} is up to date")


class _interruptible:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, *_: object) -> bool:
        return kind is KeyboardInterrupt


def version() -> str:
    """The installed package's version."""
    try:
        return importlib.metadata.version("hub")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    parser = argparse.ArgumentParser(prog="hub", description=__doc__)
    parser.add_argument("--version", action="version", version=f"hub {version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the GraphQL API (migrates first)")
    serve.add_argument("--demo", action="store_true", help="load demo data into an empty registry")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument(
        "--workers",
        type=int,
        help="API processes on the one port (default HUB_WORKERS, 1); one of them projects",
    )
    serve.set_defaults(run=_serve)

    commands.add_parser("migrate", help="apply the SQL migrations").set_defaults(run=_migrate)

    project = commands.add_parser("project", help="run the projections alone")
    what = project.add_mutually_exclusive_group()
    what.add_argument(
        "--retry",
        action="store_true",
        help="apply the held-back records again (once their cause is fixed), then stop",
    )
    what.add_argument(
        "--rebuild",
        nargs="+",
        metavar="NAME",
        choices=[p.name for p in projections()],
        help="rebuild these from zero beside the live views, swap them in, then go on",
    )
    project.add_argument("--once", action="store_true", help="stop when caught up")
    project.set_defaults(run=_project)

    relay = commands.add_parser(
        "relay",
        help="publish the event log into NATS JetStream (HUB_NATS_URL), in order, each event once",
    )
    relay.add_argument(
        "--once", action="store_true", help="stop when the stream holds the whole log"
    )
    relay.set_defaults(run=_relay)

    imports = commands.add_parser(
        "import-reference",
        help="list or amend communities from a CSV file (code,name,district,urban); all or none",
    )
    imports.add_argument("file", type=Path, metavar="FILE.csv")
    imports.add_argument(
        "--sub", default="import-reference", help="who is importing (default import-reference)"
    )
    imports.set_defaults(run=_import_reference)

    seeding = commands.add_parser(
        "seed",
        help="write a city's history through the commands (profile city-2018), then project it",
    )
    seeding.add_argument("--profile", required=True, help="what to seed: city-2018")
    seeding.add_argument(
        "--scale", type=float, default=1.0, help="multiply every figure by this (default 1)"
    )
    seeding.set_defaults(run=_seed)

    token = commands.add_parser("token", help="print a signed token for trying the API")
    token.add_argument(
        "--role",
        required=True,
        choices=["MUNICIPAL", "DISTRICT", "CONTRACTOR", "AUDITOR", "PARTNER"],
    )
    token.add_argument("--district", help="district code, for DISTRICT")
    token.add_argument("--agency", help="agency id, for CONTRACTOR")
    token.add_argument("--sub", help="who the token is for")
    token.add_argument("--hours", type=float, default=12, help="lifetime (default 12)")
    token.set_defaults(run=_token)

    allow_list = commands.add_parser(
        "operations", help="the allow-list of operations HUB_OPERATIONS=allow-listed runs"
    )
    actions = allow_list.add_subparsers(dest="action", required=True)
    adding = actions.add_parser("add", help="allow each (named) operation of a .graphql file")
    adding.add_argument("target", type=Path, metavar="FILE")
    actions.add_parser("list", help="print each allowed operation's name and hash")
    removing = actions.add_parser("remove", help="remove an operation by its hash or name")
    removing.add_argument("target", metavar="HASH|NAME")
    allow_list.set_defaults(run=_operations)

    commands.add_parser("export-schema", help="print the GraphQL SDL").set_defaults(
        run=_export_schema
    )

    reference = commands.add_parser(
        "export-event-reference",
        help="write the partners' event reference (JSON Schemas and events.md) from the code",
    )
    reference.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 naming the files that differ"
    )
    reference.add_argument(
        "--docs", type=Path, default=Path("docs"), help="the docs folder (default docs)"
    )
    reference.set_defaults(run=_export_event_reference)

    args = parser.parse_args(argv)
    try:
        Settings.from_env(**_overrides(args))  # every command, before it does anything
        args.run(args)
    except InvalidSetting as refused:
        print(f"hub {args.command}: {refused}", file=sys.stderr)
        sys.exit(BAD_SETTING)
    except (PersonalDataKeyError, MigrationsMissing, MigrationPending) as refused:
        sys.exit(f"hub {args.command}: {refused}")
