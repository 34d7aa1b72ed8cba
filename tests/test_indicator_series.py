"""`indicatorSeries` against `indicators(asOf:)` point by point on the seeded city, and
`targets` against the Indicators type."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

from hub.schema.indicators import MAX_POINTS
from tests.agency_api import AUDITOR
from tests.conftest import Client, running
from tests.test_seed import seeded
from tests.worker_api import register_worker

FIGURES = """
  workers certifiedWorkers agencies demonstrationAgencies stations demonstrationStations
  stationsFullyStaffed posts filledPosts trainingPersonTimes projects fundsDisbursed
  urbanCommunities urbanCommunitiesOnTarget ruralCommunities ruralCommunitiesOnTarget
  certificatesByLevel { level count } postsBySector { sector count }
  projectsByField { field count } trainingByCategory { category count }"""
SERIES = f"""query($from: Date!, $to: Date!, $every: Period!, $district: String,
  $recorded: DateTime) {{
  indicatorSeries(from: $from, to: $to, every: $every, district: $district,
                  recorded: $recorded) {{ on indicators {{ {FIGURES} }} }} }}"""
AT = f"""query($asOf: AsOf, $district: String) {{
  indicators(asOf: $asOf, district: $district) {{ {FIGURES} }} }}"""


async def series(client: Client, **variables: object) -> list[dict]:
    data = await client.run(SERIES, variables, auth=AUDITOR)
    return data["indicatorSeries"]


async def point(client: Client, on: str, district: str | None, recorded: str | None) -> dict:
    as_of = {"effective": on, "recorded": recorded}
    data = await client.run(AT, {"asOf": as_of, "district": district}, auth=AUDITOR)
    return data["indicators"]


async def test_each_point_is_indicators_as_of_its_day(database: str) -> None:
    async with running(database) as client:
        await seeded(client)
        before = datetime.now(UTC).isoformat()
        await asyncio.sleep(0.01)
        # recorded after `before`, effective years back: seen now, not as recorded then
        await register_worker(client, district="500103", effectiveOn="2012-01-01")
        cases = [
            ("2008-01-15", "2018-06-20", "YEAR", None, None),
            ("2016-11-03", "2018-06-30", "QUARTER", "500103", None),
            ("2017-09-01", "2018-03-10", "MONTH", None, None),
            ("2011-01-01", "2014-02-01", "YEAR", "500103", before),
        ]
        for start, end, every, district, recorded in cases:
            found = await series(
                client,
                **{"from": start},
                to=end,
                every=every,
                district=district,
                recorded=recorded,
            )
            days = [p["on"] for p in found]
            assert days[-1] == end, days
            assert days == sorted(set(days)), days
            assert len(days) > 2, days
            for p in found:
                expected = await point(client, p["on"], district, recorded)
                assert p["indicators"] == expected, (p["on"], district, recorded)
            assert any(p["indicators"]["workers"] for p in found), found
        for start, end, every, days in (
            ("2008-03-01", "2010-12-31", "YEAR", ["2008-12-31", "2009-12-31", "2010-12-31"]),
            (
                "2016-02-10",
                "2016-05-20",
                "MONTH",
                ["2016-02-29", "2016-03-31", "2016-04-30", "2016-05-20"],
            ),
            ("2016-02-10", "2016-09-30", "QUARTER", ["2016-03-31", "2016-06-30", "2016-09-30"]),
        ):
            found = await series(client, **{"from": start}, to=end, every=every)
            assert [p["on"] for p in found] == days
        # the back-dated worker counts now from 2012, and not as recorded before it
        now, then = [
            await series(
                client,
                **{"from": "2012-06-30"},
                to="2012-06-30",
                every="YEAR",
                district="500103",
                recorded=recorded,
            )
            for recorded in (None, before)
        ]
        assert now[0]["indicators"]["workers"] == then[0]["indicators"]["workers"] + 1


async def test_a_series_is_one_statement(client: Client) -> None:
    sent = client.hub.statements
    found = await series(client, **{"from": "2008-01-01"}, to="2018-06-30", every="MONTH")
    assert len(found) == 126
    # the query itself; nothing per point
    assert client.hub.statements - sent == 1


async def test_bad_spans_are_refused(client: Client) -> None:
    for variables, field, words in (
        ({"from": "2018-01-02", "to": "2018-01-01", "every": "MONTH"}, "from", "is after"),
        ({"from": "1900-01-01", "to": "1950-12-31", "every": "MONTH"}, "to", str(MAX_POINTS)),
    ):
        body = await client.post(SERIES, variables, auth=AUDITOR)
        (error,) = body["errors"]
        assert error["extensions"]["code"] == "VALIDATION", error
        assert error["extensions"]["field"] == field, error
        assert words in error["message"], error
    fine = await series(client, **{"from": "1900-01-01"}, to="1949-12-31", every="MONTH")
    assert len(fine) == MAX_POINTS
    body = await client.post(
        SERIES,
        {"from": "2018-01-01", "to": "2018-02-01", "every": "YEAR", "district": "9"},
        auth=AUDITOR,
    )
    assert body["errors"][0]["extensions"]["code"] == "VALIDATION", body


async def test_every_target_names_an_indicator(client: Client) -> None:
    data = await client.run(
        """{ targets { indicator value due source }
             __type(name: "Indicators") { fields { name type { ofType { name } } } } }""",
        auth=AUDITOR,
    )
    fields = {f["name"]: f["type"]["ofType"]["name"] for f in data["__type"]["fields"]}
    targets = data["targets"]
    assert {t["indicator"] for t in targets} >= {
        "workers",
        "urbanCommunitiesOnTarget",
        "ruralCommunitiesOnTarget",
        "demonstrationStations",
        "demonstrationAgencies",
    }
    for target in targets:
        assert fields.get(target["indicator"]) == "Int", target
        assert date.fromisoformat(target["due"]).year == 2020, target
        assert target["value"] > 0 and target["source"], target
    workers = next(t for t in targets if t["indicator"] == "workers")
    assert workers["value"] == 133_000 and "13.3万" in workers["source"]
