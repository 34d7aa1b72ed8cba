"""Random UUIDs (version 4) for the request path, cut from random bytes read in bulk.

`uuid.uuid4` reads 16 bytes from the kernel each time, and CPython lets go of the GIL for
that read: on the event loop's thread, while command threads run, getting it back can take a
whole switch interval (5 ms), for every request. Here one read serves `BATCH` ids. The bytes
are the kernel's, as uuid4's are, so the ids are as unguessable; a forked child starts afresh,
so that the workers of `hub serve --workers N` never share bytes."""

from __future__ import annotations

import os
import threading
import uuid

BATCH = 256
"""Ids cut from one read."""

_lock = threading.Lock()
_random = b""
_at = 0


def uuid4() -> uuid.UUID:
    """A random UUID, as `uuid.uuid4()` makes."""
    global _random, _at
    with _lock:
        if _at >= len(_random):
            _random, _at = os.urandom(16 * BATCH), 0
        chunk = _random[_at : _at + 16]
        _at += 16
    return uuid.UUID(bytes=chunk, version=4)


def _forget() -> None:
    global _random, _at
    _random, _at = b"", 0


os.register_at_fork(after_in_child=_forget)
