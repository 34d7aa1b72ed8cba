"""`hub seed --profile city-2018`: the city's history from 2008 to 2018-06-30, at a scale.

Everything is made through the registry's commands, by the party that answers for each step
(the municipal bureau, a district bureau in its district, a contracted agency for its own
work), with past effective dates, in the registry's batch mode (`Registry.batch`). The report's
figures (`city_2018_figures`) come out exactly; around them is texture drawn from a random
generator seeded by the profile and the scale, so one scale always gives the same history
(record ids, correlation ids and recording times aside).

The first command carries the idempotency key `seed:city-2018` and a claim `seed:city-2018:done`
is saved last: seeding a seeded city again writes nothing, and a registry that holds anything
but communities (a half-seeded city, or other records) is refused.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from hub.commands import Command, request_for
from hub.commands import agency as agencies
from hub.commands import course as courses
from hub.commands import post as posts
from hub.commands import project as projects
from hub.commands import station as stations
from hub.commands import worker as workers
from hub.commands.correction import retract_events
from hub.domain.claim import Claim
from hub.domain.community import Community
from hub.domain.envelope import Actor, Envelope, Role
from hub.domain.identifiers import make_credit_code, make_id_number
from hub.domain.reference import DISTRICTS
from hub.domain.station import ASSESSMENT_DIMENSIONS
from hub.registry.application import Registry
from hub.registry.batch import DEFAULT_SIZE
from hub.tools.reference_import import SAMPLE, CommunityRow, read_csv
from hub.tools.reference_import import write as write_communities

PROFILES = ("city-2018",)
FIRST_DAY = date(2008, 1, 1)
END_2017 = date(2017, 12, 31)
LAST_DAY = date(2018, 6, 30)
HOLDER_GROWTH = 62
"""Certificate holders at the end of 2017 are 62 times those at the end of 2008."""
SUB = "seed-municipal"
START_KEY = "seed:city-2018"
DONE_CLAIM = "seed:city-2018:done"

Progress = Callable[[str], None]


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


class SeedRefused(Exception):
    """The registry cannot be seeded; nothing was written."""


@dataclass
class Report:
    events: int = 0
    """Events saved (records' and claims')."""
    commands: int = 0
    seconds: float = 0.0
    position: int = 0
    already_seeded: str | None = None
    """When the city was seeded before: what the marker says (nothing was written)."""
    phases: list[tuple[str, int, float]] = field(default_factory=list)


def _pairs(text: str) -> list[str]:
    """Two-character words, written one after another."""
    return [text[i : i + 2] for i in range(0, len(text), 2)]


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

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志文斌"
    "波辉鹏飞宇欣怡婷雪琳晨浩然轩涵思雨佳琪俊家豪诗"
)
PLACES = _pairs(
    "新华民主和平人民建设胜利团结光明长江嘉陵龙湖金山石门桂花白沙红岩观音龙溪双凤青龙"
    "天星凤鸣玉峰明月太平永兴丰收花园南湖北城东山西城朝阳向阳红旗幸福和谐滨江翠湖松林"
    "柏树杨柳梨树桃园竹林黄桷石桥清泉高峰双河三合五星六合七星九龙平安安乐兴隆长乐万寿"
    "福寿金龙银杏莲花荷花梅子枫香大坪小湾新村"
)
AGENCY_WORDS = _pairs(
    "阳光启航和谐同心启新爱心明德善缘乐群助人益民仁爱馨家春晖彩虹晨曦方舟同行博爱立德"
    "心语暖阳众益协力恒爱德善锦绣山城巴渝川江鸿雁朝晖聚力初心"
)
AGENCY_KINDS = (
    "社会工作服务中心",
    "社工服务社",
    "社会工作服务社",
    "社工事务所",
    "青少年社会工作服务中心",
    "家庭社会工作服务中心",
)
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
POST_SECTORS = {
    # sector: (share of the posts other than JUDICIAL, hosts, fields)
    "COMMUNITY": (
        0.60,
        ("社区居民委员会", "村民委员会", "社区服务中心"),
        ("COMMUNITY_BUILDING", "SOCIAL_ASSISTANCE", "POVERTY_RELIEF", "DISPUTE_MEDIATION"),
    ),
    "CIVIL_AFFAIRS_INSTITUTION": (
        0.13,
        ("社会福利院", "儿童福利院", "救助管理站", "敬老院", "精神卫生福利院", "光荣院"),
        ("SOCIAL_WELFARE", "SOCIAL_ASSISTANCE", "DISABILITY_REHABILITATION"),
    ),
    "YOUTH_LEAGUE": (
        0.09,
        ("共青团区委青少年服务中心", "青少年宫", "12355青少年服务台"),
        ("EDUCATION_COUNSELLING", "CRIME_PREVENTION"),
    ),
    "HEALTH": (
        0.07,
        ("人民医院", "中医院", "精神卫生中心", "妇幼保健院"),
        ("MENTAL_HEALTH", "DISABILITY_REHABILITATION", "SOCIAL_ASSISTANCE"),
    ),
    "OTHER": (
        0.11,
        ("总工会", "妇女联合会", "残疾人联合会", "人力资源服务中心"),
        ("WORKER_SUPPORT", "MARRIAGE_FAMILY", "EMPLOYMENT_ASSISTANCE", "DISABILITY_REHABILITATION"),
    ),
}
JUDICIAL_HOSTS = ("司法局社区矫正中心", "司法所", "戒毒康复所")
JUDICIAL_FIELDS = ("CORRECTION_REHABILITATION", "DRUG_REHABILITATION", "CRIME_PREVENTION")
COURSE_CATEGORIES = {
    # category: (share of person-times, attendees per course, days, title)
    "GENERAL_AWARENESS": (0.40, (60, 240), (1, 2), "社会工作知识普及培训"),
    "EXAM_PREPARATION": (0.25, (50, 160), (2, 3), "社会工作者职业水平考试考前公益培训"),
    "ADVANCED_STUDY": (0.05, (20, 50), (5, 7), "社会工作师高级研修班"),
    "KEY_TALENT": (0.15, (30, 80), (3, 5), "社会工作骨干人才培训"),
    "ADMINISTRATIVE_CAPACITY": (0.15, (30, 100), (2, 3), "社会工作行政能力培训"),
}
COURSE_LEVELS = {"MUNICIPAL": 0.2, "DISTRICT": 0.45, "TOWNSHIP": 0.35}
EDUCATION = {"SECONDARY": 10, "VOCATIONAL": 35, "BACHELOR": 45, "MASTER": 9, "DOCTORATE": 1}
EVALUATORS = (
    "重庆市社会工作评估中心",
    "西南大学社会工作评估研究所",
    "重庆工商大学第三方评估中心",
    "重庆市社会组织评估事务所",
)
CERTIFICATE_PREFIX = {
    "SOCIAL_WORKER": "ZJ",
    "ASSISTANT_SOCIAL_WORKER": "CJ",
    "SOCIAL_WORK_ASSISTANT": "CQGZY",
}
MUNICIPAL_INCUBATOR = "重庆市社会组织孵化基地"
SUSPENSION_REASONS = (
    "年度检查不合格（年检不合格）",
    "未按规定报送年度工作报告",
    "财务管理不规范，责令停业整改",
)


def apportion(total: int, weights: Sequence[float]) -> list[int]:
    """`total` split in proportion to `weights`, whole numbers that add up to it exactly."""
    whole = sum(weights)
    quotas = [total * w / whole for w in weights]
    parts = [int(q) for q in quotas]
    by_remainder = sorted(range(len(weights)), key=lambda i: parts[i] - quotas[i])
    for i in by_remainder[: total - sum(parts)]:
        parts[i] += 1
    return parts


def growing(rng: random.Random, n: int, start: date, end: date, yearly: float) -> list[date]:
    """`n` sorted dates from `start` to `end` whose density grows by `yearly` a year."""
    span = (end - start).days
    k = math.log(yearly) * span / 365.25
    days = [int(math.log1p(rng.random() * math.expm1(k)) / k * (span + 1)) for _ in range(n)]
    return sorted(start + timedelta(days=min(span, d)) for d in days)


def between(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=rng.randint(0, max(0, (end - start).days)))


def later(day: date, days: int) -> date:
    return day + timedelta(days=days)


@dataclass(frozen=True)
class Ref:
    """A record the plan made earlier, by kind and number; its id once it exists."""

    kind: str
    n: int


@dataclass(frozen=True)
class Step:
    """One command of the plan."""

    run: Command
    actor: Actor | Ref  # a Ref to an agency: that agency acting as CONTRACTOR
    on: date
    record: Ref | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    key: str | None = None
    makes: Ref | None = None


@dataclass
class AgencyPlan:
    n: int
    district: str
    registered: date
    fields: list[str]
    demonstration: bool = False
    suspended: date | None = None


@dataclass
class CommunityPlan:
    code: str
    name: str
    district: str
    urban: bool
    station: int | None = None


@dataclass
class StationPlan:
    n: int
    community: CommunityPlan
    established: date
    operator: int | None = None
    contracted: date | None = None
    staff: list[int] = field(default_factory=list)


@dataclass
class WorkerPlan:
    n: int
    district: str
    registered: date
    employer: int | None
    holder: bool = False
    post: bool = False
    staff: bool = False


class Pool:
    """Workers in registration order, drawn at random once registered by a given day."""

    def __init__(self, members: list[WorkerPlan]) -> None:
        self.members = sorted(members, key=lambda w: (w.registered, w.n))
        self.dates = [w.registered for w in self.members]
        self.open: list[WorkerPlan] = []
        self.next = 0

    def until(self, day: date) -> None:
        end = bisect.bisect_right(self.dates, day)
        self.open.extend(self.members[self.next : end])
        self.next = max(self.next, end)

    def draw(
        self, rng: random.Random, day: date, free: Callable[[WorkerPlan], bool]
    ) -> WorkerPlan | None:
        """A random worker registered by `day` for whom `free` holds; taken out of the pool."""
        self.until(day)
        while self.open:
            i = rng.randrange(len(self.open))
            worker = self.open[i]
            self.open[i] = self.open[-1]
            self.open.pop()
            if free(worker):
                return worker
        return None

    def registered_by(self, day: date) -> int:
        return bisect.bisect_right(self.dates, day)


class _Meter:
    """Counts a phase's commands and says how far it is, about every two seconds."""

    def __init__(self, say: Progress | None, name: str, total: int) -> None:
        self.say, self.name, self.total = say, name, total
        self.done = 0
        self.started = self.shown = time.monotonic()

    def tick(self) -> None:
        self.done += 1
        if self.say is not None and self.done % 500 == 0:
            now = time.monotonic()
            if now - self.shown >= 2:
                self.shown = now
                self.say(f"{self.name} {self.done}/{self.total} ({self.rate(now):.0f}/s)")

    def rate(self, now: float) -> float:
        return self.done / max(now - self.started, 1e-9)

    def finish(self) -> float:
        now = time.monotonic()
        if self.say is not None:
            self.say(
                f"{self.name} {self.done}/{self.total} in {now - self.started:.1f} s "
                f"({self.rate(now):.0f}/s)"
            )
        return now - self.started


