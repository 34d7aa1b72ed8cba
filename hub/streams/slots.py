"""How many event streams this process serves, per token and in all, against their caps.

Every stream (Server-Sent Events and subscriptions alike) holds a slot from before it starts
until it ends, however it ends, so neither one token nor a crowd of them can hold more of the
process's memory and connections than `HUB_MAX_STREAMS_PER_TOKEN` and `HUB_MAX_STREAMS` allow.
"""

from __future__ import annotations

from collections import Counter
from types import TracebackType


class TooManyStreams(Exception):
    """A stream refused before it started: its token, or the process, holds the most allowed."""

    code = "TOO_MANY_STREAMS"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class StreamSlots:
    """The open streams of this process, counted per token (by its hash) and in all."""

    def __init__(self, most: int, most_per_token: int) -> None:
        self.most = most
        self.most_per_token = most_per_token
        self.open = 0
        self._per_token: Counter[str] = Counter()

    def take(self, token_hash: str) -> Slot:
        """A slot for one more stream of the token hashed `token_hash`, or `TooManyStreams`."""
        held = self._per_token[token_hash]
        if held >= self.most_per_token:
            raise TooManyStreams(
                f"this token already holds {held} open streams, the most one token may hold "
                f"(HUB_MAX_STREAMS_PER_TOKEN = {self.most_per_token}): close one first"
            )
        if self.open >= self.most:
            raise TooManyStreams(
                f"the hub already serves {self.open} open streams, the most it serves "
                f"(HUB_MAX_STREAMS = {self.most}): retry later"
            )
        self._per_token[token_hash] = held + 1
        self.open += 1
        return Slot(self, token_hash)

    def _release(self, token_hash: str) -> None:
        self.open -= 1
        self._per_token[token_hash] -= 1
        if not self._per_token[token_hash]:
            del self._per_token[token_hash]

    def counts(self) -> dict[str, int]:
        """What `/readyz` shows under `streams`."""
        return {"open": self.open, "max": self.most, "maxPerToken": self.most_per_token}


class Slot:
    """One open stream's place; `release` (or leaving its `with` block) gives it back, once."""

    def __init__(self, slots: StreamSlots, token_hash: str) -> None:
        self._slots: StreamSlots | None = slots
        self._token_hash = token_hash

    def release(self) -> None:
        if self._slots is not None:
            self._slots._release(self._token_hash)
            self._slots = None

    def __enter__(self) -> Slot:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()
