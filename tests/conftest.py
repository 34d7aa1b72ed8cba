"""Tests run the real app (HTTP through ASGI) on a real PostgreSQL.

The server is `HUB_DATABASE_URL` when set, otherwise an embedded one under `.hub/test`; every
hub a test starts gets a database of its own, made fresh. The server is reached (or started)
only when a test asks for `server_url`, `client` or `database`: the in-memory tests of
tests/domain run with no PostgreSQL at all.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest

from hub.domain.envelope import Role
from hub.domain.identifiers import make_credit_code
from hub.service.auth import issue_token
from hub.service.config import Settings
from hub.service.database import create_database, database_url, with_database
from hub.service.runtime import Hub
from hub.service.web import create_app

SECRET = "test-secret-of-at-least-thirty-two-bytes"
PERSONAL_DATA_KEY = base64.b64encode(
    hashlib.sha256(b"hub test personal-data key").digest()
).decode()
"""The KEK of every hub the tests start: hubs that share a database must share it."""
ROOT = Path(__file__).resolve().parent.parent


_made: list[str] = []


def missing(reason: str) -> NoReturn:
    """Skip a test whose tool is not installed here, saying which; in CI (`CI=true`) fail
    instead, for CI installs every tool and a skip there would hide a broken install step."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}, and CI=true: CI must have it", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
async def server_url() -> AsyncIterator[str]:
    url = database_url(os.environ.get("HUB_DATABASE_URL"), ROOT / ".hub" / "test")
    yield url
    if not _made:
        return
    conn = await asyncpg.connect(url)
    try:
        for name in _made:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def fresh_database(server_url: str) -> str:
    name = f"hub_test_{uuid.uuid4().hex[:12]}"
    _made.append(name)
    return await create_database(server_url, name)


async def copied_database(server_url: str, source: str) -> str:
    """A new database holding what database `source` (a URL) holds, copied by PostgreSQL
    (no one may be connected to `source`): one seeding for tests of two states."""
    name = f"hub_test_{uuid.uuid4().hex[:12]}"
    _made.append(name)
    conn = await asyncpg.connect(server_url)
    try:
        template = urlsplit(source).path.lstrip("/")
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await conn.close()
    return with_database(server_url, name)


def token(role: Role | str, **claims: Any) -> str:
    role = Role(role)
    return issue_token(SECRET, role, sub=claims.pop("sub", f"test-{role.value.lower()}"), **claims)


_codes = iter(range(1, 10**7))


def credit_code(district: str = "500103") -> str:
    return make_credit_code("52", district, f"T{next(_codes):08d}")


@dataclass
class Client:
    """A GraphQL client over the app's real HTTP interface."""

    http: httpx.AsyncClient
    hub: Hub
    app: Any = None

    async def post(self, query: str, variables: dict | None = None, *, auth: str | None) -> dict:
        headers = {"Authorization": f"Bearer {auth}"} if auth else {}
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        return response.json()

    async def run(self, query: str, variables: dict | None = None, *, auth: str) -> dict:
        """Data of a query that must succeed at the GraphQL level."""
        body = await self.post(query, variables, auth=auth)
        assert "errors" not in body, body["errors"]
        return body["data"]

    async def events(self) -> int:
        return await self.hub.pool.fetchval("SELECT count(*) FROM registry_events")


@contextlib.asynccontextmanager
async def running(url: str | None, **settings: Any) -> AsyncIterator[Client]:
    """The app on database `url` (None: an embedded server under setting `home`), with its
    lifespan running, and a client for it."""
    values: dict[str, Any] = dict(
        database_url=url,
        jwt_secret=SECRET,
        personal_data_key=PERSONAL_DATA_KEY,
        rate_limit_per_token=0,  # tests send bursts; tests/test_server_limits.py sets one
    )
    values.update(settings)
    hub = Hub(Settings.from_env(**values))
    app = create_app(hub=hub)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as http:
            yield Client(http, hub, app)
            with contextlib.suppress(Exception):  # a test may have stopped its database
                READS.update((await http.get("/readyz")).json()["reads"])


READS: Counter[str] = Counter()
"""The read planner's counts over every app `running` started: the suite's plan cache hit
rate and share of planned reads, printed at the end of the run."""


def pytest_terminal_summary(terminalreporter: Any) -> None:
    asked = READS["planned"] + READS["fellBack"]
    if asked:
        looked = READS["planCacheHits"] + READS["planCacheMisses"]
        terminalreporter.write_line(
            f"read planner over the suite's apps: {READS['planned']} of {asked} query"
            f" operations planned, {READS['fellBack']} fell back; plan cache hits"
            f" {READS['planCacheHits']} of {looked} ({READS['planCacheHits'] / max(1, looked):.0%})"
        )


@pytest.fixture(scope="session")
async def client(server_url: str) -> AsyncIterator[Client]:
    async with running(await fresh_database(server_url)) as c:
        yield c


@pytest.fixture
async def database(server_url: str) -> str:
    """A fresh, empty database for a test that starts and stops hubs itself."""
    return await fresh_database(server_url)


def hub_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the `hub` command line in a process of its own, with the tests' secrets and `env`
    (`HUB_DATABASE_URL=...` and the like)."""
    return subprocess.run(
        [sys.executable, "-m", "hub", *args],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "HUB_JWT_SECRET": SECRET,
            "HUB_PERSONAL_DATA_KEY": PERSONAL_DATA_KEY,
            **env,
        },
        check=False,
        cwd=ROOT,
        timeout=120,
    )


async def hub_command(database: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`hub_cli` on database `database`, off the event loop."""
    return await asyncio.to_thread(hub_cli, *args, HUB_DATABASE_URL=database)
