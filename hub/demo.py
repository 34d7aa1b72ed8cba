"""Demo agencies, made through the same commands a user would send, and tokens to try roles."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

from hub.auth import issue_token
from hub.commands import agency as agency_commands
from hub.domain.envelope import Actor, Role
from hub.domain.identifiers import make_credit_code
from hub.registry import Request
from hub.runtime import Hub

MUNICIPAL = Actor("demo-municipal", Role.MUNICIPAL)

AGENCIES = [
    (
        "重庆市渝中区社工服务中心",
        "500103",
        "COMPREHENSIVE",
        ["SOCIAL_WELFARE", "COMMUNITY_BUILDING"],
    ),
    ("重庆市江北区阳光社会工作服务社", "500105", "SPECIALIZED", ["MENTAL_HEALTH"]),
    ("重庆市沙坪坝区启航青少年社工中心", "500106", "SPECIALIZED", ["EDUCATION_COUNSELLING"]),
    (
        "重庆市九龙坡区和谐家庭社会工作服务中心",
        "500107",
        "COMPREHENSIVE",
        ["MARRIAGE_FAMILY", "SOCIAL_ASSISTANCE"],
    ),
    (
        "重庆市南岸区新起点矫治帮教社工站",
        "500108",
        "SPECIALIZED",
        ["CORRECTION_REHABILITATION", "DRUG_REHABILITATION"],
    ),
    ("重庆市万州区三峡社会工作服务中心", "500101", "COMPREHENSIVE", ["POVERTY_RELIEF", "CHARITY"]),
    ("城口县山区留守关爱社工服务社", "500229", "SPECIALIZED", ["SOCIAL_ASSISTANCE"]),
    (
        "彭水县民族地区社会工作服务中心",
        "500243",
        "COMPREHENSIVE",
        ["COMMUNITY_BUILDING", "DISASTER_RELIEF"],
    ),
]


def _request(command: str, actor: Actor, today: date, on: date, key: str, **kw: object) -> Request:
    """A demo command; its idempotency key makes seeding again (or after a crash) a no-op."""
    return Request(
        command=command,
        actor=actor,
        correlation_id=str(uuid4()),
        today=today,
        effective_on=on,
        idempotency_key=f"demo:{key}",
        **kw,
    )  # type: ignore[arg-type]


async def seed(hub: Hub) -> int:
    """Make the demo records that are not there yet; return how many commands wrote."""
    today = hub.settings.today()
    outcomes = []
    for n, (name, district, kind, fields) in enumerate(AGENCIES):
        actor = Actor(f"demo-district-{district}", Role.DISTRICT, district=district)
        inputs = dict(
            name=name,
            credit_code=make_credit_code("52", district, f"MJ{n:07d}"),
            district=district,
            kind=kind,
            fields=fields,
        )
        registered_on = date(2015 + n % 3, 3, 1 + n)
        outcomes.append(
            await hub.command(
                agency_commands.register_agency,
                _request(
                    "registerAgency", actor, today, registered_on, f"agency-{n}", inputs=inputs
                ),
            )
        )
    ids = [o.record_id for o in outcomes]
    later = [
        (
            agency_commands.incubate_agency,
            "incubateAgency",
            ids[2],
            date(2017, 5, 1),
            None,
            dict(incubator="重庆市社会组织孵化基地", start=date(2017, 5, 1), end=date(2019, 4, 30)),
        ),
        (
            agency_commands.designate_demonstration_agency,
            "designateDemonstrationAgency",
            ids[0],
            date(2017, 9, 1),
            None,
            dict(programme="411", year=2017),
        ),
        (
            agency_commands.suspend_agency,
            "suspendAgency",
            ids[5],
            date(2018, 1, 15),
            "annual inspection overdue (年检逾期)",
            {},
        ),
    ]
    for run, command, record, on, reason, inputs in later:
        outcomes.append(
            await hub.command(
                run,
                _request(
                    command,
                    MUNICIPAL,
                    today,
                    on,
                    command,
                    record_id=record,
                    reason=reason,
                    inputs=inputs,
                ),
            )
        )
    return sum(not o.replayed for o in outcomes)


def demo_tokens(hub: Hub, agency_id: str | None) -> dict[str, str]:
    secret = hub.settings.jwt_secret
    tokens = {
        "MUNICIPAL": issue_token(secret, Role.MUNICIPAL, sub="demo-municipal"),
        "DISTRICT 500103 (渝中区)": issue_token(
            secret, Role.DISTRICT, sub="demo-yuzhong", district="500103"
        ),
        "AUDITOR": issue_token(secret, Role.AUDITOR, sub="demo-auditor"),
        "PARTNER": issue_token(secret, Role.PARTNER, sub="demo-partner"),
    }
    if agency_id:
        tokens[f"CONTRACTOR {agency_id}"] = issue_token(
            secret, Role.CONTRACTOR, sub="demo-contractor", agency=agency_id
        )
    return tokens
