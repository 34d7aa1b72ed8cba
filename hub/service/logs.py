"""The hub's log lines (JSON, or text on a terminal) and request ids."""

from __future__ import annotations

import json
import logging
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hub.service.ids import uuid4

REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,100}")
"""An `X-Request-ID` the hub takes as it is; any other is replaced by one it makes."""


def request_id(header: bytes | str | None) -> str:
    """The caller's request id when it is a bounded printable value, else a new uuid4."""
    if isinstance(header, bytes):
        header = header.decode("latin-1")
    if header and REQUEST_ID.fullmatch(header):
        return header
    return str(uuid4())


@dataclass
class Observed:
    """What the web layer learns about one request while answering it, for its log line and
    its metrics."""

    request_id: str
    operation: str = ""
    outcome: str | None = None
    """The first GraphQL error's code, "ok", or None: not a GraphQL answer."""
    sub: str | None = None


def observed_of(scope: Any) -> Observed:
    """What the web layer notes of the request of ASGI `scope` (a fresh note for a request
    that did not come through it: a test's direct call)."""
    state = scope.setdefault("state", {})
    found = state.get("observed")
    if found is None:
        found = state["observed"] = Observed(request_id(None))
    return found


STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's coloured copy of the message
    "taskName",
}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, then any `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update((k, v) for k, v in record.__dict__.items() if k not in STANDARD)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(log_format: str) -> None:
    """Send every log record (the hub's, uvicorn's, the libraries') to stderr as `log_format`
    says: `json`, `text`, or `auto` (text on a terminal, JSON otherwise)."""
    if log_format == "auto":
        log_format = "text" if sys.stderr.isatty() else "json"
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    # Neither format shows them; without them a request's line costs half as much (logging's
    # documented optimisation).
    logging.logProcesses = logging.logMultiprocessing = logging.logThreads = False
