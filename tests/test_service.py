"""The service around the API: GraphiQL, health, readiness, the exported SDL, the CLI."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import jwt

from hub.schema.root import schema
from hub.service.runtime import projections
from tests.agency_api import REGISTER, register, registration, send, unseen
from tests.conftest import ROOT, SECRET, Client, hub_cli, running
from tests.private_server import scratch


async def test_graphiql_is_served_to_browsers(client: Client) -> None:
    response = await client.http.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_health_and_readiness(client: Client) -> None:
    assert (await client.http.get("/healthz")).json() == {"status": "ok"}
    position = (await register(client))["position"]
    ready = (await client.http.get("/readyz")).json()
    assert ready["status"] == "ready"
    assert ready["head"] >= position
    assert set(ready["projections"]) == {p.name for p in projections()}
    for projection in ready["projections"].values():
        assert projection["position"] >= position
        assert projection["lag"] == ready["head"] - projection["position"]


def test_schema_graphql_matches_the_code() -> None:
    exported = (ROOT / "schema.graphql").read_text()
    assert exported.strip() == schema.as_str().strip(), (
        "schema.graphql is out of date: run `make schema`"
    )


def test_hub_token_prints_a_token_the_server_accepts() -> None:
    done = hub_cli("token", "--role", "DISTRICT", "--district", "500103", "--sub", "li")
    assert done.returncode == 0, done.stderr
    claims = jwt.decode(done.stdout.strip(), SECRET, algorithms=["HS256"])
    assert (claims["sub"], claims["role"], claims["district"]) == ("li", "DISTRICT", "500103")
    assert claims["exp"] > 0


def test_hub_token_refuses_an_incomplete_role() -> None:
    done = hub_cli("token", "--role", "DISTRICT")
    assert done.returncode != 0
    assert "--district" in done.stderr
    done = hub_cli("token", "--role", "CONTRACTOR")
    assert "--agency" in done.stderr


async def test_hub_migrate_then_hub_project_catches_up(database: str) -> None:
    done = await asyncio.to_thread(hub_cli, "migrate", HUB_DATABASE_URL=database)
    assert done.returncode == 0, done.stderr
    assert "migrated" in done.stdout
    async with running(database, run_projections=False, read_your_writes_timeout=0.01) as client:
        for _ in range(3):
            assert unseen(await send(client, REGISTER, **registration()))
        assert await client.hub.pool.fetchval("SELECT count(*) FROM agencies") == 0
        done = await asyncio.to_thread(hub_cli, "project", "--once", HUB_DATABASE_URL=database)
        assert done.returncode == 0, done.stderr
        assert "caught up" in done.stdout
        assert await client.hub.pool.fetchval("SELECT count(*) FROM agencies") == 3
        done = await asyncio.to_thread(
            hub_cli, "project", "--once", "--rebuild", "agencies", HUB_DATABASE_URL=database
        )
        assert "rebuilding agencies" in done.stdout
        assert await client.hub.pool.fetchval("SELECT count(*) FROM agencies") == 3


def test_the_embedded_database_is_kept_between_runs_and_stopped_on_exit() -> None:
    with scratch("kept-") as home:  # not under pytest's root, which may turn private
        _kept_between_runs(home)


def _kept_between_runs(home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "HUB_DATABASE_URL"}
    env["HUB_HOME"] = str(home)

    def migrate() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hub", "migrate"],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            cwd=ROOT,
        )

    first = migrate()
    assert first.returncode == 0, first.stderr
    assert "applied migration 001_read_model.sql" in first.stderr
    assert not (home / "pgdata" / "postmaster.pid").exists(), "the server was left running"
    second = migrate()
    assert second.returncode == 0, second.stderr
    assert "applied migration" not in second.stderr  # same data, nothing left to apply
    assert not (home / "pgdata" / "postmaster.pid").exists()


def test_the_readme_lists_every_setting_with_its_default() -> None:
    import re

    from hub.service.config import VARIABLES, Settings

    rows = dict(
        re.findall(r"^\| `(HUB_[A-Z_]+)` \| ([^|]+) \|", (ROOT / "README.md").read_text(), re.M)
    )
    assert VARIABLES.keys() <= rows.keys(), f"missing from the README: {VARIABLES - rows.keys()}"
    assert rows.keys() <= VARIABLES.keys(), f"not settings: {rows.keys() - VARIABLES.keys()}"
    for name, field in VARIABLES.items():
        default = Settings.model_fields[field].default
        if default is None:
            said = "unset"
        elif field == "jwt_secret":
            said = "a development secret"
        elif isinstance(default, bool):
            said = "`on`" if default else "`off`"
        elif isinstance(default, float):
            said = f"`{default:g}`"
        else:
            said = f"`{default}`"
        assert rows[name].startswith(said), f"{name}: the README says {rows[name]}, not {said}"
