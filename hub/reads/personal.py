"""Personal data in a planned answer: the statement marks the sealed values the caller may
see, and `reveal` decrypts only those, substituting them into the JSON text.

`may_see` is `hub.domain.rules.may_see_personal_data` as an SQL condition on a worker's row;
`tests/test_reads.py` checks the two answer the same for every role.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from uuid import UUID

from hub.domain.envelope import Actor, Role
from hub.registry.personal_data import unseal

if TYPE_CHECKING:
    from hub.reads.compiler import Compiler
    from hub.service.runtime import Hub

MARK = "\x01"
"""Starts a marked value: no text the hub stores holds a control character (input checks)."""
WITHHELD = "\x02"
"""What the statement answers in place of a value only the resolvers may show (a worker
event's payload with personal data): the whole answer falls back to them."""
_WITHHELD = '"\\u0002"'
_MARKED = re.compile(r'"\\u0001([0-9a-f-]{36})\|(\w+)\|([^"\\]*)"')
"""A marked value as PostgreSQL writes it in JSON text: `"\\u0001<worker id>|<field>|<sealed>"`."""


def may_see(c: Compiler, alias: str) -> str:
    """The SQL condition under which the caller may see the personal data of the worker in
    row `alias`: MUNICIPAL and AUDITOR always; DISTRICT in its district; CONTRACTOR for its
    employees; PARTNER never (`false`: the statement answers null)."""
    role = c.caller.role
    if role in (Role.MUNICIPAL, Role.AUDITOR):
        return "true"
    if role is Role.DISTRICT and c.caller.district:
        return f"{alias}.district = {c.param(lambda b: b.caller.district)}::text"
    if role is Role.CONTRACTOR and c.caller.agency:
        return f"{alias}.employer::text = {c.param(lambda b: b.caller.agency)}::text"
    return "false"


def marked(alias: str, name: str, column: str) -> str:
    """The SQL of a marked sealed value: worker id, field, sealed text."""
    return f"(chr(1) || {alias}.id::text || '|{name}|' || {alias}.{column})"


@dataclass
class Revealed:
    """A planned answer with its personal data decrypted, and what it revealed: the fields
    shown of each worker (the personal-data access log's record of the response)."""

    body: str
    caller: Actor
    request_id: str
    fields: dict[UUID, list[str]] = field(default_factory=dict)


def withheld(body: str) -> bool:
    """Whether the statement withheld a value only the resolvers may show."""
    return _WITHHELD in body


async def reveal(hub: Hub, caller: Actor, request_id: str, body: str) -> Revealed:
    """Decrypt the marked values of `body` (all of which the caller may see) with one read
    of the workers' keys; a value whose key is gone (erased) becomes null. The one place a
    planned answer reveals personal data: what it revealed is in the result."""
    found = _MARKED.findall(body)
    revealed = Revealed(body, caller, request_id)
    if not found:
        return revealed
    ids = list(dict.fromkeys(UUID(worker) for worker, _, _ in found))
    keys = dict(zip(ids, await hub.keys_by_worker(hub.pool, ids), strict=True))

    def decrypted(match: re.Match[str]) -> str:
        worker, name, sealed = UUID(match[1]), match[2], match[3]
        value = unseal(keys[worker], worker, sealed)
        if value is None:
            return "null"
        shown = revealed.fields.setdefault(worker, [])
        if name not in shown:
            shown.append(name)
        return json.dumps(value, ensure_ascii=False)

    revealed.body = _MARKED.sub(decrypted, body)
    return revealed
