"""The auditor's workbench at /workbench, walked in Debian's Chromium (Playwright) as a person
would, every request that leaves this machine blocked, on a small seeded city plus a station
whose history the tests build: an assignment corrected, an assessment retracted.

Screenshots of each page go to `.hub/screenshots/workbench/` (ignored by git)."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest

from hub.service.workbench import POLICY, STATIC
from hub.tools import seed as seeding
from tests.agency_api import AUDITOR, MUNICIPAL, send
from tests.conftest import ROOT, Client, fresh_database, token
from tests.streams import Served, served
from tests.test_graphiql import LOCAL, chromium  # noqa: F401 - the module's browser
from tests.test_stations_posts import ASSESS, ASSIGN, ESTABLISH, SCORES
from tests.test_time_travel import RETRACT
from tests.worker_api import ERASE, register_worker

SCALE = 0.01
SHOTS = ROOT / ".hub" / "screenshots" / "workbench"
ZONE = "Asia/Shanghai"
"""The browser's time zone in these tests: the page shows and takes times in the browser's."""
PARTNER = token("PARTNER")
AUDITOR_SUB = "test-auditor"


@dataclass
class Story:
    """The station the tests built, its two workers (A assigned by mistake, B the correction)
    and the positions of the events that matter."""

    station: str
    community: str
    community_name: str
    a: dict[str, Any]
    b: dict[str, Any]
    wrong: int
    corrected: int
    assessed: int
    retraction: int
    erased: dict[str, Any]


@dataclass
class Workbench:
    app: Served
    client: Client
    story: Story


async def _free_community(client: Client) -> dict[str, Any]:
    data = await client.run(
        """{ communities(first: 500) { edges { node { code name district { code } } } }
            stations(first: 500) {
              edges { node { community { code } } } } }""",
        auth=AUDITOR,
    )
    taken = {e["node"]["community"]["code"] for e in data["stations"]["edges"]}
    free = [e["node"] for e in data["communities"]["edges"] if e["node"]["code"] not in taken]
    assert free, f"every one of {len(taken)} communities has its station"
    return free[0]


async def _story(client: Client) -> Story:
    community = await _free_community(client)
    made = await send(
        client,
        ESTABLISH,
        community=community["code"],
        name=f"{community['name']}社工站",
        effectiveOn="2017-01-01",
    )
    assert made["errors"] == [], made
    station = made["station"]["id"]
    a = await register_worker(client, effectiveOn="2016-01-01")
    b = await register_worker(client, effectiveOn="2016-01-01")
    wrong = await send(
        client, ASSIGN, id=station, worker=a["id"], fullTime=True, effectiveOn="2018-02-01"
    )
    assert wrong["errors"] == [], wrong
    await asyncio.sleep(0.05)  # the picker's moment between the two, to the millisecond
    corrected = await send(
        client,
        ASSIGN,
        id=station,
        worker=b["id"],
        fullTime=True,
        effectiveOn="2018-02-01",
        corrects=[wrong["position"]],
        reason="录错了人员，更正",
    )
    assert corrected["errors"] == [], corrected
    assessed = await send(client, ASSESS, id=station, effectiveOn="2018-03-01", **SCORES)
    assert assessed["errors"] == [], assessed
    undone = await client.run(
        RETRACT,
        {"input": {"positions": [assessed["position"]], "reason": "评估重复录入"}},
        auth=MUNICIPAL,
    )
    assert undone["retractEvents"]["errors"] == [], undone
    erased = await register_worker(client, effectiveOn="2016-01-01")
    forgotten = await send(client, ERASE, id=erased["id"], reason="本人申请删除")
    assert forgotten["errors"] == [], forgotten
    return Story(
        station,
        community["code"],
        community["name"],
        a,
        b,
        wrong["position"],
        corrected["position"],
        assessed["position"],
        undone["retractEvents"]["position"],
        erased,
    )


@pytest.fixture(scope="module")
async def workbench(server_url: str) -> AsyncIterator[Workbench]:
    """The hub served over HTTP on a city seeded at `SCALE`, and the station's story."""
    database = await fresh_database(server_url)
    async with (
        served(database) as app,
        httpx.AsyncClient(base_url=app.base, timeout=60) as http,
    ):
        client = Client(http, app.hub)
        report = await asyncio.to_thread(
            seeding.seed, app.hub.registry, today=app.hub.settings.today(), scale=SCALE
        )
        assert await app.hub.signals.projected_past(report.position, 60)
        yield Workbench(app, client, await _story(client))


