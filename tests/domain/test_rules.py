"""The rules on their own: the accountability table, the input checks, the identifiers, and
which events a record's retractions leave standing. Plain functions, no database."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from hub.domain import checks
from hub.domain.corrections import retracted
from hub.domain.envelope import Actor, Role
from hub.domain.errors import Forbidden, InvalidInput
from hub.domain.identifiers import make_id_number, validate_id_number
from hub.domain.project import money
from hub.domain.rules import RULES, Target, authorize, may_see_personal_data
from hub.domain.vocabulary import ServiceField
from tests.domain.parties import (
    AUDITOR,
    AWAY,
    DISTRICT,
    HOME,
    MUNICIPAL,
    OTHER_DISTRICT,
    PARTNER,
    contractor,
)

AGENCY = "8f1c0b7e-0000-4000-8000-000000000001"
OWN = contractor(AGENCY)
OTHER = contractor("8f1c0b7e-0000-4000-8000-000000000002")


def allowed(command: str, actor: Actor, target: Target) -> bool:
    try:
        authorize(command, actor, target)
    except Forbidden:
        return False
    return True


@pytest.mark.parametrize(
    ("command", "target", "who"),
    [
        ("registerAgency", Target(HOME), {"M", "D"}),
        ("updateAgencyProfile", Target(HOME, frozenset({AGENCY})), {"M", "D", "C"}),
        ("designateDemonstrationStation", Target(HOME), {"M"}),
        ("fillPost", Target(HOME, frozenset({AGENCY})), {"M", "D", "C"}),
        ("eraseWorkerPersonalData", Target(HOME, frozenset({AGENCY})), {"M"}),
        ("scheduleCourse", Target(HOME, frozenset({AGENCY}), level="DISTRICT"), {"D", "C"}),
        ("scheduleCourse", Target(None, frozenset({AGENCY}), level="MUNICIPAL"), {"M", "C"}),
        ("approveProject", Target(HOME, frozenset({AGENCY}), funder="MUNICIPAL"), {"M"}),
        ("approveProject", Target(HOME, frozenset({AGENCY}), funder=HOME), {"D"}),
        ("reportProjectProgress", Target(HOME, frozenset({AGENCY}), funder=HOME), {"C"}),
        ("closeProject", Target(HOME, frozenset({AGENCY}), funder="MUNICIPAL"), {"D"}),
    ],
)
def test_the_accountability_table_names_who_may_issue_a_command(
    command: str, target: Target, who: set[str]
) -> None:
    parties = {"M": MUNICIPAL, "D": DISTRICT, "C": OWN}
    assert {name for name, actor in parties.items() if allowed(command, actor, target)} == who
    assert not allowed(command, OTHER_DISTRICT, target)
    assert not allowed(command, OTHER, target)


@pytest.mark.parametrize("command", sorted(RULES))
def test_the_read_only_roles_never_write(command: str) -> None:
    for actor in (AUDITOR, PARTNER):
        with pytest.raises(Forbidden, match=f"{actor.role.value} may not {command}; allowed: "):
            authorize(command, actor, Target(HOME, frozenset({AGENCY}), "DISTRICT", HOME))


def test_every_rule_names_only_accountable_parties() -> None:
    parties = {Role.MUNICIPAL, Role.DISTRICT, Role.CONTRACTOR}
    assert all(rule and set(rule) <= parties for rule in RULES.values())


def test_a_refusal_names_the_scope_and_the_records_district() -> None:
    with pytest.raises(Forbidden) as refused:
        authorize("suspendAgency", OTHER_DISTRICT, Target(HOME))
    assert refused.value.message == (
        f"DISTRICT {AWAY} may suspendAgency only in its own district; "
        f"this record is in district {HOME}"
    )


@pytest.mark.parametrize(
    ("actor", "district", "employer", "sees"),
    [
        (MUNICIPAL, HOME, None, True),
        (AUDITOR, HOME, None, True),
        (DISTRICT, HOME, None, True),
        (OTHER_DISTRICT, HOME, None, False),
        (OWN, HOME, AGENCY, True),
        (OTHER, HOME, AGENCY, False),
        (OWN, HOME, None, False),
        (PARTNER, HOME, AGENCY, False),
    ],
)
def test_who_sees_a_workers_personal_data(
    actor: Actor, district: str, employer: str | None, sees: bool
) -> None:
    assert may_see_personal_data(actor, district, employer) is sees


# Input checks


def test_plain_text_refuses_control_characters_and_says_where() -> None:
    assert checks.plain_text("行\t一\n二", "summary") == "行\t一\n二"
    with pytest.raises(InvalidInput, match="U\\+0007 at position 2") as refused:
        checks.plain_text("ab\x07c", "summary")
    assert refused.value.field == "summary"
    for bad in ("\x00", "\x9f", "\ud800", "\uffff"):
        with pytest.raises(InvalidInput, match="control character"):
            checks.plain_text(f"x{bad}", "name")


def test_plain_text_has_a_length_bound() -> None:
    assert checks.plain_text("x" * checks.MAX_TEXT, "note")
    with pytest.raises(InvalidInput, match=f"at most {checks.MAX_TEXT} characters"):
        checks.plain_text("x" * (checks.MAX_TEXT + 1), "note")


def test_plain_texts_names_the_path_of_a_nested_value() -> None:
    with pytest.raises(InvalidInput) as refused:
        checks.plain_texts({"fields": ["ok", "b\x01d"]}, "input")
    assert refused.value.field == "input.fields[1]"


def test_text_is_stripped_and_never_empty() -> None:
    assert checks.text("  名称 ", "name") == "名称"
    with pytest.raises(InvalidInput, match="name must not be empty"):
        checks.text(" \n ", "name")


def test_members_are_distinct_and_at_least_one() -> None:
    assert checks.members(["CHARITY"], ServiceField, "fields") == [ServiceField.CHARITY]
    with pytest.raises(InvalidInput, match="lists a value twice"):
        checks.members(["CHARITY", "CHARITY"], ServiceField, "fields")
    with pytest.raises(InvalidInput, match="at least one"):
        checks.members([], ServiceField, "fields")
    with pytest.raises(InvalidInput, match="'ART' is not one of SOCIAL_WELFARE"):
        checks.members(["ART"], ServiceField, "fields")


def test_an_effective_date_is_never_in_the_future() -> None:
    today = date(2018, 6, 30)
    assert checks.effective_on(today, today) == today
    with pytest.raises(InvalidInput, match="is in the future") as refused:
        checks.effective_on(date(2018, 7, 1), today)
    assert refused.value.field == "effectiveOn"


def test_money_is_whole_fen_above_zero() -> None:
    assert money(Decimal("12.5"), "amount") == Decimal("12.50")
    for bad, why in [("0", "more than 0"), ("1.001", "2 decimal places"), ("NaN", "not an amount")]:
        with pytest.raises(InvalidInput, match=why):
            money(Decimal(bad), "amount")


# Identifiers


def test_an_id_number_is_checked_by_its_check_digit_and_birth_date() -> None:
    today = date(2018, 6, 30)
    number = make_id_number(HOME, date(1990, 5, 1), 12)
    assert validate_id_number(number.lower(), today) == number
    wrong = number[:-1] + ("0" if number[-1] != "0" else "1")
    with pytest.raises(InvalidInput, match="check digit"):
        validate_id_number(wrong, today)
    with pytest.raises(InvalidInput, match="is not plausible"):
        validate_id_number(make_id_number(HOME, date(2019, 1, 1), 1), today)
    with pytest.raises(InvalidInput, match="is not a date"):
        validate_id_number(f"{HOME}19900231001X", today)


# Retractions


def test_a_retracted_event_no_longer_counts() -> None:
    assert retracted([(1, ()), (2, ()), (3, (2,))]) == {2}


def test_retracting_a_retraction_restores_what_it_retracted() -> None:
    assert retracted([(1, ()), (2, ()), (3, (2,)), (4, (3,))]) == {3}


def test_a_retraction_that_no_longer_counts_retracts_nothing_even_given_out_of_order() -> None:
    log = [(5, (4,)), (1, ()), (4, (2,)), (2, ())]
    assert retracted(log) == {4}
    assert retracted(log, also=[5]) == {5, 2}
