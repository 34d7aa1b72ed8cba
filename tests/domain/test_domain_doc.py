"""docs/domain.md's accountability table is the rule table of hub/domain/rules.py, row for row,
so the explanation cannot drift from what the commands check."""

from __future__ import annotations

from pathlib import Path

from hub.domain.envelope import ACCOUNTABLE_PARTIES
from hub.domain.rules import RULES

DOC = Path(__file__).resolve().parents[2] / "docs" / "domain.md"
START, END = "<!-- rules table:", "<!-- end of rules table -->"


def rules_table() -> list[str]:
    """The table's markdown lines as the rule table gives them."""
    head = ["command", *(party.value for party in ACCOUNTABLE_PARTIES)]
    rows = [
        [f"`{command}`", *(rule[p].value if p in rule else "no" for p in ACCOUNTABLE_PARTIES)]
        for command, rule in RULES.items()
    ]
    return ["| " + " | ".join(cells) + " |" for cells in [head, ["---"] * len(head), *rows]]


def documented_table() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(START)
    block = text[text.index("\n", start) + 1 : text.index(END)]
    return [line for line in block.splitlines() if line.strip()]


def test_the_documented_accountability_table_is_the_rule_table() -> None:
    expected = rules_table()
    assert documented_table() == expected, (
        "docs/domain.md's rules table differs from hub/domain/rules.py; it should read:\n"
        + "\n".join(expected)
    )


def test_every_command_of_the_rule_table_is_documented() -> None:
    documented = {line.split("|")[1].strip().strip("`") for line in documented_table()[2:]}
    assert documented == set(RULES)
