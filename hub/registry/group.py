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

Several commands on one record fall into one group: a command that joined the open group
leaves its records there (`pending`) and lets go of their locks, so the next command on one of
them decides against the record as the group left it (the versions it expects follow) and joins
the same group. Such a command depends on that group: it is saved in it, or, if the group
closed meanwhile, once it is saved; if that group is not saved, the command decides again
(`Undecided`), never saving events that follow ones the store does not hold.
"""

from __future__ import annotations

import contextlib
import copy
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

Put = Callable[[Sequence[Any]], list[Any]]


class Undecided(IntegrityError):
    """A command was decided on records as a group left them, and that group was not saved:
    it decides again (as after a lost race)."""


class _Group:
    def __init__(self) -> None:
        self.events: list[Any] = []
        self.commands = 0
        self.saved = threading.Event()
        self.recordings: list[Any] = []
        self.error: BaseException | None = None
        self.records: list[UUID] = []
        """The records its commands left in `GroupCommit.pending`."""


class GroupCommit:
    def __init__(self, put: Put, window_ms: float) -> None:
        self.put = put
        self.window = window_ms / 1000
        self._changed = threading.Condition()
        self._open: _Group | None = None
        self._saving = threading.Lock()
        self._deciding = 0
        self._pending: dict[UUID, tuple[_Group, Any]] = {}
        self._read = threading.local()
        self.groups = 0
        """Groups saved so far (for the tests)."""
        self.largest = 0
        """The most commands one group held so far (for the tests)."""
        self.split = 0
        """Groups the store refused as a whole, whose commands each tried again alone."""
        self.followed = 0
        """Commands decided on a record as a command of their group left it (for the tests)."""

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

    def decision(self) -> None:
        """A command (this thread's) starts deciding, afresh: it depends on no group yet."""
        self._read.groups = []

    def pending(self, record_id: UUID, *, as_left: bool = True) -> Any:
        """A copy of the record as a command of the open group left it, or None: then read it
        from the store (once a group saving it is saved). Reading it makes this thread's
        command depend on that group. Not `as_left` (the record read less some of its events):
        always from the store, once the group holding it is saved."""
        reads: list[_Group] | None = getattr(self._read, "groups", None)
        if self.window <= 0 or reads is None:
            return None
        with self._changed:
            group, record = self._pending.get(record_id, (None, None))
            if group is not None and group is self._open and as_left:
                reads.append(group)
                self.followed += 1
                return copy.deepcopy(record)
        if group is not None:
            group.saved.wait()  # at most the window, then its save
        return None

    def save(
        self,
        events: Sequence[Any],
        records: Sequence[Any] = (),
        joined: Callable[[], None] | None = None,
    ) -> list[Any]:
        """Store `events` with the group's, answering their recordings; called while
        `deciding`, so the group stops waiting for this command once it joins. Once joined,
        `records` (what the command leaves, as it leaves them) are `pending` in the group, and
        `joined` is called: the command lets go of their locks."""
        if self.window <= 0:
            return self.put(events)
        read: list[_Group] = getattr(self._read, "groups", [])
        self._read.groups = []
        while True:
            with self._changed:
                closed = [g for g in read if g is not self._open]
                saving = next((g for g in closed if not g.saved.is_set()), None)
                if saving is None:
                    if any(g.error is not None for g in closed):
                        raise Undecided("a change this command was decided on was not saved")
                    group = self._open
                    leads = group is None
                    if group is None:
                        group = self._open = _Group()
                    start = len(group.events)
                    group.events.extend(events)
                    group.commands += 1
                    for record in records:
                        self._pending[record.id] = (group, record)
                        group.records.append(record.id)
                    self._deciding -= 1  # joined: no longer deciding (`deciding` adds it back)
                    self._changed.notify_all()
                    break
            saving.saved.wait()  # decided on what a group now saving left: wait for its end
        if joined is not None:
            joined()
        try:
            if leads:
                self._save(group)
            else:
                group.saved.wait()
        finally:
            with self._changed:
                self._deciding += 1
        if isinstance(group.error, IntegrityError) and group.commands > 1:
            if group in read:
                raise Undecided("a change this command was decided on was not saved")
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
                with self._changed:
                    for record_id in group.records:
                        if self._pending.get(record_id, (None,))[0] is group:
                            del self._pending[record_id]
                self.groups += 1
                self.largest = max(self.largest, group.commands)
                self.split += isinstance(group.error, IntegrityError) and group.commands > 1
                group.saved.set()
