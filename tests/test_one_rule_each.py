"""The rules written once, checked without a database: who answers for a record, what a role
may see, that a correction needs a reason, the personal fields' names, and how a refusal
becomes an answer."""

from __future__ import annotations

import inspect
from datetime import date
from uuid import UUID, uuid4

import pytest

from hub.domain.envelope import Actor, Envelope, Role
from hub.domain.errors import Forbidden, InvalidInput, NotFound, OutcomeUnknown
from hub.domain.record import require_reason
from hub.domain.records import RECORDS
from hub.domain.rules import answerable, visibility
from hub.domain.station import Station
from hub.domain.worker import PERSONAL_FIELDS
from hub.projections.workers import _RENAMED
from hub.schema.events import PERSONAL_KEYS
from hub.service.auth import Unauthenticated
from hub.service.refusals import refusal_of
from hub.tools.event_reference import REFERENCES, _decorated_events

DISTRICT = Actor("d", Role.DISTRICT, district="500103")
AGENCY = str(uuid4())
CONTRACTOR = Actor("c", Role.CONTRACTOR, agency=AGENCY)


def _parameters(record: type) -> dict[str, set[str]]:
    return {
        name: set(inspect.signature(method).parameters)
        for name, method in _decorated_events(record)
    }


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r.__name__)
def test_the_fact_that_names_a_records_answerable_agency_is_one_its_events_carry(
    record: type,
) -> None:
    answers = record.answers_to
    events = _parameters(record)
    if answers.fact is not None:
        assert any(answers.fact in p for p in events.values()), events
        assert REFERENCES[answers.fact] == "Agency"
    if answers.through is not None:
        creation = next(m for _, m in _decorated_events(record) if m.__name__ == "__init__")
        assert answers.through in inspect.signature(creation).parameters


def test_a_station_answers_to_its_operator_as_its_events_name_it() -> None:
    envelope = Envelope(Actor("m", Role.MUNICIPAL), date(2018, 1, 1), "c")
    station = Station.establish(
        community="500103001001", district="500103", name="站", envelope=envelope
    )
    assert station.answerable_agency is None
    assert station.target == answerable("500103")
    station.contract_operator(
        agency=AGENCY, start=date(2018, 1, 1), end=date(2019, 1, 1), envelope=envelope
    )
    assert station.answerable_agency == AGENCY
    assert station.target.agencies == frozenset({AGENCY})


def test_what_each_role_may_see() -> None:
    assert visibility(DISTRICT).district == "500103"
    assert visibility(DISTRICT, "500103").district == "500103"
    with pytest.raises(Forbidden):
        visibility(DISTRICT, "500104")
    seen = visibility(CONTRACTOR)
    assert (seen.district, seen.agency) == (None, AGENCY)
    assert seen.admits("500104", UUID(AGENCY))
    assert not seen.admits("500104", uuid4())
    assert not seen.admits("500104", None)
    for role in (Role.MUNICIPAL, Role.AUDITOR, Role.PARTNER):
        everything = visibility(Actor("x", role), "500110")
        assert (everything.district, everything.agency) == ("500110", None)
        assert visibility(Actor("x", role)).admits("500104", None)


@pytest.mark.parametrize("reason", [None, "", "  "])
def test_a_correction_without_a_reason_is_refused(reason: str | None) -> None:
    envelope = Envelope(Actor("m", Role.MUNICIPAL), date(2018, 1, 1), "c", reason=reason)
    with pytest.raises(InvalidInput, match="a correction requires a reason") as refused:
        require_reason(envelope, "a correction")
    assert refused.value.field == "reason"


def test_personal_fields_are_named_once() -> None:
    assert PERSONAL_KEYS == ("name", "idNumber")
    assert set(_RENAMED) == set(PERSONAL_FIELDS)
    assert _RENAMED["id_number"] == "id_number_sealed"


def test_each_refusal_has_one_answer() -> None:
    forbidden = refusal_of(Forbidden("no", "district"))
    assert forbidden is not None
    assert (forbidden.code, forbidden.status) == ("FORBIDDEN", 403)
    assert forbidden.extensions == {"code": "FORBIDDEN", "field": "district"}
    invalid = refusal_of(InvalidInput("bad"))
    assert invalid is not None and (invalid.status, invalid.extensions["field"]) == (400, None)
    assert refusal_of(NotFound("gone")).status == 404  # type: ignore[union-attr]
    unknown = refusal_of(OutcomeUnknown("maybe"))
    assert unknown is not None and unknown.code == "OUTCOME_UNKNOWN"
    token = refusal_of(Unauthenticated("no token"))
    assert token is not None
    assert (token.status, token.extensions, token.message) == (
        401,
        {"code": "UNAUTHENTICATED"},
        "no token",
    )
    assert refusal_of(ValueError("a fault of the hub")) is None
