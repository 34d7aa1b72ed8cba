"""GraphiQL at /graphql works with no network: the hub serves every script, style and font it
loads. The browser test drives Debian's Chromium (`chromium`) with Playwright and blocks every
request that leaves this machine."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from hub.service.web import GRAPHIQL
from tests.agency_api import AUDITOR, REGISTER, registration
from tests.conftest import Client, missing
from tests.streams import served
from tests.test_streams import mutate

CHROMIUM = Path("/usr/bin/chromium")
LOCAL = {"127.0.0.1", "localhost"}


class _Loads(HTMLParser):
    """The addresses a page loads (`src` of scripts, `href` of style sheets and icons), each
    with its `integrity`."""

    def __init__(self) -> None:
        super().__init__()
        self.loads: dict[str, str | None] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        address = named.get("src") if tag == "script" else named.get("href")
        if address is not None and tag in {"script", "link"}:
            self.loads[address] = named.get("integrity")


def loads(page: str) -> dict[str, str | None]:
    parser = _Loads()
    parser.feed(page)
    return parser.loads


async def test_the_page_loads_only_the_hubs_own_assets_each_cached_and_as_pinned(
    client: Client,
) -> None:
    page = (await client.http.get("/graphql", headers={"Accept": "text/html"})).text
    found = loads(page)
    assets = {address for address in found if not address.startswith("data:")}
    assert len(assets) == 6, found
    assert not re.search(r"(?<!xmlns=%22)https?://", page), "the page names another host"
    for address in assets:
        assert address.startswith("graphql/assets/"), address
        response = await client.http.get("/" + address)
        assert response.status_code == 200, address
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        digest = base64.b64encode(hashlib.sha384(response.content).digest()).decode()
        assert found[address] == f"sha384-{digest}", f"{address} is not the pinned file"
        if address.endswith(".css"):
            for url in re.findall(r"url\(\s*['\"]?([^'\")]+)", response.text):
                assert url.startswith("data:"), f"{address} loads {url}"
    for folder in (GRAPHIQL / "assets").iterdir():
        assert (folder / "LICENSE").is_file(), f"{folder.name} has no licence beside it"


async def test_an_asset_that_is_not_there_is_not_found(client: Client) -> None:
    for path in ["graphiql-3.8.3/nothing.js", "../web.py", "..%2Fweb.py", "graphiql-3.8.3/"]:
        response = await client.http.get(f"/graphql/assets/{path}")
        assert response.status_code == 404, path


@pytest.fixture(scope="module")
async def chromium() -> AsyncIterator[Any]:
    """Debian's Chromium under Playwright, headless."""
    if not CHROMIUM.exists():
        missing("Chromium is not installed (Debian's `chromium` package)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        missing("the playwright package is not installed (the test extra has it)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


def _editor(selector: str) -> str:
    """A script reading the text of the CodeMirror editor under `selector`."""
    found = f"document.querySelector({json.dumps(selector + ' .CodeMirror')})"
    return f"() => {found}?.CodeMirror.getValue()"


QUERY_EDITOR = ".graphiql-query-editor"
HEADERS_EDITOR = "section.graphiql-editor-tool .graphiql-editor:not(.hidden)"
RESPONSE = ".graphiql-response"


async def test_graphiql_runs_a_query_with_a_token_with_no_network(
    chromium: Any, database: str
) -> None:
    async with served(database) as app, httpx.AsyncClient(base_url=app.base) as http:
        agency = (await mutate(http, REGISTER, **registration(name="离线测试社工服务中心")))[
            "agency"
        ]
        context = await chromium.new_context()
        outside: list[str] = []
        local: list[str] = []

        async def only_local(route: Any) -> None:
            if urlsplit(route.request.url).hostname in LOCAL:
                await route.continue_()
            else:
                outside.append(route.request.url)
                await route.abort("blockedbyclient")

        async def no_outside_sockets(socket: Any) -> None:
            if urlsplit(socket.url).hostname not in LOCAL:
                outside.append(socket.url)
                await socket.close()
            else:
                socket.connect_to_server()

        await context.route("**/*", only_local)
        await context.route_web_socket(re.compile(".*"), no_outside_sockets)
        context.on("request", lambda request: local.append(request.url))
        page = await context.new_page()
        failures: list[str] = []
        page.on("pageerror", lambda error: failures.append(str(error)))
        page.on(
            "console",
            lambda message: failures.append(message.text) if message.type == "error" else None,
        )
        try:
            await page.goto(f"{app.base}/graphql", wait_until="networkidle")
            assert outside == [], f"the page tried to reach another host: {outside}"
            await page.wait_for_selector(f"{QUERY_EDITOR} .CodeMirror")

            query = f'{{ agency(id: "{agency["id"]}") {{ name creditCode district {{ name }} }} }}'
            await page.click(f"{QUERY_EDITOR} .CodeMirror")
            await page.keyboard.press("Control+A")
            await page.keyboard.press("Delete")
            await page.keyboard.insert_text(query)
            assert await page.evaluate(_editor(QUERY_EDITOR)) == query

            await page.click(".graphiql-editor-tools button[data-name=headers]")
            headers = json.dumps({"Authorization": f"Bearer {AUDITOR}"})
            await page.click(f"{HEADERS_EDITOR} .CodeMirror")
            await page.keyboard.insert_text(headers)
            assert await page.evaluate(_editor(HEADERS_EDITOR)) == headers

            await page.click(".graphiql-execute-button")
            await page.wait_for_function(_editor(RESPONSE))
            shown = json.loads(await page.evaluate(_editor(RESPONSE)))

            await page.click('button[aria-label="Show GraphiQL Explorer"]')
            explorer = await page.wait_for_selector(".graphiql-plugin .graphiql-explorer-root")
            fields = await explorer.inner_text()
        finally:
            await context.close()

        assert shown == {
            "data": {
                "agency": {
                    "name": "离线测试社工服务中心",
                    "creditCode": agency["creditCode"],
                    "district": {"name": agency["district"]["name"]},
                }
            }
        }
        assert {"agency", "agencies", "workers"} <= set(fields.split()), fields
        assert outside == [], f"the page tried to reach another host: {outside}"
        assert failures == []
        assets = {urlsplit(url).path for url in local if "/graphql/assets/" in url}
        assert len(assets) == 6, local
