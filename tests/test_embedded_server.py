"""The embedded PostgreSQL, with `hub serve` run as a real process on a `HUB_HOME` of its own:
it comes back by itself when killed, and is stopped when the last hub using it stops, also after
an earlier hub was killed with -9.

The homes are under `.hub/` rather than pytest's temporary folder: the server may run as another
user (when the tests run as root), and each pytest session closes its temporary root to others.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil

from tests.conftest import ROOT, SECRET, token
from tests.private_server import Cluster

STARTED_WITHIN = 120  # a first start runs initdb and every migration, on a busy machine
BACK_WITHIN = 30
EXITS_WITHIN = 10
EXITS_WITHIN_WHEN_HUNG = 20  # waits that end in time-outs: closing, then stopping the server


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _until(what: str, check: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"{what} within {seconds} s"
        time.sleep(0.2)


def _postgres_of(pgdata: Path) -> list[psutil.Process]:
    """Every running process of the server on `pgdata`: the postmaster names it on its command
    line, its backends work in it."""
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        try:
            if process.info["name"] != "postgres" or process.status() == psutil.STATUS_ZOMBIE:
                continue
            if str(pgdata) in (process.info["cmdline"] or []) or process.cwd() == str(pgdata):
                found.append(process)
        except psutil.Error:
            continue
    return found


def _postmaster_pid(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().split()[0])


def _kill_postgres(pgdata: Path) -> int:
    """kill -9 the postmaster and its children; return the postmaster's pid once it is gone."""
    killed = _postmaster_pid(pgdata)
    Cluster(pgdata).kill()
    return killed


class HubProcess:
    def __init__(self, home: Path, log: Path, *options: str) -> None:
        """`hub serve` with `options` (`--workers 2`, say)."""
        self.home = home
        self.port = _free_port()
        env = {k: v for k, v in os.environ.items() if k != "HUB_DATABASE_URL"}
        env.update(HUB_HOME=str(home), HUB_PORT=str(self.port), HUB_JWT_SECRET=SECRET)
        self.log = log
        with log.open("a") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hub", "serve", *options],
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pgdata(self) -> Path:
        return (self.home / "pgdata").resolve()

    def ready(self) -> bool:
        assert self.process.poll() is None, f"the hub ended:\n{self.log.read_text()}"
        try:
            return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def answers(self) -> bool:
        """Whether a query that reads the database answers."""
        try:
            response = httpx.post(
                f"{self.url}/graphql",
                json={"query": "{ agencies(first: 1) { totalCount } }"},
                headers={"Authorization": f"Bearer {token('MUNICIPAL')}"},
                timeout=5,
            )
        except httpx.HTTPError:
            return False
        return response.json().get("data") == {"agencies": {"totalCount": 0}}

    def wait_ready(self, seconds: float) -> None:
        _until("the hub is ready", lambda: self.ready() and self.answers(), seconds)

    def stop(self, seconds: float = EXITS_WITHIN) -> int:
        """SIGTERM; return the exit status once it ended (failing if it did not in time)."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(seconds)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"the hub did not end within {seconds} s of SIGTERM:\n{self.log.read_text()}"
            ) from None


@contextmanager
def hubs(tmp_path: Path) -> Iterator[Callable[..., HubProcess]]:
    """Start hubs on one `HUB_HOME` (`start(*options)`), each returned once it answers;
    whatever is left of them and their PostgreSQL is killed, and the home removed."""
    home = ROOT / ".hub" / "embedded" / uuid.uuid4().hex[:12]
    started: list[HubProcess] = []

    def start(*options: str) -> HubProcess:
        started.append(HubProcess(home, tmp_path / "hub.log", *options))
        started[-1].wait_ready(STARTED_WITHIN)
        return started[-1]

    try:
        yield start
    finally:
        for hub in started:
            if hub.process.poll() is None:
                workers = psutil.Process(hub.process.pid).children(recursive=True)
                hub.process.kill()
                hub.process.wait(10)
                for worker in workers:  # of `hub serve --workers N`
                    with contextlib.suppress(psutil.Error):
                        worker.kill()
        for process in _postgres_of((home / "pgdata").resolve()):
            process.kill()
        shutil.rmtree(home, ignore_errors=True)


def _handles(pgdata: Path) -> list[int]:
    """The processes the embedded server's handle list says use it."""
    path = pgdata / ".handle_pids.json"
    text = path.read_text().strip() if path.exists() else ""
    return json.loads(text) if text else []


