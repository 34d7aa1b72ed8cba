"""The event stream with the reference graphql-ws JavaScript client (npm `graphql-ws`).

Needs Node.js and npm; the first run installs the client into tests/js/node_modules.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.agency_api import REGISTER, registration
from tests.conftest import missing, token
from tests.streams import served
from tests.test_streams import AUDITOR, logged, mutate

CLIENT = Path(__file__).resolve().parent / "js"


@pytest.fixture(scope="module")
def installed() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        missing("the reference graphql-ws client needs Node.js and npm, not installed here")
    if not (CLIENT / "node_modules" / "graphql-ws").exists():
        subprocess.run(
            ["npm", "install", "--no-package-lock", "--no-audit", "--no-fund"],
            cwd=CLIENT,
            check=True,
            capture_output=True,
            timeout=300,
        )
    return CLIENT / "subscribe.mjs"


async def subscribe(script: Path, port: int, auth: str, after: int, count: int) -> list[dict]:
    process = await asyncio.create_subprocess_exec(
        "node",
        str(script),
        f"ws://127.0.0.1:{port}/graphql",
        auth,
        str(after),
        str(count),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    lines = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    assert process.returncode == 0 or lines and "error" in lines[-1], err.decode()
    return lines


async def test_the_reference_client_misses_and_repeats_nothing_across_a_reconnect(
    installed: Path, database: str
) -> None:
    async with served(database) as app, httpx.AsyncClient(base_url=app.base) as http:
        for _ in range(6):
            await mutate(http, REGISTER, **registration())

        async def writers() -> None:
            async def one(n: int) -> None:
                for _ in range(6):
                    await mutate(http, REGISTER, **registration(name=f"并发{n}"))

            await asyncio.gather(*(one(n) for n in range(3)))

        writing = asyncio.create_task(writers())
        first = await subscribe(installed, app.port, AUDITOR, 0, 10)
        await writing
        expected = await logged(app)
        rest = await subscribe(
            installed, app.port, AUDITOR, first[-1]["position"], len(expected) - len(first)
        )
        assert [e["position"] for e in first + rest] == expected
        assert len(expected) == 24


async def test_the_reference_client_is_refused_a_bad_token(installed: Path, database: str) -> None:
    async with served(database) as app:
        lines = await subscribe(installed, app.port, "not-a-token", 0, 1)
        assert lines[-1]["error"]["code"] == 4403
        tampered = token("AUDITOR")[:-4] + "AAAA"
        lines = await subscribe(installed, app.port, tampered, 0, 1)
        assert lines[-1]["error"]["code"] == 4403
