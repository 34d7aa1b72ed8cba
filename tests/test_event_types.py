"""Every event type the records declare is known where it must be: to the corrections (which
commands may retract it, or that it goes with a partner, or that it cannot be retracted) and to
its record type's projection. In memory, no database."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from eventsourcing.domain import DomainEvent

import hub.commands
from hub.domain import community
from hub.domain.agency import Agency
from hub.domain.checks import camel_case
from hub.domain.corrections import COMMAND_OF, PARTNERS, UNRETRACTABLE, command_of
from hub.domain.record import Record
from hub.domain.rules import RULES
from hub.projections.changes import Change
from hub.projections.record_history import HISTORIES
from hub.tools.event_reference import RECORDS, event_types


def declared() -> dict[str, type[DomainEvent]]:
    """Every record event type by the API's name, as the event reference lists them."""
    return {
        t.name: getattr(t.record, t.name.removeprefix(t.record.__name__)) for t in event_types()
    }


def commands() -> set[str]:
    """The names of the commands in `hub.commands` (their functions' names in camelCase)."""
    found = set()
    for module in pkgutil.iter_modules(hub.commands.__path__):
        loaded = importlib.import_module(f"hub.commands.{module.name}")
        for name, function in inspect.getmembers(loaded, inspect.isfunction):
            if function.__module__ == loaded.__name__ and not name.startswith("_"):
                found.add(camel_case(name))
    return found


def test_the_event_types_are_the_records_classes() -> None:
    types = declared()
    assert len(types) == len(set(types.values()))
    for name, event_type in types.items():
        assert issubclass(event_type, Record.Event), name
        assert event_type.__qualname__.replace(".", "") == name


def test_every_event_type_names_the_commands_that_may_retract_it() -> None:
    retractable = {name: t for name, t in declared().items() if not issubclass(t, Record.Retracted)}
    assert set(COMMAND_OF) == set(retractable.values())
    for name, event_type in retractable.items():
        command = command_of(event_type)
        if command is None:  # written by its partner's command, and retracted with it
            other = PARTNERS[event_type][1]
            assert PARTNERS[other][1] is event_type, name
            assert command_of(other) is not None, name
    assert set(UNRETRACTABLE) <= set(retractable.values())
    for event_type, (_, other, _) in PARTNERS.items():
        assert PARTNERS[other][1] is event_type


def test_every_named_command_exists() -> None:
    named = {c for c in COMMAND_OF.values() if c is not None}
    assert named <= set(RULES)
    # communities are written by the reference import, under the rule it names
    assert named - commands() == {community.COMMAND}


def test_an_event_type_missing_from_the_table_is_refused_not_taken_for_unwritten() -> None:
    class Renamed(Agency.Event):
        pass

    with pytest.raises(LookupError, match="Renamed is missing from COMMAND_OF"):
        command_of(Renamed)


def test_every_event_type_is_folded_by_its_record_types_projection() -> None:
    by_record = {record: set() for record in RECORDS}
    for event_type in declared().values():
        owner = next(r for r in RECORDS if event_type.__qualname__.startswith(f"{r.__name__}."))
        by_record[owner].add(event_type)
    assert set(HISTORIES) == {record.entity_type.value for record in RECORDS}
    for record, types in by_record.items():
        assert HISTORIES[record.entity_type.value].handled() == types, record.__name__


def test_a_projection_refuses_an_event_type_it_has_no_step_for() -> None:
    class Renamed(Agency.Event):
        pass

    history = HISTORIES["AGENCY"]
    change = Change(
        position=2,
        entity_id=uuid4(),
        entity_type="AGENCY",
        type="AgencyRenamed",
        event_type=Renamed,
        version=2,
        recorded_at=datetime.now(UTC),
        envelope={"effective_on": "2018-01-01"},
        facts={},
    )
    with pytest.raises(LookupError, match="AgencyRenamed at 2: no projection step"):
        history.fold({t.name: {} for t in history.tables}, change)