def test_a_killed_postgresql_is_started_again_by_the_hub(tmp_path: Path) -> None:
    with hubs(tmp_path) as start:
        hub = start()
        pgdata = hub.pgdata
        for _ in range(3):
            killed = _kill_postgres(pgdata)
            hub.wait_ready(BACK_WITHIN)
            assert _postmaster_pid(pgdata) != killed
        assert "is back" in hub.log.read_text()
        hub.stop()
        assert _postgres_of(pgdata) == []


def test_a_clean_stop_after_a_killed_hub_stops_postgresql(tmp_path: Path) -> None:
    with hubs(tmp_path) as start:
        first = start()
        pgdata = first.pgdata
        first.process.kill()
        first.process.wait(10)
        assert _postgres_of(pgdata), "a hub killed with -9 leaves its PostgreSQL running"

        second = start()
        assert _handles(pgdata) == [second.process.pid]
        second.stop()
        assert _postgres_of(pgdata) == []
        assert _handles(pgdata) == []


def test_sigterm_ends_the_hub_with_a_stream_open_and_postgresql_just_killed(
    tmp_path: Path,
) -> None:
    with hubs(tmp_path) as start:
        hub = start()
        pgdata = hub.pgdata
        headers = {"Authorization": f"Bearer {token('PARTNER')}"}
        with httpx.stream(
            "GET", f"{hub.url}/events?after=0", headers=headers, timeout=EXITS_WITHIN
        ) as stream:
            assert stream.status_code == 200
            _kill_postgres(pgdata)
            stopping = time.monotonic()
            hub.stop(EXITS_WITHIN)
        assert time.monotonic() - stopping < EXITS_WITHIN
        # a postmaster killed an instant ago may still be exiting
        _until("no PostgreSQL of the data directory runs", lambda: not _postgres_of(pgdata), 3)
        assert _handles(pgdata) == []


def test_sigterm_ends_the_hub_with_postgresql_hung(tmp_path: Path) -> None:
    with hubs(tmp_path) as start:
        hub = start()
        pgdata = hub.pgdata
        for process in _postgres_of(pgdata):
            process.suspend()
        hub.stop(EXITS_WITHIN_WHEN_HUNG)
        _until("no PostgreSQL of the data directory runs", lambda: not _postgres_of(pgdata), 3)
        assert _handles(pgdata) == []


def test_postgresql_stays_up_while_another_hub_uses_it(tmp_path: Path) -> None:
    with hubs(tmp_path) as start:
        first = start()
        second = start()
        pgdata = first.pgdata

        first.stop()
        assert second.answers()
        assert _handles(pgdata) == [second.process.pid]
        second.stop()
        assert _postgres_of(pgdata) == []


def test_a_stale_postmaster_pid_now_taken_by_another_process(tmp_path: Path) -> None:
    """After a crash, the pid in PostgreSQL's lock files may belong to another process."""
    with hubs(tmp_path) as start:
        first = start()
        pgdata = first.pgdata
        first.process.kill()
        first.process.wait(10)
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        socket_lock = Path(lines[4]) / f".s.PGSQL.{lines[3]}.lock"
        _kill_postgres(pgdata)
        other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        try:
            for lock in (pgdata / "postmaster.pid", socket_lock):
                text = lock.read_text().splitlines()
                lock.write_text("\n".join([str(other.pid), *text[1:]]) + "\n")

            second = start()
            assert _postmaster_pid(pgdata) != other.pid
            second.stop()
            assert _postgres_of(pgdata) == []
            assert other.poll() is None
        finally:
            other.kill()
            other.wait(10)
