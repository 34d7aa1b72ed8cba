"""A claim on a unique key, saved in the same transaction as the record that needs it.

The store's uniqueness of (record id, version) makes a second claim on the same key fail, so
uniqueness (credit codes, idempotency keys) holds under concurrent writers without locks.
"""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event


class Claim(Aggregate):
    @staticmethod
    def create_id(key: str, **_: Any) -> UUID:
        return uuid5(NAMESPACE_URL, f"hub:claim:{key}")

    @event("Made")
    def __init__(self, key: str, record_id: UUID, record_version: int, fingerprint: str) -> None:
        self.key = key
        self.record_id = record_id
        self.record_version = record_version
        self.fingerprint = fingerprint


def claim_id(key: str) -> UUID:
    return Claim.create_id(key)