@dataclass
class Browser:
    page: Any
    outside: list[str]
    failures: list[str]


@pytest.fixture
async def browser(chromium: Any) -> AsyncIterator[Browser]:  # noqa: F811
    """A fresh page (its own session storage) whose requests may reach this machine only."""
    context = await chromium.new_context(
        timezone_id=ZONE,
        locale="zh-CN",
        accept_downloads=True,
        viewport={"width": 1400, "height": 900},
    )
    outside: list[str] = []

    async def only_local(route: Any) -> None:
        if urlsplit(route.request.url).hostname in LOCAL | {None, ""}:
            await route.continue_()
        else:
            outside.append(route.request.url)
            await route.abort("blockedbyclient")

    await context.route(re.compile(r"^(?!blob:|data:).*"), only_local)
    page = await context.new_page()
    failures: list[str] = []
    page.on("pageerror", lambda error: failures.append(str(error)))
    try:
        yield Browser(page, outside, failures)
    finally:
        await context.close()
    assert outside == [], f"the page tried to reach another host: {outside}"
    assert failures == [], failures


async def sign_in(page: Any, base: str, bearer: str) -> None:
    await page.goto(f"{base}/workbench/", wait_until="networkidle")
    await page.fill("#token", bearer)
    await page.click("form.signin button[type=submit]")
    await page.wait_for_selector("#me")


async def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SHOTS / f"{name}.png", full_page=True)


def figure(text: str) -> int:
    return int(text.replace(",", "").strip())


