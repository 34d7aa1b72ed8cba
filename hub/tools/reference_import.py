"""Loading the community reference list from CSV: all rows or none.

Every row is checked before anything is written, so a file with one bad row changes nothing
and its author sees every problem at once. A good file is written in one transaction, as the
municipal bureau, which keeps the reference data (rule `importReference`), through the
registry like every command (see `write`).
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TypeVar
from uuid import uuid4

from hub.domain.community import COMMAND, Community, community_id, valid_code, valid_name
from hub.domain.envelope import Actor, Envelope, Role
from hub.domain.errors import InvalidInput
from hub.domain.record import Record
from hub.domain.reference import district as known_district
from hub.registry.application import Registry, Request, Unit
from hub.service.progress import Say, meter
from hub.service.runtime import Hub

COLUMNS = ("code", "name", "district", "urban")
DEFAULT_SUB = "import-reference"
SAMPLE = Path(__file__).resolve().parent / "communities.csv"
PROGRESS_FROM = 1000
"""Rows from which an import says how far it is."""

_URBAN = {"true": True, "1": True, "城": True, "urban": True}
_RURAL = {"false": False, "0": False, "乡": False, "rural": False}

_T = TypeVar("_T")


@dataclass(frozen=True)
class Problem:
    """Why one cell (or, with no column, one line) of the file cannot be imported."""

    line: int
    column: str | None
    why: str

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}" if self.column else f"line {self.line}"
        return f"{where}: {self.why}"


class ImportRefused(Exception):
    """The file has problems; nothing was written."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s); nothing was imported")
        self.problems = list(problems)


@dataclass(frozen=True)
class CommunityRow:
    """One checked row: a community as the file lists it."""

    line: int
    code: str
    name: str
    district: str
    urban: bool


@dataclass(frozen=True)
class Summary:
    listed: int
    amended: int
    unchanged: int
    position: int | None
    """The position of the last event written, None when nothing was."""

    def __str__(self) -> str:
        return f"listed {self.listed}, amended {self.amended}, unchanged {self.unchanged}"


def parse_urban(value: str) -> bool:
    key = value.strip().lower()
    if key in _URBAN:
        return _URBAN[key]
    if key in _RURAL:
        return _RURAL[key]
    raise InvalidInput(
        f"urban {value!r} is not one of true/false, 1/0, 城/乡, urban/rural", "urban"
    )


def read_csv(path: Path) -> list[CommunityRow]:
    """The checked rows of a CSV file; `ImportRefused` lists every problem."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ImportRefused(
            [Problem(line, None, f"byte {data[error.start]:#04x} is not UTF-8; save as UTF-8")]
        ) from None
    return parse_csv(text)


def parse_csv(text: str) -> list[CommunityRow]:
    """The checked rows of CSV text with header code,name,district,urban."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    header = next(reader, None)
    if header is None:
        raise ImportRefused(
            [Problem(1, None, f"the file is empty; expected the header {','.join(COLUMNS)}")]
        )
    header = [h.strip().lower() for h in header]
    problems = [
        Problem(1, column, f"missing from the header (expected {','.join(COLUMNS)})")
        for column in COLUMNS
        if column not in header
    ]
    problems += [
        Problem(1, column or f"{n}", f"unknown column; expected {','.join(COLUMNS)}")
        for n, column in enumerate(header, 1)
        if column not in COLUMNS
    ]
    problems += [
        Problem(1, column, "appears twice in the header")
        for n, column in enumerate(header)
        if column in COLUMNS and column in header[:n]
    ]
    if problems:
        raise ImportRefused(problems)
    numbered: list[tuple[int, Mapping[str, str]]] = []
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) < len(header):
            missing = header[len(cells)]
            why = f"missing: the row has {len(cells)} values, the header {len(header)}"
            problems.append(Problem(line, missing, why))
            continue
        if len(cells) > len(header):
            extra = cells[len(header)]
            why = (
                f"extra value {extra!r}: the row has {len(cells)} values, the header {len(header)}"
            )
            problems.append(Problem(line, f"{len(header) + 1}", why))
            continue
        numbered.append((line, dict(zip(header, cells, strict=True))))
    return check_rows(numbered, problems)


def check_rows(
    rows: Iterable[tuple[int, Mapping[str, str]]], problems: Sequence[Problem] = ()
) -> list[CommunityRow]:
    """Check each (line, row) and the rows together; `ImportRefused` lists every problem."""
    found = list(problems)
    checked: list[CommunityRow] = []
    first_line: dict[str, int] = {}
    for line, row in rows:
        good = _check_row(line, row, found)
        if good is None:
            continue
        if good.code in first_line:
            found.append(
                Problem(
                    line,
                    "code",
                    f"code {good.code} is listed already on line {first_line[good.code]}",
                )
            )
            continue
        first_line[good.code] = line
        checked.append(good)
    if found:
        raise ImportRefused(sorted(found, key=lambda p: p.line))
    return checked


