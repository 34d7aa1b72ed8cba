"""Communities: `hub import-reference` (all rows or none) and the `communities` queries."""

from __future__ import annotations

import asyncio
import collections
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path

import pytest

from hub.domain.community import Community, community_id
from hub.domain.envelope import Actor, Envelope, Role
from hub.domain.errors import Forbidden, InvalidInput
from hub.domain.reference import DISTRICTS
from hub.tools.reference_import import (
    SAMPLE,
    ImportRefused,
    import_communities,
    parse_csv,
    read_csv,
)
from tests.agency_api import send
from tests.conftest import Client, hub_command, running, token
from tests.test_stations_posts import ESTABLISH

AUDITOR = token("AUDITOR")
PARTNER = token("PARTNER")

GOOD = """\ufeffcode,name,district,urban
500103003002,渝中区解放碑街道民生路社区,500103,true
500103004003,渝中区两路口街道桂花园社区,500103,城
500113108203,巴南区丰盛镇桥上村,500113,乡
500113112202,巴南区二圣镇集体村,500113,0
500113001001,巴南区鱼洞街道新市街社区,500113,Urban
"""

COMMUNITY = "code name urban version id district { code name }"
PAGE = f"""query($first: Int, $after: String, $filter: CommunityFilter) {{
  communities(first: $first, after: $after, filter: $filter) {{
    totalCount pageInfo {{ hasNextPage endCursor }} edges {{ cursor node {{ {COMMUNITY} }} }}
  }} }}"""
ONE = f"query($code: String!) {{ community(code: $code) {{ {COMMUNITY} }} }}"
HISTORY = """query($id: ID!) { history(id: $id) {
  type version entityType reason data actor { sub party role jurisdiction } } }"""


