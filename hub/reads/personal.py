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
        caller = c.param(lambda b: b.caller.district)
        return f"COALESCE({alias}.district = {caller}::text, false)"
    if role is Role.CONTRACTOR and c.caller.agency:
        caller = c.param(lambda b: b.caller.agency)
        return f"COALESCE({alias}.employer::text = {caller}::text, false)"  # null: no employer
    return "false"


def shown_payload(c: Compiler, alias: str, keys: tuple[str, ...]) -> str:
    """The JSON of the payload of the event in row `alias` (of `event_log`) as
    `hub.schema.events.present` shows it: a worker event's personal `keys` marked where the
    caller may see them, else null with `personalDataErased` (no key, or erased) or
    `personalDataRedacted` added at the end, as the worker stands now."""
    a = alias
    allowed = may_see(c, "w")
    if allowed != "false":
        c.reveals = True
    x = "s.data"
    for key in keys:
        value = f"(chr(1) || {a}.entity_id::text || '|{key}|' || ({a}.data ->> '{key}'))"
        x = (
            f"CASE WHEN {x} ? '{key}' THEN jsonb_set({x}, ARRAY['{key}'], CASE WHEN s.erased"
            f" OR NOT s.seen THEN 'null'::jsonb ELSE COALESCE(to_jsonb({value}), 'null') END)"
            f" ELSE {x} END"
        )
    listed = ", ".join(f"'{k}'" for k in keys)
    return (
        f"CASE WHEN {a}.entity_type = 'WORKER' AND {a}.data ?| ARRAY[{listed}] THEN ("
        f"SELECT (CASE WHEN s.erased THEN left(({x})::text, -1)"
        """ || ', "personalDataErased": true}' WHEN NOT s.seen THEN left(("""
        f"{x})::text, -1)"
        """ || ', "personalDataRedacted": true}' ELSE ("""
        f"{x})::text END)::json FROM (SELECT {a}.data,"
        f" (w.id IS NULL OR w.erased OR NOT EXISTS (SELECT 1 FROM personal_data_keys k"
        f" WHERE k.worker_id = {a}.entity_id)) AS erased,"
        f" (w.id IS NOT NULL AND {allowed}) AS seen"
        f" FROM (SELECT 1) AS one LEFT JOIN workers w ON w.id = {a}.entity_id"
        f" AND w.effective_to IS NULL AND w.recorded_to IS NULL) s)"
        f" ELSE {a}.data::json END"
    )


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
    fields: dict[str, list[str]] = field(default_factory=dict)
    """Worker id (as text) → fields shown."""


async def reveal(hub: Hub, caller: Actor, request_id: str, body: str) -> Revealed:
    """Decrypt the marked values of `body` (all of which the caller may see) with one read
    of the workers' keys; a value whose key is gone (erased) becomes null. The one place a
    planned answer reveals personal data: what it revealed is in the result and in the
    personal-data access log."""
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
        shown = revealed.fields.setdefault(match[1], [])
        if name not in shown:
            shown.append(name)
        return json.dumps(value, ensure_ascii=False)

    revealed.body = _MARKED.sub(decrypted, body)
    hub.access_log.reveal_answer(caller, request_id, revealed.fields)
    return revealed
