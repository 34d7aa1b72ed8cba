"""The city-2018 profile: its days, its keys, the figures it must show, and the city's districts
and fields of service that every phase draws on."""

from __future__ import annotations

from datetime import date
from typing import Any

PROFILES = ("city-2018",)
FIRST_DAY = date(2008, 1, 1)
END_2017 = date(2017, 12, 31)
LAST_DAY = date(2018, 6, 30)
HOLDER_GROWTH = 62
"""Certificate holders at the end of 2017 are 62 times those at the end of 2008."""
SUB = "seed-municipal"
START_KEY = "seed:city-2018"
DONE_CLAIM = "seed:city-2018:done"


def city_2018_figures(scale: float = 1.0) -> dict[str, dict[str, Any]]:
    """What the seeded city shows as of each date (ISO), at `scale`: the report's figures.

    - `certifiedWorkers`: workers holding a certificate not revoked (each holds one), and
      `certificatesByLevel`, those certificates by level.
    - `projects`: service projects approved, all funded by the municipal bureau (district-funded
      ones come in 2018).
    - `trainingPersonTimes`: attendances recorded on courses, effective by that date.
    - `postsBySector`: posts created by that date, for the sectors the report names.
    - `agencies`, `stations`, `posts`, `workers`, `communities`: every one listed by that date
      (none is deregistered, closed, abolished or unlisted).
    """

    def n(value: float) -> int:
        return round(value * scale)

    levels = {
        "SOCIAL_WORKER": n(1745),
        "ASSISTANT_SOCIAL_WORKER": n(4621),
        "SOCIAL_WORK_ASSISTANT": n(5925),
    }
    holders = sum(levels.values())
    return {
        "2008-12-31": {"certifiedWorkers": round(holders / HOLDER_GROWTH)},
        "2017-12-31": {
            "certifiedWorkers": holders,
            "certificatesByLevel": levels,
            "projects": n(1114),
            "trainingPersonTimes": n(152_000),
            "postsBySector": {"JUDICIAL": n(1050)},
        },
        "2018-06-30": {
            "agencies": n(255),
            "stations": n(2275),
            "posts": n(20_000),
            "workers": n(44_000),
            "communities": n(2500),
        },
    }


# Where the city's people are (10,000s, about 2017): weights for spreading records.
POPULATION = {
    "500101": 165, "500102": 115, "500103": 66, "500104": 35, "500105": 88, "500106": 115,
    "500107": 120, "500108": 90, "500109": 80, "500110": 110, "500111": 80, "500112": 165,
    "500113": 105, "500114": 48, "500115": 80, "500116": 135, "500117": 130, "500118": 112,
    "500119": 57, "500120": 75, "500151": 70, "500152": 68, "500153": 70, "500154": 117,
    "500155": 65, "500156": 35, "500229": 19, "500230": 60, "500231": 66, "500233": 72,
    "500235": 92, "500236": 75, "500237": 46, "500238": 39, "500240": 39, "500241": 50,
    "500242": 56, "500243": 50,
}  # fmt: skip
CORE = ("500103", "500104", "500105", "500106", "500107", "500108", "500109", "500112", "500113")
"""The main urban districts: mostly urban communities, most agencies."""
FIELD_NAMES = {
    "SOCIAL_WELFARE": "社会福利",
    "SOCIAL_ASSISTANCE": "社会救助",
    "COMMUNITY_BUILDING": "社区建设",
    "POVERTY_RELIEF": "扶贫济困",
    "CHARITY": "慈善",
    "MARRIAGE_FAMILY": "婚姻家庭",
    "MENTAL_HEALTH": "精神卫生",
    "DISABILITY_REHABILITATION": "残障康复",
    "EDUCATION_COUNSELLING": "教育辅导",
    "EMPLOYMENT_ASSISTANCE": "就业援助",
    "WORKER_SUPPORT": "职工帮扶",
    "FAMILY_PLANNING": "人口计生",
    "CRIME_PREVENTION": "犯罪预防",
    "CORRECTION_REHABILITATION": "矫治帮教",
    "DRUG_REHABILITATION": "禁毒戒毒",
    "EMERGENCY_RESPONSE": "应急处置",
    "DISPUTE_MEDIATION": "纠纷调解",
    "DISASTER_RELIEF": "灾害救援",
}
FIELDS = list(FIELD_NAMES)