def _check_row(line: int, row: Mapping[str, str], found: list[Problem]) -> CommunityRow | None:
    """The checked row, or None after adding each of its problems to `found`."""
    before = len(found)

    def check(column: str, validate: Callable[..., _T], *args: object) -> _T | None:
        try:
            return validate(*args)
        except InvalidInput as refusal:
            found.append(Problem(line, column, refusal.message))
            return None

    district = check("district", known_district, row["district"].strip())
    code = check("code", valid_code, row["code"], district.code if district else None)
    name = check("name", valid_name, row["name"])
    urban = check("urban", parse_urban, row["urban"])
    if len(found) > before:
        return None
    assert district is not None and code is not None and name is not None and urban is not None
    return CommunityRow(line, code, name, district.code, urban)


def write(
    registry: Registry,
    rows: Sequence[CommunityRow],
    envelope: Envelope,
    progress: Say | None = None,
) -> Summary:
    """List new communities and amend changed ones, all in one transaction, as one command of
    the registry: it holds the lock of every community the rows name and is decided again on
    fresh state after a lost race, so an import is idempotent by what it says: the same rows
    imported again (or twice at once) find every community as listed and write nothing.

    No idempotency claim is stored: the rows themselves are the key, and an older file run
    again after a newer one must restore what it lists, not answer as it did the first time.
    """
    ids = [community_id(r.code) for r in rows]
    request = Request(
        command=COMMAND,
        actor=envelope.actor,
        correlation_id=envelope.correlation_id,
        today=envelope.effective_on,
        effective_on=envelope.effective_on,
        reason=envelope.reason,
    )
    counts: dict[str, int] = {}
    say = progress if len(rows) >= PROGRESS_FROM else None

    def decide(unit: Unit) -> Record:
        stored = registry.store.records_stored(ids)
        listed: list[Community] = []
        amended: list[Community] = []
        unchanged = 0
        with meter("checking the communities", len(rows), unit="rows", say=say) as checking:
            for row in rows:
                found = community_id(row.code)
                community = unit.find(Community, found) if found in stored else None
                if community is None:
                    listed.append(
                        Community.list_new(
                            code=row.code,
                            name=row.name,
                            district=row.district,
                            urban=row.urban,
                            envelope=unit.envelope,
                        )
                    )
                elif community.differences(name=row.name, urban=row.urban):
                    community.amend(name=row.name, urban=row.urban, envelope=unit.envelope)
                    amended.append(community)
                else:
                    unchanged += 1
                checking.advance()
        counts.update(listed=len(listed), amended=len(amended), unchanged=unchanged)
        records = [*listed, *amended]
        if not records:
            raise _Unchanged
        if say is not None and len(records) >= PROGRESS_FROM:
            say(f"writing {len(records)} communities in one transaction")
        for other in records[1:]:
            unit.also(other)
        return records[0]

    try:
        outcome = registry.run(request, decide, also=ids)
    except _Unchanged:
        return Summary(0, 0, counts["unchanged"], None)
    position = max(outcome.written, default=outcome.position) or None
    return Summary(counts["listed"], counts["amended"], counts["unchanged"], position)


class _Unchanged(Exception):
    """Every row is listed as it is: the import writes nothing."""


def municipal_envelope(sub: str, today: date, reason: str | None) -> Envelope:
    return Envelope(
        actor=Actor(sub, Role.MUNICIPAL),
        effective_on=today,
        correlation_id=str(uuid4()),
        reason=reason,
    )


async def import_communities(
    hub: Hub,
    rows: Sequence[CommunityRow],
    *,
    sub: str = DEFAULT_SUB,
    reason: str | None = None,
    progress: Say | None = None,
    wait: bool = True,
) -> Summary:
    """Write checked rows (from `read_csv` or `parse_csv`) as the municipal bureau; with
    `wait`, return once the read views show them."""
    envelope = municipal_envelope(sub, hub.settings.today(), reason)
    summary = await asyncio.to_thread(write, hub.registry, rows, envelope, progress)
    if wait and summary.position is not None:
        await hub.signals.projected_past(summary.position, hub.settings.read_your_writes_timeout)
    return summary


async def import_sample(hub: Hub, *, sub: str = "demo-municipal") -> Summary:
    """The shipped sample list (`hub/tools/communities.csv`), for the demo."""
    return await import_communities(hub, read_csv(SAMPLE), sub=sub, reason="sample list")
