"""The check character of the unified social credit code (GB 32100-2015)."""

from __future__ import annotations

import pytest

from hub.domain.errors import InvalidInput
from hub.domain.identifiers import make_credit_code, validate_credit_code

# Published codes of real organisations.
REAL = ["91350100M000100Y43", "91110000600037341L"]


@pytest.mark.parametrize("code", REAL)
def test_real_codes_pass(code: str) -> None:
    assert validate_credit_code(code.lower()) == code


@pytest.mark.parametrize("code", REAL)
def test_any_other_check_character_fails(code: str) -> None:
    for wrong in "0123456789ABCDEFGHJKLMNPQRTUWXY":
        if wrong != code[-1]:
            with pytest.raises(InvalidInput, match="check character"):
                validate_credit_code(code[:-1] + wrong)


def test_made_codes_pass() -> None:
    code = make_credit_code("52", "500103", "MJ0000001")
    assert validate_credit_code(code) == code