def seed(
    registry: Registry,
    *,
    today: date,
    profile: str = "city-2018",
    scale: float = 1.0,
    progress: Progress | None = None,
    batch_size: int = DEFAULT_SIZE,
) -> Report:
    """Seed the registry with `profile` at `scale`; say how far it is through `progress`.

    Returns at once, writing nothing, if the city was seeded before (`Report.already_seeded`);
    raises `SeedRefused` if the profile is unknown or the registry holds other records.
    """
    if profile not in PROFILES:
        raise SeedRefused(f"unknown profile {profile!r}: the profiles are {', '.join(PROFILES)}")
    if not scale > 0:
        raise SeedRefused(f"scale must be above 0, got {scale}")
    done = registry.claim_holder(DONE_CLAIM)
    if done is not None:
        return Report(already_seeded=done.fingerprint)
    if registry.claim_holder(f"idempotency:{SUB}:{START_KEY}") is not None:
        raise SeedRefused(
            "this registry holds a seed of city-2018 that did not finish: "
            "seed an empty registry (a new HUB_HOME or database)"
        )
    others = _other_events(registry)
    if others:
        raise SeedRefused(
            f"this registry already holds {others} events of records other than communities: "
            f"seed an empty registry (a new HUB_HOME or database)"
        )
    return CitySeeder(registry, today=today, scale=scale, progress=progress).seed(batch_size)


