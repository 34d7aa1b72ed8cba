"""The auditor's workbench (`/workbench`): a page of plain JavaScript modules and a style sheet
under static/, served from the package as they are (no build step, no network), reading only
the public GraphQL API. Every answer carries a strict Content-Security-Policy: the page's own
scripts and styles only, no inline code, requests to this hub alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.responses import Response
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent / "static"

POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
    ]
)
"""Nothing inline, nothing from elsewhere, and no HTML from strings at all (Trusted Types: an
`innerHTML` would throw); the CSV export is a `blob:` download, which needs no source."""


class WorkbenchFiles(StaticFiles):
    """static/ with index.html for `/workbench/`, each answer under `POLICY`; browsers check
    for a newer file on every load (`no-cache`), as the files change with the hub's version."""

    def __init__(self) -> None:
        super().__init__(directory=STATIC, html=True)

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Content-Security-Policy"] = POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-cache"
        return response
