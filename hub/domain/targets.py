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
    """The target in the words of the city's 2018 report on its social-work workforce, which
    quotes the plan that set it."""


TARGETS = (
    Target(
        "workers",
        133_000,
        DUE_2020,
        "《重庆市社会工作人才队伍建设中长期规划(2010-2020年)》提出到2020年,"
        "社会工作人才总量增加到13.3万人",
    ),
    Target(
        "urbanCommunitiesOnTarget",
        100,
        DUE_2020,
        "《关于加强社会工作专业人才队伍建设的实施意见》提出到2020年,"
        "实现每个城市社区拥有2名以上社会工作专业人才",
    ),
    Target(
        "ruralCommunitiesOnTarget",
        100,
        DUE_2020,
        "《关于加强社会工作专业人才队伍建设的实施意见》提出到2020年,"
        "每个农村社区拥有1名以上社会工作专业人才",
    ),
    Target(
        "demonstrationStations",
        400,
        DUE_2020,
        "《重庆市社会工作服务“411”示范工程实施方案》提出3-5年内,建设400个社会工作服务示范社区",
    ),
    Target(
        "demonstrationAgencies",
        100,
        DUE_2020,
        "《重庆市社会工作服务“411”示范工程实施方案》提出3-5年内,建设……100个社会工作服务示范机构",
    ),
)
