"""The README's map of the code names every folder and module of `hub/` (no database)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _map() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## How it is built", 1)[1]
    return section.split("```", 2)[1]


def test_the_map_names_every_folder_and_module() -> None:
    text = _map()
    named = set(re.findall(r"[\w/]+\.(?:py|csv)|hub/[\w/]+/|\b[\w]+/", text))
    missing = []
    for path in sorted((ROOT / "hub").rglob("*")):
        relative = path.relative_to(ROOT)
        if "__pycache__" in relative.parts or path.name == "__init__.py":
            continue
        if "assets" in relative.parts[:-1]:
            continue  # static files, one folder per package and version: their README's map
        if path.is_dir():
            if f"{relative}/" not in named and f"{path.name}/" not in named:
                missing.append(f"{relative}/")
        elif (
            path.suffix in {".py", ".csv"} and path.name not in named and str(relative) not in named
        ):
            missing.append(str(relative))
    assert not missing, f"README's 'How it is built' does not name: {', '.join(missing)}"


def test_the_map_names_nothing_that_is_not_there() -> None:
    text = _map()
    modules = {p.name for p in (ROOT / "hub").rglob("*.py")} | {
        p.name for p in (ROOT / "hub").rglob("*.csv")
    }
    stale = sorted(
        set(re.findall(r"\b[\w]+\.(?:py|csv)\b", text))
        - modules
        - {p.name for p in (ROOT / "bench").glob("*.py")}
    )
    assert not stale, f"README's 'How it is built' names files that do not exist: {stale}"
