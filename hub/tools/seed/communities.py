"""Communities: the reference list, imported as the municipal bureau keeps it (about 2,500,
under townships of streets and towns, a station planned in most)."""

from __future__ import annotations

from hub.domain.reference import DISTRICTS
from hub.tools.reference_import import SAMPLE, read_csv
from hub.tools.seed.plan import City, CommunityPlan, apportion, pairs
from hub.tools.seed.profile import CORE

PLACES = pairs(
    "新华民主和平人民建设胜利团结光明长江嘉陵龙湖金山石门桂花白沙红岩观音龙溪双凤青龙"
    "天星凤鸣玉峰明月太平永兴丰收花园南湖北城东山西城朝阳向阳红旗幸福和谐滨江翠湖松林"
    "柏树杨柳梨树桃园竹林黄桷石桥清泉高峰双河三合五星六合七星九龙平安安乐兴隆长乐万寿"
    "福寿金龙银杏莲花荷花梅子枫香大坪小湾新村"
)


def plan_communities(city: City) -> list[CommunityPlan]:
    rng = city.rng
    wanted = city.figures["2018-06-30"]
    with_station = apportion(wanted["stations"], city.weights)
    without = apportion(wanted["communities"] - wanted["stations"], city.weights)
    taken = {row.code for row in read_csv(SAMPLE)}  # keep clear of the demo's sample list
    listed: list[CommunityPlan] = []
    for k, d in enumerate(city.districts):
        count = with_station[k] + without[k]
        share = 0.9 if d in CORE else 0.2 if DISTRICTS[d].county else 0.45
        urban = round(count * share)
        made = [
            *_communities(city, d, True, urban, taken),
            *_communities(city, d, False, count - urban, taken),
        ]
        rng.shuffle(made)
        for j, community in enumerate(made):
            # Marked for a station here, numbered with the stations (plan_stations).
            community.station = -1 if j < with_station[k] else None
        listed.extend(made)
    return listed


def _communities(
    city: City, district: str, urban: bool, count: int, taken: set[str]
) -> list[CommunityPlan]:
    """`count` communities under townships of 12 (streets) or 15 (towns) each."""
    rng = city.rng
    per = 12 if urban else 15
    first_township, first_community = (1, 1) if urban else (101, 201)
    names = rng.sample(PLACES, len(PLACES))
    made: list[CommunityPlan] = []
    township = first_township - 1
    while len(made) < count:
        township += 1
        town = names[(township - first_township) % len(names)]
        town += "街道" if urban else "镇"
        places = rng.sample(PLACES, per)
        for k in range(per):
            code = f"{district}{township:03d}{first_community + k:03d}"
            if code in taken or len(made) == count:
                continue
            suffix = "社区" if urban else "村"
            name = f"{DISTRICTS[district].name}{town}{places[k]}{suffix}"
            made.append(CommunityPlan(code, name, district, urban))
    return made
