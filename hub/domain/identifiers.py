"""Check characters of the national identifiers the registry records."""

from __future__ import annotations

from datetime import date

from hub.domain.errors import InvalidInput

# GB 32100-2015: the unified social credit code.
CREDIT_CODE_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def credit_code_check_character(first17: str) -> str:
    total = sum(
        CREDIT_CODE_CHARSET.index(c) * w for c, w in zip(first17, _CREDIT_WEIGHTS, strict=True)
    )
    return CREDIT_CODE_CHARSET[(31 - total % 31) % 31]


def validate_credit_code(code: str, field: str = "creditCode") -> str:
    """The code, upper-cased, if it is a well-formed unified social credit code."""
    code = code.strip().upper()
    if len(code) != 18:
        raise InvalidInput(
            f"unified social credit code must have 18 characters, got {len(code)}", field
        )
    bad = [c for c in code if c not in CREDIT_CODE_CHARSET]
    if bad:
        raise InvalidInput(
            f"unified social credit code contains {bad[0]!r}: only digits and the letters "
            f"A-H, J-N, P-R, T, U, W-Y are used (GB 32100-2015)",
            field,
        )
    if not code[2:8].isdigit():
        raise InvalidInput(
            "unified social credit code characters 3 to 8 must be the digits of an "
            "administrative division code",
            field,
        )
    expected = credit_code_check_character(code[:17])
    if code[17] != expected:
        raise InvalidInput(
            f"unified social credit code check character is {code[17]!r}, "
            f"expected {expected!r} (GB 32100-2015)",
            field,
        )
    return code


def make_credit_code(registration: str, division: str, organisation: str) -> str:
    """A valid code from its parts (2 + 6 + 9 characters), for demo data and tests."""
    first17 = f"{registration}{division}{organisation}"
    if len(first17) != 17:
        raise ValueError("parts must add up to 17 characters")
    return first17 + credit_code_check_character(first17)


# GB 11643-1999: the citizen identity number.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def id_number_check_character(first17: str) -> str:
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def validate_id_number(number: str, today: date, field: str = "idNumber") -> str:
    """The number, upper-cased, if it is a well-formed 18-character citizen ID number."""
    number = number.strip().upper()
    if len(number) != 18:
        raise InvalidInput(f"ID number must have 18 characters, got {len(number)}", field)
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise InvalidInput("ID number must be 17 digits and a digit or X (GB 11643-1999)", field)
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidInput(
            f"ID number birth date {number[6:14]} is not a date (GB 11643-1999)", field
        ) from None
    if born > today or born.year < 1900:
        raise InvalidInput(f"ID number birth date {born.isoformat()} is not plausible", field)
    expected = id_number_check_character(number[:17])
    if number[17] != expected:
        raise InvalidInput(
            f"ID number check digit is {number[17]!r}, expected {expected!r} (GB 11643-1999)", field
        )
    return number


def make_id_number(region: str, born: date, sequence: int) -> str:
    """A valid ID number from its parts, for demo data and tests."""
    first17 = f"{region}{born:%Y%m%d}{sequence:03d}"
    return first17 + id_number_check_character(first17)