async def test_the_page_is_served_from_the_package_under_a_strict_policy(
    workbench: Workbench,
) -> None:
    http = workbench.client.http
    moved = await http.get("/workbench")
    assert moved.status_code in (307, 308) and moved.headers["location"].endswith("/workbench/")
    page = await http.get("/workbench/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == POLICY
    assert "'unsafe-inline'" not in POLICY and "script-src 'self'" in POLICY
    assert "<style" not in page.text and " style=" not in page.text
    scripts = re.findall(r"<script\b([^>]*)>", page.text)
    assert scripts and all("src=" in attrs for attrs in scripts), "an inline script"
    assert not re.search(r"https?://", page.text), "the page names another host"
    for path in sorted(STATIC.iterdir()):
        served_file = await http.get(f"/workbench/{path.name}")
        assert served_file.status_code == 200, path.name
        assert served_file.headers["content-security-policy"] == POLICY
        if path.suffix == ".js":
            # Data goes into the page as text only.
            assert not re.search(
                r"innerHTML|outerHTML|insertAdjacentHTML|document\.write", path.read_text()
            ), path.name
            assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", path.read_text()), path.name
    assert (await http.get("/workbench/../pyproject.toml")).status_code == 404


def test_every_string_is_in_the_dictionary_in_both_languages() -> None:
    source = (STATIC / "i18n.js").read_text()
    zh, en = (
        re.findall(r"^    (\w+): ", block, re.MULTILINE)
        for block in re.findall(r"^  (?:zh|en): \{\n(.*?)^  \},", source, re.MULTILINE | re.DOTALL)
    )
    assert zh and sorted(zh) == sorted(en), set(zh) ^ set(en)
    used = {
        key
        for path in STATIC.glob("*.js")
        for key in re.findall(r"\bt\(\"(\w+)\"", path.read_text())
    }
    assert used and used <= set(zh), used - set(zh)


async def test_an_auditor_finds_a_station_and_reads_its_story(
    workbench: Workbench, browser: Browser
) -> None:
    story, page, base = workbench.story, browser.page, workbench.app.base
    await page.goto(f"{base}/workbench/", wait_until="networkidle")
    await shot(page, "sign-in")
    await sign_in(page, base, AUDITOR)
    assert AUDITOR_SUB in await page.inner_text("#me")
    assert "审计" in await page.inner_text("#me")
    markup = await page.evaluate(
        "() => { try { document.body.insertAdjacentHTML('beforeend', '<b>x</b>'); return 'ran' }"
        " catch (error) { return error.name } }"
    )
    assert markup == "TypeError", "the policy lets a string become HTML"

    await page.fill("#q", story.community_name)
    await page.click("form.search button[type=submit]")
    link = page.locator(f"a.record-link[href='#/record/STATION/{story.station}']")
    await link.wait_for()
    await shot(page, "search")
    await link.click()

    await page.wait_for_selector(f"#ev-{story.retraction}")
    await page.wait_for_selector("#state dl.fields")
    await shot(page, "station-timeline")
    events = page.locator("li.event")
    history = (
        await workbench.client.run(
            "query($id: ID!) { history(id: $id) { position recordedAt } }",
            {"id": story.station},
            auth=AUDITOR,
        )
    )["history"]
    assert await events.count() == len(history) == 5
    wrong, corrected = page.locator(f"#ev-{story.wrong}"), page.locator(f"#ev-{story.corrected}")
    assert "retracted" in (await wrong.get_attribute("class")).split()
    assert await wrong.locator(f".retracted-badge a[href='#ev-{story.corrected}']").count() == 1
    assert await corrected.locator(f".corrects a[href='#ev-{story.wrong}']").count() == 1
    assert "录错了人员" in await corrected.locator(".reason").inner_text()
    assert "retracted" not in (await corrected.get_attribute("class")).split()
    assessed = page.locator(f"#ev-{story.assessed}")
    assert "retracted" in (await assessed.get_attribute("class")).split()
    decoration = await assessed.locator(".what").evaluate(
        "node => getComputedStyle(node).textDecorationLine"
    )
    assert decoration == "line-through"
    retraction = page.locator(f"#ev-{story.retraction}")
    assert await retraction.locator(f".corrects a[href='#ev-{story.assessed}']").count() == 1
    assert "评估重复录入" in await retraction.locator(".reason").inner_text()
    assert f"人员 {story.b['id']}" in await corrected.locator("table.changes").inner_text()

    staff = page.locator("#state dd[data-field=staff]")
    now = await staff.inner_text()
    assert story.b["name"] in now and story.a["name"] not in now
    assert await page.locator("#state dd[data-field=assessment]").inner_text() == "—"

    # The recorded-time picker before the correction: the staff as recorded then.
    recorded = {e["position"]: datetime.fromisoformat(e["recordedAt"]) for e in history}
    between = recorded[story.wrong] + (recorded[story.corrected] - recorded[story.wrong]) / 2
    assert between - recorded[story.wrong] > timedelta(milliseconds=1)
    local = between.astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    await page.fill("#recorded", local)
    await page.dispatch_event("#recorded", "change")
    await page.locator("#state dd[data-field=staff]", has_text=story.a["name"]).wait_for()
    await page.wait_for_selector("#state h2:text('状态（按所选时点）')")
    then = await page.locator("#state dd[data-field=staff]").inner_text()
    assert story.a["name"] in then and story.b["name"] not in then
    await shot(page, "station-before-correction")

    # The same moment from the timeline: the state as recorded just after the wrong event.
    await page.click("button.now")
    await page.locator("#state dd[data-field=staff]", has_text=story.b["name"]).wait_for()
    await page.click(f"#ev-{story.wrong} button.as-then")
    await page.locator("#state dd[data-field=staff]", has_text=story.a["name"]).wait_for()
    assert await page.input_value("#recorded") != ""

    # The effective-date picker before the assignment took effect: no staff.
    await page.fill("#recorded", "")
    await page.fill("#effective", "2018-01-31")
    await page.dispatch_event("#effective", "change")
    await page.locator("#state dd[data-field=staff]:text-is('—')").wait_for()

    # English, from the same dictionary.
    await page.click("button.language")
    await page.wait_for_selector("h2:text('Timeline')")
    assert "Auditor" in await page.inner_text("#me")


async def test_a_search_by_code_or_id_and_a_sign_in_that_fails(
    workbench: Workbench, browser: Browser
) -> None:
    story, page, base = workbench.story, browser.page, workbench.app.base
    await sign_in(page, base, AUDITOR)
    agency = (
        await workbench.client.run(
            "{ agencies(first: 1) { edges { node { id creditCode } } } }", auth=AUDITOR
        )
    )["agencies"]["edges"][0]["node"]
    wanted = {
        agency["creditCode"]: ("AGENCY", agency["id"]),
        story.community: ("STATION", story.station),
        story.station: ("STATION", story.station),
        story.erased["id"]: ("WORKER", story.erased["id"]),
    }
    for q, (kind, id) in wanted.items():
        await page.goto(f"{base}/workbench/#/search?q={q}")
        await page.locator(f"#results a[href='#/record/{kind}/{id}']").wait_for()
    await page.goto(f"{base}/workbench/#/search?q={story.community}")
    await page.locator(f"#results a[href='#/record/COMMUNITY/{story.community}']").wait_for()

    # The audit trail names a community by its record id; its page opens all the same.
    listed = (
        await workbench.client.run(
            """query($code: String!) { community(code: $code) { id } }""",
            {"code": story.community},
            auth=AUDITOR,
        )
    )["community"]["id"]
    await page.goto(f"{base}/workbench/#/record/COMMUNITY/{listed}")
    await page.locator(f"#state dd[data-field=code]:text-is('{story.community}')").wait_for()
    await page.locator("li.event[data-type=CommunityListed]").wait_for()

    await page.goto(f"{base}/workbench/#/search?q=没有这样的名称")
    await page.locator("#results p:text('没有找到记录。')").wait_for()

    # An erasure is marked in the timeline; the record says its data is gone.
    await page.goto(f"{base}/workbench/#/record/WORKER/{story.erased['id']}")
    await page.locator("li.event.erasure .badge.erasure-badge").wait_for()
    assert await page.locator("li.event.erasure").count() == 1
    assert (await page.get_attribute("li.event.erasure", "data-type")).endswith("Erased")
    registered = page.locator("li.event[data-type=WorkerRegistered]")
    assert await registered.locator(".badge.erased").count() == 1
    assert await page.inner_text("#state dd[data-field=personalDataErased]") == "是"
    assert story.erased["name"] not in await page.inner_text("#main")

    # A token that expires while the page is open: back to sign-in, the token forgotten.
    await page.click("button.signout")
    await sign_in(page, base, token("AUDITOR", ttl_seconds=2))
    await asyncio.sleep(2.5)
    await page.goto(f"{base}/workbench/#/search?q={story.station}")
    await page.locator("form.signin p.error").wait_for()
    assert await page.evaluate("() => sessionStorage.length") == 0

    await page.reload()
    await page.fill("#token", "not-a-token")
    await page.click("form.signin button[type=submit]")
    await page.locator("form.signin p.error").wait_for()
    assert await page.locator("#me").count() == 0
    assert await page.evaluate("() => sessionStorage.length") == 0


async def test_an_auditor_finds_a_seeded_worker_by_name_and_opens_their_page(
    workbench: Workbench, browser: Browser
) -> None:
    page, base = browser.page, workbench.app.base
    seeded = (
        await workbench.client.run(
            "{ workers(first: 5, filter: { status: ACTIVE }) { edges { node { id name idNumber"
            " personalDataErased } } } }",
            auth=AUDITOR,
        )
    )["workers"]["edges"]
    worker = next(e["node"] for e in seeded if not e["node"]["personalDataErased"])
    await sign_in(page, base, AUDITOR)
    await page.fill("#q", worker["name"])
    await page.click("form.search button[type=submit]")
    link = page.locator(f"#results a.record-link[href='#/record/WORKER/{worker['id']}']")
    await link.wait_for()
    assert worker["name"] in await link.inner_text()
    await shot(page, "worker-search")
    await link.click()
    await page.wait_for_selector(f"#state dd[data-field=name]:text-is('{worker['name']}')")
    assert await page.inner_text("#state dd[data-field=idNumber]") == worker["idNumber"]

    # By ID number, spaced as it is often written down.
    number = worker["idNumber"]
    await page.goto(f"{base}/workbench/#/search")
    await page.fill("#q", f"{number[:6]} {number[6:14]} {number[14:]}")
    await page.click("form.search button[type=submit]")
    await page.locator(f"#results a[href='#/record/WORKER/{worker['id']}']").wait_for()

    # An erased worker is not found by the name it had.
    erased = workbench.story.erased
    await page.fill("#q", erased["name"])
    await page.click("form.search button[type=submit]")
    await page.locator("#results p:text('没有找到记录。')").wait_for()


async def test_the_city_dashboard_at_the_end_of_2017(
    workbench: Workbench, browser: Browser
) -> None:
    page, base = browser.page, workbench.app.base
    await sign_in(page, base, AUDITOR)
    await page.goto(f"{base}/workbench/#/dashboard?on=2017-12-31", wait_until="networkidle")
    holders = page.locator("#indicators [data-indicator=certifiedWorkers] .value")
    await holders.wait_for()
    expected = (
        await workbench.client.run(
            """{ indicators(asOf: {effective: "2017-12-31"}) { certifiedWorkers } }""",
            auth=AUDITOR,
        )
    )["indicators"]["certifiedWorkers"]
    assert expected == seeding.city_2018_figures(SCALE)["2017-12-31"]["certifiedWorkers"]
    assert figure(await holders.inner_text()) == expected
    rows = page.locator("#districts tbody tr")
    await rows.first.wait_for()
    assert await rows.count() == 38
    await shot(page, "dashboard-city-2017")

    async def column(name: str) -> list[int]:
        cells = page.locator(f"#districts tbody td[data-column={name}]")
        return [figure(text) for text in await cells.all_inner_texts()]

    city_workers = sum(await column("workers"))
    assert city_workers == figure(
        await page.inner_text("#indicators [data-indicator=workers] .value")
    )
    await page.click("#districts button[data-column=workers]")
    first = await column("workers")
    await page.click("#districts button[data-column=workers]")
    second = await column("workers")
    assert sorted(first) in (first, first[::-1]) and second == first[::-1] and first != second
    header = page.locator("#districts th:has(button[data-column=workers])")
    assert await header.get_attribute("aria-sort") in ("ascending", "descending")

    top = page.locator("#districts tbody tr").first
    code = await top.get_attribute("data-district")
    name = await top.locator("th a").inner_text()
    await top.locator("th a").click()
    await page.wait_for_selector(f"#scope:text('{name}')")
    shown = page.locator("#indicators [data-indicator=certifiedWorkers] .value")
    await shown.wait_for()
    of_district = (
        await workbench.client.run(
            """query($d: String) { indicators(asOf: {effective: "2017-12-31"}, district: $d) {
                 certifiedWorkers } }""",
            {"d": code},
            auth=AUDITOR,
        )
    )["indicators"]["certifiedWorkers"]
    assert figure(await shown.inner_text()) == of_district
    await shot(page, "dashboard-district")


async def test_the_dashboards_charts_follow_the_series_against_the_targets(
    workbench: Workbench, browser: Browser
) -> None:
    """Needs `indicatorSeries` and `targets` (issue 16 item 4)."""
    page, base = browser.page, workbench.app.base
    await sign_in(page, base, AUDITOR)
    await page.goto(
        f"{base}/workbench/#/dashboard?on=2017-12-31&every=YEAR", wait_until="networkidle"
    )
    chart = page.locator("#charts figure[data-indicator=certifiedWorkers]")
    await chart.wait_for()
    data = await workbench.client.run(
        """{ targets { indicator value due }
             indicatorSeries(from: "2008-01-01", to: "2017-12-31", every: YEAR) {
               on indicators { certifiedWorkers workers urbanCommunitiesOnTarget
                 urbanCommunities } } }""",
        auth=AUDITOR,
    )
    series = data["indicatorSeries"]
    cells = await chart.locator("table tbody tr").all()
    shown = [[await c.inner_text() for c in await row.locator("td").all()] for row in cells]
    assert [(day, figure(value)) for day, value in shown] == [
        (p["on"], p["indicators"]["certifiedWorkers"]) for p in series
    ]
    assert shown[-1][0] == "2017-12-31"
    assert await chart.locator("svg polyline.series").count() == 1
    workers = next(x for x in data["targets"] if x["indicator"] == "workers")
    target = page.locator("#charts figure[data-indicator=workers]")
    assert await target.locator("svg line.target").count() == 1
    assert f"{workers['value']:,}" in await target.locator("figcaption").inner_text()

    # "Every urban community with 2+": a percentage of the urban communities, against 100.
    shares = page.locator("#charts figure[data-indicator=urbanCommunitiesOnTarget]")
    last = series[-1]["indicators"]
    cells = await shares.locator("table tbody tr").last.locator("td").all_inner_texts()
    percent = round(1000 * last["urbanCommunitiesOnTarget"] / last["urbanCommunities"]) / 10
    assert cells == [
        "2017-12-31",
        str(last["urbanCommunitiesOnTarget"]),
        str(last["urbanCommunities"]),
        f"{percent:g}",
    ]
    urban = next(x for x in data["targets"] if x["indicator"] == "urbanCommunitiesOnTarget")
    assert f"{urban['value']}%" in await shares.locator("figcaption").inner_text()
    await shot(page, "dashboard-charts")


async def test_a_partner_sees_no_personal_data_anywhere(
    workbench: Workbench, browser: Browser
) -> None:
    story, page, base = workbench.story, browser.page, workbench.app.base
    await sign_in(page, base, PARTNER)
    secrets = [story.a["name"], story.a["idNumber"], story.b["name"], story.b["idNumber"]]

    async def nothing_personal(ready: str) -> None:
        await page.wait_for_selector(ready)
        await page.wait_for_load_state("networkidle")
        text = await page.evaluate(
            "() => document.body.textContent + [...document.querySelectorAll('input, textarea')]"
            ".map(i => i.value).join(' ')"
        )
        assert not [s for s in secrets if s in text], (page.url, text[:2000])

    await page.goto(f"{base}/workbench/#/record/WORKER/{story.a['id']}")
    await nothing_personal("li.event")
    assert await page.locator(".badge.redacted").count() >= 1
    assert await page.locator("#access-log").count() == 0  # not for a PARTNER
    assert await page.locator("header nav a[href='#/access']").count() == 0
    await shot(page, "partner-worker")
    await page.goto(f"{base}/workbench/#/record/STATION/{story.station}")
    await nothing_personal(f"#ev-{story.retraction}")
    assert story.b["id"] in await page.inner_text("#state dd[data-field=staff]")
    await page.goto(f"{base}/workbench/#/search?q={story.a['id']}")
    await nothing_personal("#results a.record-link")
    await page.goto(f"{base}/workbench/#/audit")
    await page.fill("#f-entityId", story.a["id"])
    await page.click("#audit-filter button[type=submit]")
    await nothing_personal("#audit-results .results-table tbody tr")
    await page.goto(f"{base}/workbench/#/access")
    await nothing_personal("#access-log p")
    assert await page.locator("#access-log .forbidden, #access-log .unavailable").count() == 1


async def test_a_workers_access_log_lists_the_auditors_own_look(
    workbench: Workbench, browser: Browser
) -> None:
    """Needs `personalDataAccess` (issue 16 item 5)."""
    story, page, base = workbench.story, browser.page, workbench.app.base
    await sign_in(page, base, AUDITOR)
    await page.goto(f"{base}/workbench/#/record/WORKER/{story.a['id']}")
    await page.wait_for_selector(f"#state dd[data-field=name]:text('{story.a['name']}')")
    mine = page.locator(
        "#access-log tbody tr", has=page.locator(f".actor:text-is('{AUDITOR_SUB}')")
    )
    for _ in range(100):  # written in batches off the request path
        await page.click("#access-log button.refresh")
        await page.wait_for_selector("#access-log .total, #access-log p.error")
        if await mine.count():
            break
        await asyncio.sleep(0.1)
    assert await mine.count() >= 1
    row = await mine.first.inner_text()
    assert story.a["id"] in row and "姓名" in row
    await shot(page, "access-log")


async def test_the_audit_trail_explorer_pages_and_exports_csv_with_a_bom(
    workbench: Workbench, browser: Browser
) -> None:
    story, page, base = workbench.story, browser.page, workbench.app.base
    await sign_in(page, base, AUDITOR)
    await page.goto(f"{base}/workbench/#/audit")
    await page.click("#audit-filter button[type=submit]")
    first_page = page.locator("#audit-results .results-table tbody tr")
    await first_page.first.wait_for()
    total = (await workbench.client.run("{ auditTrail { totalCount } }", auth=AUDITOR))[
        "auditTrail"
    ]["totalCount"]
    assert f"{total:,}" in await page.inner_text("#audit-results .total")
    assert await first_page.count() == 50
    last = figure(await first_page.last.locator("td").first.inner_text())
    await page.click("#audit-results button.next")
    await page.wait_for_selector("#audit-results .total:text('第 2 页')")
    assert figure(await first_page.first.locator("td").first.inner_text()) > last

    await page.fill("#f-entityId", story.station)
    await page.check("#kind-STATION")
    await page.click("#audit-filter button[type=submit]")
    await page.wait_for_selector("#audit-results .total:text('共 5 条')")
    await shot(page, "audit-trail")
    async with page.expect_download() as downloading:
        await page.click("#audit-filter button.export")
    download = await downloading.value
    assert download.suggested_filename == "audit-trail.csv"
    body = Path(await download.path()).read_bytes()
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(body[3:].decode("utf-8"), newline="")))
    expected = (
        await workbench.client.run(
            """query($id: ID!) { auditTrail(filter: {entityId: $id}) {
                 edges { node { position type reason actor { sub } } } } }""",
            {"id": story.station},
            auth=AUDITOR,
        )
    )["auditTrail"]["edges"]
    assert [(int(r["position"]), r["type"], r["reason"], r["actor.sub"]) for r in rows] == [
        (
            e["node"]["position"],
            e["node"]["type"],
            e["node"]["reason"] or "",
            e["node"]["actor"]["sub"],
        )
        for e in expected
    ]
    assert "录错了人员，更正" in {r["reason"] for r in rows}
    assert "已导出 5 条" in await page.inner_text("#main .status")


