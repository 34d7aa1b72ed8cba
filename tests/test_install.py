"""The hub as an operator installs it: a wheel built from the checkout, installed into a fresh
virtual environment outside it, run from another folder on a fresh embedded database.

The hub package comes only from the wheel: the new environment gets the wheel alone, and a
`.pth` line then lends it this environment's site-packages for the dependencies (a path entry,
so this environment's own editable hook is not run), which keeps the test offline and quick.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, SECRET
from tests.private_server import scratch
from tests.streams import free_port

START_SECONDS = 60
"""The longest `hub serve` may take to be ready on a fresh embedded database."""
SOURCES = ("hub", "migrations", "pyproject.toml", "setup.py", "MANIFEST.in", "README.md")


def _run(*command: str | Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, timeout=120, **kwargs
    )
    assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment holding the hub from a freshly built wheel; its `bin/`."""
    scratch = tmp_path_factory.mktemp("install")
    source = scratch / "source"  # a copy, so the build leaves nothing in the checkout
    for name in SOURCES:
        if (ROOT / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(ROOT / name, source / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, source / name)
    dist = scratch / "dist"
    _run(
        sys.executable,
        *("-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"),
        *("--wheel-dir", dist, source),
    )
    (wheel,) = dist.glob("hub-*.whl")
    venv = scratch / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", wheel)
    site = _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    lent = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    (Path(site.stdout.strip()) / "dependencies.pth").write_text("\n".join(sorted(lent)) + "\n")
    return venv / "bin"


def _env(home: Path, port: int) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "PYTHON", "VIRTUAL_ENV"))
    }
    return {**env, "HUB_HOME": str(home), "HUB_PORT": str(port), "HUB_JWT_SECRET": SECRET}


def test_the_wheel_carries_the_hub_and_its_migrations(installed: Path, tmp_path: Path) -> None:
    version = _run(installed / "hub", "--version", cwd=tmp_path)
    assert version.stdout.strip() == "hub 0.1.0"
    where = _run(
        installed / "python",
        "-c",
        "import hub; from hub.service.database import migration_files as m;"
        " print(hub.__file__); print(len(m()), m()[0])",
        cwd=tmp_path,
    ).stdout.splitlines()
    package = Path(where[0]).parent
    assert package.is_relative_to(installed.parent), f"hub came from {package}, not the wheel"
    count, first = where[1].split(" ", 1)
    assert int(count) == len(list((ROOT / "migrations").glob("*.sql")))
    assert Path(first) == package / "migrations" / "001_read_model.sql"


def test_hub_serve_from_the_wheel_answers_a_query(installed: Path, tmp_path: Path) -> None:
    with scratch("wheel-home-") as home:  # the embedded server's user must reach its data
        _serve_from_the_wheel(installed, home, tmp_path / "elsewhere")


def _serve_from_the_wheel(installed: Path, home: Path, elsewhere: Path) -> None:
    port = free_port()
    elsewhere.mkdir()
    env = _env(home, port)
    token = _run(installed / "hub", "token", "--role", "MUNICIPAL", env=env, cwd=elsewhere)
    started = time.monotonic()
    serving = subprocess.Popen(
        [installed / "hub", "serve"],
        env=env,
        cwd=elsewhere,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=5) as http:
            while True:
                assert serving.poll() is None, f"hub serve ended: {serving.communicate()[1]}"
                assert time.monotonic() - started < START_SECONDS, "not ready in time"
                try:
                    if http.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            ready = time.monotonic() - started
            print(f"\nhub serve from the wheel, fresh embedded database: ready in {ready:.1f} s")
            answer = http.post(
                "/graphql",
                json={"query": "{ agencies(first: 1) { totalCount } }"},
                headers={"Authorization": f"Bearer {token.stdout.strip()}"},
            ).json()
            workbench = http.get("/workbench/")
            files = sorted(p.name for p in (ROOT / "hub/service/workbench/static").iterdir())
            served = {name: http.get(f"/workbench/{name}").status_code for name in files}
        assert answer == {"data": {"agencies": {"totalCount": 0}}}, answer
        assert workbench.status_code == 200 and 'src="app.js"' in workbench.text
        assert served == dict.fromkeys(files, 200)  # every file of the page is in the wheel
    finally:
        serving.terminate()
        _, log = serving.communicate(timeout=30)
    assert serving.returncode in (0, -15), log  # uvicorn ends by the signal it was sent
    assert "applied migration 001_read_model.sql" in log
    assert not (home / "pgdata" / "postmaster.pid").exists(), "the embedded server was left up"


def test_an_install_without_its_migrations_says_so(installed: Path, tmp_path: Path) -> None:
    package = Path(
        _run(
            installed / "python", "-c", "import hub; print(hub.__file__)", cwd=tmp_path
        ).stdout.strip()
    ).parent
    kept = tmp_path / "kept"
    shutil.move(package / "migrations", kept)
    env = _env(tmp_path / "home", free_port())
    try:
        missing = subprocess.run(
            [installed / "hub", "serve"], env=env, cwd=tmp_path, capture_output=True, text=True
        )
        assert missing.returncode != 0
        assert "hub serve: the hub's SQL migrations are missing" in missing.stderr
        assert str(package / "migrations") in missing.stderr
        (package / "migrations").mkdir()
        empty = subprocess.run(
            [installed / "hub", "migrate"], env=env, cwd=tmp_path, capture_output=True, text=True
        )
        assert empty.returncode != 0
        assert f"hub migrate: {package / 'migrations'} holds no migration" in empty.stderr
        assert "Traceback" not in missing.stderr + empty.stderr
    finally:
        shutil.rmtree(package / "migrations", ignore_errors=True)
        shutil.move(kept, package / "migrations")
