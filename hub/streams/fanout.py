"""Each logged event shown once per role view and rendered once per selection, for every
follower of the process that shares them.

Followers of one process read the same `Tail`; what differs between them is only what their
caller may see (the role view: `visibility` and the personal data rules depend on the role, the
district and the agency, not on who the caller is) and what they select. So the event as a role
view sees it (`Shown`) is made once, and each of its renders (a subscription's selection, the
Server-Sent Events frame) once: the thousandth subscriber of a view sends the bytes the first
one made. Only the newest `SHOWN` (view, position) pairs are kept; a follower far behind makes
its own again, as a replay does. A worker's event is made for each follower, as before: its
personal data is shown as it is at that moment, so an erasure shows at once.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from hub.domain.envelope import Actor

SHOWN = 4096


def view_of(actor: Actor) -> Hashable:
    """What decides how an event is shown to `actor` (`hub.domain.rules.visibility` and
    `may_see_personal_data` read nothing else)."""
    return (actor.role, actor.district, actor.agency)


class Rendered(dict[str, Any]):
    """A subscription's `data` for one event, shared by every subscriber with its selection;
    `text` is its JSON, encoded once (see `hub.service.web`)."""

    text: str

    def __init__(self, data: dict[str, Any]) -> None:
        super().__init__(data)
        self.text = json.dumps(data, separators=(",", ":"))


def next_message(message: dict[str, Any], rendered: Rendered) -> str:
    """The JSON of a `next` (or legacy `data`) `message` whose payload's `data` is `rendered`,
    with its encoded text put in as it is."""
    head = json.dumps(message, separators=(",", ":"))
    return f'{head[:-1]},"payload":{{"data":{rendered.text}}}}}'


class Shown:
    """One logged event as one role view sees it, with its renders by selection."""

    __slots__ = ("event", "renders")

    def __init__(self, event: Any) -> None:
        self.event = event
        self.renders: dict[Hashable, Any] = {}

    def render(self, selection: Hashable, make: Callable[[Any], Any]) -> Any:
        """The render of `selection`, made from the event the first time it is asked for."""
        found = self.renders.get(selection)
        if found is None:
            found = self.renders[selection] = make(self.event)
        return found


class Renderings:
    """The newest events as each role view sees them, made once however many ask at once."""

    def __init__(self, size: int = SHOWN) -> None:
        self.size = size
        self._shown: OrderedDict[tuple[Hashable, int], asyncio.Future[Shown]] = OrderedDict()

    async def shown(
        self, view: Hashable, row: Any, present: Callable[[Any], Awaitable[Any]]
    ) -> Shown:
        """The event of `row` as `view` sees it; `present(row)` makes it if no follower has."""
        if row["entity_type"] == "WORKER":
            return Shown(await present(row))
        key = (view, row["position"])
        found = self._shown.get(key)
        if found is None:
            found = self._shown[key] = asyncio.ensure_future(_show(present, row))
            while len(self._shown) > self.size:
                self._shown.popitem(last=False)
        elif found.done() and not found.cancelled() and found.exception() is None:
            return found.result()
        try:
            # Shielded: one follower leaving must not cancel what the others wait for.
            return await asyncio.shield(found)
        except Exception:
            if self._shown.get(key) is found:
                del self._shown[key]
            raise


async def _show(present: Callable[[Any], Awaitable[Any]], row: Any) -> Shown:
    return Shown(await present(row))


_renderings: dict[int, tuple[Any, Renderings]] = {}


def renderings_of(hub: Any) -> Renderings:
    """The process's renderings for `hub`."""
    found = _renderings.get(id(hub))
    if found is None or found[0] is not hub:
        found = _renderings[id(hub)] = (hub, Renderings())
    return found[1]
