"""Input checks shared by every record type; each refusal names the field and says why."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import date
from enum import Enum
from typing import Any, TypeVar

from hub.domain.errors import InvalidInput

E_ = TypeVar("E_", bound=Enum)

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
"""Characters no text of the registry holds: C0 and C1 controls but tab and line breaks,
lone surrogates and noncharacters (PostgreSQL refuses some, and none belongs in a record)."""

MAX_TEXT = 10_000
"""The longest text any input may be; fields with a tighter bound check it themselves."""


def plain_text(value: str, field: str, *, max_length: int = MAX_TEXT) -> str:
    """`value` if it has no control character and is at most `max_length` characters."""
    found = _CONTROL.search(value)
    if found is not None:
        raise InvalidInput(
            f"{field} contains the control character U+{ord(found.group()):04X} at position "
            f"{found.start()}: text may not contain control characters",
            field,
        )
    if len(value) > max_length:
        raise InvalidInput(
            f"{field} must be at most {max_length} characters, got {len(value)}", field
        )
    return value


def plain_texts(value: Any, field: str) -> None:
    """`plain_text` on every string inside `value` (mappings and lists walked), each named by
    its path from `field`."""
    if isinstance(value, str):
        plain_text(value, field)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            plain_texts(item, f"{field}.{key}" if field else str(key))
    elif isinstance(value, list | tuple):
        for n, item in enumerate(value):
            plain_texts(item, f"{field}[{n}]")


def text(value: str, field: str, *, max_length: int = 200) -> str:
    value = plain_text(value, field).strip()
    if not value:
        raise InvalidInput(f"{field} must not be empty", field)
    if len(value) > max_length:
        raise InvalidInput(
            f"{field} must be at most {max_length} characters, got {len(value)}", field
        )
    return value


def member(value: str | E_, vocabulary: type[E_], field: str) -> E_:
    try:
        return vocabulary(value)
    except ValueError:
        allowed = ", ".join(v.value for v in vocabulary)
        raise InvalidInput(f"{field} {value!r} is not one of {allowed}", field) from None


def members(values: list, vocabulary: type[E_], field: str) -> list[E_]:
    """Distinct values, in the order given, at least one."""
    chosen = [member(v, vocabulary, field) for v in values]
    if not chosen:
        raise InvalidInput(f"{field} must name at least one value", field)
    if len(set(chosen)) != len(chosen):
        raise InvalidInput(f"{field} lists a value twice", field)
    return chosen


def effective_on(day: date, today: date, not_before: date | None = None) -> date:
    """A business date: never in the future, never before the record existed."""
    if day > today:
        raise InvalidInput(
            f"effectiveOn {day.isoformat()} is in the future (today is {today.isoformat()})",
            "effectiveOn",
        )
    if not_before is not None and day < not_before:
        raise InvalidInput(
            f"effectiveOn {day.isoformat()} is before the record was created "
            f"({not_before.isoformat()})",
            "effectiveOn",
        )
    return day


def designation_year(year: int, on: date) -> int:
    """The year of a demonstration designation (示范): from 2000 to next year."""
    if not 2000 <= year <= on.year + 1:
        raise InvalidInput(f"year {year} is out of range 2000 to {on.year + 1}", "year")
    return year


def period(start: date, end: date, start_field: str, end_field: str) -> None:
    if end < start:
        raise InvalidInput(
            f"{end_field} {end.isoformat()} is before {start_field} {start.isoformat()}", end_field
        )


@functools.lru_cache(maxsize=4096)
def camel_case(name: str) -> str:
    """The API's name for a snake_case name (cached: the names are few, every event asks)."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
