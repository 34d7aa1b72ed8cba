"""The workbench's translation of the registry's vocabulary (static/vocabulary.json): every
value the API can show the page has a Chinese and an English name, so that a new enum value,
event type or history field fails here until it is translated."""

from __future__ import annotations

import json
import re
from typing import Any

from hub.projections.record_history import HISTORIES, UNSHOWN
from hub.service.workbench import STATIC
from tests.conftest import ROOT

VOCABULARY: dict[str, Any] = json.loads((STATIC / "vocabulary.json").read_text())
LANGUAGES = {"zh", "en"}


def _schema_enums() -> dict[str, list[str]]:
    schema = (ROOT / "schema.graphql").read_text()
    enums = {}
    for name, body in re.findall(r"^enum (\w+) \{\n(.*?)^\}", schema, re.MULTILINE | re.DOTALL):
        body = re.sub(r'"""(.*?)"""', "", body, flags=re.DOTALL)
        enums[name] = re.findall(r"^  ([A-Z][A-Z0-9_]*)$", body, re.MULTILINE)
    return enums


def _history_fields() -> set[str]:
    """Every name a `changes` entry can carry, a related row's as `<list field>.<row field>`."""
    names = set()
    for history in HISTORIES.values():
        main, *related = history.tables
        names |= {history.field(c) for c in main.columns if c not in UNSHOWN}
        for table in related:
            rows = history.field(table.name)
            names.add(rows)
            names |= {
                f"{rows}.{history.field(c)}"
                for c in table.columns
                if c not in table.key and c not in UNSHOWN
            }
    return names


def _named(table: dict[str, Any], key: str) -> bool:
    return isinstance(table.get(key), dict) and all(table[key].get(lang) for lang in LANGUAGES)


def _field_named(path: str) -> bool:
    """As the page looks a field up: its whole path, else its last part."""
    fields = VOCABULARY["fields"]
    return _named(fields, path) or _named(fields, path.rsplit(".", 1)[-1])


def test_every_enum_value_of_the_schema_has_both_names() -> None:
    enums = _schema_enums()
    assert len(enums) >= 19 and all(enums.values()), enums
    missing = [
        f"{name}.{value}"
        for name, values in enums.items()
        for value in values
        if not _named(VOCABULARY["enums"].get(name, {}), value)
    ]
    assert missing == []
    assert set(VOCABULARY["enums"]) == set(enums), "a translated enum the schema lacks"


def test_every_event_type_has_both_names() -> None:
    documented = re.findall(r"^## (\w+)$", (ROOT / "docs" / "events.md").read_text(), re.M)
    types = {t for t in documented if (ROOT / "docs" / "events" / f"{t}.v1.json").exists()}
    assert len(types) >= 44, types
    assert sorted(t for t in types if not _named(VOCABULARY["events"], t)) == []


def test_every_field_a_history_change_names_has_both_names() -> None:
    fields = _history_fields()
    assert {"creditCode", "staff", "staff.fullTime", "incubation.from"} <= fields
    assert sorted(f for f in fields if not _field_named(f)) == []


def test_each_enum_field_names_an_enum_the_vocabulary_translates() -> None:
    for entity, fields in VOCABULARY["enumFields"].items():
        assert _named(VOCABULARY["enums"]["EntityType"], entity), entity
        for path, enum in fields.items():
            assert enum in VOCABULARY["enums"], (entity, path, enum)
            assert _field_named(path), (entity, path)


def test_each_related_rows_key_is_named_as_a_change_names_it() -> None:
    """A change of a related row is named `<list>/<key>...`; the page names the key's parts."""
    row_keys = VOCABULARY["rowKeys"]
    for history in HISTORIES.values():
        for table in history.tables[1:]:
            rows = history.field(table.name)
            key = [history.field(c) for c in table.key[1:]]
            assert row_keys.get(history.entity_type, {}).get(rows) == key, (rows, key)
            assert all(_field_named(f"{rows}.{name}") for name in key), (rows, key)
