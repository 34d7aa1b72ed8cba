"""Group commit: the saves of commands decided at the same time, stored in one transaction.

Every save of the store takes the table's lock and waits for its commit to reach the disk, so
saves one at a time cost a transaction each however small they are. Here a command that has
decided hands its events to the open group and waits. The first command of a group saves it:
once the group before it is saved, it waits (at most the window, `HUB_GROUP_COMMIT_MS`) for the
commands still deciding to join, then stores every event of the group in one transaction. A
command alone saves at once, as without grouping.

A save that fails fails every command in the group the same way, and each settles it as its
own (an outage: whether its own events were stored). A refused save (a lost race: a version
or a claim another writer took, perhaps another command of the same group) is tried again by
each command on its own, so the one that lost the race is the only one that decides again.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from eventsourcing.persistence import IntegrityError

Put = Callable[[Sequence[Any]], list[Any]]


class _Group:
    def __init__(self) -> None:
        self.events: list[Any] = []
        self.commands = 0
        self.saved = threading.Event()
        self.recordings: list[Any] = []
        self.error: BaseException | None = None


class GroupCommit:
    def __init__(self, put: Put, window_ms: float) -> None:
        self.put = put
        self.window = window_ms / 1000
        self._changed = threading.Condition()
        self._open: _Group | None = None
        self._saving = threading.Lock()
        self._deciding = 0
        self.groups = 0
        """Groups saved so far (for the tests)."""
        self.largest = 0
        """The most commands one group held so far (for the tests)."""
        self.split = 0
        """Groups the store refused as a whole, whose commands each tried again alone."""

    @contextlib.contextmanager
    def deciding(self) -> Iterator[None]:
        """Around a command deciding (its records' locks held): the open group waits for it."""
        with self._changed:
            self._deciding += 1
        try:
            yield
        finally:
            with self._changed:
                self._deciding -= 1
                self._changed.notify_all()

    def save(self, events: Sequence[Any]) -> list[Any]:
        """Store `events` with the group's, answering their recordings; called while
        `deciding`, so the group stops waiting for this command once it joins."""
        if self.window <= 0:
            return self.put(events)
        with self._changed:
            group = self._open
            leads = group is None
            if group is None:
                group = self._open = _Group()
            start = len(group.events)
            group.events.extend(events)
            group.commands += 1
            self._deciding -= 1  # joined: no longer deciding (`deciding` adds it back)
            self._changed.notify_all()
        try:
            if leads:
                self._save(group)
            else:
                group.saved.wait()
        finally:
            with self._changed:
                self._deciding += 1
        if isinstance(group.error, IntegrityError) and group.commands > 1:
            return self.put(events)  # which of the group lost the race: each tries alone
        if group.error is not None:
            raise group.error
        return group.recordings[start : start + len(events)]

    def _save(self, group: _Group) -> None:
        with self._saving:
            with self._changed:
                deadline = time.monotonic() + self.window
                while self._deciding > 0 and (left := deadline - time.monotonic()) > 0:
                    self._changed.wait(left)
                self._open = None
            try:
                group.recordings = self.put(group.events)
            except BaseException as error:
                group.error = error
            finally:
                self.groups += 1
                self.largest = max(self.largest, group.commands)
                self.split += isinstance(group.error, IntegrityError) and group.commands > 1
                group.saved.set()