KINDS = {"COMPREHENSIVE": ("综合类", "Comprehensive"), "SPECIALIZED": ("专业类", "Specialised")}


async def test_the_registrys_words_are_chinese_with_an_english_switch(
    workbench: Workbench, browser: Browser
) -> None:
    story, page, base = workbench.story, browser.page, workbench.app.base
    agency = (
        await workbench.client.run(
            "{ agencies(first: 1) { edges { node { id kind status } } } }", auth=AUDITOR
        )
    )["agencies"]["edges"][0]["node"]
    assert agency["status"] == "ACTIVE"
    await sign_in(page, base, AUDITOR)
    await page.goto(f"{base}/workbench/#/record/AGENCY/{agency['id']}")
    registered = page.locator("li.event[data-type=AgencyRegistered]")
    await registered.wait_for()
    await page.wait_for_selector("#state dl.fields")
    await shot(page, "agency-in-chinese")
    zh, en = KINDS[agency["kind"]]
    assert await page.inner_text("#state dd[data-field=kind]") == zh
    assert await page.inner_text("#state dd[data-field=status]") == "正常"
    assert "机构登记" in await registered.locator(".what").inner_text()
    changes = await registered.locator("table.changes").inner_text()
    assert "统一社会信用代码" in changes and "creditCode" not in changes
    assert agency["kind"] not in await page.inner_text("#main")

    await page.click("button.language")
    await page.wait_for_selector("h2:text('Timeline')")
    await registered.wait_for()
    await shot(page, "agency-in-english")
    assert await page.inner_text("#state dd[data-field=kind]") == en
    assert await page.inner_text("#state dd[data-field=status]") == "Active"
    assert "Agency registered" in await registered.locator(".what").inner_text()
    assert "Credit code" in await registered.locator("table.changes").inner_text()

    # A staff change: the row's fields, named, not its JSON.
    await page.click("button.language")
    await page.goto(f"{base}/workbench/#/record/STATION/{story.station}")
    corrected = page.locator(f"#ev-{story.corrected}")
    await corrected.locator("table.changes").wait_for()
    await shot(page, "station-staff-change")
    assert "社工站配备人员" in await corrected.locator(".what").inner_text()
    row = corrected.locator("table.changes tr", has_text=story.b["id"])
    shown = await row.inner_text()
    assert "{" not in shown and "fullTime" not in shown
    assert await row.locator("ins dl.row dt").all_inner_texts() == ["专职", "到岗日期"]
    assert (await row.locator("ins dl.row dd").all_inner_texts())[0] == "是"
    assert await row.locator("del").inner_text() == "—"

    # The audit trail: an event type chosen by its name, rows in the same words.
    await page.goto(f"{base}/workbench/#/audit")
    await page.select_option("#f-type", label="社工站配备人员")
    await page.click("#audit-filter button[type=submit]")
    rows = page.locator("#audit-results .results-table tbody tr")
    await rows.first.wait_for()
    cells = await rows.first.locator("td").all_inner_texts()
    assert "社工站配备人员" in cells[3] and "StationStaffAssigned" not in cells[3]
    assert "社工站" in cells[4] and cells[6] in {"市民政局", "区县民政局", "承接机构"}
    jurisdictions = await rows.locator("td:nth-child(8)").all_inner_texts()
    assert "全市" in jurisdictions and "CITY" not in jurisdictions