def _other_events(registry: Registry) -> int:
    """Stored events of anything but communities."""
    datastore = registry.recorder.datastore  # type: ignore[attr-defined]
    with datastore.transaction(commit=False) as curs:
        curs.execute(
            "SELECT count(*) AS n FROM registry_events WHERE topic NOT LIKE %s",
            (f"{Community.__module__}:%",),
        )
        row = curs.fetchone()
    return int(row["n"])


class CitySeeder:
    """Plans the city-2018 history phase by phase and runs each phase's commands."""

    def __init__(
        self,
        registry: Registry,
        *,
        today: date,
        scale: float,
        progress: Progress | None = None,
    ) -> None:
        if today < LAST_DAY:
            raise SeedRefused(f"the history runs to {LAST_DAY}, which is after today ({today})")
        self.registry = registry
        self.today = today
        self.scale = scale
        self.say = progress
        self.figures = city_2018_figures(scale)
        self.rng = random.Random(f"city-2018 at scale {scale}")
        self.ids: dict[Ref, UUID] = {}
        self.contractors: dict[int, Actor] = {}
        self.municipal = Actor(SUB, Role.MUNICIPAL)
        self.bureaus = {
            code: Actor(f"seed-district-{code}", Role.DISTRICT, district=code) for code in DISTRICTS
        }
        self.districts = list(DISTRICTS)
        self.weights = [POPULATION[d] for d in self.districts]
        self.report = Report()

    def n(self, value: float) -> int:
        return round(value * self.scale)

    def district(self, weights: Sequence[float] | None = None) -> str:
        return self.rng.choices(self.districts, weights or self.weights)[0]

    # Running the plan.

    def run_phase(self, name: str, steps: list[Step]) -> None:
        meter = _Meter(self.say, name, len(steps))
        for step in steps:
            self.send(step)
            meter.tick()
        self.report.phases.append((name, len(steps), meter.finish()))

    def send(self, step: Step) -> UUID:
        actor = step.actor if isinstance(step.actor, Actor) else self.contractor(step.actor.n)
        inputs = {k: self.resolve(v) for k, v in step.inputs.items()}
        request = request_for(
            step.run,
            actor,
            today=self.today,
            on=step.on,
            record=self.ids[step.record] if step.record else None,
            reason=step.reason,
            key=step.key,
            **inputs,
        )
        outcome = step.run(self.registry, request)
        if step.makes is not None:
            self.ids[step.makes] = outcome.record_id
        self.report.commands += 1
        return outcome.record_id

    def resolve(self, value: Any) -> Any:
        return str(self.ids[value]) if isinstance(value, Ref) else value

    def contractor(self, agency: int) -> Actor:
        if agency not in self.contractors:
            self.contractors[agency] = Actor(
                f"seed-agency-{agency}",
                Role.CONTRACTOR,
                agency=str(self.ids[Ref("agency", agency)]),
            )
        return self.contractors[agency]

    def seed(self, batch_size: int) -> Report:
        started = time.monotonic()
        self.communities = self.plan_communities()
        self.write_communities()
        with self.registry.batch(batch_size) as batch:
            self.run_phase("agencies", self.plan_agencies())
            self.run_phase("stations", self.plan_stations())
            self.run_phase("workers", self.plan_workers())
            self.run_phase("certificates", self.plan_certificates())
            self.run_phase("station staff", self.plan_staff())
            self.run_phase("posts", self.plan_posts())
            self.run_phase("training", self.plan_training())
            self.run_phase("projects", self.plan_projects())
            self.run_phase("assessments", self.plan_assessments())
            self.run_phase("agencies 2018", self.plan_agencies_2018())
        self.report.events += batch.saved
        self.corrections()
        done = Claim(
            key=DONE_CLAIM,
            record_id=self.ids[Ref("agency", 0)],
            record_version=1,
            fingerprint=f"profile city-2018 at scale {self.scale}",
        )
        recordings = self.registry.save(done)
        self.report.events += len(recordings)
        self.report.position = max(r.notification.id for r in recordings)
        self.report.seconds = time.monotonic() - started
        return self.report

    # Corrections and late reports, sent one by one (batch mode takes no corrections).

    def corrections(self) -> None:
        """Late reports on records that already hold later facts, and corrections: agency names
        entered wrongly and corrected (`corrects`), disbursements entered twice and retracted
        (`retractEvents`). None changes a reported figure."""
        started = time.monotonic()
        rng = self.rng
        count = max(3, self.n(60))
        events = 0
        late = [s for s in self.stations if s.established <= date(2015, 12, 31)]
        for station in rng.sample(late, min(count, len(late))):
            self.send(
                Step(
                    stations.assess_station,
                    self.bureaus[station.community.district],
                    date(2016, 12, 30),
                    Ref("station", station.n),
                    dict.fromkeys(ASSESSMENT_DIMENSIONS, 70),
                    reason="补报2016年度评估",
                )
            )
            events += 1
        for plan in rng.sample(self.agencies, min(count, len(self.agencies))):
            ref = Ref("agency", plan.n)
            agency = self.registry.get_record(self.ids[ref])
            if agency.status == "DEREGISTERED":
                continue
            wrong = self._outcome(
                agencies.update_agency_profile,
                ref,
                name=f"{agency.name}（误）",
                kind=None,
                fields=None,
            )
            self._outcome(
                agencies.update_agency_profile,
                ref,
                corrects=(wrong,),
                reason="名称录入错误，更正",
                name=agency.name,
                kind=None,
                fields=None,
            )
            events += 2
        project_refs = [r for r in self.ids if r.kind == "project"]
        for ref in rng.sample(project_refs, min(count, len(project_refs))):
            project = self.registry.get_record(self.ids[ref])
            if project.funder != "MUNICIPAL" or project.status == "CLOSED":
                continue
            if project.budget - project.disbursed < Decimal("1000"):
                continue
            twice = self._outcome(projects.disburse_funds, ref, amount=Decimal("1000.00"))
            self._outcome(retract_events, None, reason="同一笔拨款重复录入", positions=[twice])
            events += 2
        self.report.events += events
        self.report.phases.append(("corrections", events, time.monotonic() - started))

    def _outcome(
        self,
        run: Command,
        record: Ref | None,
        *,
        corrects: tuple[int, ...] = (),
        reason: str | None = None,
        **inputs: Any,
    ) -> int:
        """Run one command as the municipal bureau, effective on the history's last day, and
        give the position of its event."""
        request = request_for(
            run,
            self.municipal,
            today=self.today,
            on=LAST_DAY,
            record=self.ids[record] if record else None,
            reason=reason,
            **inputs,
        )
        outcome = run(self.registry, dataclasses.replace(request, corrects=corrects))
        self.report.commands += 1
        return outcome.position

    # Communities: the reference list, imported as the municipal bureau keeps it.

    def plan_communities(self) -> list[CommunityPlan]:
        rng = self.rng
        wanted = self.figures["2018-06-30"]
        with_station = apportion(wanted["stations"], self.weights)
        without = apportion(wanted["communities"] - wanted["stations"], self.weights)
        taken = {row.code for row in read_csv(SAMPLE)}  # keep clear of the demo's sample list
        listed: list[CommunityPlan] = []
        for k, d in enumerate(self.districts):
            count = with_station[k] + without[k]
            share = 0.9 if d in CORE else 0.2 if DISTRICTS[d].county else 0.45
            urban = round(count * share)
            made = [
                *self._communities(d, True, urban, taken),
                *self._communities(d, False, count - urban, taken),
            ]
            rng.shuffle(made)
            for j, community in enumerate(made):
                # Marked for a station here, numbered with the stations (plan_stations).
                community.station = -1 if j < with_station[k] else None
            listed.extend(made)
        return listed

    def _communities(
        self, district: str, urban: bool, count: int, taken: set[str]
    ) -> list[CommunityPlan]:
        """`count` communities under townships of 12 (streets) or 15 (towns) each."""
        rng = self.rng
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

    def write_communities(self) -> None:
        started = time.monotonic()
        rows = [
            CommunityRow(n, c.code, c.name, c.district, c.urban)
            for n, c in enumerate(self.communities, 2)
        ]
        envelope = Envelope(
            actor=self.municipal,
            effective_on=FIRST_DAY,
            correlation_id=str(uuid4()),
            reason="city-2018 seed: the community reference list",
        )
        summary = write_communities(self.registry, rows, envelope)
        self.report.events += summary.listed + summary.amended
        self.report.phases.append(("communities", len(rows), time.monotonic() - started))
        if self.say is not None:
            self.say(f"communities {len(rows)} ({summary})")

    # Agencies: registered, incubated, designated for the "411" programme.

    def plan_agencies(self) -> list[Step]:
        rng = self.rng
        count = self.figures["2018-06-30"]["agencies"]
        weights = [
            w * (3 if d in CORE else 1) for d, w in zip(self.districts, self.weights, strict=True)
        ]
        dates = [FIRST_DAY, *growing(rng, count - 1, FIRST_DAY, LAST_DAY, 1.25)][:count]
        self.agencies: list[AgencyPlan] = []
        steps: list[Step] = []
        for n, registered in enumerate(dates):
            d = self.district(weights)
            specialized = rng.random() < 0.4
            fields = rng.sample(FIELDS, 1 if specialized else rng.randint(2, 4))
            agency = AgencyPlan(n, d, registered, fields)
            self.agencies.append(agency)
            name = f"{DISTRICTS[d].name}{rng.choice(AGENCY_WORDS)}{rng.choice(AGENCY_KINDS)}"
            first = n == 0
            steps.append(
                Step(
                    agencies.register_agency,
                    self.municipal if first or rng.random() < 0.2 else self.bureaus[d],
                    registered,
                    inputs=dict(
                        name=name,
                        credit_code=make_credit_code("52", d, f"MH{n:07d}"),
                        district=d,
                        kind="SPECIALIZED" if specialized else "COMPREHENSIVE",
                        fields=fields,
                    ),
                    key=START_KEY if first else None,
                    makes=Ref("agency", n),
                )
            )
        for agency in self.agencies:
            if agency.registered.year >= 2012 and rng.random() < 0.35:
                start = min(later(agency.registered, rng.randint(0, 60)), LAST_DAY)
                municipal = rng.random() < 0.3
                steps.append(
                    Step(
                        agencies.incubate_agency,
                        self.municipal if municipal else self.bureaus[agency.district],
                        start,
                        Ref("agency", agency.n),
                        dict(
                            incubator=MUNICIPAL_INCUBATOR
                            if municipal
                            else f"{DISTRICTS[agency.district].name}社会组织孵化基地",
                            start=start,
                            end=later(start, 730),
                        ),
                    )
                )
        years = (2015, 2016, 2017)
        wanted = self.n(60)
        for k, year in enumerate(years):
            due = apportion(wanted, [1, 1.5, 2])[k]
            candidates = [a for a in self.agencies if a.registered < date(year - 1, 1, 1)]
            chosen = [a for a in candidates if not a.demonstration]
            for agency in rng.sample(chosen, min(due, len(chosen))):
                agency.demonstration = True
                steps.append(
                    Step(
                        agencies.designate_demonstration_agency,
                        self.municipal,
                        date(year, rng.randint(9, 12), rng.randint(1, 28)),
                        Ref("agency", agency.n),
                        dict(programme="411", year=year),
                    )
                )
        suspended = rng.sample(self.agencies, min(self.n(8), len(self.agencies)))
        for agency in suspended:
            agency.suspended = date(2018, rng.randint(3, 4), rng.randint(1, 28))
        self.by_district: dict[str, list[AgencyPlan]] = {d: [] for d in self.districts}
        for agency in self.agencies:
            self.by_district[agency.district].append(agency)
        return steps

    def agency(
        self, on: date, district: str | None = None, elsewhere: float = 0.2
    ) -> AgencyPlan | None:
        """A random agency registered a month before `on`, preferably in `district`, that is
        not suspended in 2018 if `on` is in 2018."""

        def usable(group: list[AgencyPlan]) -> list[AgencyPlan]:
            cut = on - timedelta(days=30)
            found = group[: bisect.bisect_right([a.registered for a in group], cut)]
            if on.year >= 2018:
                found = [a for a in found if a.suspended is None]
            return found

        if district is not None and self.rng.random() >= elsewhere:
            local = usable(self.by_district[district])
            if local:
                return self.rng.choice(local)
        anywhere = usable(self.agencies)
        return self.rng.choice(anywhere) if anywhere else None

    # Stations: one in each community that has one, most contracted to an agency for a while.

    def plan_stations(self) -> list[Step]:
        rng = self.rng
        stationed = [c for c in self.communities if c.station is not None]
        dates = growing(rng, len(stationed), date(2012, 1, 1), LAST_DAY, 1.35)
        rng.shuffle(stationed)
        self.stations: list[StationPlan] = []
        steps: list[Step] = []
        for n, (community, established) in enumerate(zip(stationed, dates, strict=True)):
            community.station = n
            station = StationPlan(n, community, established)
            self.stations.append(station)
            d = community.district
            kind = "社会工作室" if community.urban else "社会工作站"
            steps.append(
                Step(
                    stations.establish_station,
                    self.bureaus[d],
                    established,
                    inputs=dict(community=community.code, name=f"{community.name}{kind}"),
                    makes=Ref("station", n),
                )
            )
        for station in self.stations:
            if rng.random() >= 0.45:
                continue
            on = min(later(station.established, rng.randint(0, 180)), LAST_DAY)
            agency = self.agency(on, station.community.district)
            if agency is None:
                continue
            station.operator, station.contracted = agency.n, on
            steps.append(
                Step(
                    stations.contract_station_operator,
                    self.bureaus[station.community.district],
                    on,
                    Ref("station", station.n),
                    dict(
                        agency=Ref("agency", agency.n),
                        start=on,
                        end=later(on, 365 * rng.choice((1, 2, 3)) - 1),
                    ),
                )
            )
        return steps

    # Workers: registered by their district, their employer, or the municipal bureau.

    def plan_workers(self) -> list[Step]:
        rng = self.rng
        count = self.figures["2018-06-30"]["workers"]
        stock = round(count * 0.04)  # the workforce there was in 2008, entered that year
        dates = sorted(
            [between(rng, FIRST_DAY, date(2008, 12, 31)) for _ in range(stock)]
            + growing(rng, count - stock, FIRST_DAY, LAST_DAY, 1.40)
        )
        self.workers: list[WorkerPlan] = []
        steps: list[Step] = []
        seen: set[str] = set()
        for n, registered in enumerate(dates):
            d = self.district()
            employer = self.agency(registered, d, 0.1) if rng.random() < 0.3 else None
            worker = WorkerPlan(n, d, registered, employer.n if employer else None)
            self.workers.append(worker)
            if employer is not None and rng.random() < 0.4:
                actor: Actor | Ref = Ref("agency", employer.n)
            else:
                actor = self.municipal if rng.random() < 0.05 else self.bureaus[d]
            born = later(registered, -rng.randint(22 * 365, 55 * 365))
            id_number = make_id_number(d, born, rng.randrange(1000))
            while id_number in seen:
                id_number = make_id_number(d, born, rng.randrange(1000))
            seen.add(id_number)
            name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2, 2))))
            steps.append(
                Step(
                    workers.register_worker,
                    actor,
                    registered,
                    inputs=dict(
                        name=name,
                        id_number=id_number,
                        district=d,
                        education=rng.choices(list(EDUCATION), list(EDUCATION.values()))[0],
                        employer=Ref("agency", employer.n) if employer else None,
                    ),
                    makes=Ref("worker", n),
                )
            )
        self.pools = {d: Pool([w for w in self.workers if w.district == d]) for d in self.districts}
        return steps

    # Certificates: holders grow 62-fold from 2008 to 2017; the city's own level from 2011.

    def plan_certificates(self) -> list[Step]:
        rng = self.rng
        levels = self.figures["2017-12-31"]["certificatesByLevel"]
        total = sum(levels.values())
        years = list(range(2008, 2018))
        held = [round(total / HOLDER_GROWTH ** ((2017 - y) / 9)) for y in years]
        new = [held[0]] + [b - a for a, b in zip(held, held[1:], strict=False)]
        own_years = [k for k, y in enumerate(years) if y >= 2011]
        own = apportion(
            min(levels["SOCIAL_WORK_ASSISTANT"], sum(new[k] for k in own_years)),
            [new[k] for k in own_years],
        )
        awards: list[tuple[date, str]] = []
        national: list[int] = []
        for k, year in enumerate(years):
            city = own[own_years.index(k)] if k in own_years else 0
            awards += [
                (date(year, rng.choice((6, 12)), rng.randint(1, 28)), "SOCIAL_WORK_ASSISTANT")
                for _ in range(city)
            ]
            national += [year] * (new[k] - city)
        senior = set(rng.sample(range(len(national)), levels["SOCIAL_WORKER"]))
        for k, year in enumerate(national):
            level = "SOCIAL_WORKER" if k in senior else "ASSISTANT_SOCIAL_WORKER"
            awards.append((date(year, rng.randint(10, 12), rng.randint(1, 20)), level))
        revoked = [
            (date(rng.randint(2012, 2016), rng.randint(10, 12), rng.randint(1, 20)), level)
            for level in rng.choices(["SOCIAL_WORKER", "ASSISTANT_SOCIAL_WORKER"], k=self.n(15))
        ]
        latest = [
            (date(2018, 6, rng.randint(1, 28)), "SOCIAL_WORK_ASSISTANT") for _ in range(self.n(700))
        ]
        everyone = Pool(self.workers)
        serial: dict[tuple[str, int], int] = {}
        steps: list[Step] = []
        revocations: list[Step] = []
        planned = [(a, False) for a in awards] + [(a, True) for a in revoked]
        planned += [(a, False) for a in latest]
        for (on, level), revoke in sorted(planned, key=lambda p: p[0]):
            worker = everyone.draw(rng, later(on, -30), lambda w: not w.holder)
            if worker is None:
                raise AssertionError(f"no worker to award a {level} certificate on {on}")
            worker.holder = True
            serial[level, on.year] = number = serial.get((level, on.year), 0) + 1
            certificate = f"{CERTIFICATE_PREFIX[level]}{on.year}{number:06d}"
            steps.append(
                Step(
                    workers.award_certificate,
                    self.municipal,
                    on,
                    Ref("worker", worker.n),
                    dict(level=level, number=certificate),
                )
            )
            if revoke:
                revocations.append(
                    Step(
                        workers.revoke_certificate,
                        self.municipal,
                        min(later(on, rng.randint(60, 400)), END_2017),
                        Ref("worker", worker.n),
                        dict(number=certificate),
                        reason="证书信息与考试成绩不符，依规撤销",
                    )
                )
        return steps + sorted(revocations, key=lambda s: s.on)

    # StationPlan staff: two full-time social workers at most stations.

    def plan_staff(self) -> list[Step]:
        rng = self.rng
        planned: list[tuple[date, StationPlan, bool]] = []
        for station in self.stations:
            shape = rng.choices(((True, True), (True, False), (True,), ()), (70, 12, 10, 8))[0]
            start = station.contracted if station.operator is not None else station.established
            assert start is not None
            for full_time in shape:
                planned.append(
                    (min(later(start, rng.randint(0, 120)), LAST_DAY), station, full_time)
                )
        steps: list[Step] = []
        for on, station, full_time in sorted(planned, key=lambda p: (p[0], p[1].n)):
            d = station.community.district
            worker = self.pools[d].draw(rng, on, lambda w: not w.staff)
            if worker is None:
                continue
            worker.staff = True
            station.staff.append(worker.n)
            actor: Actor | Ref = self.bureaus[d]
            if station.operator is not None and rng.random() < 0.5:
                actor = Ref("agency", station.operator)
            steps.append(
                Step(
                    stations.assign_station_staff,
                    actor,
                    on,
                    Ref("station", station.n),
                    dict(worker=Ref("worker", worker.n), full_time=full_time),
                )
            )
        self._refill_pools()
        return steps

    def _refill_pools(self) -> None:
        self.pools = {d: Pool([w for w in self.workers if w.district == d]) for d in self.districts}

    # Posts: about 20,000, in six sectors, most filled; a few vacated.

    def plan_posts(self) -> list[Step]:
        rng = self.rng
        total = self.figures["2018-06-30"]["posts"]
        judicial = self.figures["2017-12-31"]["postsBySector"]["JUDICIAL"]
        sectors = list(POST_SECTORS)
        counts = apportion(total - judicial, [POST_SECTORS[s][0] for s in sectors])
        planned = [
            (on, "JUDICIAL") for on in growing(rng, judicial, date(2012, 1, 1), END_2017, 1.3)
        ]
        for sector, count in zip(sectors, counts, strict=True):
            planned += [
                (on, sector) for on in growing(rng, count, date(2010, 1, 1), LAST_DAY, 1.35)
            ]
        planned.sort(key=lambda p: p[0])
        steps: list[Step] = []
        fills: list[tuple[date, int, str, StationPlan | None]] = []
        for n, (on, sector) in enumerate(planned):
            community: CommunityPlan | None = None
            station: StationPlan | None = None
            if sector == "COMMUNITY":
                community = rng.choice(self.communities)
                d = community.district
                if community.station is not None and rng.random() < 0.75:
                    candidate = self.stations[community.station]
                    if candidate.established <= on:
                        station = candidate
                origin = "CONVERTED" if rng.random() < 0.55 else "NEW"
                host = (
                    "村民委员会"
                    if not community.urban
                    else rng.choice(POST_SECTORS[sector][1][::2])
                )
                chosen_field = rng.choice(POST_SECTORS[sector][2])
            elif sector == "JUDICIAL":
                d = self.district()
                origin, host = "NEW", rng.choice(JUDICIAL_HOSTS)
                chosen_field = rng.choice(JUDICIAL_FIELDS)
            else:
                d = self.district()
                origin = (
                    "CONVERTED"
                    if sector == "CIVIL_AFFAIRS_INSTITUTION" and rng.random() < 0.3
                    else "NEW"
                )
                host = rng.choice(POST_SECTORS[sector][1])
                chosen_field = rng.choice(POST_SECTORS[sector][2])
            by_city = sector == "CIVIL_AFFAIRS_INSTITUTION" and rng.random() < 0.2
            steps.append(
                Step(
                    posts.create_post,
                    self.municipal if by_city else self.bureaus[d],
                    on,
                    inputs=dict(
                        sector=sector,
                        field=chosen_field,
                        district=d,
                        host_organization=f"{DISTRICTS[d].name}{host}",
                        community=community.code if community else None,
                        station=Ref("station", station.n) if station else None,
                        origin=origin,
                    ),
                    makes=Ref("post", n),
                )
            )
            filled = later(on, rng.randint(7, 240))
            if rng.random() < 0.82 and filled <= LAST_DAY:
                fills.append((filled, n, d, station))
        vacates: list[Step] = []
        for on, n, d, station in sorted(fills, key=lambda f: (f[0], f[1])):
            worker = None
            if station is not None:
                staff = [
                    self.workers[w]
                    for w in station.staff
                    if not self.workers[w].post and self.workers[w].registered <= on
                ]
                worker = staff[0] if staff else None
            if worker is None:
                worker = self.pools[d].draw(rng, on, lambda w: not w.post)
            if worker is None:
                continue
            worker.post = True
            actor: Actor | Ref = self.bureaus[d]
            if (
                station is not None
                and station.operator is not None
                and station.contracted is not None
                and station.contracted <= on
                and rng.random() < 0.5
            ):
                actor = Ref("agency", station.operator)
            steps.append(
                Step(
                    posts.fill_post,
                    actor,
                    on,
                    Ref("post", n),
                    dict(worker=Ref("worker", worker.n)),
                )
            )
            left = later(on, rng.randint(365, 1500))
            if left <= LAST_DAY and rng.random() < 0.03:
                vacates.append(
                    Step(
                        posts.vacate_post,
                        self.bureaus[d],
                        left,
                        Ref("post", n),
                        reason="聘用合同期满，本人离职",
                    )
                )
        return steps + sorted(vacates, key=lambda s: s.on)

    # Training: 152,000 person-times by the end of 2017 in five categories at three levels.

    def plan_training(self) -> list[Step]:
        rng = self.rng
        everyone = Pool(self.workers)
        years = list(range(2008, 2018))
        # Person-times follow the workforce: in proportion to workers registered by mid-year.
        people = [everyone.registered_by(date(y, 7, 1)) for y in years]
        targets = apportion(self.figures["2017-12-31"]["trainingPersonTimes"], people)
        years.append(2018)
        targets.append(round(targets[-1] * 0.45))
        self.courses = 0
        steps: list[Step] = []
        for year, target in zip(years, targets, strict=True):
            last = LAST_DAY if year == 2018 else date(year, 12, 31)
            while target > 0:
                attended = self._course(steps, year, last, target)
                target -= attended
        for _ in range(self.n(40)):  # cancelled for want of applicants
            start = between(rng, date(2010, 3, 1), LAST_DAY)
            self._course(steps, start.year, start, 0, cancelled=True)
        for _ in range(self.n(15)):  # scheduled in June 2018 for the autumn
            self._course(steps, 2018, date(2018, 9, 30), 0, ahead=True)
        return steps

    def _course(
        self,
        steps: list[Step],
        year: int,
        last: date,
        target: int,
        *,
        cancelled: bool = False,
        ahead: bool = False,
    ) -> int:
        """Plan one course of `year` ending by `last` with at most `target` attendances;
        return how many it has."""
        rng = self.rng
        category = rng.choices(
            list(COURSE_CATEGORIES),
            [share / sum(size) for share, size, _, _ in COURSE_CATEGORIES.values()],
        )[0]
        _, (fewest, most), (shortest, longest), title = COURSE_CATEGORIES[category]
        level = (
            "MUNICIPAL"
            if category == "ADVANCED_STUDY"
            else rng.choices(list(COURSE_LEVELS), list(COURSE_LEVELS.values()))[0]
        )
        days = rng.randint(shortest, longest)
        if ahead:
            starts = date(2018, rng.randint(7, 9), rng.randint(1, 20))
            scheduled = date(2018, 6, rng.randint(1, 28))
        else:
            starts = between(rng, date(year, 1, 10), later(last, -(days - 1)))
            scheduled = max(later(starts, -rng.randint(10, 40)), FIRST_DAY)
        ends = later(starts, days - 1)
        district = None if level == "MUNICIPAL" else self.district()
        pool = self.pools[district] if district else None
        eligible: list[WorkerPlan] = []
        if target:
            group = pool.members if pool else self.workers_by_date()
            dates = pool.dates if pool else self._worker_dates
            eligible = group[: bisect.bisect_right(dates, starts)]
            if not eligible:
                return 0
        delivered = self.agency(scheduled, district) if rng.random() < 0.35 else None
        actor: Actor | Ref
        if delivered is not None and rng.random() < 0.5:
            actor = Ref("agency", delivered.n)
        else:
            actor = self.bureaus[district] if district else self.municipal
        n = self.courses
        self.courses += 1
        where = DISTRICTS[district].name if district else "重庆市"
        hours = Decimal(days * rng.choice((6, 7))) + (Decimal("0.5") if rng.random() < 0.2 else 0)
        steps.append(
            Step(
                courses.schedule_course,
                actor,
                scheduled,
                inputs=dict(
                    title=f"{year}年{where}{title}（第{n + 1}期）",
                    category=category,
                    level=level,
                    district=district,
                    delivered_by=Ref("agency", delivered.n) if delivered else None,
                    starts_on=starts,
                    ends_on=ends,
                    hours=hours,
                ),
                makes=Ref("course", n),
            )
        )
        if cancelled:
            steps.append(
                Step(
                    courses.cancel_course,
                    actor,
                    max(later(starts, -rng.randint(1, 7)), scheduled),
                    Ref("course", n),
                    reason="报名人数不足，取消开班",
                )
            )
            return 0
        if ahead:
            return 0
        size = min(rng.randint(fewest, most), target, len(eligible))
        graded = category in ("ADVANCED_STUDY", "KEY_TALENT", "ADMINISTRATIVE_CAPACITY")
        for k in rng.sample(range(len(eligible)), size):
            attended = (
                hours if rng.random() < 0.9 else max(hours - rng.randint(1, days * 2), Decimal(1))
            )
            steps.append(
                Step(
                    courses.record_attendance,
                    actor,
                    ends,
                    Ref("course", n),
                    dict(
                        worker=Ref("worker", eligible[k].n),
                        hours=attended,
                        passed=(rng.random() < 0.92) if graded else None,
                    ),
                )
            )
        steps.append(Step(courses.complete_course, actor, ends, Ref("course", n)))
        return size

    def workers_by_date(self) -> list[WorkerPlan]:
        if not hasattr(self, "_worker_dates"):
            self._workers_sorted = sorted(self.workers, key=lambda w: (w.registered, w.n))
            self._worker_dates = [w.registered for w in self._workers_sorted]
        return self._workers_sorted

    # Projects: 1,114 funded by the city by 2017, district-funded ones too in 2018; paid in
    # tranches, reported on by the contractor, evaluated by the district since 2016.

    def plan_projects(self) -> list[Step]:
        rng = self.rng
        municipal = self.figures["2017-12-31"]["projects"]
        planned = [(on, True) for on in growing(rng, municipal, date(2010, 3, 1), END_2017, 1.3)]
        in_2018 = [between(rng, date(2018, 1, 5), LAST_DAY) for _ in range(self.n(300))]
        planned += [(on, k % 5 < 2) for k, on in enumerate(in_2018)]  # 3 in 5 by a district
        planned.sort(key=lambda p: p[0])
        steps: list[Step] = []
        for n, (approved, by_city) in enumerate(planned):
            contractor = self.agency(approved)
            if contractor is None:
                raise AssertionError(f"no agency to contract a project on {approved}")
            d = contractor.district if not by_city or rng.random() < 0.75 else self.district()
            funder = "MUNICIPAL" if by_city else d
            payer = self.municipal if by_city else self.bureaus[d]
            chosen_field = (
                rng.choice(contractor.fields) if rng.random() < 0.7 else rng.choice(FIELDS)
            )
            programme = (
                "三区计划"
                if DISTRICTS[d].county and rng.random() < 0.5
                else "411"
                if rng.random() < 0.15
                else None
            )
            budget = Decimal(
                rng.randrange(80, 601) * 1000 if by_city else rng.randrange(30, 301) * 1000
            )
            starts = later(approved, rng.randint(0, 30))
            ends = later(starts, 729 if rng.random() < 0.2 else 364)
            mid = later(starts, (ends - starts).days // 2)
            project = Ref("project", n)
            plan: list[Step] = [
                Step(
                    projects.approve_project,
                    payer,
                    approved,
                    inputs=dict(
                        title=f"{DISTRICTS[d].name}{FIELD_NAMES[chosen_field]}社会工作服务项目",
                        field=chosen_field,
                        district=d,
                        funder=funder,
                        budget=budget,
                        programme=programme,
                        contractor=Ref("agency", contractor.n),
                        starts_on=starts,
                        ends_on=ends,
                    ),
                    makes=project,
                ),
                Step(
                    projects.disburse_funds,
                    payer,
                    starts,
                    project,
                    dict(amount=budget * Decimal("0.5")),
                ),
                Step(
                    projects.report_project_progress,
                    Ref("agency", contractor.n),
                    mid,
                    project,
                    dict(summary=self._progress_summary(), percent_complete=rng.randint(40, 60)),
                ),
                Step(
                    projects.disburse_funds,
                    payer,
                    later(mid, 15),
                    project,
                    dict(amount=budget * Decimal("0.3")),
                ),
                Step(
                    projects.report_project_progress,
                    Ref("agency", contractor.n),
                    ends,
                    project,
                    dict(summary=self._progress_summary(), percent_complete=100),
                ),
            ]
            final = later(ends, 30)
            if ends.year >= 2016:
                bureau = self.bureaus[d]
                commissioned = later(ends, rng.randint(5, 30))
                concluded = later(commissioned, rng.randint(20, 60))
                score = rng.randint(50, 59) if rng.random() < 0.02 else rng.randint(62, 97)
                grade = (
                    "EXCELLENT"
                    if score >= 90
                    else "GOOD"
                    if score >= 75
                    else "PASS"
                    if score >= 60
                    else "FAIL"
                )
                final = later(concluded, rng.randint(5, 20))
                plan += [
                    Step(
                        projects.commission_evaluation,
                        bureau,
                        commissioned,
                        project,
                        dict(evaluator=rng.choice(EVALUATORS)),
                    ),
                    Step(
                        projects.conclude_evaluation,
                        bureau,
                        concluded,
                        project,
                        dict(score=score, grade=grade),
                    ),
                ]
            remainder = budget - budget * Decimal("0.5") - budget * Decimal("0.3")
            plan.append(
                Step(projects.disburse_funds, payer, final, project, dict(amount=remainder))
            )
            if ends.year >= 2016 and rng.random() < 0.7:
                plan.append(
                    Step(
                        projects.close_project,
                        self.bureaus[d],
                        later(final, rng.randint(5, 30)),
                        project,
                    )
                )
            steps += [step for step in plan if step.on <= LAST_DAY]
        return steps

    def _progress_summary(self) -> str:
        rng = self.rng
        return (
            f"完成个案服务 {rng.randint(10, 200)} 例，小组活动 {rng.randint(2, 40)} 次，"
            f"社区活动 {rng.randint(1, 20)} 场，服务 {rng.randint(100, 5000)} 人次"
        )

    # StationPlan assessments (six dimensions) and demonstration stations.

    def plan_assessments(self) -> list[Step]:
        rng = self.rng
        assessed: list[tuple[float, date, StationPlan]] = []
        steps: list[Step] = []
        for station in self.stations:
            if station.established <= date(2016, 12, 31) and rng.random() < 0.6:
                on = between(
                    rng, max(date(2017, 3, 1), later(station.established, 180)), date(2017, 11, 30)
                )
            elif station.established <= date(2017, 6, 30) and rng.random() < 0.3:
                on = between(rng, date(2018, 3, 1), date(2018, 5, 31))
            else:
                continue
            base = rng.randint(55, 92)
            scores = {
                k: max(0, min(100, base + rng.randint(-10, 8))) for k in ASSESSMENT_DIMENSIONS
            }
            steps.append(
                Step(
                    stations.assess_station,
                    self.bureaus[station.community.district],
                    on,
                    Ref("station", station.n),
                    scores,
                )
            )
            assessed.append((sum(scores.values()) / 6, on, station))
        best = sorted(assessed, key=lambda a: (-a[0], a[2].n))[: self.n(300)]
        for _, on, station in sorted(best, key=lambda a: (a[1], a[2].n)):
            year = on.year
            designated = (
                date(2017, 12, rng.randint(10, 28))
                if year == 2017
                else date(2018, 6, rng.randint(10, 28))
            )
            steps.append(
                Step(
                    stations.designate_demonstration_station,
                    self.municipal,
                    designated,
                    Ref("station", station.n),
                    dict(programme="社区社会工作示范点", year=year),
                )
            )
        return steps

    # 2018: profile updates by agencies themselves, a few suspensions, some lifted.

    def plan_agencies_2018(self) -> list[Step]:
        rng = self.rng
        steps: list[Step] = []
        updated = [a for a in self.agencies if a.registered < date(2017, 6, 1)]
        for agency in rng.sample(updated, min(self.n(12), len(updated))):
            extra = rng.choice([f for f in FIELDS if f not in agency.fields])
            steps.append(
                Step(
                    agencies.update_agency_profile,
                    Ref("agency", agency.n),
                    date(2018, rng.randint(1, 2), rng.randint(1, 28)),
                    Ref("agency", agency.n),
                    dict(name=None, kind=None, fields=[*agency.fields, extra]),
                )
            )
        suspended = sorted(
            (a for a in self.agencies if a.suspended), key=lambda a: (a.suspended, a.n)
        )
        for k, agency in enumerate(suspended):
            assert agency.suspended is not None
            steps.append(
                Step(
                    agencies.suspend_agency,
                    self.bureaus[agency.district],
                    agency.suspended,
                    Ref("agency", agency.n),
                    reason=rng.choice(SUSPENSION_REASONS),
                )
            )
            if k % 2 == 0:
                steps.append(
                    Step(
                        agencies.reinstate_agency,
                        self.bureaus[agency.district],
                        date(2018, rng.randint(5, 6), rng.randint(1, 25)),
                        Ref("agency", agency.n),
                        reason="整改完成，经复查恢复正常活动",
                    )
                )
        return steps