async def _import(path: Path, database: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return await hub_command(database, "import-reference", str(path), *extra)


def _csv(tmp_path: Path, text: str, name: str = "communities.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@asynccontextmanager
async def _caught_up(database: str) -> AsyncIterator[Client]:
    """The app on `database`, once its read views include every stored event."""
    async with running(database) as client:
        head = await client.hub.pool.fetchval(
            "SELECT coalesce(max(notification_id), 0) FROM registry_events"
        )
        assert await client.hub.signals.projected_past(head, 30), "projections did not catch up"
        yield client


async def _page(client: Client, **variables: object) -> dict:
    return (await client.run(PAGE, variables, auth=PARTNER))["communities"]


async def test_a_good_csv_imports_and_the_query_filters_and_pages(
    database: str, tmp_path: Path
) -> None:
    done = await _import(_csv(tmp_path, GOOD), database)
    assert done.returncode == 0, done.stderr
    assert "5 communities in communities.csv are valid" in done.stdout
    assert "listed 5, amended 0, unchanged 0" in done.stdout

    async with _caught_up(database) as client:
        everything = await _page(client, first=50)
        assert everything["totalCount"] == 5
        assert [e["node"]["code"] for e in everything["edges"]] == [
            "500103003002",
            "500103004003",
            "500113108203",
            "500113112202",
            "500113001001",
        ]
        assert [e["node"]["urban"] for e in everything["edges"]] == [True, True, False, False, True]
        first = everything["edges"][0]["node"]
        assert first["name"] == "渝中区解放碑街道民生路社区"
        assert first["district"] == {"code": "500103", "name": "渝中区"}
        assert (first["version"], first["id"]) == (1, str(community_id("500103003002")))

        seen, after, pages = [], None, 0
        while True:
            page = await _page(client, first=2, after=after)
            assert page["totalCount"] == 5
            seen += [e["node"]["code"] for e in page["edges"]]
            pages += 1
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        assert (pages, seen) == (3, [e["node"]["code"] for e in everything["edges"]])

        banan = await _page(client, filter={"district": "500113"})
        assert {e["node"]["code"] for e in banan["edges"]} == {
            "500113108203",
            "500113112202",
            "500113001001",
        }
        villages = await _page(client, filter={"district": "500113", "urban": False})
        assert [e["node"]["name"] for e in villages["edges"]] == [
            "巴南区丰盛镇桥上村",
            "巴南区二圣镇集体村",
        ]
        named = await _page(client, filter={"nameContains": "桂花"})
        assert [e["node"]["code"] for e in named["edges"]] == ["500103004003"]
        assert (await _page(client, filter={"nameContains": "%"}))["totalCount"] == 0

        one = await client.run(ONE, {"code": "500113108203"}, auth=PARTNER)
        assert one["community"]["name"] == "巴南区丰盛镇桥上村"
        assert (await client.run(ONE, {"code": "500113999999"}, auth=PARTNER))["community"] is None


async def test_bad_rows_are_each_reported_and_nothing_is_written(
    database: str, tmp_path: Path
) -> None:
    assert (await _import(_csv(tmp_path, GOOD), database)).returncode == 0
    async with running(database) as client:
        before = await client.events()

    long_name = "社" * 101
    bad = (
        "code,name,district,urban\n"
        "500103003003,渝中区解放碑街道新社区,500103,true\n"  # good
        "5001030030,渝中区短码社区,500103,true\n"  # 3: code too short
        "500104001001,大渡口区钢花社区,500103,true\n"  # 4: code in another district
        "500199001001,某区某社区,500199,true\n"  # 5: unknown district
        "500103003004,  ,500103,true\n"  # 6: empty name
        f"500103003005,{long_name},500103,true\n"  # 7: name too long
        "500103003006,渝中区某社区,500103,maybe\n"  # 8: urban not a boolean
        "500103003003,渝中区重复社区,500103,true\n"  # 9: code repeated from line 2
        "500103003007,渝中区缺列社区,500103\n"  # 10: a value missing
        "500103000000,渝中区,500103,true\n"  # 11: the district itself, not a community
        "500103003008,渝中区多列社区,500103,true,x\n"  # 12: a value too many
    )
    done = await _import(_csv(tmp_path, bad, "bad.csv"), database)
    assert done.returncode != 0
    lines = done.stderr.splitlines()

    def reported(prefix: str, *words: str) -> None:
        matches = [line for line in lines if line.startswith(prefix)]
        assert matches, f"no {prefix!r} in:\n{done.stderr}"
        assert all(w in matches[0] for w in words), matches[0]

    reported("line 3, column code:", "5001030030", "12-digit")
    reported("line 4, column code:", "500104", "not in district 500103")
    reported("line 5, column district:", "unknown district code '500199'")
    reported("line 6, column name:", "must not be empty")
    reported("line 7, column name:", "at most 100 characters, got 101")
    reported("line 8, column urban:", "'maybe'", "城/乡")
    reported("line 9, column code:", "listed already on line 2")
    reported("line 10, column urban:", "missing", "3 values")
    reported("line 11, column code:", "does not name a community")
    reported("line 12, column 5:", "extra value 'x'")
    assert not any(line.startswith("line 2,") for line in lines)
    assert "11 problem(s); nothing was imported" in done.stderr
    assert "listed" not in done.stdout

    async with running(database) as client:
        assert await client.events() == before


async def test_reimporting_changes_nothing_and_a_changed_row_is_amended(
    database: str, tmp_path: Path
) -> None:
    path = _csv(tmp_path, GOOD)
    assert (await _import(path, database, "--sub", "wang")).returncode == 0
    async with running(database) as client:
        before = await client.events()

    again = await _import(path, database)
    assert again.returncode == 0, again.stderr
    assert "listed 0, amended 0, unchanged 5" in again.stdout
    async with running(database) as client:
        assert await client.events() == before

    changed = GOOD.replace("巴南区丰盛镇桥上村,500113,乡", "巴南区丰盛镇桥上社区,500113,城")
    amended = await _import(_csv(tmp_path, changed, "changed.csv"), database, "--sub", "li")
    assert amended.returncode == 0, amended.stderr
    assert "listed 0, amended 1, unchanged 4" in amended.stdout

    async with _caught_up(database) as client:
        assert await client.events() == before + 1
        one = (await client.run(ONE, {"code": "500113108203"}, auth=PARTNER))["community"]
        assert (one["name"], one["urban"], one["version"]) == ("巴南区丰盛镇桥上社区", True, 2)
        history = (await client.run(HISTORY, {"id": one["id"]}, auth=AUDITOR))["history"]
        assert [h["type"] for h in history] == ["CommunityListed", "CommunityAmended"]
        listed, change = history
        assert listed["entityType"] == "COMMUNITY"
        assert listed["data"]["district"] == "500113"
        assert listed["reason"] == "imported from communities.csv"
        assert listed["actor"] == {
            "sub": "wang",
            "party": "MUNICIPAL",
            "role": "MUNICIPAL",
            "jurisdiction": "CITY",
        }
        assert change["data"] == {"name": "巴南区丰盛镇桥上社区", "urban": True}
        assert (change["actor"]["sub"], change["reason"]) == ("li", "imported from changed.csv")


async def test_the_shipped_sample_covers_every_district_and_imports_cleanly(
    database: str,
) -> None:
    rows = read_csv(SAMPLE)
    per_district = collections.Counter(r.district for r in rows)
    assert set(per_district) == set(DISTRICTS)
    assert all(4 <= n <= 6 for n in per_district.values()), per_district
    assert {r.urban for r in rows} == {True, False}

    async with running(database) as client:
        summary = await import_communities(client.hub, rows, sub="demo-municipal")
        assert (summary.listed, summary.amended, summary.unchanged) == (len(rows), 0, 0)
        everything = await _page(client, first=500)
        assert everything["totalCount"] == len(rows)
        for code in ("500103", "500243"):
            page = await _page(client, filter={"district": code})
            assert page["totalCount"] == per_district[code]
        again = await import_communities(client.hub, rows)
        assert (again.listed, again.amended, again.unchanged, again.position) == (
            0,
            0,
            len(rows),
            None,
        )


def test_the_csv_may_have_a_bom_and_any_of_the_urban_spellings() -> None:
    spellings = {"true": True, "FALSE": False, "1": True, "0": False, "城": True}
    spellings |= {"乡": False, "urban": True, "Rural": False}
    text = "\ufeffcode,name,district,urban\r\n" + "".join(
        f"50010300100{n},社区{n},500103,{s}\r\n" for n, s in enumerate(spellings, 1)
    )
    rows = parse_csv(text)
    assert [r.urban for r in rows] == list(spellings.values())
    assert [r.line for r in rows] == list(range(2, 2 + len(spellings)))


def test_a_header_without_the_expected_columns_is_refused() -> None:
    with pytest.raises(ImportRefused) as refused:
        parse_csv("code,名称,district\n500103001001,x,500103\n")
    assert [str(p) for p in refused.value.problems] == [
        "line 1, column name: missing from the header (expected code,name,district,urban)",
        "line 1, column urban: missing from the header (expected code,name,district,urban)",
        "line 1, column 名称: unknown column; expected code,name,district,urban",
    ]
    with pytest.raises(ImportRefused) as refused:
        parse_csv("")
    assert "the file is empty" in str(refused.value.problems[0])


def test_a_name_with_a_control_character_is_refused() -> None:
    with pytest.raises(ImportRefused) as refused:
        parse_csv("code,name,district,urban\n500103001001,解放碑\x00社区,500103,true\n")
    [problem] = refused.value.problems
    assert (problem.line, problem.column) == (2, "name")
    assert "control character U+0000" in problem.why


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "gbk.csv"
    path.write_bytes("code,name,district,urban\n500103001001,社区,500103,true\n".encode("gbk"))
    with pytest.raises(ImportRefused) as refused:
        read_csv(path)
    assert str(refused.value.problems[0]).startswith("line 2: byte 0xc9 is not UTF-8")


def _envelope(actor: Actor) -> Envelope:
    return Envelope(actor=actor, effective_on=date(2018, 6, 1), correlation_id="test")


def test_only_the_municipal_bureau_may_list_or_amend_a_community() -> None:
    facts = dict(code="500103001001", name="渝中区七星岗街道金汤门社区", district="500103")
    for actor in (
        Actor("d", Role.DISTRICT, district="500103"),
        Actor("c", Role.CONTRACTOR, agency="a"),
        Actor("x", Role.AUDITOR),
    ):
        with pytest.raises(Forbidden, match="may not importReference"):
            Community.list_new(**facts, urban=True, envelope=_envelope(actor))
    community = Community.list_new(
        **facts, urban=True, envelope=_envelope(Actor("m", Role.MUNICIPAL))
    )
    assert community.id == community_id("500103001001")
    with pytest.raises(Forbidden):
        community.amend(
            name="新名",
            urban=True,
            envelope=_envelope(Actor("d", Role.DISTRICT, district="500103")),
        )
    with pytest.raises(InvalidInput, match="urban must be true"):
        Community.list_new(**facts, urban="yes", envelope=_envelope(Actor("m", Role.MUNICIPAL)))  # type: ignore[arg-type]


async def test_a_large_file_reports_progress(database: str, tmp_path: Path) -> None:
    codes = [f"500103{t:03d}{c:03d}" for t in range(1, 4) for c in range(1, 835)][:2500]
    text = "code,name,district,urban\n" + "".join(f"{c},社区{c},500103,1\n" for c in codes)
    done = await _import(_csv(tmp_path, text), database)
    assert done.returncode == 0, done.stderr
    assert "checking the communities: 1000/2500 rows (40%)" in done.stdout
    assert "checking the communities: 2000/2500 rows (80%)" in done.stdout
    assert "checking the communities: done, 2500 rows in" in done.stdout
    assert "writing 2500 communities in one transaction" in done.stdout
    assert "listed 2500, amended 0, unchanged 0" in done.stdout
    async with running(database) as client:
        assert await client.events() == 2500


async def test_two_imports_at_once_list_each_community_once(database: str, tmp_path: Path) -> None:
    assert (await hub_command(database, "migrate")).returncode == 0
    path = _csv(tmp_path, GOOD)
    first, second = await asyncio.gather(_import(path, database), _import(path, database))
    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    summaries = sorted(
        line for done in (first, second) for line in done.stdout.splitlines() if "listed" in line
    )
    assert summaries[0].startswith("listed 0, amended 0, unchanged 5"), summaries
    assert summaries[1].startswith("listed 5, amended 0, unchanged 0"), summaries
    async with running(database) as client:
        assert await client.events() == 5


async def test_a_community_answers_at_any_moment_as_a_station_that_names_it_does(
    database: str,
) -> None:
    """Communities are listed today, stations may name them from years back: before its
    listing a community answers as it stands now, the same whether asked for by code, in the
    list or through a station."""
    async with running(database) as client:
        await import_communities(client.hub, parse_csv(GOOD))
        code = "500103003002"
        made = await send(
            client,
            ESTABLISH,
            auth=token("MUNICIPAL"),
            community=code,
            name="民生路社工站",
            effectiveOn="2017-01-01",
        )
        assert made["errors"] == [], made
        query = """query($code: String!, $id: ID!, $asOf: AsOf) {
          community(code: $code, asOf: $asOf) { code name version }
          unknown: community(code: "500103999999", asOf: $asOf) { code }
          communities(first: 50, filter: {district: "500103"}, asOf: $asOf) {
            totalCount edges { node { code name version } } }
          station(id: $id, asOf: $asOf) { community { code name version } } }"""
        today = client.hub.settings.today().isoformat()
        for effective, station_exists in [
            ("2016-12-31", False),
            ("2017-06-01", True),
            (today, True),
        ]:
            data = await client.run(
                query,
                {"code": code, "id": made["station"]["id"], "asOf": {"effective": effective}},
                auth=AUDITOR,
            )
            assert data["community"] == {
                "code": code,
                "name": "渝中区解放碑街道民生路社区",
                "version": 1,
            }
            assert data["unknown"] is None
            listed = [e["node"] for e in data["communities"]["edges"]]
            assert data["community"] in listed, effective
            assert data["communities"]["totalCount"] == len(listed) == 2
            if station_exists:
                assert data["station"]["community"] == data["community"], effective
            else:
                assert data["station"] is None


async def test_importing_the_same_rows_again_writes_nothing_and_an_older_file_restores(
    database: str,
) -> None:
    """The import is one command of the registry, decided on what is stored: the same rows
    again are a no-op, whoever runs them; after a newer file, the older one restores what it
    lists."""
    rows = parse_csv(GOOD)
    async with running(database) as client:
        first = await import_communities(client.hub, rows, sub="wang")
        assert first.listed == 5
        before = await client.events()
        again = await import_communities(client.hub, rows, sub="wang")
        assert (again.listed, again.amended, again.unchanged, again.position) == (0, 0, 5, None)
        assert await client.events() == before
        changed = parse_csv(GOOD.replace("桥上村,500113,乡", "桥上社区,500113,城"))
        assert (await import_communities(client.hub, changed, sub="li")).amended == 1
        restored = await import_communities(client.hub, rows, sub="wang")
        assert (restored.listed, restored.amended, restored.unchanged) == (0, 1, 4)
        assert await client.events() == before + 2


async def test_two_imports_at_once_in_one_process_write_each_community_once(
    database: str,
) -> None:
    """Each import holds the locks of the communities it names, so the others wait for it
    and then find them listed."""
    rows = parse_csv(GOOD)
    async with running(database) as client:
        summaries = await asyncio.gather(
            *(import_communities(client.hub, rows, sub=sub) for sub in ("wang", "li", "li"))
        )
        assert sorted((s.listed, s.unchanged) for s in summaries) == [(0, 5), (0, 5), (5, 0)]
        assert await client.events() == 5