LEVELS = {
    "SOCIAL_WORK_ASSISTANT": "社会工作员",
    "ASSISTANT_SOCIAL_WORKER": "助理社会工作师",
    "SOCIAL_WORKER": "社会工作师",
    "SENIOR_SOCIAL_WORKER": "高级社会工作师",
}


async def test_a_certificate_change_names_its_level_in_chinese(
    workbench: Workbench, browser: Browser
) -> None:
    page, base = browser.page, workbench.app.base
    workers = (
        await workbench.client.run(
            "{ workers(first: 100) { edges { node { id certificates { level number } } } } }",
            auth=AUDITOR,
        )
    )["workers"]["edges"]
    worker = next(e["node"] for e in workers if e["node"]["certificates"])
    level = worker["certificates"][0]["level"]
    await sign_in(page, base, AUDITOR)
    await page.goto(f"{base}/workbench/#/record/WORKER/{worker['id']}")
    awarded = page.locator("li.event[data-type=WorkerCertificateAwarded]").first
    await awarded.locator("table.changes").wait_for()
    assert "取得职业水平证书" in await awarded.locator(".what").inner_text()
    changes = await awarded.locator("table.changes").inner_text()
    assert f"职业水平证书 {LEVELS[level]} / " in changes and level not in changes
    certificates = await page.inner_text("#state dd[data-field=certificates]")
    assert LEVELS[level] in certificates and level not in certificates
