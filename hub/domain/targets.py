"""The city's targets for 2020 (`docs/domain.md`, "Indicators"), each with the indicator it
is measured by and its words in the bureau's language, so a dashboard can draw them against
`indicatorSeries`.

A target that every community of a kind should meet ("every urban community with two or more
social workers") has the value 100: the percentage of those communities its indicator should
count (`urbanCommunitiesOnTarget` of `urbanCommunities`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

DUE_2020 = date(2020, 12, 31)


@dataclass(frozen=True)
class Target:
    indicator: str
    """The `Indicators` field (as the API names it) the target is measured by."""
    value: int
    due: date
    source: str
    """The target as the plan words it (no repository copy of the plan exists to quote from:
    these are its figures in its own terms)."""


TARGETS = (
    Target("workers", 133_000, DUE_2020, "到2020年，全市社会工作专业人才总量达到13.3万人"),
    Target(
        "urbanCommunitiesOnTarget",
        100,
        DUE_2020,
        "到2020年，每个城市社区至少配备2名社会工作专业人才",
    ),
    Target(
        "ruralCommunitiesOnTarget",
        100,
        DUE_2020,
        "到2020年，每个农村社区至少配备1名社会工作专业人才",
    ),
    Target(
        "demonstrationStations",
        400,
        DUE_2020,
        "“411”工程：建设400个社区社会工作示范点",
    ),
    Target(
        "demonstrationAgencies",
        100,
        DUE_2020,
        "“411”工程：培育100家示范性社会工作服务机构",
    ),
)
