"""Settings: a bad `HUB_*` value stops every command before it does anything, in one line that
names the variable, the value and what it accepts; booleans take the usual spellings."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.domain.envelope import Role
from hub.service.config import ROLE_COST_SETTINGS, InvalidSetting, Settings
from tests.conftest import hub_cli, running

BAD = [
    ("serve", "HUB_PORT", "abc", "not a port (an integer 1-65535)"),
    ("serve", "HUB_PORT", "70000", "not a port (an integer 1-65535)"),
    ("migrate", "HUB_COMMAND_THREADS", "0", "not an integer, 1 or more"),
    ("migrate", "HUB_MAX_COST_AUDITOR", "lots", "not an integer, 0 or more"),
    ("serve", "HUB_READ_YOUR_WRITES_TIMEOUT", "-1", "not a number of seconds above 0"),
    ("migrate", "HUB_RATE_LIMIT_PER_TOKEN", "fast", "not a number, 0 or more"),
    (
        "serve",
        "HUB_PROJECTIONS",
        "maybe",
        "not on or off (also true/false, yes/no, 1/0, in any case)",
    ),
    ("serve", "HUB_OPERATIONS", "closed", "not one of open, allow-listed"),
    ("migrate", "HUB_TIMEZONE", "Mars/Olympus", "not a time zone name (such as Asia/Shanghai)"),
]


@pytest.mark.parametrize(("command", "name", "value", "accepts"), BAD)
def test_a_bad_setting_stops_the_command_in_one_line(
    command: str, name: str, value: str, accepts: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    done = hub_cli(command, HUB_HOME=str(home), **{name: value})
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert done.stderr == f"hub {command}: {name}={value}: {accepts}\n"
    assert done.stdout == ""
    assert not home.exists(), "the command did something before it refused"


def test_every_command_checks_the_settings() -> None:
    done = hub_cli("export-schema", HUB_STREAM_STALL_SECONDS="0")
    assert done.returncode == 2
    assert done.stderr == (
        "hub export-schema: HUB_STREAM_STALL_SECONDS=0: not a number of seconds above 0\n"
    )


SPELLINGS = {
    False: ["off", "OFF", "false", "False", "no", "NO", "0", "f", "n"],
    True: ["on", "On", "true", "TRUE", "yes", "Yes", "1", "t", "y", ""],
}


@pytest.mark.parametrize(
    ("value", "meant"), [(v, meant) for meant, values in SPELLINGS.items() for v in values]
)
def test_a_boolean_takes_the_usual_spellings(
    value: str, meant: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty variable counts as unset: projections are on by default."""
    monkeypatch.setenv("HUB_PROJECTIONS", value)
    assert Settings.from_env().run_projections is meant


async def test_projections_false_runs_none(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_PROJECTIONS", "false")
    async with running(database) as client:
        assert not client.hub.runs_projections
        assert client.hub._projecting is None
        ready = (await client.http.get("/readyz")).json()
        assert ready["status"] == "ready", ready


def test_overrides_are_checked_and_settings_cannot_change() -> None:
    with pytest.raises(InvalidSetting, match=r"^HUB_MAX_DEPTH=-1: not an integer, 0 or more$"):
        Settings.from_env(max_depth=-1)
    with pytest.raises(InvalidSetting, match="^nope: not a setting$"):
        Settings.from_env(nope=1)
    settings = Settings.from_env(max_cost_auditor=500)
    assert settings.max_cost_by_role == {"AUDITOR": 500}
    with pytest.raises(ValueError, match="frozen"):
        settings.port = 1  # type: ignore[misc]


def test_the_role_limits_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_MAX_COST_PARTNER", "7")
    monkeypatch.setenv("HUB_MAX_COST_AUDITOR", "")
    assert Settings.from_env().max_cost_by_role == {"PARTNER": 7}


def test_every_role_has_its_cost_limit() -> None:
    assert {role.value: f"HUB_MAX_COST_{role.value}" for role in Role} == ROLE_COST_SETTINGS
